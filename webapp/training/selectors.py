from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from webapp.files import local_copy
from webapp.projects.models import Project
from webapp.training import data
from webapp.training.models import ModelKind, ModelPromotion, ModelVersion, TrainingRun


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related("model_version", "parent", "triggered_by")


def access_training_run(*, project: Project, run_id: int) -> TrainingRun:
    run = training_run_list(project=project).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such training run in this project.")
    return run


def model_version_list(*, project: Project, kind: str | None = None) -> QuerySet[ModelVersion]:
    promotions = ModelPromotion.objects.select_related("promoted_by", "replaced")
    versions = (ModelVersion.objects.filter(project=project).select_related("parent")
                .prefetch_related(Prefetch("promotions", queryset=promotions)))
    return versions.filter(kind=kind) if kind else versions


def access_model_version(*, project: Project, version_id: int) -> ModelVersion:
    version = model_version_list(project=project).filter(pk=version_id).first()
    if version is None:
        raise Http404("No such model version in this project.")
    return version


def model_version_checkpoint(*, version: ModelVersion) -> Path:
    """The version's checkpoint as a local file (cached by its sha256), for loading with torch."""
    return local_copy(version.checkpoint.name, version.checkpoint_sha256)


# What the latest version of each kind has not learned from: the retrain policy's counts
# (training.services.retrain_policy_check) and the dashboard's next step.

def new_training_lines(project: Project) -> int:
    """Verified training lines the recognizer's latest version has not learned from."""
    last = ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER).order_by("-number").first()
    return data.verified_line_count(project=project, split=data.TRAIN_SPLIT) - (last.trained_on_lines if last else 0)


def new_training_pages(project: Project) -> int:
    """Checked training pages (fully or partly) the detector's latest version has not learned from."""
    last = ModelVersion.objects.filter(project=project, kind=ModelKind.DETECTOR).order_by("-number").first()
    return data.detector_training_page_count(project=project) - (last.trained_on_pages if last else 0)


def validation_is_enough(project: Project) -> bool:
    """Whether the validation split holds what a training run of every kind needs to be judged
    (training.services.check_enough_validation_data refuses below it)."""
    return (data.verified_lines(project=project, split=data.VAL_SPLIT).count() >= settings.INKLOOP_MIN_VAL_LINES
            and data.fully_verified_pages(project=project, split=data.VAL_SPLIT).count()
            >= settings.INKLOOP_MIN_VAL_PAGES)
