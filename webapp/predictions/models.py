from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.corpus.models import Page
from webapp.projects.models import Project
from webapp.training.models import ModelVersion


class Prediction(models.Model):
    """One pre-annotation of a page: which models, how many lines, how sure."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="predictions")
    detector = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recognizer = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_label = models.CharField(max_length=100)
    lines_predicted = models.PositiveIntegerField(default=0)
    page_score = models.FloatField(null=True, blank=True)
    pushed_to_label_studio = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class PredictionJob(models.Model):
    """Many pages predicted on the gpu queue for a REST client, who polls for the result."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prediction_jobs")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    inputs = models.JSONField(default=list, help_text="[{name, storage_name, sha256}] of the submitted images.")
    results = models.JSONField(default=list, blank=True)
    pages_done = models.PositiveIntegerField(default=0)
    model_label = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class FalseDetection(models.Model):
    """A box a model took for a text line that a person said holds no text (a stamp, a border, a signature).

    The line itself is deleted with its history (corpus.services.model_line_discard); this row keeps
    what the detector got wrong, to teach it what is not a line.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="false_detections")
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="false_detections")
    x0 = models.IntegerField()
    y0 = models.IntegerField()
    x1 = models.IntegerField()
    y1 = models.IntegerField()
    polygon = models.JSONField(null=True, blank=True)  # [[x, y], ...] in page pixels
    text = models.TextField(blank=True, help_text="What the recognizer read in the box.")
    confidence = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=100, blank=True, help_text="The models that made the line.")
    line_ref = models.BigIntegerField(help_text="The deleted line's id.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "id"])]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)
