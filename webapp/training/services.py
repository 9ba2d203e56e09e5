"""Training runs and the model registry: request, run, promote, cancel, resume, roll back.

Invariants:
- at most one active (queued or running) run per (project, kind): a database constraint;
- a run executes in one process at a time: it holds a PostgreSQL advisory lock while it
  runs, which the server drops the moment that process dies, so the watchdog can tell a
  dead run from a slow one;
- a run's resumable checkpoint lives in the shared storage, so any worker can resume it;
- a model is promoted at most once per run, inside the transaction that finishes the run.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ml.checkpoints import file_sha256
from ml.detection import evaluate as detector_evaluation
from ml.progress import Progress, TrainingCancelled
from ml.recognition import evaluate as recognizer_evaluation
from ml.trainer import TrainResult
from webapp import task_names
from webapp.files import cache_dir, download_file, upload_file
from webapp.locks import LockNamespace, advisory_lock_held, advisory_lock_try
from webapp.outbox.selectors import outbox_handed_over_since
from webapp.projects.models import Project
from webapp.queueing import GPU_QUEUE, enqueue_on_commit
from webapp.training import configs, data
from webapp.training.models import (ACTIVE_RUN_STATUSES, ModelKind, ModelPromotion, ModelStatus, ModelVersion,
                                    PromotionVia, RunStatus, TrainingRun)
from webapp.training.selectors import model_version_checkpoint, new_training_lines, new_training_pages

logger = logging.getLogger(__name__)


class TrainingRefused(Exception):
    """Training cannot start; the message says why and what would fix it."""


class PromotionNeedsForce(TrainingRefused):
    """A person asked to promote a version the recorded figures say did not beat the promoted one."""


# Requests -----------------------------------------------------------------------------------------


def training_request(*, project: Project, kind: str, user: AbstractBaseUser | None, from_scratch: bool = False,
                     trigger: str = "manual", epochs: int | None = None,
                     max_minutes: float | None = None) -> tuple[TrainingRun, bool]:
    """Start a run, or return the active one (and ask it to run once more when done).

    Returns (run, created).
    """
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)  # serialises concurrent requests
        active = TrainingRun.objects.filter(project=project, kind=kind, status__in=ACTIVE_RUN_STATUSES).first()
        if active is not None:
            active.retrain_after = True
            active.retrain_options = {"from_scratch": from_scratch, "epochs": epochs, "max_minutes": max_minutes,
                                      "user_id": getattr(user, "pk", None)}
            active.save(update_fields=["retrain_after", "retrain_options"])
            return active, False
        check_enough_validation_data(project=project, kind=kind)
        run = TrainingRun.objects.create(
            project=project, kind=kind, from_scratch=from_scratch, triggered_by=user, trigger=trigger, attempts=1,
            epochs=epochs, max_minutes=max_minutes,
            parent=None if from_scratch else promoted_version(project=project, kind=kind))
        _enqueue(run)
    return run, True


def check_enough_validation_data(*, project: Project, kind: str) -> None:
    trainee = TRAINEES[kind]
    count, needed = trainee.validation_count(project), trainee.validation_needed()
    if count < needed:
        raise TrainingRefused(
            f"The validation split has {count} {trainee.validation_unit}; training a {kind} needs at least {needed}, "
            f"so that a new model can be judged fairly. Verify lines on pages of the validation split "
            f"(page filter split=val).")
    problem = trainee.training_data_problem(project)
    if problem:
        raise TrainingRefused(problem)


def training_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next step."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == RunStatus.QUEUED:
            _finish(run, RunStatus.CANCELLED, error="Cancelled before it started.")
        elif run.status == RunStatus.RUNNING:
            run.cancel_requested = True
            run.retrain_after = False
            run.retrain_options = {}
            run.save(update_fields=["cancel_requested", "retrain_after", "retrain_options"])
    return run


def promoted_version(*, project: Project, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, kind=kind, status=ModelStatus.PROMOTED).first()


def _enqueue(run: TrainingRun) -> None:
    enqueue_on_commit(task_names.TRAINING_RUN, run.pk, queue=GPU_QUEUE)


# Execution (in a worker) --------------------------------------------------------------------------


def training_run_execute(*, run_id: int) -> str:
    """Run (or resume) a training run to its end. Safe to call twice: the second call finds the lock taken
    or the run finished, and returns."""
    # A session-level lock: held while this process lives, released by the server if it dies.
    with advisory_lock_try(LockNamespace.TRAINING_RUN, run_id) as locked:
        if not locked:
            return "busy: another process is running it"
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is None or not run.is_active:
            return "nothing to do"
        if run.cancel_requested:
            _finish_by_id(run_id, RunStatus.CANCELLED, error="Cancelled.")
            return "cancelled"
        _mark_running(run)
        try:
            candidate = run.model_version or _train(run)
            _judge_and_finish(run, candidate)
        except TrainingCancelled:
            _finish_by_id(run_id, RunStatus.CANCELLED, error="Cancelled while training.")
        except Exception as error:  # the run records why; the worker stays up for the next run
            logger.exception("training run %s failed", run_id)
            _finish_by_id(run_id, RunStatus.FAILED, error=f"{type(error).__name__}: {error}\n"
                                                          f"{traceback.format_exc(limit=5)}")
    run.refresh_from_db()
    _clean_work_dir(run)
    if run.retrain_after and run.status != RunStatus.CANCELLED:
        _request_follow_up(run)
    return run.status


def _request_follow_up(run: TrainingRun) -> None:
    """The run someone asked for while `run` was active, with the options of that request."""
    options = run.retrain_options or {}
    user_id = options.get("user_id")
    user = run.triggered_by if user_id is None else get_user_model().objects.filter(pk=user_id).first()
    try:
        training_request(project=run.project, kind=run.kind, user=user, trigger="again",
                         from_scratch=bool(options.get("from_scratch", False)), epochs=options.get("epochs"),
                         max_minutes=options.get("max_minutes"))
    except TrainingRefused as refused:
        logger.info("no follow-up run for project %s: %s", run.project_id, refused)


def _mark_running(run: TrainingRun) -> None:
    now = timezone.now()
    run.status = RunStatus.RUNNING
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.save(update_fields=["status", "started_at", "heartbeat_at"])


def work_dir(run: TrainingRun) -> Path:
    return cache_dir() / "runs" / str(run.pk)


def _train(run: TrainingRun) -> ModelVersion:
    """Train on the project's verified data and register the result as a READY model version."""
    directory = work_dir(run)
    directory.mkdir(parents=True, exist_ok=True)
    _restore_last_checkpoint(run, directory)
    watermark = data.revision_watermark(project=run.project)
    init = model_version_checkpoint(version=run.parent) if run.parent else None
    trainee = TRAINEES[run.kind]
    started = time.monotonic()
    result, trained_on = trainee.train(run, directory=directory, init=init, reporter=ProgressReporter(run, directory),
                                       options=dict(device=configs.training_device(), seed=run.pk,
                                                    epochs=run.epochs or configs.epochs(run.kind),
                                                    max_minutes=run.max_minutes or configs.max_minutes(run.kind)))
    if result.cancelled:
        raise TrainingCancelled()
    # The data watermark in people's terms: how many verified lines, and characters of them, it learned from.
    figures = {**trainee.figures(result), "train_seconds": round(time.monotonic() - started, 1),
               **trained_on.figures()}
    return _register_version(run, best_path=Path(result.best_path), alphabet="".join(result.alphabet),
                             watermark=watermark, trained_on=trained_on, figures=json_safe(figures))


