"""Pre-annotation -> Label Studio: a page's model lines as the task's prediction.

The annotator then corrects suggestions instead of typing from scratch, and the Data
Manager view orders tasks by the prediction score (page confidence), least certain first.
"""

from __future__ import annotations

import logging

from labeling.client import label_studio_call, raw_request
from labeling.convert import LineForLabelStudio, result_from_lines
from labeling.locks import page_lock
from labeling.models import LabelStudioTask
from labeling.services.lines import region_ids_assign
from webapp.corpus.models import LineSource, Page
from webapp.predictions.models import Prediction

logger = logging.getLogger(__name__)


def page_prediction_push(*, page_id: int) -> str:
    """Send the page's latest pre-annotation, replacing predictions of other model versions."""
    with page_lock(page_id):  # two pushes at once would both find no prediction there and both create one
        return _push(page_id=page_id)


def _push(*, page_id: int) -> str:
    task = LabelStudioTask.objects.filter(page_id=page_id).first()
    prediction = Prediction.objects.filter(page_id=page_id).order_by("-id").first()
    if task is None or prediction is None:
        return "nothing to push"
    page = Page.objects.get(pk=page_id)
    existing = raw_request("GET", "api/predictions/", params={"task": task.ls_task_id},
                           what=f"read task {task.ls_task_id}'s predictions").json()
    stale = [item["id"] for item in existing if item.get("model_version") != prediction.model_label]
    already = len(existing) > len(stale)
    for prediction_id in stale:
        with label_studio_call(f"delete an older prediction of task {task.ls_task_id}") as ls:
            ls.predictions.delete(id=prediction_id)
    if not already:
        _create(task=task, page=page, prediction=prediction)
    # Older predictions of the page are settled too: the latest replaced them in Label Studio.
    Prediction.objects.filter(page_id=page_id, pk__lte=prediction.pk).update(pushed_to_label_studio=True)
    LabelStudioTask.objects.filter(pk=task.pk).update(prediction_label=prediction.model_label)
    return "already there" if already else "pushed"


def _create(*, task: LabelStudioTask, page: Page, prediction: Prediction) -> None:
    lines = list(page.lines.filter(source=LineSource.MODEL, model_version=prediction.model_label).order_by("order"))
    region_ids_assign(lines=lines)
    result = result_from_lines([LineForLabelStudio(region_id=line.ls_region_id, bbox=line.bbox, text=line.text,
                                                   score=line.confidence, polygon=line.polygon) for line in lines],
                               width=page.width, height=page.height)
    with label_studio_call(f"push the prediction of page {page.pk}") as ls:
        ls.predictions.create(task=task.ls_task_id, result=result, score=prediction.page_score,
                              model_version=prediction.model_label)
