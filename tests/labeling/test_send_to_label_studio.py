"""A project lead sends selected pages to Label Studio from the page grid, in Chromium: the session's real
workers create the task of a page that has none, re-create one deleted in Label Studio with the page's lines
as its annotation, point a task at its image again, and leave the page not selected as it was."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from labeling.models import LabelStudioTask
from labeling.services.tasks import image_url
from tests.labeling.helpers import ASYNC_TIMEOUT, project_with_annotator, texts, written_back
from tests.workers.cluster import wait_for
from tests.workers.factories import manager_of
from webapp.corpus.lines import LineData
from webapp.corpus.models import Page
from webapp.corpus.services import line_create

pytestmark = pytest.mark.django_db(transaction=True)


def ls_task_ids(admin_ls, project) -> set[int]:
    return {task.id for task in admin_ls.tasks.list(project=project.label_studio.ls_project_id)}


def test_the_grid_sends_selected_pages_and_the_workers_create_or_repair_their_tasks(labeling, admin_ls, annotator,
                                                                                   browser, live_server):
    project, _, pages = project_with_annotator(annotator_email=annotator.email, pages=4)
    deleted, missing, stale, untouched = sorted(pages, key=lambda page: page.original_name)
    lead = manager_of(project)
    # A person's line, written into the task's annotation; then the task is deleted in Label Studio, which
    # tells inkloop nothing.
    line = line_create(page=deleted, user=lead, data=LineData(bbox=(40, 40, 400, 80), text="légué à mon frère"))
    wait_for(lambda: written_back(deleted), timeout=ASYNC_TIMEOUT, what="the line written back")
    gone = LabelStudioTask.objects.get(page=deleted).ls_task_id
    admin_ls.tasks.delete(id=gone)
    # A page whose task was never made (Label Studio was down at upload, and every retry failed).
    admin_ls.tasks.delete(id=LabelStudioTask.objects.get(page=missing).ls_task_id)
    LabelStudioTask.objects.filter(page=missing).delete()
    Page.objects.filter(pk=missing.pk).update(ls_task_id=None)
    # A task whose image link is not its page's (as after an image token rotation that stopped half-way).
    stale_task = LabelStudioTask.objects.get(page=stale).ls_task_id
    data = admin_ls.tasks.get(id=stale_task).data
    admin_ls.tasks.update(id=stale_task, data={**data, "image": data["image"].replace("/image/", "/nowhere/")})
    kept = LabelStudioTask.objects.get(page=untouched).ls_task_id
    assert ls_task_ids(admin_ls, project) == {stale_task, kept}

    session = Client()
    session.force_login(lead)
    context = browser.new_context(base_url=live_server.url)
    cookie = session.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    try:
        tab.goto(f"/projects/{project.pk}/pages/")
        send = tab.get_by_role("button", name="Send selected to Label Studio")
        expect(send).to_be_disabled()
        tab.get_by_label(f"Select {deleted.original_name}").check()
        tab.get_by_label(f"Select {missing.original_name}").check()
        tab.get_by_label(f"Select {stale.original_name}").check()
        send.click()
        expect(tab.locator("#grid-announcer")).to_have_text(
            re.compile(r"^Sent 3 pages to Label Studio: 1 gets a new task, 2 have their task checked and repaired"),
            timeout=15_000)
    finally:
        context.close()

    def both_have_tasks() -> bool:
        tasks = {task.page_id: task.ls_task_id for task in LabelStudioTask.objects.filter(page__in=pages)}
        return len(tasks) == 4 and tasks[deleted.pk] != gone

    wait_for(both_have_tasks, timeout=ASYNC_TIMEOUT, what="the selected pages' tasks created")
    tasks = {task.page_id: task.ls_task_id for task in LabelStudioTask.objects.filter(page__in=pages)}
    assert (tasks[untouched.pk], tasks[stale.pk]) == (kept, stale_task)
    assert ls_task_ids(admin_ls, project) == set(tasks.values())
    wait_for(lambda: "/nowhere/" not in admin_ls.tasks.get(id=stale_task).data["image"], timeout=ASYNC_TIMEOUT,
             what="the stale image link repaired")
    for page in (deleted, missing, stale):
        page.refresh_from_db()
        assert page.ls_task_id == tasks[page.pk]
        data = admin_ls.tasks.get(id=tasks[page.pk]).data
        assert data["page_id"] == page.pk and data["image"] == image_url(page=page, link=project.label_studio)
    # The re-created task holds the person's line again; the page's line is the same row, unchanged.
    wait_for(lambda: [texts(item.result) for item in admin_ls.annotations.list(id=tasks[deleted.pk])]
             == [[[line.text]]], timeout=ASYNC_TIMEOUT, what="the line written into the new task")
    line.refresh_from_db()
    assert (line.text, line.version) == ("légué à mon frère", 1)
