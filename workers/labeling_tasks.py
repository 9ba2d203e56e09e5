"""Thin Label Studio tasks: load by id, call a labeling service. Each is safe to run twice.

Label Studio being down raises LabelStudioUnavailable: the task retries with backoff, and
reconciliation (beat) repairs whatever still failed.
"""

from __future__ import annotations

from celery import shared_task

from labeling.client import LabelStudioUnavailable
from labeling.services import accounts, catchup, predictions, provisioning, send, sync, tasks, writeback
from webapp import task_names
from webapp.corpus.models import Page
from webapp.projects.models import Project

RETRY = dict(autoretry_for=(LabelStudioUnavailable,), retry_backoff=10, retry_backoff_max=600, max_retries=8)


@shared_task(name=task_names.LABELING_PROVISION, **RETRY)
def provision(project_id: int) -> int | None:
    project = Project.objects.filter(pk=project_id).first()
    return provisioning.project_provision(project=project).ls_project_id if project else None


@shared_task(name=task_names.LABELING_ACCOUNTS, **RETRY)
def provision_accounts(project_id: int) -> int:
    project = Project.objects.filter(pk=project_id).first()
    return len(accounts.accounts_provision(project=project)) if project else 0


@shared_task(name=task_names.LABELING_IMPORT_PAGE, **RETRY)
def import_page(page_id: int) -> int | None:
    page = Page.objects.filter(pk=page_id).first()
    task = tasks.page_task_import(page=page) if page else None
    return task.ls_task_id if task else None


@shared_task(name=task_names.LABELING_SEND_PAGES, **RETRY)
def send_pages(project_id: int, page_ids: list[int]) -> dict[str, str]:
    return {str(page_id): outcome for page_id, outcome in send.pages_send(project_id=project_id,
                                                                          page_ids=page_ids).items()}


@shared_task(name=task_names.LABELING_DELETE_TASK, **RETRY)
def delete_task(ls_task_id: int) -> None:
    tasks.task_delete(ls_task_id=ls_task_id)


@shared_task(name=task_names.LABELING_WRITE_BACK, **RETRY)
def write_back(page_id: int) -> str:
    return writeback.page_write_back(page_id=page_id)


@shared_task(name=task_names.LABELING_CATCH_UP, **RETRY)
def catch_up(page_id: int) -> str:
    return catchup.page_catch_up(page_id=page_id)


@shared_task(name=task_names.LABELING_PUSH_PREDICTION, **RETRY)
def push_prediction(page_id: int) -> str:
    return predictions.page_prediction_push(page_id=page_id)


@shared_task(name=task_names.LABELING_SYNC)
def reconcile() -> dict:
    return {str(project_id): report for project_id, report in sync.projects_reconcile().items()}
