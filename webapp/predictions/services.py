"""Predictions from the promoted models: pre-annotation of pages, REST predictions, batch jobs.

The promoted models are loaded once per process and swapped when a new version is
promoted: every use asks the database which versions are promoted (one indexed query)
and reloads only when the answer changed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from statistics import fmean
from typing import Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from PIL import Image

from ml.detection import ScriptedBaseline
from ml.predict import PredictedLine, Predictor
from webapp import task_names
from webapp.corpus import services as corpus
from webapp.corpus.models import Line, LineSource, Page, PageStatus
from webapp.corpus.selectors import page_image
from webapp.files import local_copy
from webapp.locks import LockNamespace, advisory_lock_held, advisory_lock_try
from webapp.outbox.selectors import outbox_handed_over_since
from webapp.predictions.models import FalseDetection, JobStatus, Prediction, PredictionJob
from webapp.projects.models import Project
from webapp.queueing import GPU_QUEUE, enqueue_on_commit
from webapp.training.configs import training_device
from webapp.training.models import ModelKind, ModelStatus, ModelVersion
from webapp.training.selectors import model_version_checkpoint

logger = logging.getLogger(__name__)


class NoModelYet(Exception):
    """The project has no promoted recognizer, so there is nothing to predict with."""


NO_MODEL = ("This project has no promoted recognizer yet (it did not start from the base models, or none was "
            "promoted): verify some lines and train one, or upload one.")


@dataclass(frozen=True)
class LoadedModels:
    predictor: Predictor
    detector: ModelVersion | None      # None: the scripted baseline finds the lines
    recognizer: ModelVersion

    @property
    def label(self) -> str:
        detector = self.detector.label if self.detector else "detector-baseline"
        return f"{detector}+{self.recognizer.label}"


_loaded: dict[int, tuple[tuple[int | None, int], LoadedModels]] = {}
_loading = threading.Lock()


def promoted_models(*, project: Project) -> LoadedModels:
    """The project's promoted models, loaded once and reloaded only after a promotion."""
    promoted = {version.kind: version for version in
                ModelVersion.objects.filter(project=project, status=ModelStatus.PROMOTED)}
    recognizer = promoted.get(ModelKind.RECOGNIZER)
    if recognizer is None:
        raise NoModelYet(NO_MODEL)
    detector = promoted.get(ModelKind.DETECTOR)
    key = (detector.pk if detector else None, recognizer.pk)
    with _loading:
        cached = _loaded.get(project.pk)
        if cached is not None and cached[0] == key:
            return cached[1]
        device = training_device()
        predictor = Predictor.from_checkpoints(
            model_version_checkpoint(version=detector) if detector else None,
            model_version_checkpoint(version=recognizer), device=device)
        if detector is None:
            predictor.detector = ScriptedBaseline()
        models = LoadedModels(predictor=predictor, detector=detector, recognizer=recognizer)
        _loaded[project.pk] = (key, models)
        logger.info("project %s now predicts with %s", project.pk, models.label)
        return models


def predict_image(*, project: Project, image: Image.Image) -> tuple[list[PredictedLine], LoadedModels]:
    models = promoted_models(project=project)
    return models.predictor.predict(image.convert("L")), models


def page_score(lines: Sequence[PredictedLine]) -> float | None:
    """A page is as uncertain as its lines on average; a page where nothing was found is maximally unsure."""
    return fmean(line.confidence for line in lines) if lines else 0.0


# Pre-annotation -----------------------------------------------------------------------------------

VERIFIED_PAGE = "a person verified lines on it, and pre-annotation never replaces people's lines"


@dataclass(frozen=True)
class PreannotationRequest:
    pages_queued: int                   # pages open to the models when asked
    page_ids: list[int] | None          # those pages, for a selection (None: every page nobody verified)
    skipped: list[tuple[Page, str]]     # pages of the selection left as they are, and why


class NothingToPreannotate(Exception):
    """Every selected page holds lines a person verified: there is nothing pre-annotation may write."""

    def __init__(self, skipped: list[tuple[Page, str]]):
        self.skipped = skipped
        names = ", ".join(page.original_name for page, _ in skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        super().__init__(f"On every selected page ({names}) {VERIFIED_PAGE}.")


def preannotation_request(*, project: Project, pages: Sequence[Page] | None = None) -> PreannotationRequest:
    """Queue pre-annotation of `pages` (pages of `project`), or of every page nobody verified when None.

    Raises NoModelYet when the project has no promoted recognizer (a project may start without the base
    models), and NothingToPreannotate when every selected page holds a person's verified line. Selected
    pages with verified lines are skipped and named; the worker checks again under the page's lock
    (page_model_lines_replace), since a person may verify a line after this answer."""
    if not ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER,
                                       status=ModelStatus.PROMOTED).exists():
        raise NoModelYet(NO_MODEL)
    open_pages = pages_to_preannotate(project=project)
    if pages is None:
        enqueue_on_commit(task_names.PREDICTION_PREANNOTATE, project.pk, queue=GPU_QUEUE)
        return PreannotationRequest(pages_queued=open_pages.count(), page_ids=None, skipped=[])
    open_ids = set(open_pages.filter(pk__in=[page.pk for page in pages]).values_list("pk", flat=True))
    skipped = [(page, VERIFIED_PAGE) for page in pages if page.pk not in open_ids]
    if not open_ids:
        raise NothingToPreannotate(skipped)
    page_ids = sorted(open_ids)
    enqueue_on_commit(task_names.PREDICTION_PREANNOTATE, project.pk, page_ids, queue=GPU_QUEUE)
    return PreannotationRequest(pages_queued=len(page_ids), page_ids=page_ids, skipped=skipped)


