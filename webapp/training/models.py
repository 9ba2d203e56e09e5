from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.projects.models import Project


class ModelKind(models.TextChoices):
    DETECTOR = "detector", "Line detector"
    RECOGNIZER = "recognizer", "Line recognizer"


class ModelStatus(models.TextChoices):
    TRAINING = "training", "Training"
    READY = "ready", "Ready"            # trained, evaluated, not in use
    PROMOTED = "promoted", "Promoted"   # the one the project uses now (at most one per kind)
    REJECTED = "rejected", "Rejected"   # did not beat the promoted model
    FAILED = "failed", "Failed"


def checkpoint_path(version: "ModelVersion", filename: str) -> str:
    return f"projects/{version.project_id}/models/{version.kind}-{version.number}-{version.checkpoint_sha256[:12]}.pt"


class ModelVersion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=10, choices=ModelKind.choices)
    number = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    checkpoint = models.FileField(upload_to=checkpoint_path, max_length=255)
    checkpoint_sha256 = models.CharField(max_length=64)
    alphabet = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # What it learned from: the newest LineRevision id it saw, and how many verified lines.
    watermark_revision = models.BigIntegerField(null=True, blank=True)
    trained_on_lines = models.PositiveIntegerField(default=0)
    trained_on_pages = models.PositiveIntegerField(default=0)   # pages of the training split it learned from
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.READY)
    source = models.CharField(max_length=10, default="trained", help_text="trained | uploaded | base")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project_id", "kind", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "number"], name="model_version_number_unique"),
            models.UniqueConstraint(fields=["project", "kind"], condition=models.Q(status="promoted"),
                                    name="one_promoted_model_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.number}"

    @property
    def label(self) -> str:
        return f"{self.kind}-v{self.number}"


class PromotionVia(models.TextChoices):
    TRAINING = "training", "Training run"  # the run's verdict: it beat the promoted model
    MANUAL = "manual", "By hand"           # the promote (roll back) endpoint
    UPLOAD = "upload", "Upload"            # uploaded with promote
    BASE = "base", "Base model"            # installed with the project


class ModelPromotion(models.Model):
    """Each time a version became its project's promoted one, and on whose word.

    `forced` is set when a person promoted it although the recorded figures said it did not beat
    the version it replaced; `reason` then holds that objection (for a training run: its verdict).
    """

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="promotions")
    replaced = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    via = models.CharField(max_length=10, choices=PromotionVia.choices)
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    forced = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class TrainingRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    kind = models.CharField(max_length=10, choices=ModelKind.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    from_scratch = models.BooleanField(default=False)
    epochs = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Overrides the default epochs.")
    max_minutes = models.FloatField(null=True, blank=True, help_text="A wall-clock training budget.")
    parent = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_version = models.OneToOneField(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="training_run")
    promoted = models.BooleanField(default=False)
    # Progress, written by the training callback: epoch, step, total_steps, loss, val_metric, eta_seconds...
    progress = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    retrain_after = models.BooleanField(default=False, help_text="Someone asked again while this run was active.")
    # What the follow-up run will be: the latest request that asked while this run was active wins, whole
    # ({"from_scratch", "epochs", "max_minutes", "user_id"}), so the run it starts is the one asked for.
    retrain_options = models.JSONField(default=dict, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    # How the judge decided, e.g. "rejected: val CER 1.000 vs 1.000 of the empty prediction (...)".
    verdict = models.CharField(max_length=300, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    trigger = models.CharField(max_length=20, default="manual", help_text="manual | policy | label-studio")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind"], condition=models.Q(status__in=["queued", "running"]),
                                    name="one_active_run_per_kind"),
        ]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def outcome(self) -> str | None:
        """What came of a finished run: "promoted", "rejected" (trained and judged, not better), or None.

        A succeeded run only says the training ended; whether its model is any use is the outcome.
        """
        if self.status != RunStatus.SUCCEEDED:
            return None
        return "promoted" if self.promoted else "rejected"

    @property
    def storage_prefix(self) -> str:
        """Where the run's resumable checkpoint lives, in the shared storage."""
        return f"projects/{self.project_id}/runs/{self.pk}"
