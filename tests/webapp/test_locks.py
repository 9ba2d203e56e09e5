"""Advisory locks: held for their block, one namespace per kind, and visible to other sessions."""

from __future__ import annotations

import psycopg2
import pytest
from django.db import connection

from webapp.locks import LockNamespace, advisory_lock, advisory_lock_held, advisory_lock_try

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_session():
    """A second database connection, as another worker process would hold."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    other = psycopg2.connect(**params)
    other.autocommit = True
    yield other.cursor()
    other.close()


def test_a_lock_is_held_for_its_block_and_only_in_its_namespace():
    with advisory_lock(LockNamespace.LABELING_PAGE, 7):
        assert advisory_lock_held(LockNamespace.LABELING_PAGE, 7)
        assert not advisory_lock_held(LockNamespace.LABELING_PROJECT, 7)
        assert not advisory_lock_held(LockNamespace.LABELING_PAGE, 8)
    assert not advisory_lock_held(LockNamespace.LABELING_PAGE, 7)


def test_try_takes_a_free_lock_and_not_one_another_session_holds(other_session):
    with advisory_lock_try(LockNamespace.TRAINING_RUN, 11) as locked:
        assert locked and advisory_lock_held(LockNamespace.TRAINING_RUN, 11)
    other_session.execute("SELECT pg_advisory_lock(%s, %s)", [int(LockNamespace.TRAINING_RUN), 11])
    with advisory_lock_try(LockNamespace.TRAINING_RUN, 11) as locked:
        assert not locked
    other_session.execute("SELECT pg_advisory_unlock(%s, %s)", [int(LockNamespace.TRAINING_RUN), 11])
    assert not advisory_lock_held(LockNamespace.TRAINING_RUN, 11)
