"""Provisioning: the Label Studio side of an inkloop project. Idempotent: a second run changes nothing.

Everything is found again by what identifies it (the project's description marker, the
webhook's and ML backend's URL, the view's title), so a run interrupted after Label
Studio created something but before inkloop stored its id does not create it twice; and
runs for one project take turns (labeling.locks), so two at once do not both create it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from labeling.client import label_studio_call
from labeling.config import LABEL_CONFIG
from labeling.locks import project_lock
from labeling.models import LabelStudioProject, LabelStudioTask
from labeling.selectors import link_of, pages_without_task
from labeling.services.accounts import accounts_provision
from labeling.services.tasks import page_task_import
from webapp.projects.models import Project

logger = logging.getLogger(__name__)

PROJECTS_PAGE = 100
WEBHOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]
SECRET_HEADER = "X-Inkloop-Secret"
ML_BACKEND_USER = "inkloop"
VIEW_TITLE = "Least certain first"
VIEW_ORDERING = ["tasks:predictions_score"]  # ascending: the lowest model confidence opens first


def public_url(name: str) -> str:
    return settings.INKLOOP_PUBLIC_URL + reverse(name)


def marker(project: Project) -> str:
    return f"inkloop-project:{project.pk}"


def project_provision(*, project: Project) -> LabelStudioProject:
    """Create or repair the project's Label Studio project, webhook, ML backend, accounts and view."""
    with project_lock(project.pk):
        link = _provision(project=project)
        # A page uploaded before the project had its Label Studio project found nothing to import into.
        for page in pages_without_task(project_id=project.pk):
            page_task_import(page=page)
    return link


def _provision(*, project: Project) -> LabelStudioProject:
    ls_project_id = _ls_project(project=project)
    with transaction.atomic():
        # A Label Studio project deleted over there took its tasks with it: the pages are imported again.
        LabelStudioTask.objects.filter(page__project=project).exclude(ls_project_id=ls_project_id).delete()
        link, _ = LabelStudioProject.objects.update_or_create(project=project,
                                                             defaults={"ls_project_id": ls_project_id})
    link.webhook_id = _webhook(ls_project_id=ls_project_id)
    link.ml_backend_id = _ml_backend(ls_project_id=ls_project_id)
    _ml_backend_webhook_off(ls_project_id=ls_project_id)
    link.view_id = _view(ls_project_id=ls_project_id)
    accounts_provision(project=project)
    link.last_error = ""
    link.save(update_fields=["webhook_id", "ml_backend_id", "view_id", "last_error"])
    return link


def all_projects(ls) -> list:
    """Every project, page by page for as long as Label Studio's answer names a next page.

    Its page size is its own (at most 100 in 1.23) and a page past the last is a 404, not an
    empty page: a full last page (100, 200, ... projects) says nothing about whether more follow,
    so only the answer's `next` does. (The SDK's own pager asks for the page after the last one.)
    """
    projects, page = [], 1
    while True:
        answer = ls.projects.list(page=page, page_size=PROJECTS_PAGE)
        projects += answer.items or []
        if not answer.response.next:
            return projects
        page += 1


def _linked_project(ls, *, link: LabelStudioProject | None, project: Project):
    """The Label Studio project inkloop stored the id of, if it is still there and still this project's:
    one small request instead of a walk through every project on every reconciliation."""
    if link is None:
        return None
    found = ls.projects.list(ids=str(link.ls_project_id), page_size=1).items or []
    return next((item for item in found
                 if item.id == link.ls_project_id and (item.description or "").endswith(marker(project))), None)


def _ls_project(*, project: Project) -> int:
    link = link_of(project_id=project.pk)
    title = f"{project.name} (inkloop)"[:50]
    with label_studio_call("find the Label Studio project") as ls:
        current = _linked_project(ls, link=link, project=project)
        if current is None:  # never stored (a run interrupted after creating it), or deleted over there
            found = [item for item in all_projects(ls) if (item.description or "").endswith(marker(project))]
            current = found[0] if found else None
    if current is None:
        with label_studio_call("create the Label Studio project") as ls:
            created = ls.projects.create(title=title, description=f"{project.description}\n\n{marker(project)}".strip(),
                                         label_config=LABEL_CONFIG, show_collab_predictions=True,
                                         evaluate_predictions_automatically=False)
        logger.info("created Label Studio project %s for project %s", created.id, project.pk)
        return created.id
    if current.label_config != LABEL_CONFIG:
        with label_studio_call("update the labeling config") as ls:
            ls.projects.update(id=current.id, label_config=LABEL_CONFIG)
    return current.id


def _webhook(*, ls_project_id: int) -> int:
    url = public_url("labeling-webhook")
    wanted = {"headers": {SECRET_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET}, "actions": WEBHOOK_ACTIONS,
              "send_payload": True, "send_for_all_actions": False, "is_active": True}
    with label_studio_call("list the project's webhooks") as ls:
        existing = [hook for hook in ls.webhooks.list(project=ls_project_id) if hook.url == url]
    if not existing:
        with label_studio_call("create the webhook") as ls:
            return ls.webhooks.create(url=url, project=ls_project_id, **wanted).id
    hook = existing[0]
    if (hook.headers != wanted["headers"] or sorted(hook.actions or []) != sorted(WEBHOOK_ACTIONS)
            or not hook.is_active or not hook.send_payload):
        with label_studio_call("repair the webhook") as ls:
            ls.webhooks.update(id=hook.id, url=url, **wanted)
    return hook.id


def _ml_backend(*, ls_project_id: int) -> int:
    url = settings.INKLOOP_PUBLIC_URL + reverse("labeling-ml-root")
    with label_studio_call("list the project's ML backends") as ls:
        existing = [backend for backend in ls.ml.list(project=ls_project_id)
                    if backend.url.rstrip("/") == url.rstrip("/")]
    if existing:
        return existing[0].id
    # Label Studio calls /health and /setup while it registers the backend, so inkloop must be serving by now.
    with label_studio_call("register inkloop as the ML backend") as ls:
        return ls.ml.create(project=ls_project_id, url=url, title="inkloop", is_interactive=False,
                            auth_method="BASIC_AUTH", basic_auth_user=ML_BACKEND_USER,
                            basic_auth_pass=settings.LABEL_STUDIO_WEBHOOK_SECRET,
                            timeout=30).id


def _ml_backend_webhook_off(*, ls_project_id: int) -> None:
    """Label Studio also subscribes every ML backend to all of the project's events at <url>/webhook,
    without credentials. inkloop gets annotation events from its own webhook already, and each
    delivery is synchronous in Label Studio, so that subscription is switched off; START_TRAINING
    does not use it (it comes with the ML backend's own credentials)."""
    url = settings.INKLOOP_PUBLIC_URL + reverse("labeling-ml-webhook")
    with label_studio_call("list the project's webhooks") as ls:
        active = [hook for hook in ls.webhooks.list(project=ls_project_id) if hook.url == url and hook.is_active]
    for hook in active:
        with label_studio_call("switch off the ML backend's event subscription") as ls:
            ls.webhooks.update(id=hook.id, url=url, is_active=False)


def _view(*, ls_project_id: int) -> int:
    with label_studio_call("list the project's Data Manager views") as ls:
        existing = [view for view in ls.views.list(project=ls_project_id)
                    if (view.data or {}).get("title") == VIEW_TITLE]
    if existing:
        return existing[0].id
    with label_studio_call("create the least-certain-first view") as ls:
        return ls.views.create(project=ls_project_id, data={"title": VIEW_TITLE, "ordering": VIEW_ORDERING}).id
