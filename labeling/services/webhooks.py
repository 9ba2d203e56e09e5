"""Webhook deliveries from Label Studio: recorded once, applied in the same transaction.

A delivery's key is what makes it unique (action, annotation id, its updated_at), so the
same delivery twice is a no-op; the annotation's updated_at decides whether it is newer
than what the page already holds. A deletion names only annotation ids: the pages holding
one of them are caught up by a worker (services.catchup), which asks Label Studio what is
left, since asking it here would hold the rows while it waits on this very request.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from labeling.models import LabelStudioTask, WebhookEvent
from labeling.selectors import task_by_ls_id
from labeling.convert import MalformedResult
from labeling.services.annotations import MalformedAnnotation, annotation_apply, annotation_updated_at
from webapp import task_names
from webapp.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)

ANNOTATION_SAVED = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
ANNOTATIONS_DELETED = "ANNOTATIONS_DELETED"


class MalformedPayload(ValueError):
    pass


class UnknownTask(LookupError):
    pass


def event_key(payload: dict) -> str:
    action = payload.get("action")
    if action in ANNOTATION_SAVED:
        annotation = payload.get("annotation")
        if not isinstance(annotation, dict):
            raise MalformedPayload(f"{action} without an annotation object.")
        identity = [action, annotation.get("id"), annotation_updated_at(annotation).isoformat()]
    elif action == ANNOTATIONS_DELETED:
        identity = [action, sorted(_deleted_ids(payload))]
    else:
        raise MalformedPayload(f"Unexpected action {action!r}.")
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def _deleted_ids(payload: dict) -> list[int]:
    items = payload.get("annotations")
    if not isinstance(items, list) or not all(isinstance(item, dict) and isinstance(item.get("id"), int)
                                              for item in items):
        raise MalformedPayload("ANNOTATIONS_DELETED without a list of annotation ids.")
    return [item["id"] for item in items]


def webhook_receive(*, payload) -> WebhookEvent:
    """Record and apply one delivery. Raises MalformedPayload or UnknownTask, storing nothing."""
    if not isinstance(payload, dict):
        raise MalformedPayload("The payload must be a JSON object.")
    try:
        key = event_key(payload)
    except MalformedAnnotation as error:
        raise MalformedPayload(str(error)) from error
    task = _task_of(payload)
    with transaction.atomic():
        event, created = WebhookEvent.objects.select_for_update().get_or_create(
            key=key, defaults={"action": payload["action"], "payload": payload, "ls_project_id": _project_id(payload)})
        if not created:
            WebhookEvent.objects.filter(pk=event.pk).update(deliveries=F("deliveries") + 1)
            return event
        event.outcome = _apply(payload=payload, task=task)
        event.processed_at = timezone.now()
        event.save(update_fields=["outcome", "processed_at"])
    return event


def _task_of(payload: dict) -> LabelStudioTask | None:
    if payload["action"] not in ANNOTATION_SAVED:
        return None
    task_id = payload["annotation"].get("task")
    task = task_by_ls_id(ls_task_id=task_id) if isinstance(task_id, int) else None
    if task is None:
        raise UnknownTask(f"Task {task_id!r} is not a task of an inkloop page.")
    return task


def _project_id(payload: dict) -> int | None:
    project = payload.get("project")
    return project.get("id") if isinstance(project, dict) else project if isinstance(project, int) else None


def _apply(*, payload: dict, task: LabelStudioTask | None) -> str:
    if task is not None:
        try:
            return annotation_apply(task=task, annotation=payload["annotation"]).summary()
        except (MalformedAnnotation, MalformedResult) as error:
            raise MalformedPayload(str(error)) from error
    # Only the annotation a page holds matters: the lines came from it (or were written into it).
    affected = list(LabelStudioTask.objects.filter(annotation_id__in=_deleted_ids(payload))
                    .values_list("page_id", flat=True))
    for page_id in affected:
        enqueue_on_commit(task_names.LABELING_CATCH_UP, page_id)
    return f"{len(affected)} applied annotation(s) deleted; their page(s) follow Label Studio"
