"""The Celery contract: JSON only, late acks, requeue on worker loss, visibility timeout above the time limit."""

from __future__ import annotations

import time

import pytest

from webapp import queueing
from workers.celery_app import app


def test_only_json_is_accepted_and_sent():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json" and app.conf.result_serializer == "json"


def test_tasks_are_acked_late_and_requeued_when_the_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_visibility_timeout_is_above_the_longest_task_time_limit():
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert app.conf.task_time_limit is not None
    assert visibility > app.conf.task_time_limit


def test_the_web_sender_and_the_workers_share_one_configuration():
    sender = queueing.sender().conf
    for key in ("task_serializer", "accept_content", "task_acks_late", "broker_url", "broker_transport_options"):
        assert sender[key] == app.conf[key], key


def test_unix_socket_redis_urls_are_translated_for_kombu():
    assert queueing.broker_url("unix:///tmp/r.sock?db=0") == "redis+socket:///tmp/r.sock"
    assert queueing.broker_url("redis://h:6379/0") == "redis://h:6379/0"


def test_the_workers_register_the_training_tasks():
    app.loader.import_default_modules()
    assert {"inkloop.training.run", "inkloop.training.watchdog", "inkloop.training.policy"} <= set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_a_task_message_with_the_pickle_content_type_is_refused(workers):
    """A real worker gets a pickled message on its queue and must not run it."""
    import pickle

    from workers.celery_app import app as celery

    marker = f"pickle-{time.time_ns()}"
    with celery.connection_for_write() as connection:
        producer = connection.Producer(serializer="pickle")
        producer.publish(
            pickle.dumps(([marker], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})),
            routing_key="default", exchange="", content_type="application/x-python-serialize",
            content_encoding="binary", headers={"lang": "py", "task": "inkloop.training.run", "id": marker,
                                                 "argsrepr": marker}, declare=[])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "pickle" not in workers.log("default").lower():
        time.sleep(0.3)
    log = workers.log("default")
    refused = "refused to deserialize" in log.lower() or "contenttypes" in log.lower() or "disallowed" in log.lower()
    assert refused, log[-3000:]
    assert f"Task inkloop.training.run[{marker}] received" not in log
