"""inkloop as Label Studio's ML backend: Label Studio's protocol, answered from inkloop's models.

/predict answers from the page's stored pre-annotation when it is by the promoted models
(no inference in the web process), and runs the promoted models otherwise.
"""

from __future__ import annotations

import logging

from labeling.convert import LineForLabelStudio, result_from_lines
from labeling.selectors import link_by_ls_project
from labeling.services.lines import region_ids_assign
from webapp.corpus.models import LineSource, Page
from webapp.predictions.models import Prediction
from webapp.predictions.services import NoModelYet, page_score, predict_image, promoted_models
from webapp.projects.models import Project
from webapp.corpus.selectors import page_image
from webapp.training.models import ModelKind
from webapp.training.services import TrainingRefused, training_request

logger = logging.getLogger(__name__)

NO_MODEL = "no-model-yet"


class UnknownProject(LookupError):
    pass


def project_of(*, project_uid) -> Project:
    """Label Studio names the project '<id>.<created timestamp>' in ML-backend requests."""
    try:
        ls_project_id = int(str(project_uid).split(".")[0])
    except ValueError:
        raise UnknownProject(f"{project_uid!r} is not a Label Studio project id.") from None
    link = link_by_ls_project(ls_project_id=ls_project_id)
    if link is None:
        raise UnknownProject(f"Label Studio project {ls_project_id} is not an inkloop project.")
    return link.project


def model_version(*, project: Project) -> str:
    try:
        return promoted_models(project=project).label
    except NoModelYet:
        return NO_MODEL


def predict_tasks(*, project: Project, tasks: list) -> list[dict]:
    """One prediction per task, in order, as Label Studio expects."""
    return [_predict_task(project=project, task=task) for task in tasks]


def _predict_task(*, project: Project, task) -> dict:
    page_id = (task.get("data") or {}).get("page_id") if isinstance(task, dict) else None
    page = Page.objects.filter(pk=page_id, project=project).first() if isinstance(page_id, int) else None
    if page is None:
        logger.warning("ML backend: task %r is not a page of project %s", task, project.pk)
        return {"result": [], "score": 0.0, "model_version": NO_MODEL}
    stored = Prediction.objects.filter(page=page).order_by("-id").first()
    current = model_version(project=project)
    if stored is not None and stored.model_label in (current, NO_MODEL) or current == NO_MODEL:
        return _from_stored(page=page, prediction=stored)
    return _from_models(project=project, page=page)


def _from_stored(*, page: Page, prediction: Prediction | None) -> dict:
    if prediction is None:
        return {"result": [], "score": 0.0, "model_version": NO_MODEL}
    lines = list(page.lines.filter(source=LineSource.MODEL, model_version=prediction.model_label).order_by("order"))
    region_ids_assign(lines=lines)
    result = result_from_lines([LineForLabelStudio(region_id=line.ls_region_id, bbox=line.bbox, text=line.text,
                                                   score=line.confidence, polygon=line.polygon) for line in lines],
                               width=page.width, height=page.height)
    return {"result": result, "score": prediction.page_score, "model_version": prediction.model_label}


def _from_models(*, project: Project, page: Page) -> dict:
    lines, models = predict_image(project=project, image=page_image(page))
    result = result_from_lines([LineForLabelStudio(region_id=f"model-{page.pk}-{index}", bbox=tuple(line.bbox),
                                                   text=line.text, score=line.confidence, polygon=line.polygon)
                                for index, line in enumerate(lines)], width=page.width, height=page.height)
    return {"result": result, "score": page_score(lines), "model_version": models.label}


def training_start(*, project: Project) -> dict:
    """START_TRAINING: the same request as the REST trigger (one active run per project and kind)."""
    try:
        run, created = training_request(project=project, kind=ModelKind.RECOGNIZER, user=None, trigger="label-studio")
    except TrainingRefused as error:
        return {"status": "refused", "reason": str(error)}
    return {"status": "started" if created else "already running", "training_run": run.pk}
