"""What inkloop remembers about Label Studio: which project and task mirror which, and every webhook."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from webapp.corpus.models import Page
from webapp.projects.models import Project


def new_image_token() -> str:
    return secrets.token_urlsafe(32)


class LabelStudioProject(models.Model):
    """The Label Studio project mirroring an inkloop project, and what provisioning made in it."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="label_studio")
    ls_project_id = models.BigIntegerField(unique=True)
    webhook_id = models.BigIntegerField(null=True, blank=True)
    ml_backend_id = models.BigIntegerField(null=True, blank=True)
    view_id = models.BigIntegerField(null=True, blank=True)
    # The credential in the task image URLs: revoked by replacing it (reconciliation then re-imports the URLs).
    image_token = models.CharField(max_length=64, default=new_image_token, unique=True)
    synced_at = models.DateTimeField(null=True, blank=True, help_text="Start of the last reconciliation that finished.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.project} -> Label Studio project {self.ls_project_id}"


class LabelStudioTask(models.Model):
    """A page's task and the annotation whose state inkloop holds (the newest one applied or written)."""

    page = models.OneToOneField(Page, on_delete=models.CASCADE, related_name="label_studio_task")
    ls_project_id = models.BigIntegerField()
    ls_task_id = models.BigIntegerField(unique=True)
    annotation_id = models.BigIntegerField(null=True, blank=True)
    annotation_updated_at = models.DateTimeField(null=True, blank=True)
    # The page's newest LineRevision when the two sides last agreed: later revisions are inkloop's own edits.
    synced_revision_id = models.BigIntegerField(default=0)
    prediction_label = models.CharField(max_length=100, blank=True, help_text="model_version last pushed.")

    def __str__(self) -> str:
        return f"page {self.page_id} = task {self.ls_task_id}"


class LabelStudioAccount(models.Model):
    """An inkloop user's Label Studio account, matched by email, so an annotation names its author."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="label_studio")
    ls_user_id = models.BigIntegerField(unique=True)


class WebhookEvent(models.Model):
    """Every delivery as received. The key makes a repeated delivery a no-op."""

    key = models.CharField(max_length=128, unique=True)
    action = models.CharField(max_length=40)
    ls_project_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField()
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} {self.key[:12]}"


class SyncClash(models.Model):
    """An annotation edit that lost to a newer inkloop edit of the same line (both texts kept)."""

    line_ref = models.BigIntegerField()
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="label_studio_clashes")
    annotation_id = models.BigIntegerField()
    annotation_updated_at = models.DateTimeField()
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    label_studio_text = models.TextField()
    label_studio_bbox = models.JSONField()
    kept_text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
