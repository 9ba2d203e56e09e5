"""PostgreSQL advisory locks: every one inkloop takes, each kind in its own namespace.

`pg_advisory_lock(int, int)`: the first key says what kind of thing is locked (a
LockNamespace), the second which one (its row id). Taking every advisory lock through here
keeps two kinds from ever sharing a namespace, and so from blocking each other by accident.

The locks are session-level, not transaction-level: held by the database connection until
released (no transaction stays open while the holder waits on something slow), reentrant
for that connection, and released by the server the moment the process holding them dies.
"""

from __future__ import annotations

import enum
from contextlib import contextmanager
from typing import Iterator

from django.db import connection


@enum.unique  # two kinds sharing a value would block each other
class LockNamespace(enum.IntEnum):
    """The first key. A value is stored nowhere but in live locks, so a new kind takes a new value."""

    TRAINING_RUN = 4242      # the one process executing a training run (webapp.training)
    LABELING_PROJECT = 4243  # one writer at a time for a project in Label Studio (labeling.locks)
    LABELING_PAGE = 4244     # one writer at a time for a page's task in Label Studio (labeling.locks)
    PREDICTION_JOB = 4245    # the one process executing a prediction job (webapp.predictions)


@contextmanager
def advisory_lock(namespace: LockNamespace, key: int) -> Iterator[None]:
    """Wait until the lock is free, and hold it for the block."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [int(namespace), key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [int(namespace), key])


@contextmanager
def advisory_lock_try(namespace: LockNamespace, key: int) -> Iterator[bool]:
    """Take the lock only if it is free; yields whether this block holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [int(namespace), key])
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [int(namespace), key])


def advisory_lock_held(namespace: LockNamespace, key: int) -> bool:
    """Whether any session, this one included, holds the lock now."""
    with connection.cursor() as cursor:
        # A two-key lock shows its first key as classid and its second as objid.
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
                       "AND granted", [int(namespace), key])
        return cursor.fetchone()[0] > 0