def preannotation_request_if_ready(*, project: Project) -> bool:
    """Ask for pre-annotation when the project has a promoted recognizer to do it with."""
    try:
        preannotation_request(project=project)
    except NoModelYet:
        return False
    return True


def project_preannotate(*, project_id: int, page_ids: Sequence[int] | None = None) -> int:
    """Predict every page with no human-verified line, and read again the unverified model lines of pages
    a person started (of `page_ids` only, when given); returns the pages written. Idempotent: a page
    already predicted by these exact models, or a line already read by this recognizer, is skipped."""
    project = Project.objects.get(pk=project_id)
    try:
        models = promoted_models(project=project)
    except NoModelYet:
        return 0
    written = 0
    pages = pages_to_preannotate(project=project)
    if page_ids is not None:
        pages = pages.filter(pk__in=page_ids)
    for page in pages:
        if page.predictions.order_by("-id").values_list("model_label", flat=True).first() == models.label:
            continue  # already predicted by exactly these models
        lines = models.predictor.predict(page_image(page))
        if page_model_lines_replace(page=page, lines=lines, models=models):
            written += 1
    started = pages_to_reread(project=project, models=models)
    if page_ids is not None:
        started = started.filter(pk__in=page_ids)
    for page in started:
        if page_model_lines_reread(page=page, models=models):
            written += 1
    return written


def pages_to_preannotate(*, project: Project):
    """Pages without a line a person verified (the status says so: page_status_refresh), which the
    models may fill or replace."""
    return Page.objects.filter(project=project, status__in=[PageStatus.NEW, PageStatus.PREDICTED]).order_by("id")


def stale_model_lines(*, models: LoadedModels):
    """Unverified model lines another recognizer read: on a page a person started, the review queue
    serves them, so a newer recognizer reads them again (their boxes stay: a person may be working
    around them)."""
    return (Line.objects.filter(source=LineSource.MODEL, verified_at__isnull=True)
            .exclude(model_version__endswith=f"+{models.recognizer.label}"))


def pages_to_reread(*, project: Project, models: LoadedModels):
    """Pages a person started (some lines verified) that hold stale model lines."""
    stale = stale_model_lines(models=models).filter(page=OuterRef("pk"))
    return (Page.objects.filter(project=project, status=PageStatus.IN_PROGRESS).filter(Exists(stale))
            .order_by("id"))


def page_model_lines_reread(*, page: Page, models: LoadedModels) -> bool:
    """The promoted recognizer reads the page's stale model lines again, each in its own box."""
    lines = list(stale_model_lines(models=models).filter(page=page).order_by("order", "id"))
    if not lines:
        return False
    readings = models.predictor.recognize_regions(
        page_image(page), [line.bbox for line in lines],
        [[tuple(point) for point in line.polygon] if line.polygon else None for line in lines])
    return corpus.model_lines_reread(readings=list(zip(lines, readings)), model_label=models.label) > 0


def page_model_lines_replace(*, page: Page, lines: Sequence[PredictedLine], models: LoadedModels) -> bool:
    """Replace the page's model lines with `lines`, unless a person verified a line meanwhile."""
    label = models.label
    with transaction.atomic():
        page = Page.objects.select_for_update().get(pk=page.pk)
        created = corpus.page_model_lines_replace(page=page, lines=_inside(page, lines), model_label=label)
        if created is None:
            return False  # a person started on it: their lines win
        page.confidence = page_score(lines)
        page.save(update_fields=["confidence"])
        Prediction.objects.create(page=page, detector=models.detector, recognizer=models.recognizer,
                                  model_label=label, lines_predicted=len(created), page_score=page.confidence)
    return True


def _inside(page: Page, lines: Sequence[PredictedLine]) -> list[PredictedLine]:
    """Drop degenerate boxes: the database refuses empty ones, and they are of no use to a reviewer."""
    return [line for line in lines
            if line.bbox[2] > line.bbox[0] and line.bbox[3] > line.bbox[1]
            and line.bbox[0] >= 0 and line.bbox[1] >= 0 and line.bbox[2] <= page.width and line.bbox[3] <= page.height]


# What the models got wrong --------------------------------------------------------------------------


def line_not_text(*, line_id: int, page: Page, user: AbstractBaseUser, expected_version: int) -> FalseDetection:
    """A person says a model line's box holds no text: the line goes, with its history, and the box is
    recorded as a false detection, both or neither. Raises what model_line_discard raises."""
    with transaction.atomic():
        line = corpus.model_line_discard(line_id=line_id, page=page, user=user, expected_version=expected_version)
        return FalseDetection.objects.create(
            project_id=page.project_id, page=page, x0=line.x0, y0=line.y0, x1=line.x1, y1=line.y1,
            polygon=line.polygon, text=line.text, confidence=line.confidence, model_version=line.model_version,
            line_ref=line.pk, user=user)


