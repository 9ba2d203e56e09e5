"""A prediction job whose worker died while running it is queued again; one whose worker lives is left alone.

A job is `running` while its worker holds the job's PostgreSQL advisory lock, which the server drops
the moment that worker's connection goes (its process killed). Here the worker is a second real
database session that holds the lock and is then closed, as a SIGKILLed worker's would be.
bench/api_soak.py kills a real gpu worker in the middle of a job.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
from django.db import connection

from webapp import task_names
from webapp.locks import LockNamespace, advisory_lock_held
from webapp.outbox.models import OutboxMessage
from webapp.predictions.models import JobStatus, PredictionJob
from webapp.predictions.services import prediction_job_execute, prediction_jobs_watchdog

pytestmark = pytest.mark.django_db(transaction=True)


def worker_holding_the_lock_of(job: PredictionJob):
    """Another database session, holding the job's lock as the worker running it does."""
    session = psycopg2.connect(**connection.get_connection_params())
    with session.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [int(LockNamespace.PREDICTION_JOB), job.pk])
    return session


def status(job: PredictionJob) -> str:
    return PredictionJob.objects.get(pk=job.pk).status


def test_a_running_job_whose_worker_died_is_queued_again_and_one_whose_worker_lives_is_not(project, manager):
    job = PredictionJob.objects.create(project=project, created_by=manager)
    worker = worker_holding_the_lock_of(job)
    PredictionJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)

    assert prediction_jobs_watchdog() == []  # its worker lives: running, and left alone
    assert status(job) == JobStatus.RUNNING

    worker.close()  # the worker dies with its connection; the server drops its lock
    deadline = time.monotonic() + 10
    while advisory_lock_held(LockNamespace.PREDICTION_JOB, job.pk):
        assert time.monotonic() < deadline, "the closed session's lock was not dropped"
        time.sleep(0.05)

    assert prediction_jobs_watchdog() == [job.pk]
    # Queued again (a worker of this session's cluster, if one runs, may already have taken it since).
    assert status(job) != JobStatus.RUNNING
    assert OutboxMessage.objects.filter(task_name=task_names.PREDICTION_JOB, args=[job.pk]).exists()
    assert job.pk not in prediction_jobs_watchdog()  # just handed over: not again at the next tick


def test_a_second_delivery_of_a_job_that_is_running_elsewhere_does_nothing(project, manager):
    job = PredictionJob.objects.create(project=project, created_by=manager)
    worker = worker_holding_the_lock_of(job)
    try:
        assert prediction_job_execute(job_id=job.pk) == "running elsewhere"
        assert status(job) == JobStatus.QUEUED
    finally:
        worker.close()
