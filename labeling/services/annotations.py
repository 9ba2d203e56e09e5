"""Label Studio -> inkloop: apply a task's annotation to the page's lines, in one transaction.

Lines are matched by Label Studio region id. inkloop holds the truth:
- an annotation older than the one already applied changes nothing;
- a line edited in inkloop after the annotation was saved keeps inkloop's version; the
  losing edit is recorded (SyncClash, and a `revert` LineRevision in the line's history)
  and inkloop's version is written back to Label Studio;
- a region that cannot become a line is logged and skipped, and its line is left alone.

When the annotation the page holds is deleted in Label Studio, the page follows what is left
there (services.catchup): the task's latest remaining annotation replaces it, even though
older, or with none left the lines it held are deleted (same rule: inkloop's newer edits stay).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from labeling.convert import Region, regions_from_result, same_shape
from labeling.models import LabelStudioTask, SyncClash
from labeling.selectors import latest_revision_id, revisions_since_sync
from labeling.services import lines as writes
from labeling.services.accounts import annotator_of, is_service_account
from webapp import task_names
from webapp.corpus import services as corpus
from webapp.corpus.lines import LineData, clean_line
from webapp.corpus.models import Line, LineRevision, Page
from webapp.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)


class MalformedAnnotation(ValueError):
    """The annotation lacks what every annotation has (id, task, updated_at, result)."""


@dataclass
class ApplyOutcome:
    created: int = 0
    updated: int = 0
    verified: int = 0
    deleted: int = 0
    clashes: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    ignored: str = ""

    def summary(self) -> str:
        if self.ignored:
            return f"ignored: {self.ignored}"
        return (f"created {self.created}, updated {self.updated}, verified {self.verified}, deleted {self.deleted}, "
                f"clashes {self.clashes}, skipped {len(self.skipped)}")


def annotation_updated_at(annotation: dict) -> datetime:
    value = annotation.get("updated_at") or annotation.get("created_at")
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise MalformedAnnotation("The annotation has no valid updated_at.")
    return parsed


def annotation_apply(*, task: LabelStudioTask, annotation: dict, replacing: int | None = None) -> ApplyOutcome:
    """Make the page's lines what `annotation` says, unless inkloop already holds something newer.

    `replacing`: the id of the page's annotation, deleted in Label Studio; while the page still
    holds it, `annotation` (what is left there) applies even though it is older.
    """
    updated_at = _checked(annotation)
    with transaction.atomic():
        return _apply(task=_locked(LabelStudioTask.objects.filter(pk=task.pk)).get(), annotation=annotation,
                      updated_at=updated_at, replacing=replacing)


def annotation_receive(*, ls_task_id: int, annotation: dict) -> ApplyOutcome:
    """annotation_apply for a webhook delivery, in the caller's transaction: the task is found and locked
    in one query by Label Studio's id. Raises LabelStudioTask.DoesNotExist when no page has that task."""
    updated_at = _checked(annotation)
    with transaction.atomic(savepoint=False):  # the caller's transaction stores the delivery with it, or nothing
        return _apply(task=_locked(LabelStudioTask.objects.filter(ls_task_id=ls_task_id)).get(),
                      annotation=annotation, updated_at=updated_at, replacing=None)


def _checked(annotation: dict) -> datetime:
    if not isinstance(annotation.get("id"), int):
        raise MalformedAnnotation("The annotation has no id.")
    return annotation_updated_at(annotation)


def _locked(tasks: QuerySet[LabelStudioTask]) -> QuerySet[LabelStudioTask]:
    """The task with its page, both row-locked: the task's lock keeps two deliveries for it apart, the page's
    keeps pre-annotation and imports out (they take it before writing lines). The project comes along to be
    read (the alphabet), not locked: a lock there would queue every delivery of the project behind the others."""
    return tasks.select_for_update(of=("self", "page")).select_related("page__project")


def _apply(*, task: LabelStudioTask, annotation: dict, updated_at: datetime, replacing: int | None) -> ApplyOutcome:
    """annotation_apply's work, the task and its page locked (_locked) in the current transaction."""
    replaces = replacing is not None and task.annotation_id == replacing
    stale = _why_not_newer(task=task, annotation=annotation, updated_at=updated_at, replaces=replaces)
    if stale:
        return ApplyOutcome(ignored=stale)
    page = task.page
    # inkloop's own write is ignored only because the page already holds what it says; in place of a
    # deleted annotation it is what Label Studio now shows, so it applies like any other.
    if is_service_account(annotation) and not replaces:
        outcome = ApplyOutcome(ignored="inkloop's own write coming back")
        synced = latest_revision_id(page=page)
    else:
        regions, skipped = regions_from_result(annotation.get("result"), width=page.width, height=page.height)
        outcome, synced = _apply_regions(task=task, page=page, annotation=annotation, updated_at=updated_at,
                                         regions=_valid(regions, page=page, skipped=skipped), skipped=skipped)
    task.annotation_id, task.annotation_updated_at = annotation["id"], updated_at
    task.synced_revision_id = synced
    task.save(update_fields=["annotation_id", "annotation_updated_at", "synced_revision_id"])
    if outcome.clashes:
        enqueue_on_commit(task_names.LABELING_WRITE_BACK, page.pk)  # bring Label Studio up to inkloop's newer lines
    logger.info("task %s annotation %s: %s", task.ls_task_id, annotation["id"], outcome.summary())
    return outcome