# Batch jobs ---------------------------------------------------------------------------------------


def prediction_job_create(*, project: Project, user: AbstractBaseUser, images: Sequence[tuple[str, bytes]]
                          ) -> PredictionJob:
    """Store the (already validated) images and queue the job on the gpu queue."""
    promoted_models_exist = ModelVersion.objects.filter(project=project, kind=ModelKind.RECOGNIZER,
                                                        status=ModelStatus.PROMOTED).exists()
    if not promoted_models_exist:
        raise NoModelYet(NO_MODEL)
    saved = []
    committed: list[bool] = []
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(True))  # first: a committed job keeps its images
            job = PredictionJob.objects.create(project=project, created_by=user)
            inputs = []
            for name, data in images:
                digest = hashlib.sha256(data).hexdigest()
                storage_name = default_storage.save(f"projects/{project.pk}/jobs/{job.pk}/{digest}.png",
                                                    ContentFile(data))
                saved.append(storage_name)
                inputs.append({"name": name, "storage_name": storage_name, "sha256": digest})
            job.inputs = inputs
            job.save(update_fields=["inputs"])
            enqueue_on_commit(task_names.PREDICTION_JOB, job.pk, queue=GPU_QUEUE)
    except BaseException:
        if not committed:
            for name in saved:
                default_storage.delete(name)
        raise
    return job


def prediction_jobs_watchdog() -> list[int]:
    """Queued jobs no worker picked up within INKLOOP_QUEUED_HANDOVER_SECONDS of their last hand-over get a
    new message: the broker may have lost theirs (a Redis restarted without persistence). A job whose message
    only waits behind others gets a duplicate, which is harmless: it finds the job done, or predicts the same
    pages into the same results. Running jobs whose worker died are queued again first. Returns their ids."""
    handed_over = _requeue_orphaned_running_jobs()
    since = timezone.now() - timedelta(seconds=settings.INKLOOP_QUEUED_HANDOVER_SECONDS)
    for job_id in PredictionJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=since).values_list(
            "pk", flat=True):
        if outbox_handed_over_since(task_name=task_names.PREDICTION_JOB, args=[job_id], since=since):
            continue
        enqueue_on_commit(task_names.PREDICTION_JOB, job_id, queue=GPU_QUEUE)
        handed_over.append(job_id)
        logger.warning("prediction job %s is still queued; handing it over again", job_id)
    return handed_over


def _requeue_orphaned_running_jobs() -> list[int]:
    """A job is `running` only while its worker holds the job's advisory lock (prediction_job_execute), and
    the server drops that lock the moment the worker's process dies. A running job nobody holds lost its
    worker (killed, out of memory): its message stays unacknowledged in the broker for the visibility
    timeout (hours), so the job is queued again now."""
    requeued = []
    for job_id in PredictionJob.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True):
        if advisory_lock_held(LockNamespace.PREDICTION_JOB, job_id):
            continue
        with transaction.atomic():
            # Still running by the row (it may have finished since it was listed) and by no one's lock.
            if PredictionJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED):
                enqueue_on_commit(task_names.PREDICTION_JOB, job_id, queue=GPU_QUEUE)
                requeued.append(job_id)
                logger.warning("prediction job %s lost its worker while running; queued again", job_id)
    return requeued


def prediction_job_execute(*, job_id: int) -> str:
    """Run a job to its end. Safe to call twice: a second call while the first runs finds the lock taken."""
    # A session-level lock: held while this process lives, released by the server if it dies.
    with advisory_lock_try(LockNamespace.PREDICTION_JOB, job_id) as locked:
        if not locked:
            return "running elsewhere"
        return _job_execute(job_id=job_id)


def _job_execute(*, job_id: int) -> str:
    job = PredictionJob.objects.select_related("project").get(pk=job_id)
    if job.status in (JobStatus.DONE, JobStatus.FAILED):
        return job.status
    PredictionJob.objects.filter(pk=job_id).update(status=JobStatus.RUNNING)
    try:
        models = promoted_models(project=job.project)
        results = []
        for item in job.inputs:
            with Image.open(local_copy(item["storage_name"], item["sha256"])) as image:
                lines = models.predictor.predict(image.convert("L"))
            results.append({"name": item["name"], "lines": [line.as_dict() for line in lines]})
            PredictionJob.objects.filter(pk=job_id).update(pages_done=len(results))
        PredictionJob.objects.filter(pk=job_id).update(status=JobStatus.DONE, results=results,
                                                       model_label=models.label, finished_at=timezone.now())
    except Exception as error:  # recorded on the job for the client to read
        logger.exception("prediction job %s failed", job_id)
        PredictionJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error=str(error),
                                                       finished_at=timezone.now())
    return PredictionJob.objects.get(pk=job_id).status
