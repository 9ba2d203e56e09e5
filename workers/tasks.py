"""Thin tasks: load by id, call a service. Every task is safe to run twice (messages are acked late)."""

from __future__ import annotations

from celery import shared_task

from webapp import task_names
from webapp.outbox import services as outbox
from webapp.predictions import services as predictions
from webapp.projects.models import Project
from webapp.training import services as training


@shared_task(name=task_names.TRAINING_RUN)
def run_training(run_id: int) -> str:
    return training.training_run_execute(run_id=run_id)


@shared_task(name=task_names.TRAINING_WATCHDOG)
def training_watchdog() -> list[int]:
    return training.training_watchdog()


@shared_task(name=task_names.TRAINING_POLICY)
def retrain_policy() -> list[int]:
    started = []
    for project in Project.objects.filter(retrain_auto=True):
        started += [run.pk for run in training.retrain_policy_check(project=project)]
    return started


@shared_task(name=task_names.PREDICTION_PREANNOTATE)
def preannotate(project_id: int, page_ids: list[int] | None = None) -> int:
    # page_ids: a selection (POST .../preannotate/ with page_ids); messages without it mean every open page.
    return predictions.project_preannotate(project_id=project_id, page_ids=page_ids)


@shared_task(name=task_names.PREDICTION_JOB)
def prediction_job(job_id: int) -> str:
    return predictions.prediction_job_execute(job_id=job_id)


@shared_task(name=task_names.PREDICTION_WATCHDOG)
def prediction_watchdog() -> list[int]:
    return predictions.prediction_jobs_watchdog()


@shared_task(name=task_names.OUTBOX_SWEEP)
def outbox_sweep() -> int:
    return outbox.outbox_sweep()

import workers.labeling_tasks  # noqa: E402,F401  (autodiscovery loads only this module)
