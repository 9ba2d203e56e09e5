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

from webapp.locks import LockNamespace, advisory_lock


def project_lock(project_id: int):
    return advisory_lock(LockNamespace.LABELING_PROJECT, project_id)


def page_lock(page_id: int):
    return advisory_lock(LockNamespace.LABELING_PAGE, page_id)