@dataclass(frozen=True)
class TrainedOn:
    """The training data of a run in people's terms."""

    lines: int                      # verified lines (a detector: the lines on its pages)
    characters: int | None = None   # their characters (a detector learns boxes, not text: None)
    pages: int = 0                  # training pages (a recognizer: the pages its lines are on)
    partial_pages: int = 0          # of those, pages only partly checked (a detector learns where they are known)

    def figures(self) -> dict:
        return {"train_lines": self.lines, "train_characters": self.characters, "train_pages": self.pages,
                "train_partial_pages": self.partial_pages}


def _train_recognizer(run: TrainingRun, *, directory: Path, init: Path | None, reporter: "ProgressReporter",
                      options: dict[str, Any]) -> tuple[TrainResult, TrainedOn]:
    from ml.recognition.train import train_recognizer

    train_lines = list(data.verified_lines(project=run.project, split=data.TRAIN_SPLIT))
    train_samples = data.line_samples(train_lines)
    val_samples = data.line_samples(data.verified_lines(project=run.project, split=data.VAL_SPLIT))
    config = configs.recognizer_config(fine_tuning=init is not None)
    result = train_recognizer(train_samples, val_samples, out_dir=directory, config=config,
                              init=init, callback=reporter, show_progress=False, **options)
    return result, TrainedOn(lines=len(train_samples), characters=sum(len(sample.text) for sample in train_samples),
                             pages=len({line.page_id for line in train_lines}))


