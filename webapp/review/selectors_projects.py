"""Reads for the project pages: what a project needs next, and who verified how much.

Callers pass a project they already checked access to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from webapp.corpus.models import Line, LineRevision, Page, RevisionAction, Split
from webapp.predictions.selectors import line_queue
from webapp.projects.models import Project, Strategy
from webapp.training import data
from webapp.training.models import ACTIVE_RUN_STATUSES, ModelKind, ModelStatus, ModelVersion, RunStatus, TrainingRun
from webapp.training.selectors import new_training_lines

# The revisions by which a person vouches for a line's text (see webapp.corpus.services._human_write).
VERIFYING_ACTIONS = (RevisionAction.CREATE, RevisionAction.UPDATE, RevisionAction.VERIFY)
PROGRESS_DAYS = 14


@dataclass(frozen=True)
class NextStep:
    """One sentence saying what the project needs next; `kind` lets a page link to where that is done."""

    kind: str  # upload | training | verify-val | verify-train | first-run | review | predict | retrain | done
    text: str


def project_next_step(project: Project) -> NextStep:
    """What the project needs next, from its state, with the same rules as training itself.

    The order is the order of the work: pages, then a running model, then enough validation data
    (training_request refuses without INKLOOP_MIN_VAL_LINES verified validation lines), then
    training data, then the review queue, then retraining on what was verified since.
    """
    if not Page.objects.filter(project=project).exists():
        return NextStep("upload", "Upload pages: the project has none yet.")

    active = TrainingRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).order_by("id").first()
    if active is not None:
        return NextStep("training", _training_sentence(project, active))

    has_trained = ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER, source="trained").exists()
    needed = settings.INKLOOP_MIN_VAL_LINES
    val_lines = data.verified_lines(project=project, split=data.VAL_SPLIT).count()
    if val_lines < needed:
        when = "the next training run" if has_trained else "the first training run"
        if not Page.objects.filter(project=project, split=Split.VAL).exists():
            return NextStep("verify-val", f"Put pages in the validation split and verify at least {needed} lines "
                                          f"on them before {when}; no page is in the validation split yet.")
        return NextStep("verify-val", f"Verify at least {needed} lines on validation pages before {when} "
                                      f"({val_lines} verified so far).")

    train_lines = data.verified_line_count(project=project, split=data.TRAIN_SPLIT)
    waiting = line_queue(project=project).count()
    if train_lines == 0:
        text = "Verify lines on training pages: a training run needs at least one"
        if waiting:
            text += f"; {_waiting_sentence(project, waiting)}"
        return NextStep("verify-train", text + ".")

    if not has_trained:
        return NextStep("first-run", f"Ready for the first training run: {train_lines} verified training "
                                     f"line{'s' if train_lines != 1 else ''} and {val_lines} validation lines. "
                                     f"Start it with “Retrain now: recognizer”.")

    if waiting:
        return NextStep("review", _waiting_sentence(project, waiting) + ".")  # starts with the count

    unverified = Line.objects.filter(project=project, verified_at__isnull=True).count()
    if unverified:
        return NextStep("predict", f"{unverified} line{'s' if unverified != 1 else ''} without a model's "
                                   f"transcription and not verified: verify them on their pages.")

    latest = ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER).order_by("-number").first()
    new_lines = new_training_lines(project)  # what the retrain policy counts
    if new_lines > 0:
        if project.retrain_auto and new_lines < project.retrain_new_lines:
            return NextStep("retrain", f"All lines are verified; {new_lines} are newer than {latest.label}. "
                                       f"Automatic retraining starts at {project.retrain_new_lines}; "
                                       f"retrain now to use them sooner.")
        return NextStep("retrain", f"All lines are verified; {new_lines} are newer than {latest.label}: "
                                   f"retrain to learn from them.")
    in_use = ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER,
                                         status=ModelStatus.PROMOTED).first()
    if in_use is not None and in_use != latest:
        # The latest run's model is not the one reading pages (rejected, or rolled back from): say both.
        return NextStep("done", f"All lines are verified and {latest.label}, the latest version, has learned from "
                                f"every verified training line; {in_use.label} is the one in use. Upload more "
                                f"pages to continue.")
    return NextStep("done", f"All lines are verified and {latest.label} has learned from every verified "
                            f"training line. Upload more pages to continue.")


def _waiting_sentence(project: Project, waiting: int) -> str:
    order = "in random order" if project.strategy == Strategy.RANDOM else "least certain first"
    return f"{waiting} line{'s' if waiting != 1 else ''} {'waits' if waiting == 1 else 'wait'} for review — {order}"


def _training_sentence(project: Project, run: TrainingRun) -> str:
    # The run's version gets the next number when it is registered (training.services._register_version).
    highest = ModelVersion.objects.filter(project=project, kind=run.kind).order_by("-number") \
        .values_list("number", flat=True).first() or 0
    name = f"{run.kind} v{highest + 1}"
    if run.status == RunStatus.QUEUED:
        return f"Training {name}: queued, waiting for a worker."
    progress = run.progress or {}
    step, total = progress.get("step"), progress.get("total_steps")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return f"Training {name}: {min(100, round(100 * step / total))} %."
    return f"Training {name}: started."


@dataclass(frozen=True)
class MemberProgress:
    username: str
    per_day: list[int]  # lines verified on each of `days`, oldest first
    total: int


@dataclass(frozen=True)
class ProgressTable:
    days: list[date]
    rows: list[MemberProgress]


def verified_lines_per_member(*, project: Project, days: int = PROGRESS_DAYS) -> ProgressTable:
    """Lines each person verified on each of the last `days` days (today included), from line revisions.

    One query. A line counts once per person and day however often they saved it; revisions of
    people no longer in the project still count (the work was done). Days are in the site's time zone.
    """
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))  # a bound the created_at index can use
    counts = (LineRevision.objects
              .filter(page__project=project, user__isnull=False, action__in=VERIFYING_ACTIONS,
                      created_at__gte=since)
              .annotate(day=TruncDate("created_at"))
              .values("user__username", "day")
              .annotate(lines=Count("line_ref", distinct=True)))
    day_list = [first + timedelta(days=offset) for offset in range(days)]
    per_user: dict[str, dict[date, int]] = {}
    for row in counts:
        per_user.setdefault(row["user__username"], {})[row["day"]] = row["lines"]
    rows = [MemberProgress(username=name, per_day=[by_day.get(day, 0) for day in day_list],
                           total=sum(by_day.values()))
            for name, by_day in sorted(per_user.items())]
    return ProgressTable(days=day_list, rows=rows)
