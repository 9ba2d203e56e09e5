"""Enqueue Celery tasks by name, after the transaction that made them necessary commits.

The web layer never imports `workers`: it sends a task name and JSON arguments. The
Celery configuration lives here so the sender and the workers (workers/celery_app.py)
speak the same protocol.
Settings: https://docs.celeryq.dev/en/stable/userguide/configuration.html
"""

from __future__ import annotations

import functools
import os

from celery import Celery
from django.db import transaction
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


def enqueue_on_commit(task_name: str, *args, queue: str = DEFAULT_QUEUE, task_id: str | None = None) -> None:
    """Send the task once the current transaction commits, so the worker sees the rows it loads."""
    transaction.on_commit(lambda: sender().send_task(task_name, args=list(args), queue=queue, task_id=task_id))
