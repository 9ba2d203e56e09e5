from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from webapp.projects.models import Project


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class PageStatus(models.TextChoices):
    NEW = "new", "New"                          # no lines yet
    PREDICTED = "predicted", "Predicted"        # model lines only
    IN_PROGRESS = "in_progress", "In progress"  # some lines verified by a person
    DONE = "done", "Done"                       # every line verified by a person


def page_image_path(page: "Page", filename: str) -> str:
    # Content-addressed, so the same name never points at two different images.
    return f"projects/{page.project_id}/pages/{page.sha256[:2]}/{page.sha256}{page.extension}"


def page_thumbnail_path(page: "Page") -> str:
    """Where the page grid keeps the page's thumbnail (webapp.review.thumbnails); deleted with the page."""
    return f"projects/{page.project_id}/thumbnails/{page.sha256[:2]}/{page.sha256}.jpg"


def split_for_group(*, project_id: int, group: str, val_percent: int, test_percent: int) -> str:
    """The split is a hash of the group, so all pages of one writer/document fall together."""
    bucket = int(hashlib.sha256(f"{project_id}:{group}".encode()).hexdigest()[:8], 16) % 100
    if bucket < val_percent:
        return Split.VAL
    if bucket < val_percent + test_percent:
        return Split.TEST
    return Split.TRAIN


class Page(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pages")
    image = models.FileField(upload_to=page_image_path, max_length=255)
    original_name = models.CharField(max_length=500)
    extension = models.CharField(max_length=8)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    group = models.CharField(max_length=255)
    split = models.CharField(max_length=5, choices=Split.choices)
    status = models.CharField(max_length=12, choices=PageStatus.choices, default=PageStatus.NEW)
    confidence = models.FloatField(null=True, blank=True, help_text="Page confidence from the current model.")
    ls_task_id = models.BigIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="page_image_unique_per_project")]
        indexes = [models.Index(fields=["project", "status"]), models.Index(fields=["project", "split"]),
                   models.Index(fields=["project", "group"]),
                   models.Index(fields=["project", "confidence", "id"], name="page_review_queue",
                                condition=models.Q(status="predicted"))]

    def __str__(self) -> str:
        return self.original_name


class LineSource(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"


class Line(models.Model):
    """One text line of a page. `version` increases with every write (optimistic locking)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="lines")
    # The page's project, repeated here so the review queue is one index scan, not a join.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    x0 = models.IntegerField()
    y0 = models.IntegerField()
    x1 = models.IntegerField()
    y1 = models.IntegerField()
    polygon = models.JSONField(null=True, blank=True)   # [[x, y], ...] in page pixels
    baseline = models.JSONField(null=True, blank=True)  # [[x, y], ...] in page pixels
    order = models.PositiveIntegerField(default=0)
    text = models.TextField(blank=True)
    source = models.CharField(max_length=5, choices=LineSource.choices, default=LineSource.HUMAN)
    confidence = models.FloatField(null=True, blank=True)
    char_confidences = models.JSONField(null=True, blank=True)
    model_version = models.CharField(max_length=100, blank=True, help_text="The models that made it, if any.")
    version = models.PositiveIntegerField(default=1)
    ls_region_id = models.CharField(max_length=64, null=True, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["page_id", "order", "id"]
        indexes = [
            models.Index(fields=["page", "order"]),
            GinIndex(fields=["text"], name="line_text_trgm", opclasses=["gin_trgm_ops"]),
            # The line review queue: a project's unverified model lines, least confident first.
            models.Index(fields=["project", "confidence", "id"], name="line_review_queue",
                         condition=models.Q(verified_at__isnull=True, confidence__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(x1__gt=models.F("x0"), y1__gt=models.F("y0")),
                                   name="line_bbox_not_empty"),
        ]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def geometry(self) -> dict:
        return {"bbox": list(self.bbox), "polygon": self.polygon, "baseline": self.baseline, "order": self.order}


class RevisionAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    REVERT = "revert", "Reverted"
    VERIFY = "verify", "Verified"


class LineRevision(models.Model):
    """Every change to a line. The line may be deleted later; its history stays (line becomes NULL)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="line_revisions")
    line = models.ForeignKey(Line, null=True, on_delete=models.SET_NULL, related_name="revisions")
    line_ref = models.BigIntegerField(help_text="The line's id, kept after the line is deleted.")
    action = models.CharField(max_length=10, choices=RevisionAction.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    model_version = models.CharField(max_length=100, blank=True, help_text="Set when a model made the change.")
    old_text = models.TextField(null=True, blank=True)
    new_text = models.TextField(null=True, blank=True)
    old_geometry = models.JSONField(null=True, blank=True)
    new_geometry = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(help_text="The line's version after this change.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["line_ref", "id"])]
