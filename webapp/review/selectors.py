"""Reads for the review UI. Callers pass a project they already checked access to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch, Q, QuerySet

from webapp.corpus.models import Line, Page
from webapp.predictions.selectors import line_queue
from webapp.projects.models import Project, Strategy
from webapp.projects.selectors import project_list
from webapp.training.models import (ACTIVE_RUN_STATUSES, ModelKind, ModelPromotion, ModelStatus, ModelVersion,
                                    RunStatus, TrainingRun)

QUEUE_BATCH = 20


def project_cards(*, user: AbstractBaseUser) -> QuerySet[Project]:
    return project_list(user=user).annotate(page_count=Count("pages", distinct=True)).order_by("name", "id")


@dataclass(frozen=True)
class Overview:
    pages: int
    lines: int
    verified_lines: int
    waiting_lines: int


def project_overview(*, project: Project) -> Overview:
    lines = Line.objects.filter(project=project).aggregate(
        total=Count("id"), verified=Count("id", filter=Q(verified_at__isnull=False)))
    return Overview(pages=Page.objects.filter(project=project).count(), lines=lines["total"],
                    verified_lines=lines["verified"], waiting_lines=line_queue(project=project).count())


def queue_batch(*, project: Project, after_line_id: int | None, limit: int = QUEUE_BATCH) -> list[Line]:
    """The next lines of the review queue after `after_line_id`, in the queue's own order.

    A keyset cursor rather than an offset: lines accepted meanwhile leave the queue, and an
    offset would then skip lines nobody has seen.
    """
    lines = line_queue(project=project).select_related("page")
    after = Line.objects.filter(project=project, pk=after_line_id).values("pk", "confidence").first() \
        if after_line_id else None
    if after is not None:
        if project.strategy == Strategy.RANDOM:
            # line_queue orders the control by md5(id::text); the same hash in Python is the cursor.
            key = hashlib.md5(str(after["pk"]).encode()).hexdigest()
            lines = lines.filter(Q(shuffle__gt=key) | Q(shuffle=key, pk__gt=after["pk"]))
        else:
            lines = lines.filter(Q(confidence__gt=after["confidence"])
                                 | Q(confidence=after["confidence"], pk__gt=after["pk"]))
    return list(lines[:limit])


def active_runs(*, project: Project) -> dict[str, TrainingRun]:
    runs = TrainingRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES)
    return {run.kind: run for run in runs}


def latest_runs(*, project: Project, limit: int = 4) -> list[TrainingRun]:
    return list(TrainingRun.objects.filter(project=project).select_related("model_version", "project")
                .order_by("-id")[:limit])


def model_versions(*, project: Project) -> list[ModelVersion]:
    promotions = ModelPromotion.objects.select_related("promoted_by")
    return list(ModelVersion.objects.filter(project=project).order_by("kind", "-number")
                .select_related("training_run__project")
                .prefetch_related(Prefetch("promotions", queryset=promotions)))


@dataclass(frozen=True)
class CurvePoint:
    label: str
    number: int
    verified_lines: int
    verified_characters: int | None  # None: its run did not record them (trained before they were counted)
    cer: float
    status: str  # as drawn: "rejected" for a version its judgement rejected, even once rolled back to and away from


def learning_curve(*, project: Project) -> list[CurvePoint]:
    """One point per evaluated recognizer version: validation CER against the verified lines it saw.

    A version never judged itself (the base model) gets the CER it scored as the baseline of a later
    version's judgement: the same validation split, so it is the curve's honest starting point.
    """
    versions = list(ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER)
                    .select_related("training_run").order_by("number"))
    as_baseline = {}
    for version in versions:
        baseline = (version.metrics or {}).get("baseline") or {}
        compared_with = (version.metrics or {}).get("compared_with")
        if compared_with and isinstance(baseline.get("cer"), (int, float)):
            as_baseline.setdefault(compared_with, float(baseline["cer"]))
    points = []
    for version in versions:
        metrics = version.metrics or {}
        cer = (metrics.get("validation") or {}).get("cer")
        if not isinstance(cer, (int, float)):
            cer = as_baseline.get(version.label)
        if not isinstance(cer, (int, float)):
            continue
        characters = (metrics.get("training") or {}).get("train_characters")
        if version.source == "base":
            characters = 0  # it saw none of this project's lines
        points.append(CurvePoint(label=version.label, number=version.number, verified_lines=version.trained_on_lines,
                                 verified_characters=characters if isinstance(characters, int) else None,
                                 cer=float(cer), status=_curve_status(version)))
    return points


def _curve_status(version: ModelVersion) -> str:
    """A version forced into use and then rolled back from is `ready` again, but its judgement still rejected it
    (as its verdict says): the curve keeps it off the line of the versions judged good enough."""
    run = getattr(version, "training_run", None)
    if version.status == ModelStatus.READY and run is not None and run.status == RunStatus.SUCCEEDED \
            and not run.promoted:
        return ModelStatus.REJECTED.value
    return version.status


def page_neighbours(*, project: Project, page: Page) -> tuple[Page | None, Page | None]:
    """The pages before and after `page` in the project's page order (corpus.selectors.page_list: by id)."""
    pages = Page.objects.filter(project=project).only("id", "original_name")
    return (pages.filter(pk__lt=page.pk).order_by("-pk").first(), pages.filter(pk__gt=page.pk).order_by("pk").first())
