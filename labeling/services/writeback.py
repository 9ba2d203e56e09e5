"""inkloop -> Label Studio: the page's lines written into the task's annotation.

So the next person who opens the task in Label Studio starts from inkloop's latest text.
No database lock is held while Label Studio is called: Label Studio delivers the webhook
for our own update synchronously, and that delivery must be able to take the task row.
"""

from __future__ import annotations

import logging

from django.db import transaction

from labeling.client import label_studio_call
from labeling.convert import LineForLabelStudio, Region, regions_from_result, result_from_lines, same_shape
from labeling.locks import page_lock
from labeling.models import LabelStudioTask
from labeling.selectors import latest_revision_id
from labeling.services.catchup import task_catch_up
from labeling.services.lines import region_ids_assign
from webapp.corpus.models import Line, Page
from webapp.corpus.selectors import line_list

logger = logging.getLogger(__name__)


def page_write_back(*, page_id: int) -> str:
    """Bring the task's annotation up to the page's lines; a no-op when they already agree."""
    task = LabelStudioTask.objects.filter(page_id=page_id).select_related("page").first()
    if task is None:
        return "no task yet"
    with page_lock(page_id):  # two write-backs at once would both create the task's first annotation
        return _write_back(task=task, page_id=page_id)


def _write_back(*, task: LabelStudioTask, page_id: int) -> str:
    # First what Label Studio has that inkloop lacks (a lost webhook, a deleted annotation), then the rest.
    latest = task_catch_up(task=task).latest
    page = Page.objects.get(pk=page_id)
    revision_id = latest_revision_id(page=page)
    lines = list(line_list(page=page))
    if _agrees(latest=latest, lines=lines, page=page):
        return "already in agreement"
    if latest is None and not any(line.is_verified for line in lines):
        return "nothing verified to write"  # model lines travel as predictions, not as an annotation
    region_ids_assign(lines=lines)
    result = result_from_lines([LineForLabelStudio(region_id=line.ls_region_id, bbox=line.bbox, text=line.text,
                                                   polygon=line.polygon) for line in lines],
                               width=page.width, height=page.height)
    with label_studio_call(f"write page {page_id}'s lines to task {task.ls_task_id}") as ls:
        if latest is None:
            written = ls.annotations.create(id=task.ls_task_id, result=result)
        else:
            written = ls.annotations.update(id=latest["id"], result=result)
    _remember(task=task, annotation_id=written.id, updated_at=written.updated_at, revision_id=revision_id)
    return "written"


def _agrees(*, latest: dict | None, lines: list[Line], page: Page) -> bool:
    if latest is None:
        return not lines
    regions, _ = regions_from_result(latest.get("result") or [], width=page.width, height=page.height)
    theirs = {region.region_id: region for region in regions}
    return len(theirs) == len(lines) and all(_line_agrees(line, theirs.get(line.ls_region_id)) for line in lines)


def _line_agrees(line: Line, region: Region | None) -> bool:
    return (region is not None and region.text == line.text
            and same_shape(line.bbox, line.polygon, region.bbox, region.polygon))


def _remember(*, task: LabelStudioTask, annotation_id: int, updated_at, revision_id: int) -> None:
    with transaction.atomic():
        task = LabelStudioTask.objects.select_for_update().get(pk=task.pk)
        if task.annotation_updated_at is None or updated_at >= task.annotation_updated_at:
            task.annotation_id, task.annotation_updated_at = annotation_id, updated_at
        task.synced_revision_id = max(task.synced_revision_id, revision_id)
        task.save(update_fields=["annotation_id", "annotation_updated_at", "synced_revision_id"])