def _train_detector(run: TrainingRun, *, directory: Path, init: Path | None, reporter: "ProgressReporter",
                    options: dict[str, Any]) -> tuple[TrainResult, TrainedOn]:
    from ml.detection.data import PartialPage
    from ml.detection.train import train_detector

    train_pages = data.detector_training_pages(project=run.project, split=data.TRAIN_SPLIT)
    val_pages = data.page_samples(project=run.project, split=data.VAL_SPLIT)
    result = train_detector(train_pages, val_pages, out_dir=directory, config=configs.detector_config(), init=init,
                            callback=reporter, show_progress=False, **options)
    partial = [page for page in train_pages if isinstance(page, PartialPage)]
    lines = sum(len(page.lines) if isinstance(page, PartialPage) else len(page[1]) for page in train_pages)
    return result, TrainedOn(lines=lines, pages=len(train_pages), partial_pages=len(partial))


def _recognizer_figures(result: TrainResult) -> dict:
    best = result.best_metrics
    calibration = best.get("calibration") or {}
    method = (calibration.get("line_calibrator") or {}).get("method")
    # The confidence people see: P(line read exactly) from the calibrated ranking measure, measured on
    # the validation lines (ECE cross-validated, AUROC of the measure for lines with errors).
    return {"best_val_cer": best.get("cer"), "best_val_wer": best.get("wer"), "epochs": result.epochs_completed,
            "steps": result.steps, "stopped": result.stopped, "train_lines_per_second": result.samples_per_second,
            "calibration": best.get("calibration"), "confidence_ece": calibration.get("confidence_ece"),
            "confidence_auroc": calibration.get("confidence_auroc"), "confidence_method": method,
            "ranking_measure": calibration.get("measure")}


def _detector_figures(result: TrainResult) -> dict:
    return {"best_val": result.best_metrics, "epochs": result.epochs_completed, "stopped": result.stopped}


class ProgressReporter:
    """The training callback: progress and heartbeat to the run's row, last.pt to the shared storage,
    and cancellation (raising TrainingCancelled at the next step)."""

    def __init__(self, run: TrainingRun, directory: Path):
        self.run_id = run.pk
        self.storage_name = f"{run.storage_prefix}/last.pt"
        self.last_path = directory / "last.pt"
        self.uploaded_mtime = self._mtime()

    def __call__(self, progress: Progress) -> None:
        TrainingRun.objects.filter(pk=self.run_id).update(progress=json_safe(progress.as_dict()),
                                                          heartbeat_at=timezone.now())
        mtime = self._mtime()
        if mtime is not None and mtime != self.uploaded_mtime:
            upload_file(self.last_path, self.storage_name)
            self.uploaded_mtime = mtime
        if TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            raise TrainingCancelled()

    def _mtime(self) -> float | None:
        return self.last_path.stat().st_mtime if self.last_path.exists() else None


