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

from django.db import connection, transaction
from django.utils import timezone

from labeling.models import LabelStudioTask, WebhookEvent
from labeling.convert import MalformedResult
from labeling.services.annotations import MalformedAnnotation, annotation_receive, annotation_updated_at
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
    if payload["action"] in ANNOTATION_SAVED and not isinstance(payload["annotation"].get("task"), int):
        raise UnknownTask(f"Task {payload['annotation'].get('task')!r} is not a task of an inkloop page.")
    with transaction.atomic():
        event, first = _event_record(key=key, payload=payload)
        if not first:
            return event
        event.outcome = _apply(payload=payload)
        event.processed_at = timezone.now()
        event.save(update_fields=["outcome", "processed_at"])
    return event


def _event_record(*, key: str, payload: dict) -> tuple[WebhookEvent, bool]:
    """The delivery's event, and whether this delivery is its first; a repeat is counted. One statement
    for a first delivery, two for a repeat, and no error in PostgreSQL's log for either.

    The insert waits on the unique key for a first delivery still in flight (a copy that came while it
    was being applied): once that commits, this one is a repeat; if it rolled back, this one is first.
    A repeat naming a task no page has (any more) is refused like a first delivery would be (UnknownTask).
    """
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    tasks = connection.ops.quote_name(LabelStudioTask._meta.db_table)
    stored_payload = WebhookEvent._meta.get_field("payload").get_db_prep_save(payload, connection)
    project_id = _project_id(payload)
    task_id = payload["annotation"]["task"] if payload["action"] in ANNOTATION_SAVED else None
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (key, action, ls_project_id, payload, deliveries, received_at, outcome) "
                       "VALUES (%s, %s, %s, %s, 1, %s, '') ON CONFLICT (key) DO NOTHING RETURNING id",
                       [key, payload["action"], project_id, stored_payload, timezone.now()])
        inserted = cursor.fetchone()
        if inserted is not None:
            return WebhookEvent(pk=inserted[0], key=key, action=payload["action"], ls_project_id=project_id,
                                payload=payload), True
        cursor.execute(f"UPDATE {table} SET deliveries = deliveries + 1 WHERE key = %s "
                       f"AND (%s IS NULL OR EXISTS (SELECT FROM {tasks} WHERE ls_task_id = %s)) RETURNING id, outcome",
                       [key, task_id, task_id])
        repeated = cursor.fetchone()
    if repeated is None:
        raise UnknownTask(f"Task {task_id!r} is not a task of an inkloop page.")
    return WebhookEvent(pk=repeated[0], key=key, action=payload["action"], outcome=repeated[1]), False


def _project_id(payload: dict) -> int | None:
    project = payload.get("project")
    return project.get("id") if isinstance(project, dict) else project if isinstance(project, int) else None


def _apply(*, payload: dict) -> str:
    if payload["action"] in ANNOTATION_SAVED:
        annotation = payload["annotation"]
        try:
            return annotation_receive(ls_task_id=annotation["task"], annotation=annotation).summary()
        except LabelStudioTask.DoesNotExist:
            raise UnknownTask(f"Task {annotation['task']!r} is not a task of an inkloop page.") from None
        except (MalformedAnnotation, MalformedResult) as error:
            raise MalformedPayload(str(error)) from error
    # Only the annotation a page holds matters: the lines came from it (or were written into it).
    affected = list(LabelStudioTask.objects.filter(annotation_id__in=_deleted_ids(payload))
                    .values_list("page_id", flat=True))
    for page_id in affected:
        enqueue_on_commit(task_names.LABELING_CATCH_UP, page_id)
    return f"{len(affected)} applied annotation(s) deleted; their page(s) follow Label Studio"
