"""Enqueue Celery tasks by name, after the transaction that made them necessary commits.

The web layer never imports `workers`: it sends a task name and JSON arguments. The
Celery configuration lives here so the sender and the workers (workers/celery_app.py)
speak the same protocol.

A task is enqueued through the outbox (webapp/outbox/): a row in the caller's transaction,
sent after commit. A broker that is down never fails a committed write: the row waits and the
sweeper sends it once the broker is back.
Settings: https://docs.celeryq.dev/en/stable/userguide/configuration.html
"""

from __future__ import annotations

import functools
import os

from celery import Celery
from kombu import Queue

# The longest task (a training run) may take this long; the broker must not hand its
# message to another worker before then, so the visibility timeout is set above it.
TASK_TIME_LIMIT_SECONDS = int(os.environ.get("INKLOOP_TASK_TIME_LIMIT", 6 * 3600))
VISIBILITY_TIMEOUT_SECONDS = TASK_TIME_LIMIT_SECONDS + 3600

GPU_QUEUE = "gpu"
DEFAULT_QUEUE = "default"


def redis_url() -> str:
    """The broker's Redis, as redis-py spells it (the web process's health check pings it too)."""
    return os.environ.get("REDIS_URL", "redis://localhost:6379/0")


def broker_url(redis_url: str) -> str:
    """Kombu spells a Unix-socket Redis `redis+socket://`; redis-py spells it `unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://"):].split("?")[0]
    return redis_url


def celery_config() -> dict:
    return dict(
        broker_url=broker_url(redis_url()),
        # Never unpickle what arrives from the broker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A task is acknowledged after it ran, and requeued if its worker died under it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=TASK_TIME_LIMIT_SECONDS,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        task_default_queue=DEFAULT_QUEUE,
        task_queues=[Queue(DEFAULT_QUEUE), Queue(GPU_QUEUE)],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


@functools.cache
def sender() -> Celery:
    app = Celery("inkloop-web", set_as_current=False)
    app.conf.update(celery_config())
    return app


# A send to a broker that is down gives up after this (the outbox keeps the message): a request
# answers at once instead of waiting on the broker. A broker that only dropped the connection
# (restarted) is reached again by the retry.
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def enqueue_on_commit(task_name: str, *args, queue: str = DEFAULT_QUEUE, task_id: str | None = None) -> None:
    """Record the task in the current transaction (the outbox) and send it once that commits, so the
    worker sees the rows it loads. Never raises for a broker that is down: the sweeper sends it later."""
    from webapp.outbox.services import outbox_message_create  # the models need the app registry

    outbox_message_create(task_name=task_name, args=list(args), queue=queue, task_id=task_id)


def send_now(task_name: str, args: list, *, queue: str, task_id: str | None = None) -> None:
    """Hand a message to the broker now; raises when the broker does not take it. Only the outbox calls this."""
    sender().send_task(task_name, args=list(args), queue=queue, task_id=task_id, retry=True,
                       retry_policy=SEND_RETRY_POLICY)