def json_safe(value):
    """JSON has no NaN or infinity (a diverging loss can be either): store them as null."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _restore_last_checkpoint(run: TrainingRun, directory: Path) -> None:
    """A resumed run on another worker starts from the checkpoint the last attempt stored."""
    from django.core.files.storage import default_storage

    name = f"{run.storage_prefix}/last.pt"
    if not (directory / "last.pt").exists() and default_storage.exists(name):
        download_file(name, directory / "last.pt")


def _register_version(run: TrainingRun, *, best_path: Path, alphabet: str, watermark: int, trained_on: TrainedOn,
                      figures: dict) -> ModelVersion:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.model_version is not None:  # registered by an earlier attempt
            return run.model_version
        number = (ModelVersion.objects.filter(project=run.project, kind=run.kind)
                  .aggregate(highest=Max("number"))["highest"] or 0) + 1
        version = ModelVersion(project=run.project, kind=run.kind, number=number, parent=run.parent,
                               checkpoint_sha256=file_sha256(best_path), alphabet=alphabet,
                               metrics={"training": figures}, watermark_revision=watermark,
                               trained_on_lines=trained_on.lines, trained_on_pages=trained_on.pages,
                               status=ModelStatus.READY, created_by=run.triggered_by)
        version.checkpoint.save(f"{run.kind}.pt", ContentFile(best_path.read_bytes()), save=False)
        version.save()
        run.model_version = version
        run.figures = figures
        run.save(update_fields=["model_version", "figures"])
    return version


def _judge_and_finish(run: TrainingRun, candidate: ModelVersion) -> None:
    """Score candidate and promoted model on the same current validation data; promote if clearly better."""
    promoted = promoted_version(project=run.project, kind=run.kind)
    verdict = judge(candidate=candidate, promoted=promoted if promoted != candidate else None)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if not run.is_active:
            return
        candidate.refresh_from_db()
        candidate.metrics = json_safe({**candidate.metrics, "validation": verdict.candidate,
                                       "compared_with": verdict.baseline_label, "baseline": verdict.baseline})
        run.verdict = verdict.reason
        if verdict.better:
            promote(candidate, via=PromotionVia.TRAINING, reason=verdict.reason)
            run.promoted = True
        else:
            candidate.status = ModelStatus.REJECTED
            candidate.save()
        _finish(run, RunStatus.SUCCEEDED)
    if run.promoted:
        enqueue_on_commit_after_promotion(candidate)


EMPTY_PREDICTION = "empty prediction"  # what a model is judged against when none is promoted


@dataclass
class Verdict:
    better: bool
    candidate: dict
    baseline: dict
    baseline_label: str
    reason: str


def judge(*, candidate: ModelVersion, promoted: ModelVersion | None) -> Verdict:
    project, trainee = candidate.project, TRAINEES[candidate.kind]
    margin = project.promotion_margin
    device = configs.training_device()
    validation = trainee.validation_data(project)
    mine = trainee.scores(model_version_checkpoint(version=candidate), validation, device=device)
    theirs = (trainee.scores(model_version_checkpoint(version=promoted), validation, device=device) if promoted
              else trainee.empty_scores(validation))
    metric = trainee.metric
    better = beats(trainee, mine[metric], theirs[metric], margin=margin)
    label = promoted.label if promoted else EMPTY_PREDICTION
    if better:
        reason = f"promoted: {comparison_text(metric, mine[metric], theirs[metric])} of {_named(label)}"
    else:
        direction = "higher" if trainee.higher_is_better else "lower"
        reason = (f"rejected: {comparison_text(metric, mine[metric], theirs[metric])} of {_named(label)} "
                  f"(it must be {direction} by {margin:g})")
    return Verdict(better=better, candidate=mine, baseline=theirs, baseline_label=label, reason=reason)


def beats(trainee: "Trainee", mine: float, theirs: float, *, margin: float) -> bool:
    """The one rule of promotion: better than the promoted model by the project's margin."""
    return mine > theirs + margin if trainee.higher_is_better else mine < theirs - margin


def comparison_text(metric: str, mine: float, theirs: float) -> str:
    return f"val {metric.upper()} {mine:.3f} vs {theirs:.3f}"


def _named(label: str) -> str:
    return f"the {label}" if label == EMPTY_PREDICTION else label


def promote(version: ModelVersion, *, via: str, user: AbstractBaseUser | None = None, forced: bool = False,
            reason: str = "") -> ModelPromotion:
    """Make `version` its kind's promoted one, save it and record the promotion.

    Caller holds a transaction. The partial unique index guarantees one promoted model per kind.
    """
    replaced = (ModelVersion.objects.select_for_update()
                .filter(project=version.project, kind=version.kind, status=ModelStatus.PROMOTED)
                .exclude(pk=version.pk).first())
    if replaced is not None:
        replaced.status = ModelStatus.READY
        replaced.save(update_fields=["status"])
    version.status = ModelStatus.PROMOTED
    version.promoted_at = timezone.now()
    version.save()
    return ModelPromotion.objects.create(version=version, replaced=replaced, via=via, promoted_by=user,
                                         forced=forced, reason=reason)


def enqueue_on_commit_after_promotion(version: ModelVersion) -> None:
    """After a promotion: pre-annotate the project's pages with the new model (a later step of the loop)."""
    enqueue_on_commit(task_names.PREDICTION_PREANNOTATE, version.project_id, queue=GPU_QUEUE)


