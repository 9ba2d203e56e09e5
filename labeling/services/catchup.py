"""Label Studio -> inkloop, asked rather than told: the page brought up to what the task holds there.

For a lost webhook (an annotation saved there that inkloop never heard of) and for a deleted
annotation (ANNOTATIONS_DELETED names only ids, so what is left must be asked for). Label
Studio is called with no transaction open: it delivers webhooks synchronously, and their
receiver must be able to take the task and page rows meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from labeling.client import raw_request
from labeling.locks import page_lock
from labeling.models import LabelStudioTask
from labeling.services.annotations import annotation_apply, annotation_deleted_apply, annotation_updated_at

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatchUp:
    latest: dict | None  # the task's latest non-cancelled annotation in Label Studio, after catching up
    done: str  # "" (already up to date), "applied" (a newer annotation) or "deleted" (the page's was gone)


def task_annotations(*, ls_task_id: int) -> list[dict]:
    """The task's annotations as Label Studio serialises them (the same shape as in a webhook)."""
    return raw_request("GET", f"api/tasks/{ls_task_id}/annotations/",
                       what=f"read task {ls_task_id}'s annotations").json()


def latest_live(annotations: list[dict]) -> dict | None:
    """The most recently changed annotation that was not cancelled (skipped)."""
    return max((item for item in annotations if not item.get("was_cancelled")), key=annotation_updated_at, default=None)


def holds_deleted(*, task: LabelStudioTask, annotations: list[dict]) -> bool:
    """The page holds an annotation the task no longer has in Label Studio (ids are never reused)."""
    return task.annotation_id is not None and task.annotation_id not in {item.get("id") for item in annotations}


def is_newer(*, task: LabelStudioTask, annotation: dict) -> bool:
    return task.annotation_updated_at is None or annotation_updated_at(annotation) > task.annotation_updated_at


def task_catch_up(*, task: LabelStudioTask) -> CatchUp:
    """Follow a deletion of the page's annotation, else apply a newer annotation (a lost webhook)."""
    # Read before Label Studio is asked: an annotation the page held then and Label Studio lacks now was
    # deleted; one applied meanwhile is checked again under the row lock.
    held = LabelStudioTask.objects.get(pk=task.pk)
    annotations = task_annotations(ls_task_id=held.ls_task_id)
    latest = latest_live(annotations)
    if holds_deleted(task=held, annotations=annotations):
        if latest is None:
            annotation_deleted_apply(task=held, annotation_id=held.annotation_id)
        else:
            annotation_apply(task=held, annotation=latest, replacing=held.annotation_id)
        return CatchUp(latest=latest, done="deleted")
    if latest is not None and is_newer(task=held, annotation=latest):
        annotation_apply(task=held, annotation=latest)
        return CatchUp(latest=latest, done="applied")
    return CatchUp(latest=latest, done="")


def page_catch_up(*, page_id: int) -> str:
    """The page's task caught up with Label Studio, one worker at a time per page."""
    task = LabelStudioTask.objects.filter(page_id=page_id).first()
    if task is None:
        return "no task"
    with page_lock(page_id):
        return task_catch_up(task=task).done or "up to date"
