"""Pages as Label Studio tasks: one task per page, its image loaded straight from inkloop.

The image URL carries the project's image token, not an expiring signature, so a task
stays loadable for as long as it exists; replacing the token (image_token_rotate) revokes
every URL at once and re-points the tasks.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from labeling.client import is_not_found, label_studio_call, raw_request
from labeling.config import IMAGE
from labeling.locks import project_lock
from labeling.models import LabelStudioProject, LabelStudioTask, new_image_token
from labeling.selectors import link_of
from webapp.corpus.models import Page

logger = logging.getLogger(__name__)


def image_url(*, page: Page, link: LabelStudioProject) -> str:
    path = reverse("labeling-page-image", kwargs={"token": link.image_token, "page_id": page.pk})
    return settings.INKLOOP_BROWSER_URL + path


def task_data(*, page: Page, link: LabelStudioProject) -> dict:
    return {IMAGE: image_url(page=page, link=link), "page_id": page.pk, "name": page.original_name}


def page_task_import(*, page: Page) -> LabelStudioTask | None:
    """The page's task, created if missing; None while the project is not provisioned (provisioning
    imports it then). Under the project's lock, so a page imported twice at once gets one task."""
    with project_lock(page.project_id):
        existing = LabelStudioTask.objects.filter(page=page).first()
        link = link_of(project_id=page.project_id)
        if existing is not None or link is None:
            return existing
        with label_studio_call(f"import page {page.pk} as a task") as ls:
            created = ls.tasks.create(project=link.ls_project_id, data=task_data(page=page, link=link))
        return task_link(page=page, ls_project_id=link.ls_project_id, ls_task_id=created.id)


def task_link(*, page: Page, ls_project_id: int, ls_task_id: int) -> LabelStudioTask | None:
    try:
        with transaction.atomic():
            task = LabelStudioTask.objects.create(page=page, ls_project_id=ls_project_id, ls_task_id=ls_task_id)
            Page.objects.filter(pk=page.pk).update(ls_task_id=ls_task_id)
            return task
    except IntegrityError:  # imported concurrently: keep the first, the extra task goes at the next sync
        return LabelStudioTask.objects.filter(page=page).first()


def page_task_repair(*, page: Page, link: LabelStudioProject) -> str:
    """The page's task made whole: created if it has none ("created"), created again if it is gone from
    Label Studio ("re-created"), its data (the image URL) rewritten when it differs ("repaired"), else
    "in place". Under the project's lock, as page_task_import. A new task starts empty: its lines and
    prediction follow through write-back and the prediction push (services.send)."""
    with project_lock(page.project_id):
        task = LabelStudioTask.objects.filter(page=page).first()
        if task is None:
            page_task_import(page=page)
            return "created"
        try:
            current = raw_request("GET", f"api/tasks/{task.ls_task_id}/", what=f"read task {task.ls_task_id}").json()
        except Exception as error:
            if not is_not_found(error):
                raise
            current = None
        if current is None:  # deleted in Label Studio, which tells no one
            with transaction.atomic():
                task.delete()
                Page.objects.filter(pk=page.pk).update(ls_task_id=None)
            page_task_import(page=page)
            return "re-created"
        wanted = task_data(page=page, link=link)
        if any((current.get("data") or {}).get(key) != value for key, value in wanted.items()):
            with label_studio_call(f"update task {task.ls_task_id}'s data") as ls:
                ls.tasks.update(id=task.ls_task_id, data=wanted)
            return "repaired"
        return "in place"


def task_delete(*, ls_task_id: int) -> None:
    """Delete a task whose page is gone; a task already gone is fine."""
    try:
        with label_studio_call(f"delete task {ls_task_id}") as ls:
            ls.tasks.delete(id=ls_task_id)
    except Exception as error:
        if not is_not_found(error):
            raise


def image_token_rotate(*, link: LabelStudioProject) -> None:
    """Revoke every image URL of the project and give its tasks new ones."""
    link.image_token = new_image_token()
    link.save(update_fields=["image_token"])
    for task in LabelStudioTask.objects.filter(ls_project_id=link.ls_project_id).select_related("page"):
        with label_studio_call(f"update task {task.ls_task_id}'s image URL") as ls:
            ls.tasks.update(id=task.ls_task_id, data=task_data(page=task.page, link=link))
