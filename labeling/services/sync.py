"""Reconciliation: Label Studio does not retry webhooks, so this repairs whatever a lost one missed.

Run by beat (inkloop.labeling.sync) and by `manage.py sync_label_studio`. Every step is
idempotent; a step that cannot reach Label Studio stops the run, records why on the
link, and the next run starts over. A project is reconciled by one process at a time.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labeling.client import LabelStudioUnavailable, raw_request
from labeling.convert import MalformedResult
from labeling.locks import page_lock, project_lock
from labeling.models import LabelStudioProject, LabelStudioTask
from labeling.selectors import link_of, pages_without_task
from labeling.services.annotations import MalformedAnnotation, annotation_apply
from labeling.services.catchup import holds_deleted, is_newer, latest_live, task_catch_up
from labeling.services.predictions import page_prediction_push
from labeling.services.provisioning import project_provision
from labeling.services.tasks import page_task_import, task_delete, task_link
from labeling.services.writeback import page_write_back
from webapp.corpus.models import LineRevision, Page
from webapp.predictions.models import Prediction
from webapp.projects.models import Project

logger = logging.getLogger(__name__)

PAGE_SIZE = 100


def projects_reconcile() -> dict[int, dict]:
    """Every project; one project's failure does not stop the others."""
    if not settings.LABEL_STUDIO_URL:
        return {}  # Label Studio is optional: without it there is nothing to reconcile
    reports = {}
    for project in Project.objects.order_by("id"):
        try:
            reports[project.pk] = project_reconcile(project=project)
        except LabelStudioUnavailable as error:
            logger.warning("Label Studio sync of project %s failed, retried at the next run: %s", project.pk, error)
            reports[project.pk] = {"error": str(error)}
    return reports


def project_reconcile(*, project: Project) -> dict:
    with project_lock(project.pk):
        return _reconcile(project=project)


def _reconcile(*, project: Project) -> dict:
    started = timezone.now()
    link = link_of(project_id=project.pk)
    try:
        link = project_provision(project=project)  # also repairs a webhook someone switched off or deleted
        report = Counter()
        tasks = _ls_tasks(ls_project_id=link.ls_project_id)
        _tasks_reconcile(link=link, tasks=tasks, report=report)
        _annotations_reconcile(tasks=tasks, report=report)
        _write_backs(project=project, report=report)
        _predictions(project=project, report=report)
    except LabelStudioUnavailable as error:
        if link is not None:
            LabelStudioProject.objects.filter(pk=link.pk).update(last_error=str(error)[:2000])
        raise
    LabelStudioProject.objects.filter(pk=link.pk).update(synced_at=started, last_error="")
    return dict(report)


def _ls_tasks(*, ls_project_id: int) -> list[dict]:
    """Every task of the project. A page past the last is a 404 in Label Studio, so a full page
    (100, 200, ... tasks) is not a reason to ask for another: its answer's `total` says when to stop."""
    tasks, page = [], 1
    while True:
        body = raw_request("GET", "api/tasks/", what="list the project's tasks",
                           params={"project": ls_project_id, "fields": "all", "page": page,
                                   "page_size": PAGE_SIZE}).json()
        batch = body.get("tasks", []) if isinstance(body, dict) else body
        tasks.extend(batch)
        total = body.get("total") if isinstance(body, dict) else None
        if len(batch) < PAGE_SIZE or (isinstance(total, int) and len(tasks) >= total):
            return tasks
        page += 1


def _tasks_reconcile(*, link: LabelStudioProject, tasks: list[dict], report: Counter) -> None:
    known = {task.ls_task_id: task for task in LabelStudioTask.objects.filter(page__project_id=link.project_id)}
    pages = set(Page.objects.filter(project_id=link.project_id).values_list("pk", flat=True))
    present = {task["id"] for task in tasks}
    LabelStudioTask.objects.filter(pk__in=[t.pk for t in known.values() if t.ls_task_id not in present]).delete()
    linked_pages = {task.page_id for task in known.values() if task.ls_task_id in present}
    for task in tasks:
        page_id = (task.get("data") or {}).get("page_id")
        if task["id"] in known:
            continue
        if page_id in pages and page_id not in linked_pages:
            task_link(page=Page.objects.get(pk=page_id), ls_project_id=link.ls_project_id, ls_task_id=task["id"])
            linked_pages.add(page_id)
            report["tasks adopted"] += 1
        else:  # its page was deleted, or it duplicates the page's task
            task_delete(ls_task_id=task["id"])
            report["tasks deleted"] += 1
    for page in pages_without_task(project_id=link.project_id):
        page_task_import(page=page)
        report["tasks imported"] += 1


def _annotations_reconcile(*, tasks: list[dict], report: Counter) -> None:
    stored = {task.ls_task_id: task for task in LabelStudioTask.objects.filter(ls_task_id__in=[t["id"] for t in tasks])}
    for item in tasks:
        task = stored.get(item["id"])
        annotations = item.get("annotations")
        if task is None or not isinstance(annotations, list):
            continue
        try:
            if holds_deleted(task=task, annotations=annotations):
                _deletion_follow(task=task, report=report)
                continue
            latest = latest_live(annotations)
            if latest is not None and is_newer(task=task, annotation=latest):
                annotation_apply(task=task, annotation=latest)
                report["annotations applied"] += 1
        except (MalformedAnnotation, MalformedResult) as error:  # one broken annotation must not stop the sync
            logger.warning("task %s: annotation not applied: %s", item["id"], error)
            report["annotations refused"] += 1


def _deletion_follow(*, task: LabelStudioTask, report: Counter) -> None:
    """The annotation the page holds is gone from Label Studio (an ANNOTATIONS_DELETED that was lost).

    Asked again, because the task list may predate an annotation applied since; the page then
    follows what is left there, as for a delivered deletion."""
    with page_lock(task.page_id):
        done = task_catch_up(task=task).done
    if done:
        report["deleted annotations followed" if done == "deleted" else "annotations applied"] += 1


def _write_backs(*, project: Project, report: Counter) -> None:
    edited = LabelStudioTask.objects.filter(page__project=project).filter(
        Exists(LineRevision.objects.filter(page_id=OuterRef("page_id"), id__gt=OuterRef("synced_revision_id"))))
    for task in edited:
        if page_write_back(page_id=task.page_id) == "written":
            report["pages written back"] += 1


def _predictions(*, project: Project, report: Counter) -> None:
    pending = Prediction.objects.filter(page__project=project, pushed_to_label_studio=False,
                                        page__label_studio_task__isnull=False)
    for page_id in sorted(set(pending.values_list("page_id", flat=True))):
        if page_prediction_push(page_id=page_id) == "pushed":
            report["predictions pushed"] += 1
