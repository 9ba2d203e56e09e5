"""The Celery application the workers and beat run: `celery -A workers.celery_app worker -Q gpu`."""

from __future__ import annotations

import os

import django
from celery import Celery

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
    "retrain-when-enough-new-lines": {"task": task_names.TRAINING_POLICY, "schedule": WATCHDOG_SECONDS,
                                      "options": {"queue": DEFAULT_QUEUE}},
    # Label Studio never retries a webhook: reconciliation repairs what a lost one missed.
    "reconcile-label-studio": {"task": task_names.LABELING_SYNC, "options": {"queue": DEFAULT_QUEUE},
                               "schedule": float(settings.LABEL_STUDIO_SYNC_SECONDS)},
}
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
