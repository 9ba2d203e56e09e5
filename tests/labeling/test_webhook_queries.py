"""What a webhook delivery costs the database: a fixed number of queries, whatever the number of
lines in the annotation, and a repeated delivery counted while its first is still being applied.

The deliveries are Label Studio 1.23's payloads for tasks the session's real Label Studio holds
(provisioned by the real workers), handed to the service in this process so that its queries can
be counted (the live server answers from another thread, on another connection).
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from labeling.models import WebhookEvent
from labeling.services.webhooks import event_key, webhook_receive
from tests.labeling.helpers import project_with_annotator, region
from tests.workers.cluster import wait_for
from webapp.corpus.models import Line, LineRevision, RevisionAction

pytestmark = pytest.mark.django_db(transaction=True)

# The queries of one delivery, pinned: a new query in this path is a cost paid on every delivery.
CREATE_QUERIES = 14     # a new annotation, whatever its number of lines
UPDATE_QUERIES = 11     # an annotation with one line retyped, whatever the page's number of lines
REPEAT_QUERIES = 4      # the same delivery again


def lines_result(count: int, *, retyped: int | None = None) -> list[dict]:
    """`count` lines, one under the other, as Label Studio's editor saves them; line `retyped` corrected."""
    height = 90 / count
    return [item for index in range(count)
            for item in region(f"r{index}", x=5, y=2 + index * height, width=80, height=height * 0.8,
                               text=f"ligne {index}" + (" corrigée" if index == retyped else ""))]


def delivery(*, action: str, page, annotator_ls_id: int, result: list[dict], saved: datetime) -> dict:
    """A Label Studio 1.23 ANNOTATION_CREATED or ANNOTATION_UPDATED payload for the page's task."""
    task = page.label_studio_task
    stamp = saved.isoformat().replace("+00:00", "Z")
    return {"action": action, "project": {"id": task.ls_project_id},
            "task": {"id": task.ls_task_id, "project": task.ls_project_id},
            "annotation": {"id": 900_000 + task.ls_task_id, "task": task.ls_task_id, "project": task.ls_project_id,
                           "completed_by": annotator_ls_id, "updated_by": annotator_ls_id, "was_cancelled": False,
                           "ground_truth": False, "created_at": stamp, "updated_at": stamp, "result": result}}


def received(payload: dict) -> tuple[WebhookEvent, int]:
    """The delivery through the service, as the webhook view hands it over, and the queries it made."""
    with CaptureQueriesContext(connection) as queries:
        event = webhook_receive(payload=copy.deepcopy(payload))
    return event, len(queries)


def test_a_delivery_costs_the_same_queries_for_3_lines_as_for_30(labeling, annotator):
    _, person, pages = project_with_annotator(annotator_email=annotator.email, pages=2)
    saved = datetime.now(timezone.utc).replace(microsecond=0)
    counts = {}
    for page, count in zip(pages, (3, 30)):
        created = delivery(action="ANNOTATION_CREATED", page=page, annotator_ls_id=annotator.ls_user_id,
                           result=lines_result(count), saved=saved)
        updated = delivery(action="ANNOTATION_UPDATED", page=page, annotator_ls_id=annotator.ls_user_id,
                           result=lines_result(count, retyped=1), saved=saved + timedelta(seconds=5))

        (create_event, create_queries), (update_event, update_queries) = received(created), received(updated)
        repeat_event, repeat_queries = received(updated)

        assert create_event.outcome == f"created {count}, updated 0, verified 0, deleted 0, clashes 0, skipped 0"
        assert update_event.outcome == "created 0, updated 1, verified 0, deleted 0, clashes 0, skipped 0"
        assert repeat_event.pk == update_event.pk and WebhookEvent.objects.get(pk=update_event.pk).deliveries == 2
        lines = {line.ls_region_id: line for line in Line.objects.filter(page=page)}
        assert {region_id: line.text for region_id, line in lines.items()} == {
            f"r{index}": f"ligne {index}" + (" corrigée" if index == 1 else "") for index in range(count)}
        assert all(line.verified_by == person for line in lines.values())
        assert [line.version for line in sorted(lines.values(), key=lambda line: line.order)] == \
            [1, 2] + [1] * (count - 2)
        assert sorted(LineRevision.objects.filter(page=page).values_list("action", flat=True)) == sorted(
            [RevisionAction.CREATE] * count + [RevisionAction.UPDATE])
        counts[count] = (create_queries, update_queries, repeat_queries)

    assert counts[3] == counts[30] == (CREATE_QUERIES, UPDATE_QUERIES, REPEAT_QUERIES)


@pytest.mark.parametrize("first_commits", [True, False], ids=["first commits", "first rolls back"])
def test_a_copy_that_arrives_while_the_first_is_applied_waits_for_it(labeling, annotator, first_commits):
    """The copy's insert waits on the first delivery's key: a repeat once the first commits, the
    first itself if that rolled back. Either way the lines are applied exactly once."""
    _, _, [page] = project_with_annotator(annotator_email=annotator.email)
    payload = delivery(action="ANNOTATION_CREATED", page=page, annotator_ls_id=annotator.ls_user_id,
                       result=lines_result(3), saved=datetime.now(timezone.utc).replace(microsecond=0))
    applied, finish = threading.Event(), threading.Event()
    copies = []

    def first() -> None:
        try:
            with transaction.atomic():
                webhook_receive(payload=copy.deepcopy(payload))
                applied.set()
                finish.wait(60)
                transaction.set_rollback(not first_commits)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            copies.append(webhook_receive(payload=copy.deepcopy(payload)))
        finally:
            connections.close_all()

    def copy_waits() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO %labeling_webhookevent%'")
            return cursor.fetchone()[0] == 1

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    try:
        assert applied.wait(60), "the first delivery was not applied"
        threads[1].start()
        wait_for(copy_waits, timeout=30, what="the copy waiting on the first delivery's key")
    finally:
        finish.set()
        for thread in threads:
            thread.join(60)

    event = WebhookEvent.objects.get(key=event_key(payload))
    assert [event.pk] == [delivered.pk for delivered in copies]
    assert event.deliveries == (2 if first_commits else 1)
    assert event.outcome == "created 3, updated 0, verified 0, deleted 0, clashes 0, skipped 0"
    assert sorted(Line.objects.filter(page=page).values_list("ls_region_id", flat=True)) == ["r0", "r1", "r2"]
    assert LineRevision.objects.filter(page=page).count() == 3

