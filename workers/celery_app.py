"""The Celery application the workers and beat run: `celery -A workers.celery_app worker -Q gpu`."""

from __future__ import annotations

import logging
import os

import django
from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django.setup()  # the tasks import models; the app registry must be ready first

from django.conf import settings  # noqa: E402

from webapp import task_names  # noqa: E402
from webapp.queueing import DEFAULT_QUEUE, celery_config  # noqa: E402

WATCHDOG_SECONDS = float(os.environ.get("INKLOOP_WATCHDOG_INTERVAL", 60))

app = Celery("inkloop")
app.conf.update(celery_config())
app.conf.beat_schedule = {
    "resume-or-fail-stale-training-runs": {"task": task_names.TRAINING_WATCHDOG, "schedule": WATCHDOG_SECONDS,
                                           "options": {"queue": DEFAULT_QUEUE}},
    # Queued prediction jobs whose message the broker lost are handed over again.
    "hand-over-stuck-prediction-jobs": {"task": task_names.PREDICTION_WATCHDOG, "schedule": WATCHDOG_SECONDS,
                                        "options": {"queue": DEFAULT_QUEUE}},
    # Messages the broker did not take at commit (it was down) are sent once it is back.
    "send-the-outbox": {"task": task_names.OUTBOX_SWEEP, "options": {"queue": DEFAULT_QUEUE},
                        "schedule": float(settings.INKLOOP_OUTBOX_SWEEP_SECONDS)},
    "retrain-when-enough-new-lines": {"task": task_names.TRAINING_POLICY, "schedule": WATCHDOG_SECONDS,
                                      "options": {"queue": DEFAULT_QUEUE}},
    # Label Studio never retries a webhook: reconciliation repairs what a lost one missed.
    "reconcile-label-studio": {"task": task_names.LABELING_SYNC, "options": {"queue": DEFAULT_QUEUE},
                               "schedule": float(settings.LABEL_STUDIO_SYNC_SECONDS)},
}


@worker_ready.connect
def sweep_the_outbox_at_start(**kwargs) -> None:
    """A worker that starts after an outage sends what waited in the outbox at once, not at beat's next tick.
    It runs in the worker's main process, after the pool has forked: its connection is closed again so no
    later child inherits it."""
    from django.db import connection

    from webapp.outbox.services import outbox_sweep

    try:
        outbox_sweep()
    except Exception:  # the beat task sweeps again; a worker must start whatever the database says
        logging.getLogger(__name__).exception("outbox sweep at worker start failed")
    finally:
        connection.close()


app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