def model_version_promote(*, version: ModelVersion, user: AbstractBaseUser, force: bool = False) -> ModelVersion:
    """A person makes `version` the promoted one (a roll back, or forward).

    When the recorded figures say it did not beat the version it would replace (promotion_objection),
    this needs `force`, and the promotion is recorded as forced with that objection: a model that reads
    nothing must not reach pre-annotation unnoticed. Promoting the promoted version changes nothing.
    """
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status == ModelStatus.FAILED or not version.checkpoint:
            raise TrainingRefused(f"{version.label} has no usable checkpoint.")
        if version.status == ModelStatus.PROMOTED:
            return version
        current = promoted_version(project=version.project, kind=version.kind)
        objection = promotion_objection(version=version, current=current)
        if objection and not force:
            raise PromotionNeedsForce(f"{objection}; pass force to promote it anyway.")
        promote(version, via=PromotionVia.MANUAL, user=user, forced=bool(objection), reason=objection or "")
        enqueue_on_commit_after_promotion(version)
    return version


def promotion_objection(*, version: ModelVersion, current: ModelVersion | None) -> str | None:
    """Why the recorded figures say `version` should not replace `current` (None: nothing says so).

    Figures measured on the same validation data come first: `version`'s own judgement against
    `current`, then `current`'s judgement against `version`. Failing those, the scores each got at
    its own judgement, and last a rejection of `version` by the model promoted when it was judged.
    A version never judged on this project (uploaded, base) has no figures and raises no objection.
    """
    trainee = TRAINEES[version.kind]
    metric = trainee.metric
    against = current.label if current else EMPTY_PREDICTION
    mine, its_baseline = _score(version, "validation", metric), _score(version, "baseline", metric)
    current_score = _score(current, "validation", metric) if current else None
    current_baseline = _score(current, "baseline", metric) if current else None
    note = ""
    if version.metrics.get("compared_with") == against and None not in (mine, its_baseline):
        theirs = its_baseline
    elif current is not None and current.metrics.get("compared_with") == version.label \
            and None not in (current_baseline, current_score):
        mine, theirs = current_baseline, current_score
    elif None not in (mine, current_score):
        theirs, note = current_score, " (each on the validation split of its own judgement)"
    elif version.status == ModelStatus.REJECTED and None not in (mine, its_baseline):
        theirs, against, note = its_baseline, version.metrics.get("compared_with"), " (when it was judged)"
    else:
        return None
    if beats(trainee, mine, theirs, margin=version.project.promotion_margin):
        return None
    return f"{version.label} did not beat {_named(against)}: {comparison_text(metric, mine, theirs)}{note}"


def _score(version: ModelVersion, which: str, metric: str) -> float | None:
    """A recorded score: which="validation" (its own at its judgement) or "baseline" (what it was judged against)."""
    figures = (version.metrics or {}).get(which)
    value = figures.get(metric) if isinstance(figures, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _finish(run: TrainingRun, status: str, *, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "promoted", "figures", "verdict"])


def _finish_by_id(run_id: int, status: str, *, error: str = "") -> None:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.is_active:
            _finish(run, status, error=error)


def _clean_work_dir(run: TrainingRun) -> None:
    if not run.is_active:
        shutil.rmtree(work_dir(run), ignore_errors=True)


# The watchdog (beat) ------------------------------------------------------------------------------


def training_watchdog() -> list[int]:
    """Resume runs whose process died; fail them after too many attempts. Returns the ids it resumed."""
    timeout = timedelta(seconds=settings.INKLOOP_HEARTBEAT_TIMEOUT)
    stale = TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=timezone.now() - timeout)
    resumed = []
    for run in stale:
        if advisory_lock_held(LockNamespace.TRAINING_RUN, run.pk):
            continue  # its process is alive, only slow to report
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if run.status != RunStatus.RUNNING:
                continue
            if run.attempts >= settings.INKLOOP_MAX_RUN_ATTEMPTS:
                _finish(run, RunStatus.FAILED, error=f"The worker running it stopped {run.attempts} times "
                                                     f"(no heartbeat for {timeout.seconds} s); giving up.")
                continue
            run.attempts += 1
            run.heartbeat_at = timezone.now()  # one timeout of grace for the resumed attempt to start
            run.save(update_fields=["attempts", "heartbeat_at"])
            _enqueue(run)
            resumed.append(run.pk)
            logger.warning("training run %s lost its worker; resuming (attempt %s)", run.pk, run.attempts)
    return resumed + _hand_over_queued_runs()


