"""The dashboard's training panel says what came of a run, not only that its training ended."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from webapp.training.models import (ModelPromotion, ModelStatus, ModelVersion, PromotionVia, RunStatus,
                                    TrainingRun)

pytestmark = pytest.mark.django_db

REJECTED = "rejected: val CER 1.000 vs 1.000 of the empty prediction (it must be lower by 0.005)"
PROMOTED = "promoted: val CER 0.300 vs 0.350 of recognizer-v1"


def finished_run(project, number: int, *, promoted: bool, verdict: str) -> TrainingRun:
    version = ModelVersion(project=project, kind="recognizer", number=number, checkpoint_sha256=f"{number:064d}",
                           status=ModelStatus.PROMOTED if promoted else ModelStatus.REJECTED)
    version.checkpoint.save("recognizer.pt", ContentFile(b"weights"), save=False)
    version.save()
    return TrainingRun.objects.create(project=project, kind="recognizer", status=RunStatus.SUCCEEDED,
                                      model_version=version, promoted=promoted, verdict=verdict,
                                      progress={"epoch": 3, "val_metric": 1.0}, finished_at=timezone.now())


def row_of(html: str, run: TrainingRun) -> str:
    match = re.search(rf'<tr data-run="{run.pk}".*?</tr>', html, re.S)
    assert match, html
    return match.group(0)


def test_a_rejected_run_says_rejected_and_why(client, project, manager):
    rejected = finished_run(project, 2, promoted=False, verdict=REJECTED)
    promoted = finished_run(project, 3, promoted=True, verdict=PROMOTED)
    client.force_login(manager)

    html = client.get(f"/projects/{project.pk}/training/").content.decode()

    row = row_of(html, rejected)
    assert re.search(r'class="run-status">\s*Rejected\s*<', row), row
    assert "Succeeded" not in row
    assert REJECTED in row
    row = row_of(html, promoted)
    assert re.search(r'class="run-status">\s*Promoted\s*<', row), row
    assert PROMOTED in row


def test_a_forced_promotion_is_shown_with_who_forced_it(client, project, manager):
    run = finished_run(project, 2, promoted=True, verdict="")
    ModelPromotion.objects.create(version=run.model_version, via=PromotionVia.MANUAL, promoted_by=manager, forced=True,
                                  reason="recognizer-v2 did not beat recognizer-v1: val CER 1.000 vs 0.350")
    client.force_login(manager)

    html = client.get(f"/projects/{project.pk}/").content.decode()

    row = re.search(r'<tr data-version="recognizer-v2">.*?</tr>', html, re.S).group(0)
    assert "forced by manager" in row
    assert "did not beat recognizer-v1: val CER 1.000 vs 0.350" in row


def test_the_dashboard_shows_how_well_each_recognizers_confidence_is_calibrated(client, project, manager):
    calibrated = finished_run(project, 2, promoted=True, verdict=PROMOTED).model_version
    calibrated.metrics = {"training": {"confidence_ece": 0.0312, "confidence_auroc": 0.934,
                                       "confidence_method": "isotonic"}}
    calibrated.save()
    older = finished_run(project, 3, promoted=False, verdict=REJECTED).model_version   # trained before calibration
    client.force_login(manager)

    html = client.get(f"/projects/{project.pk}/").content.decode()

    row = re.search(r'<tr data-version="recognizer-v2">.*?</tr>', html, re.S).group(0)
    assert re.search(r'class="version-confidence">ECE 0\.031 · AUROC 0\.93<span[^>]*> \(isotonic\)', row), row
    row = re.search(rf'<tr data-version="{older.label}">.*?</tr>', html, re.S).group(0)
    assert 'class="version-confidence">–<' in row
