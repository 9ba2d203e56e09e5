"""Reads for the review UI. Callers pass a project they already checked access to."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch, Q, QuerySet

from ml import forecast as ml_forecast
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
    val_lines: int = 0               # the validation lines its CER is the mean of (0: not recorded)


def learning_curve(*, project: Project) -> list[CurvePoint]:
    """One point per evaluated recognizer version: validation CER against the verified lines it saw.

    A version never judged itself (the base model) gets the CER it scored as the baseline of a later
    version's judgement: the same validation split, so it is the curve's honest starting point.
    """
    versions = list(ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER)
                    .select_related("training_run").order_by("number"))
    as_baseline: dict[str, dict] = {}
    for version in versions:
        baseline = (version.metrics or {}).get("baseline") or {}
        compared_with = (version.metrics or {}).get("compared_with")
        if compared_with and isinstance(baseline.get("cer"), (int, float)):
            as_baseline.setdefault(compared_with, baseline)
    points = []
    for version in versions:
        metrics = version.metrics or {}
        scores = metrics.get("validation") or {}
        if not isinstance(scores.get("cer"), (int, float)):
            scores = as_baseline.get(version.label) or {}
        cer = scores.get("cer")
        if not isinstance(cer, (int, float)):
            continue
        characters = (metrics.get("training") or {}).get("train_characters")
        if version.source == "base":
            characters = 0  # it saw none of this project's lines
        val_lines = scores.get("lines")
        points.append(CurvePoint(label=version.label, number=version.number, verified_lines=version.trained_on_lines,
                                 verified_characters=characters if isinstance(characters, int) else None,
                                 cer=float(cer), status=_curve_status(version),
                                 val_lines=val_lines if isinstance(val_lines, int) else 0))
    return points


def _curve_status(version: ModelVersion) -> str:
    """A version forced into use and then rolled back from is `ready` again, but its judgement still rejected it
    (as its verdict says): the curve keeps it off the line of the versions judged good enough."""
    run = getattr(version, "training_run", None)
    if version.status == ModelStatus.READY and run is not None and run.status == RunStatus.SUCCEEDED \
            and not run.promoted:
        return ModelStatus.REJECTED.value
    return version.status


# The CER milestones a forecast aims at by default: the highest one below the best CER so far.
FORECAST_MILESTONES = (0.5, 0.3, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01)
FORECAST_MIN_VERSIONS = ml_forecast.MIN_POINTS


@dataclass(frozen=True)
class LabellingForecast:
    """What `ml.forecast` says of the project's learning curve, in the project's terms."""

    target: float
    versions: int                        # recognizer versions on the curve
    lines_now: int
    more_lines: float                    # inf: the curve levels off above the target
    more_lines_low: float
    more_lines_high: float
    characters_per_line: float | None    # mean length of the verified lines the latest versions learned from
    floor: float                         # where the fitted curve levels off

    def characters(self, lines: float) -> float | None:
        return None if self.characters_per_line is None else lines * self.characters_per_line

    @property
    def reachable(self) -> bool:
        return math.isfinite(self.more_lines)

    def sentence(self) -> str:
        """The forecast as the dashboard says it."""
        target = _percent(self.target)
        if not self.reachable:
            return (f"At this rate {target} CER is out of reach: the learning curve of {self.versions} versions "
                    f"levels off near {_percent(self.floor)}.")
        if self.more_lines < 1:
            return f"The learning curve says {target} CER is reached with the lines verified so far."
        characters = self.characters(self.more_lines)
        amount = f"{_count(self.more_lines)} more lines" + (f" ({_count(characters)} characters)" if characters else "")
        high = "no bound" if not math.isfinite(self.more_lines_high) else _count(self.more_lines_high)
        return (f"About {amount} to reach {target} CER (likely between {_count(self.more_lines_low)} and {high}; "
                f"fitted to {self.versions} versions).")


NO_FORECAST = (f"No forecast yet: it is fitted to the learning curve once {ml_forecast.MIN_POINTS} recognizer "
               f"versions are on it.")


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %" if value >= 0.1 else f"{100 * value:.1f} %"


def _count(value: float) -> str:
    """Round figures: a forecast is not precise to the line."""
    rounded = round(value, -2) if value >= 1000 else round(value, -1) if value >= 100 else round(value)
    return f"{int(rounded):,}"


def labelling_forecast(*, project: Project, target: float | None = None) -> LabellingForecast | None:
    """How many more verified lines the learning curve says reach `target` CER (by default the next
    milestone below the best CER so far); None before FORECAST_MIN_VERSIONS versions (not rejected)
    are on the curve."""
    # A rejected version is a run that went wrong, not where the project's labels lead: left out.
    points = [point for point in learning_curve(project=project) if point.status != ModelStatus.REJECTED]
    if len(points) < FORECAST_MIN_VERSIONS:
        return None
    best = min(point.cer for point in points)
    if target is None:
        target = next((m for m in FORECAST_MILESTONES if m < best), FORECAST_MILESTONES[-1])
    curve = tuple(ml_forecast.CurvePoint(p.verified_lines, round(p.cer, 6), max(p.val_lines, 1)) for p in points)
    result = _forecast(curve, round(float(target), 6))
    if result is None:
        return None
    with_characters = [p for p in points if p.verified_lines and p.verified_characters]
    per_line = (with_characters[-1].verified_characters / with_characters[-1].verified_lines
                if with_characters else None)
    return LabellingForecast(target=result.target, versions=len(points), lines_now=result.lines_now,
                             more_lines=result.more_lines, more_lines_low=result.more_lines_low,
                             more_lines_high=result.more_lines_high, characters_per_line=per_line,
                             floor=result.floor)


@lru_cache(maxsize=256)
def _forecast(curve: tuple[ml_forecast.CurvePoint, ...], target: float) -> ml_forecast.Forecast | None:
    # The same points give the same forecast: computed once per process, not on every dashboard poll.
    return ml_forecast.forecast(list(curve), target)


def page_neighbours(*, project: Project, page: Page) -> tuple[Page | None, Page | None]:
    """The pages before and after `page` in the project's page order (corpus.selectors.page_list: by id)."""
    pages = Page.objects.filter(project=project).only("id", "original_name")
    return (pages.filter(pk__lt=page.pk).order_by("-pk").first(), pages.filter(pk__gt=page.pk).order_by("pk").first())
