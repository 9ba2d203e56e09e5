"""A project's model history made of rows, without training: a base model, a trained one that beat it and
was promoted, a later one that was rejected. The figures are what the judge would have recorded."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from webapp.training.models import ModelStatus, ModelVersion, PromotionVia, RunStatus, TrainingRun
from webapp.training.services import promote


def model_version(project, number: int, *, kind: str = "recognizer", source: str = "trained",
                  metrics: dict | None = None, lines: int = 0, watermark: int | None = None,
                  status: str = ModelStatus.READY) -> ModelVersion:
    version = ModelVersion(project=project, kind=kind, number=number, source=source, metrics=metrics or {},
                           checkpoint_sha256=f"{project.pk:032d}{number:032d}", trained_on_lines=lines,
                           watermark_revision=watermark, status=status)
    version.checkpoint.save(f"{kind}.pt", ContentFile(b"weights of " + version.label.encode()), save=False)
    version.save()
    return version


def finished_run(version: ModelVersion, *, promoted: bool, verdict: str, trigger: str = "manual", user=None,
                 seconds: float = 312.4) -> TrainingRun:
    finished = timezone.now()
    return TrainingRun.objects.create(
        project=version.project, kind=version.kind, status=RunStatus.SUCCEEDED, model_version=version,
        promoted=promoted, verdict=verdict, trigger=trigger, triggered_by=user,
        progress={"epoch": 4, "step": 40, "total_steps": 40, "loss": 0.42,
                  "val_metric": version.metrics["validation"]["cer"]},
        figures={"train_seconds": seconds}, started_at=finished - timedelta(seconds=seconds + 20),
        finished_at=finished)


@transaction.atomic  # promote() locks the promoted row, as the services calling it do
def model_history(project, user) -> dict[str, ModelVersion]:
    """recognizer-v1 (base, promoted at install, then replaced), recognizer-v2 (beat v1: val CER 12.3 % vs
    15.0 %, promoted), recognizer-v3 (rejected: val CER 100.0 % vs 12.3 % of recognizer-v2), and the base
    detector, promoted."""
    base = model_version(project, 1, source="base", metrics={"base": {"val_cer": 0.477}})
    promote(base, via=PromotionVia.BASE, reason="the shipped base model")
    detector = model_version(project, 1, kind="detector", source="base", metrics={"base": {"val_f1": 0.81}})
    promote(detector, via=PromotionVia.BASE, reason="the shipped base model")

    v2 = model_version(project, 2, lines=120, watermark=345, metrics={
        "training": {"train_seconds": 312.4, "train_lines": 120, "train_characters": 5400},
        "validation": {"cer": 0.123, "wer": 0.4}, "baseline": {"cer": 0.150, "wer": 0.5},
        "compared_with": "recognizer-v1"})
    finished_run(v2, promoted=True, verdict="promoted: val CER 0.123 vs 0.150 of recognizer-v1", user=user)
    promote(v2, via=PromotionVia.TRAINING, reason="promoted: val CER 0.123 vs 0.150 of recognizer-v1")

    v3 = model_version(project, 3, lines=150, watermark=402, status=ModelStatus.REJECTED, metrics={
        "training": {"train_seconds": 95.0, "train_lines": 150, "train_characters": 6800},
        "validation": {"cer": 1.0, "wer": 1.0}, "baseline": {"cer": 0.123, "wer": 0.4},
        "compared_with": "recognizer-v2"})
    finished_run(v3, promoted=False, trigger="policy", seconds=95.0,
                 verdict="rejected: val CER 1.000 vs 0.123 of recognizer-v2 (it must be lower by 0.005)")
    return {"base": base, "detector": detector, "promoted": v2, "rejected": v3}
