"""Label Studio lists projects and tasks 100 to a page, and answers a page past the last with a 404.

Provisioning and reconciliation must find what they look for at exactly 100 (a full last
page, no next one) and at 101 (a second page). The other projects are made through Label
Studio's API directly, in the session's server, and deleted again so later tests see the
server as before.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from label_studio_sdk.core.api_error import ApiError

from labeling.models import LabelStudioProject, LabelStudioTask
from labeling.services.provisioning import marker, project_provision
from labeling.services.sync import _ls_tasks as ls_tasks
from labeling.services.sync import projects_reconcile
from tests.labeling.helpers import ASYNC_TIMEOUT, png
from tests.workers.cluster import wait_for
from webapp.corpus.services import pages_upload
from webapp.projects.models import Project
from webapp.projects.services import project_create

pytestmark = pytest.mark.django_db(transaction=True)

LABEL_STUDIO_PAGE = 100  # Label Studio 1.23's page size for projects and tasks (its max_page_size)


def project_count(ls) -> int:
    return ls.projects.list(page_size=1).response.count


@contextmanager
def other_projects(ls):
    """`fill_to(n)` makes the server hold exactly n projects by adding projects that are not inkloop's;
    every one of them is deleted on the way out. One request at a time: Label Studio's SQLite answers
    concurrent writes with "database is locked" (a 500, possibly after the row was written), so a
    failed create is not retried blindly; the projects are counted again instead, and told apart
    from the rest by a tag in their title."""
    tag = f"other-{uuid.uuid4().hex[:8]}"
    once = {"max_retries": 0, "timeout_in_seconds": 120}

    def ours() -> list[int]:
        return [item.id for item in listed(ls, title=tag)]

    def fill_to(total: int) -> None:
        for _ in range(3):
            for number in range(total - project_count(ls)):
                try:
                    ls.projects.create(title=f"{tag} {number}", request_options=once)
                except ApiError as error:
                    if error.status_code is None or error.status_code < 500:
                        raise
            for extra in ours()[:max(0, project_count(ls) - total)]:
                ls.projects.delete(id=extra)
            if project_count(ls) == total:
                return

    try:
        yield fill_to
    finally:
        for ls_id in ours():
            ls.projects.delete(id=ls_id)


def listed(ls, **filters) -> list:
    page, items = 1, []
    while True:
        answer = ls.projects.list(page=page, page_size=LABEL_STUDIO_PAGE, **filters)
        items += answer.items
        if not answer.response.next:
            return items
        page += 1


def marked(ls, project) -> list[int]:
    return [item.id for item in listed(ls) if (item.description or "").endswith(marker(project))]


def provisioned_project():
    """An inkloop project with one page, once the workers have made its Label Studio project and the page's task."""
    lead = get_user_model().objects.create_user(username=f"lead-{uuid.uuid4().hex[:8]}", password="x" * 12)
    project = project_create(creator=lead, name=f"wills {uuid.uuid4().hex[:6]}", use_base_models=False)
    [stored] = pages_upload(project=project, user=lead, files=[("page-1.png", png(uuid.uuid4().int % 1000))])
    wait_for(lambda: LabelStudioProject.objects.filter(project=project, view_id__isnull=False).exists()
             and LabelStudioTask.objects.filter(page=stored.page).exists(),
             timeout=ASYNC_TIMEOUT, what="the project provisioned in Label Studio and its page imported")
    return Project.objects.get(pk=project.pk), stored.page


def test_provisioning_and_reconciliation_at_100_and_101_projects(labeling, admin_ls):
    project, page = provisioned_project()
    ls_project_id = project.label_studio.ls_project_id
    assert project_count(admin_ls) <= LABEL_STUDIO_PAGE, "the session's Label Studio holds too many projects already"

    with other_projects(admin_ls) as fill_to:
        # Made after the project: Label Studio lists newest first, so at 101 the project is alone on page 2.
        for total in (LABEL_STUDIO_PAGE, LABEL_STUDIO_PAGE + 1):
            fill_to(total)
            assert project_count(admin_ls) == total

            # Provisioning with the stored id, then as after a run that created the project but never stored
            # its id: it is found by its marker, on whichever page it is, and not created twice.
            assert project_provision(project=project).ls_project_id == ls_project_id
            LabelStudioProject.objects.filter(project=project).delete()
            assert project_provision(project=project).ls_project_id == ls_project_id
            assert marked(admin_ls, project) == [ls_project_id]

            # The periodic reconciliation of every project runs to its end, and repairs a lost task.
            LabelStudioTask.objects.filter(page=page).delete()
            reports = projects_reconcile()
            assert "error" not in reports[project.pk], reports
            assert LabelStudioTask.objects.get(page=page).ls_project_id == ls_project_id
            assert project_count(admin_ls) == total


def test_the_task_listing_reads_exactly_one_and_just_over_one_full_page(labeling, admin_ls):
    """Asked directly: through a reconciliation, tasks of no page would be deleted one request each."""
    ls_project = admin_ls.projects.create(title=f"tasks {uuid.uuid4().hex[:8]}")
    try:
        for total in (LABEL_STUDIO_PAGE, LABEL_STUDIO_PAGE + 1):
            have = len(ls_tasks(ls_project_id=ls_project.id)) if total > LABEL_STUDIO_PAGE else 0
            admin_ls.projects.import_tasks(id=ls_project.id, request=[{"stray": i} for i in range(have, total)])

            assert sorted(task["data"]["stray"] for task in ls_tasks(ls_project_id=ls_project.id)) == list(range(total))
    finally:
        admin_ls.projects.delete(id=ls_project.id)