def _why_not_newer(*, task: LabelStudioTask, annotation: dict, updated_at: datetime, replaces: bool) -> str:
    if annotation.get("was_cancelled"):
        return "a cancelled (skipped) annotation"
    if task.annotation_updated_at is None or replaces:
        return ""
    if updated_at < task.annotation_updated_at:
        return "older than the annotation already applied"
    if updated_at == task.annotation_updated_at and task.annotation_id in (annotation["id"], None):
        return "already applied"  # or applied, then deleted in Label Studio (annotation_deleted_apply)
    return ""


def _valid(regions: list[Region], *, page: Page, skipped: dict[str, str]) -> list[Region]:
    """Regions that pass the same checks as any other line (alphabet, length); the rest are skipped."""
    valid = []
    for region in regions:
        try:
            clean_line(LineData(bbox=region.bbox, text=region.text, polygon=region.polygon), page=page,
                       where=f"region {region.region_id}")
            valid.append(region)
        except ValidationError as error:
            skipped[region.region_id] = "; ".join(error.messages)
            logger.warning("Label Studio annotation: skipped region %s: %s", region.region_id, error.messages)
    return valid


def _apply_regions(*, task: LabelStudioTask, page: Page, annotation: dict, updated_at: datetime,
                   regions: list[Region], skipped: dict[str, str]) -> tuple[ApplyOutcome, int]:
    """What applying did, and the page's newest revision now (which the two sides agree on)."""
    outcome = ApplyOutcome(skipped=skipped)
    annotator = annotator_of(annotation)
    lines = {line.ls_region_id: line for line in Line.objects.select_for_update().filter(page=page)
             .exclude(ls_region_id__isnull=True)}
    latest, edited_here = revisions_since_sync(page=page, revision_id=task.synced_revision_id, after=updated_at)
    create, update, delete, written = [], [], [], []
    for region in regions:
        line = lines.get(region.region_id)
        if line is None:
            create.append(region)
            outcome.created += 1
        elif line.pk in edited_here and not _same(line, region):
            written.append(_record_clash(line=line, region=region, annotation=annotation, updated_at=updated_at,
                                         user=annotator))
            outcome.clashes += 1
        elif not _same(line, region):
            update.append((line, region))
            outcome.updated += 1
        elif not line.is_verified:
            update.append((line, region))  # accepted as it was
            outcome.verified += 1
    kept = {region.region_id for region in regions} | set(skipped)  # a skipped region's line is left alone
    for region_id, line in lines.items():
        if region_id in kept:
            continue
        if line.pk in edited_here:
            outcome.clashes += 1  # deleted there, edited here since: inkloop's newer edit wins
            continue
        delete.append(line)
        outcome.deleted += 1
    written += writes.lines_from_regions(page=page, user=annotator, create=create, update=update, delete=delete)
    # Synced: the page's revisions read before writing, and this transaction's. A revision another write
    # commits meanwhile (an API edit takes no page lock) can stay after the sync: it counts as inkloop's edit.
    return outcome, max([latest] + [revision.pk for revision in written])


def _same(line: Line, region: Region) -> bool:
    return line.text == region.text and same_shape(line.bbox, line.polygon, region.bbox, region.polygon)


def _record_clash(*, line: Line, region: Region, annotation: dict, updated_at: datetime, user) -> LineRevision:
    geometry = {"bbox": list(region.bbox), "polygon": region.polygon, "baseline": None, "order": line.order}
    SyncClash.objects.create(line_ref=line.pk, page_id=line.page_id, annotation_id=annotation["id"],
                             annotation_updated_at=updated_at, annotator=user, label_studio_text=region.text,
                             label_studio_bbox=list(region.bbox), kept_text=line.text)
    # In the line's own history, so whoever reads it sees the annotator's text was not lost.
    return corpus.line_losing_edit_record(line=line, user=user, text=region.text, geometry=geometry)


def annotation_deleted_apply(*, task: LabelStudioTask, annotation_id: int) -> ApplyOutcome:
    """The page's annotation was deleted in Label Studio and none is left there: delete the lines it held.

    Those are the page's lines with a region id (applying an annotation deletes every other one,
    and a write-back puts every line in it), except lines edited in inkloop since it was saved:
    inkloop's newer edit wins, as in annotation_apply, and is written back into a new annotation.
    Label Studio does not say who deleted it, so the revisions name no one.
    """
    with transaction.atomic():
        task = _locked(LabelStudioTask.objects.filter(pk=task.pk)).get()
        if task.annotation_id != annotation_id:
            return ApplyOutcome(ignored="the page no longer holds that annotation")
        page = task.page
        _, edited_here = revisions_since_sync(page=page, revision_id=task.synced_revision_id,
                                              after=task.annotation_updated_at)
        outcome = ApplyOutcome()
        delete = []
        for line in Line.objects.select_for_update().filter(page=page, ls_region_id__isnull=False).order_by("id"):
            if line.pk in edited_here:
                outcome.clashes += 1
                continue
            delete.append(line)
            outcome.deleted += 1
        writes.lines_from_regions(page=page, user=None, delete=delete)
        # annotation_updated_at stays: a late delivery of the deleted annotation is not newer, and loses.
        task.annotation_id = None
        task.synced_revision_id = latest_revision_id(page=page)
        task.save(update_fields=["annotation_id", "synced_revision_id"])
        if outcome.clashes:
            enqueue_on_commit(task_names.LABELING_WRITE_BACK, page.pk)
    logger.info("task %s annotation %s deleted in Label Studio: %s", task.ls_task_id, annotation_id, outcome.summary())
    return outcome
