"""One writer at a time per project and per page, across every worker process (PostgreSQL advisory locks).

The adapter finds things in Label Studio before it creates them (a project, a task, an
annotation, a prediction); two workers doing the same step for the same project or page at
once would both find nothing and both create it. Session-level locks, not row locks, so no
transaction stays open while Label Studio is called: Label Studio delivers webhooks
synchronously, and their receiver takes the task and page rows. The webhook receiver takes
none of these locks, so a holder waiting on Label Studio never waits on itself.

A session-level lock is reentrant for its connection (reconciliation holds the project's
and provisions it), and the server releases it if the process dies.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from django.db import connection

# First key of pg_advisory_lock(int, int); webapp.training uses 4242 for its runs.
PROJECT_NAMESPACE = 4243
PAGE_NAMESPACE = 4244


@contextmanager
def advisory_lock(namespace: int, key: int) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [namespace, key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def project_lock(project_id: int):
    return advisory_lock(PROJECT_NAMESPACE, project_id)


def page_lock(page_id: int):
    return advisory_lock(PAGE_NAMESPACE, page_id)