def _hand_over_queued_runs() -> list[int]:
    """Queued runs no worker picked up within INKLOOP_QUEUED_HANDOVER_SECONDS of their last hand-over get a
    new message: the broker may have lost theirs (a Redis restarted without persistence), and a queued run
    left alone would block its project's training for good. A run whose message only waits behind others
    gets a duplicate, which training_run_execute makes a no-op (the lock, then the run's status)."""
    since = timezone.now() - timedelta(seconds=settings.INKLOOP_QUEUED_HANDOVER_SECONDS)
    handed_over = []
    queued = TrainingRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=since)
    for run_id in queued.values_list("pk", flat=True):
        if outbox_handed_over_since(task_name=task_names.TRAINING_RUN, args=[run_id], since=since):
            continue
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().filter(pk=run_id, status=RunStatus.QUEUED).first()
            if run is None:
                continue
            _enqueue(run)
        handed_over.append(run_id)
        logger.warning("training run %s is still queued %s s after it was handed over; handing it over again",
                       run_id, settings.INKLOOP_QUEUED_HANDOVER_SECONDS)
    return handed_over


def retrain_policy_check(*, project: Project) -> list[TrainingRun]:
    """Automatic retraining of each kind once enough new training data arrived since its latest version's:
    `retrain_new_lines` verified lines for the recognizer, `retrain_new_pages` checked pages for the
    detector. Returns the runs it started."""
    if not project.retrain_auto:
        return []
    started = []
    for kind, trainee in TRAINEES.items():
        new, needed = trainee.new_training_data(project), trainee.retrain_threshold(project)
        if new < max(needed, 1):
            continue
        try:
            run, created = training_request(project=project, kind=kind, user=None, trigger="policy")
        except TrainingRefused:
            continue
        if created:
            started.append(run)
    return started


# What differs between model kinds ------------------------------------------------------------------


@dataclass(frozen=True)
class Trainee:
    """How one model kind is trained and judged; every other step of a run is the same for all kinds."""

    validation_unit: str                                     # what the validation split must hold enough of
    validation_count: Callable[[Project], int]
    validation_needed: Callable[[], int]
    training_data_problem: Callable[[Project], str | None]   # why training cannot start, or None
    train: Callable[..., tuple[TrainResult, TrainedOn]]
    new_training_data: Callable[[Project], int]              # what the latest version has not learned from
    retrain_threshold: Callable[[Project], int]              # how much of it starts an automatic run
    figures: Callable[[TrainResult], dict]
    validation_data: Callable[[Project], list]
    scores: Callable[..., dict]                              # (checkpoint, validation data, device=) -> metrics
    empty_scores: Callable[[list], dict]                     # what predicting nothing scores
    metric: str                                              # the metric of `scores` that decides promotion
    higher_is_better: bool


def _no_training_lines(project: Project) -> str | None:
    if not data.verified_lines(project=project, split=data.TRAIN_SPLIT).exists():
        return "The training split has no human-verified lines yet."
    return None


def _no_training_pages(project: Project) -> str | None:
    if not data.detector_training_page_count(project=project):
        return ("The training split has no page with a verified line or a box marked as not a text line yet: "
                "a detector learns from pages people checked.")
    return None


TRAINEES: dict[str, Trainee] = {
    ModelKind.RECOGNIZER: Trainee(
        validation_unit="human-verified lines",
        validation_count=lambda project: data.verified_lines(project=project, split=data.VAL_SPLIT).count(),
        validation_needed=lambda: settings.INKLOOP_MIN_VAL_LINES,
        training_data_problem=_no_training_lines,
        train=_train_recognizer, figures=_recognizer_figures,
        new_training_data=new_training_lines, retrain_threshold=lambda project: project.retrain_new_lines,
        validation_data=lambda project: data.line_samples(data.verified_lines(project=project, split=data.VAL_SPLIT)),
        scores=recognizer_evaluation.recognizer_scores, empty_scores=recognizer_evaluation.empty_prediction_scores,
        metric="cer", higher_is_better=False),
    ModelKind.DETECTOR: Trainee(
        validation_unit="fully verified pages",
        validation_count=lambda project: data.fully_verified_pages(project=project, split=data.VAL_SPLIT).count(),
        validation_needed=lambda: settings.INKLOOP_MIN_VAL_PAGES,
        training_data_problem=_no_training_pages,
        train=_train_detector, figures=_detector_figures,
        new_training_data=new_training_pages, retrain_threshold=lambda project: project.retrain_new_pages,
        validation_data=lambda project: data.page_samples(project=project, split=data.VAL_SPLIT),
        scores=detector_evaluation.detector_scores, empty_scores=detector_evaluation.empty_detection_scores,
        metric="f1", higher_is_better=True),
}
