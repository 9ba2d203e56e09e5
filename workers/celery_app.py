"""The Celery application: JSON messages only, late acks, one task at a time on the gpu queue.

Settings: https://docs.celeryq.dev/en/stable/userguide/configuration.html
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

# The longest task (a training run) may take this long; the broker must not hand its
# message to another worker before then, so the visibility timeout is set above it.
TASK_TIME_LIMIT_SECONDS = int(os.environ.get("INKLOOP_TASK_TIME_LIMIT", 6 * 3600))

app = Celery("inkloop")
app.conf.update(
    broker_url=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
    # Never unpickle what arrives from the broker.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # A task is acknowledged after it ran, and requeued if its worker died under it.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=TASK_TIME_LIMIT_SECONDS,
    broker_transport_options={"visibility_timeout": TASK_TIME_LIMIT_SECONDS + 3600},
    task_default_queue="default",
    task_queues=[Queue("default"), Queue("gpu")],
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks(["workers"])
