"""Writes of pages, lines and their history.

Invariants every function here keeps:
- a request either stores everything it was given or nothing (one transaction; files
  written before a failure are removed again);
- every change to a line bumps its `version` and writes a LineRevision;
- a human write marks the line verified by that person.

This is the only module that writes LineRevision rows or sets `Line.version`
(tests/test_boundaries.py keeps it so): the predictions, the review UI and the Label Studio
adapter all change lines through the functions below.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Iterable, Iterator, Protocol, Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from webapp import task_names
from webapp.corpus.lines import LineData, clean_line
from webapp.corpus.models import (Line, LineRevision, LineSource, Page, PageStatus, RevisionAction,
                                  page_thumbnail_path, split_for_group)
from webapp.ingest import IngestLimits, PageImage, ingest_upload
from webapp.projects.models import Project
from webapp.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)


class LineConflict(Exception):
    """The client based its write on an older version of the line."""

    def __init__(self, line: Line):
        super().__init__(f"Line {line.pk} is at version {line.version}.")
        self.line = line


class PageLinesConflict(Exception):
    def __init__(self, lines: list[Line], stale_ids: list[int]):
        super().__init__(f"Lines {stale_ids} changed since you read them.")
        self.lines = lines
        self.stale_ids = stale_ids


class PageOutcome:
    """What storing one page did."""

    CREATED = "created"        # a new page (with its lines)
    EXISTING = "existing"      # the image was already a page; nothing asked to go onto it
    MERGED = "merged"          # the image was already a page without a person's lines: the lines went onto it
    UNCHANGED = "unchanged"    # the image was already a page with these very lines
    CONFLICT = "conflict"      # the image was already a page with other lines: nothing of this item was stored


@dataclass
class StoredPage:
    page: Page
    created: bool
    outcome: str = PageOutcome.CREATED
    lines_created: int = 0
    # (index in PageToStore.lines, reason) of the lines left out under skip_invalid_lines.
    skipped_lines: list[tuple[int, str]] = field(default_factory=list)
    detail: str = ""  # a sentence for the user when the outcome needs one


@dataclass
class PageToStore:
    image: PageImage
    group: str | None = None
    lines: list[LineData] = field(default_factory=list)
    # A line that fails clean_line is left out (and reported in StoredPage.skipped_lines)
    # instead of refusing the whole request: imported files carry a few such lines.
    skip_invalid_lines: bool = False
    # When the image is already a page, put these lines onto it if that loses nothing
    # (see PageWriter._onto_existing) instead of returning the page untouched.
    merge_into_existing: bool = False
    # The group when none is given and the file name rule does not match (see derive_group).
    document: str | None = None


class ModelLine(Protocol):
    """A line as a model predicted it (ml.predict.PredictedLine has these fields)."""

    bbox: tuple[int, int, int, int]
    polygon: Sequence[Sequence[int]] | None
    text: str
    confidence: float
    char_confidences: list[float]


def ingest_limits() -> IngestLimits:
    return IngestLimits(max_upload_bytes=settings.INKLOOP_MAX_UPLOAD_BYTES,
                        max_image_pixels=settings.INKLOOP_MAX_IMAGE_PIXELS)


def derive_group(*, name: str, pattern: str, document: str | None = None) -> str:
    """The document a page belongs to: the container of a PDF/TIFF page, else the file name rule,
    else `document` (the folder an export keeps a document's pages in), else the page itself."""
    if "#p" in name:  # "book.pdf#p3": every page of one file is one document
        return PurePosixPath(name.split("#p")[0]).name
    stem = PurePosixPath(name).stem
    if pattern:
        match = re.match(pattern, stem)
        if match:
            return match.groupdict().get("group") or (match.group(1) if match.groups() else match.group(0))
    return document or stem


def import_limits() -> IngestLimits:
    """Layout imports read archives member by member from disk (only one image at a time is in
    memory), so an archive's own size, what it unpacks to and its page count have their own limits;
    each file in it still has the upload limit."""
    return IngestLimits(max_upload_bytes=settings.INKLOOP_MAX_UPLOAD_BYTES,
                        max_image_pixels=settings.INKLOOP_MAX_IMAGE_PIXELS,
                        max_archive_bytes=settings.INKLOOP_MAX_IMPORT_BYTES,
                        max_total_uncompressed_bytes=settings.INKLOOP_MAX_IMPORT_UNPACKED_BYTES,
                        max_pages_per_upload=settings.INKLOOP_MAX_IMPORT_PAGES)


def pages_upload(*, project: Project, user: AbstractBaseUser, files: Sequence[tuple[str, bytes]],
                 group: str | None = None) -> list[StoredPage]:
    """Store every page of every uploaded file, or none (UploadRejected says why)."""
    limits = ingest_limits()
    images = [image for name, data in files for image in ingest_upload(data, name, limits=limits)]
    return pages_store(project=project, user=user, pages=[PageToStore(image=image, group=group) for image in images])


def pages_store(*, project: Project, user: AbstractBaseUser | None, pages: Sequence[PageToStore],
                lines_verified: bool = True) -> list[StoredPage]:
    """Create pages (and their lines); an image already in the project returns the existing page."""
    with page_writer(project=project, user=user, lines_verified=lines_verified) as writer:
        return [writer.store(item) for item in pages]


@contextmanager
def page_writer(*, project: Project, user: AbstractBaseUser | None,
                lines_verified: bool = True) -> Iterator["PageWriter"]:
    """A PageWriter whose pages are stored in one transaction: all of them, or (when the block
    raises) none, with the image files already written removed again. Pages can be stored one at
    a time as they are read, so a large import never holds more than one image in memory."""
    written_files: list[str] = []
    committed: list[bool] = []
    try:
        with transaction.atomic():
            # Registered first, so it runs before any other after-commit callback: once the pages are
            # committed their files stay, whatever a later callback raises (a committed row never loses
            # its image).
            transaction.on_commit(lambda: committed.append(True))
            writer = PageWriter(project=project, user=user, lines_verified=lines_verified,
                                written_files=written_files)
            yield writer
            if writer.created_without_lines:
                # Pages without lines get the promoted models' lines (the base models' from the first page on).
                from webapp.predictions.services import preannotation_request_if_ready

                preannotation_request_if_ready(project=project)
    except BaseException:
        if not committed:
            for name in written_files:
                default_storage.delete(name)
        raise


class PageWriter:
    def __init__(self, *, project: Project, user, lines_verified: bool, written_files: list[str]):
        self.project = project
        self.user = user
        self.lines_verified = lines_verified
        self.written_files = written_files
        self.created_without_lines = False

    def store(self, item: PageToStore) -> StoredPage:
        image = item.image
        existing = Page.objects.filter(project=self.project, sha256=image.sha256).first()
        if existing is not None:
            return self._existing(existing, item)
        group = ((item.group or "").strip()
                 or derive_group(name=image.name, pattern=self.project.group_pattern, document=item.document))[:255]
        page = Page(project=self.project, original_name=image.name[:500], extension=image.extension,
                    sha256=image.sha256, width=image.width, height=image.height, group=group,
                    uploaded_by=self.user, split=group_split(project=self.project, group=group))
        page.image.save(image.name, ContentFile(image.data), save=False)
        self.written_files.append(page.image.name)
        try:
            with transaction.atomic():  # a savepoint: a concurrent upload of the same image wins cleanly
                page.save()
        except IntegrityError:
            # The concurrent upload's page and file stand; this copy of the file would be an orphan.
            default_storage.delete(page.image.name)
            self.written_files.remove(page.image.name)
            return self._existing(Page.objects.get(project=self.project, sha256=image.sha256), item)
        lines, skipped = _cleaned_lines(item, page=page)
        if lines:
            _lines_bulk_create(page=page, user=self.user, lines=lines, verified=self.lines_verified)
        else:
            self.created_without_lines = True
        return StoredPage(page=page, created=True, lines_created=len(lines), skipped_lines=skipped)

    def _existing(self, page: Page, item: PageToStore) -> StoredPage:
        if not item.merge_into_existing:
            return StoredPage(page=page, created=False, outcome=PageOutcome.EXISTING)
        return self._onto_existing(page, item)

    def _onto_existing(self, page: Page, item: PageToStore) -> StoredPage:
        """Put `item.lines` onto a page that already holds this image, unless that would lose or hide
        something: a page without lines gets them, a page with only model suggestions has those
        replaced (their history kept), a page with these very lines is left alone; a page with
        other lines a person made or checked is left alone too and the answer says so (CONFLICT).

        The page's row lock keeps a concurrent pre-annotation from writing model lines between
        the check and the write (page_model_lines_replace takes the same lock, then sees these
        verified lines and leaves the page alone)."""
        page = Page.objects.select_for_update().get(pk=page.pk)
        lines, skipped = _cleaned_lines(item, page=page)
        current = list(page.lines.order_by("order", "id"))
        where = f"page {page.pk} ({page.original_name})"
        if not lines:
            return StoredPage(page=page, created=False, outcome=PageOutcome.UNCHANGED, skipped_lines=skipped,
                              detail=f"its image is already {where}, and the file has no lines to add to it")
        if any(line.is_verified for line in current):
            if _same_lines(current, lines):
                return StoredPage(page=page, created=False, outcome=PageOutcome.UNCHANGED, skipped_lines=skipped,
                                  detail=f"its image is already {where}, which holds these lines")
            return StoredPage(page=page, created=False, outcome=PageOutcome.CONFLICT, detail=(
                f"not imported: its image is already {where}, which has {len(current)} lines a person made or "
                f"checked that differ from this file's {len(lines)}; delete that page's lines (or the page) "
                "to import this file's lines instead"))
        detail = f"its lines were added to {where}, which had the same image and no lines"
        if current:
            LineRevision.objects.bulk_create([_deletion(line, user=self.user) for line in current])
            LineRevision.objects.filter(line__in=current).update(line=None)
            page.lines.all().delete()
            detail = (f"its lines replaced the {len(current)} model-suggested lines of {where}, which had the "
                      "same image (their history is kept)")
        _lines_bulk_create(page=page, user=self.user, lines=lines, verified=self.lines_verified)
        return StoredPage(page=page, created=False, outcome=PageOutcome.MERGED, lines_created=len(lines),
                          skipped_lines=skipped, detail=detail)


def _cleaned_lines(item: PageToStore, *, page: Page) -> tuple[list[LineData], list[tuple[int, str]]]:
    """The item's lines through clean_line; a failing line refuses the item (ValidationError)
    unless the item asks to skip such lines, which are then returned with their reasons."""
    cleaned, skipped = [], []
    for index, line in enumerate(item.lines):
        try:
            cleaned.append(clean_line(line, page=page, where=f"{item.image.name} line {index + 1}"))
        except ValidationError as error:
            if not item.skip_invalid_lines:
                raise
            skipped.append((index, "; ".join(message.split(": ", 1)[-1] for message in error.messages)))
    return cleaned, skipped


def _same_lines(current: Sequence[Line], lines: Sequence[LineData]) -> bool:
    """The same text in the same order, on the same geometry: the polygon when both have one (a
    PAGE file carries no box of its own, so its box can differ from ALTO's by a pixel), else the box."""
    if len(current) != len(lines):
        return False
    return all(old.text == new.text and (old.polygon == new.polygon if old.polygon and new.polygon
                                         else old.bbox == tuple(new.bbox))
               for old, new in zip(current, lines))


def group_split(*, project: Project, group: str) -> str:
    """A group keeps the split it got first, even if the project's percentages changed since:
    otherwise one writer could end up on both sides of the validation line."""
    existing = Page.objects.filter(project=project, group=group).values_list("split", flat=True).first()
    return existing or split_for_group(project_id=project.pk, group=group, val_percent=project.val_percent,
                                       test_percent=project.test_percent)


def _lines_bulk_create(*, page: Page, user, lines: Sequence[LineData], verified: bool) -> list[Line]:
    now = timezone.now()
    created = Line.objects.bulk_create([
        Line(page=page, project_id=page.project_id, x0=line.bbox[0], y0=line.bbox[1], x1=line.bbox[2],
             y1=line.bbox[3], polygon=line.polygon, baseline=line.baseline, order=index, text=line.text,
             source=LineSource.HUMAN, verified_by=user if verified else None, verified_at=now if verified else None)
        for index, line in enumerate(lines)
    ])
    LineRevision.objects.bulk_create([_creation(line, user=user) for line in created])
    page_status_refresh(page=page)
    return created


def pages_delete(*, pages: Iterable[Page]) -> None:
    """Delete pages with their lines; their image files go once the deletion is committed."""
    pages = list(pages)
    names = [page.image.name for page in pages if page.image.name]
    names += [page_thumbnail_path(page) for page in pages]  # made by the page grid, if ever shown
    with transaction.atomic():
        Page.objects.filter(pk__in=[page.pk for page in pages]).delete()
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


class LabelStudioOff(Exception):
    """This server has no Label Studio (LABEL_STUDIO_URL is unset), so there is nowhere to send pages."""


def pages_label_studio_send(*, project: Project, pages: Sequence[Page]) -> None:
    """Ask the Label Studio adapter to create or repair the tasks of `pages` (pages of `project`), once the
    caller's transaction commits. webapp never imports labeling: it asks by task name, and the adapter's
    worker does the work (labeling.services.tasks.pages_send), retrying while Label Studio is down."""
    if not settings.LABEL_STUDIO_URL:
        raise LabelStudioOff("This server has no Label Studio (LABEL_STUDIO_URL is unset): there is nowhere to "
                             "send pages.")
    enqueue_on_commit(task_names.LABELING_SEND_PAGES, project.pk, [page.pk for page in pages])


def page_status_refresh(*, page: Page) -> None:
    counts = page.lines.aggregate(total=Count("id"), verified=Count("id", filter=Q(verified_at__isnull=False)))
    if counts["total"] == 0:
        status = PageStatus.NEW
    elif counts["verified"] == counts["total"]:
        status = PageStatus.DONE
    elif counts["verified"] > 0:
        status = PageStatus.IN_PROGRESS
    else:
        status = PageStatus.PREDICTED
    if page.status != status:
        page.status = status
        page.save(update_fields=["status"])


# Lines --------------------------------------------------------------------------------------------


def line_create(*, page: Page, user: AbstractBaseUser, data: LineData, order: int | None = None) -> Line:
    data = clean_line(data, page=page)
    with transaction.atomic():
        if order is None:
            order = (page.lines.order_by("-order").values_list("order", flat=True).first() or 0) + 1
        now = timezone.now()
        line = Line.objects.create(page=page, project_id=page.project_id, x0=data.bbox[0], y0=data.bbox[1],
                                   x1=data.bbox[2], y1=data.bbox[3], polygon=data.polygon, baseline=data.baseline,
                                   order=order, text=data.text, source=LineSource.HUMAN, verified_by=user,
                                   verified_at=now)
        _revision(line=line, user=user, action=RevisionAction.CREATE, old=None)
        page_status_refresh(page=page)
    return line


def line_update(*, line_id: int, page: Page, user: AbstractBaseUser, expected_version: int,
                text: str | None = None, bbox=None, polygon=None, baseline=None,
                set_polygon: bool = False, set_baseline: bool = False, require_text: bool = False) -> Line:
    """Apply a person's edit if the line is still at `expected_version`; raise LineConflict otherwise.

    Saving a line unchanged still verifies it: a person read it and agreed. With `require_text` a
    person may not vouch for empty text (check_text_to_verify).
    """
    with transaction.atomic():
        line = Line.objects.select_for_update().get(pk=line_id, page=page)
        if line.version != expected_version:
            raise LineConflict(line)
        proposed = LineData(bbox=bbox if bbox is not None else line.bbox,
                            text=text if text is not None else line.text,
                            polygon=polygon if set_polygon else line.polygon,
                            baseline=baseline if set_baseline else line.baseline)
        cleaned = clean_line(proposed, page=page)
        if require_text:
            check_text_to_verify(line, cleaned.text)
        changed = _apply(line, cleaned)
        _human_write(line, user=user, action=RevisionAction.UPDATE if changed else RevisionAction.VERIFY, old=changed)
        page_status_refresh(page=page)
    return line


def line_delete(*, line_id: int, page: Page, user: AbstractBaseUser, expected_version: int) -> None:
    with transaction.atomic():
        line = Line.objects.select_for_update().get(pk=line_id, page=page)
        if line.version != expected_version:
            raise LineConflict(line)
        _delete_keeping_history(line, user=user)
        page_status_refresh(page=page)


# What a person's write of a line changes (see _human_edit and _apply).
_HUMAN_WRITE_FIELDS = ["x0", "y0", "x1", "y1", "polygon", "baseline", "text", "source", "version", "verified_by",
                       "verified_at", "updated_at"]


def page_lines_write(*, page: Page, user, create: Sequence[LineData] = (),
                     update: Sequence[tuple[Line, LineData]] = (), delete: Sequence[Line] = ()) -> list[LineRevision]:
    """One person's changes to many lines of a page at once (how a Label Studio annotation reaches the
    page): as many queries for thirty new or deleted lines as for one, and one more per line in `update`.
    Line by line the rules are line_create's, line_update's and line_delete's: every line created,
    changed or deleted gets a new version and a revision naming `user`; a line in `update` given the data
    it already holds is verified by `user` (a VERIFY revision); created and changed lines are theirs
    (source human) and verified by them. New lines follow the page's last line, in the order given, each
    with its `ls_region_id`. Returns the revisions written (a created line is its CREATE revision's).

    Precondition: the caller holds, in its transaction, the page's row lock and the row locks of the lines
    in `update` and `delete` (select_for_update), and checked them: nothing here reads them again. No
    savepoint of its own: a failure fails the caller's transaction. Like page_model_lines_replace it sends
    no post_save signal for the lines; the deletion sends post_delete, as any delete does.
    """
    create = [clean_line(data, page=page, where=f"new line {index + 1}") for index, data in enumerate(create)]
    update = [(line, clean_line(data, page=page, where=f"line {line.pk}")) for line, data in update]
    # The page's status counts its lines and its verified lines: only these writes can change either.
    counts_change = bool(create or delete) or any(not line.is_verified for line, _ in update)
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        created = []
        if create:
            last = page.lines.order_by("-order").values_list("order", flat=True).first() or 0
            created = Line.objects.bulk_create([
                Line(page=page, project_id=page.project_id, x0=data.bbox[0], y0=data.bbox[1], x1=data.bbox[2],
                     y1=data.bbox[3], polygon=data.polygon, baseline=data.baseline, order=last + 1 + index,
                     text=data.text, source=LineSource.HUMAN, verified_by=user, verified_at=now,
                     ls_region_id=data.ls_region_id)
                for index, data in enumerate(create)])
        revisions = [_creation(line, user=user) for line in created]
        for line, data in update:
            old = _apply(line, data)
            action = RevisionAction.UPDATE if old else RevisionAction.VERIFY
            revisions.append(_human_edit(line, user=user, action=action, old=old, now=now))
            line.updated_at = now
            # One statement per line: Django's bulk_update builds a CASE per field and line, which costs ten
            # times the CPU of these for the line or two an annotation usually changes.
            Line.objects.filter(pk=line.pk).update(**{name: getattr(line, name) for name in _HUMAN_WRITE_FIELDS})
        revisions += [_deletion(line, user=user) for line in delete]
        LineRevision.objects.bulk_create(revisions)
        if delete:
            # Their revisions stay, detached (LineRevision.line is SET_NULL), as _delete_keeping_history leaves them.
            Line.objects.filter(pk__in=[line.pk for line in delete]).delete()
        if counts_change:
            page_status_refresh(page=page)
    return revisions


def check_text_to_verify(line: Line, text: str) -> None:
    """Refuse a person's write that would vouch for `line` with empty `text`: one that verifies a line
    not verified yet (a model's suggestion), or empties a line's text. A box a person drew and left
    empty stays as it is and can still be moved.

    A verified box trains the detector as a text line whatever its text, so accepting a model's empty
    suggestion on a stamp, a border or a signature would teach it to find more of them.
    """
    if not text.strip() and (not line.is_verified or line.text.strip()):
        raise ValidationError(
            f"A line cannot be verified with empty text. If this box holds no text (a stamp, a border, a "
            f"signature), mark it as not a text line instead: “Not a text line” in the review queue, or "
            f"POST /api/projects/{line.project_id}/lines/{line.pk}/not-a-line/ (delete it if a person drew it).",
            code="empty_text")


def model_line_discard(*, line_id: int, page: Page, user: AbstractBaseUser, expected_version: int) -> Line:
    """Delete a model's line together with its whole history, as if the model had never drawn it: a
    person said its box holds no text. Returns the line as it was (no longer stored).

    Only an unverified model line whose history holds no other person's work qualifies; any other
    line carries what people typed, which is never lost: delete it instead (line_delete keeps its
    history). The caller records what the model got wrong (predictions.services.line_not_text).
    """
    with transaction.atomic():
        line = Line.objects.select_for_update().get(pk=line_id, page=page)
        if line.version != expected_version:
            raise LineConflict(line)
        history = LineRevision.objects.filter(line_ref=line.pk)
        if line.source != LineSource.MODEL or line.is_verified:
            raise ValidationError("Only a model's unverified line can be marked as not a text line; this one was "
                                  "made or verified by a person. Delete it instead, which keeps its history.",
                                  code="not_a_model_line")
        others = history.exclude(user__isnull=True).exclude(user=user).select_related("user").first()
        if others is not None:
            raise ValidationError(f"{others.user.username} worked on this line (its history holds their edit), so "
                                  "its history stays: delete it instead, which keeps its history.",
                                  code="not_a_model_line")
        line_ref = line.pk
        history.delete()
        line.delete()
        line.pk = line_ref
        page_status_refresh(page=page)
    return line


def page_lines_replace(*, page: Page, user: AbstractBaseUser, lines: Sequence[LineData],
                       require_text: bool = False) -> list[Line]:
    """Make the page's lines exactly `lines`, in that order, in one transaction.

    Lines with an id are updated in place (their id and history survive) and must carry the version
    they were read at; lines without one are created; the page's other lines are deleted. With
    `require_text`, updating a line in place is held to check_text_to_verify, as line_update is.
    """
    cleaned = [clean_line(line, page=page, where=f"line {index + 1}") for index, line in enumerate(lines)]
    with transaction.atomic():
        current = {line.pk: line for line in Line.objects.select_for_update().filter(page=page)}
        unknown = [line.id for line in cleaned if line.id is not None and line.id not in current]
        if unknown:
            raise ValidationError({"id": f"Lines {unknown} are not lines of this page."})
        ids = [line.id for line in cleaned if line.id is not None]
        if len(ids) != len(set(ids)):
            raise ValidationError({"id": "A line id appears twice."})
        stale = [line.id for line in cleaned if line.id is not None and line.version != current[line.id].version]
        if stale:
            raise PageLinesConflict(list(current.values()), stale)
        for existing_id in set(current) - set(ids):
            _delete_keeping_history(current[existing_id], user=user)
        result = []
        for order, data in enumerate(cleaned):
            if data.id is None:
                line = Line.objects.create(page=page, project_id=page.project_id, x0=data.bbox[0], y0=data.bbox[1],
                                           x1=data.bbox[2],
                                           y1=data.bbox[3], polygon=data.polygon, baseline=data.baseline,
                                           order=order, text=data.text, source=LineSource.HUMAN,
                                           verified_by=user, verified_at=timezone.now())
                _revision(line=line, user=user, action=RevisionAction.CREATE, old=None)
            else:
                line = current[data.id]
                if require_text:
                    check_text_to_verify(line, data.text)
                changed = _apply(line, data, order=order)
                _human_write(line, user=user, action=RevisionAction.UPDATE if changed else RevisionAction.VERIFY,
                             old=changed)
            result.append(line)
        page_status_refresh(page=page)
    return result


def page_lines_reorder(*, page: Page, user: AbstractBaseUser, lines: Sequence[tuple[int, int]]) -> list[Line]:
    """Put the page's lines in the reading order `lines` gives, as (id, version read at) pairs that name
    every line of the page exactly once; raise PageLinesConflict if any was changed since it was read.

    Reading order is the page's, not one line's text or box, so it verifies no line: a model's line
    moved up stays a suggestion. Only lines whose place changes get a new version and a revision.
    """
    with transaction.atomic():
        current = {line.pk: line for line in Line.objects.select_for_update().filter(page=page)}
        ids = [line_id for line_id, _ in lines]
        if len(ids) != len(set(ids)):
            raise ValidationError({"lines": "A line id appears twice."})
        unknown, missing = sorted(set(ids) - set(current)), sorted(set(current) - set(ids))
        if unknown or missing:
            raise ValidationError({"lines": "The new order must name every line of the page exactly once"
                                            + (f"; {unknown} are not lines of this page" if unknown else "")
                                            + (f"; {missing} are missing" if missing else "") + "."})
        stale = [line_id for line_id, version in lines if current[line_id].version != version]
        if stale:
            raise PageLinesConflict(sorted(current.values(), key=lambda line: (line.order, line.pk)), stale)
        _lines_put_in_order(page=page, user=user, lines=[current[line_id] for line_id in ids])
    return [current[line_id] for line_id in ids]


def line_merge(*, page: Page, user: AbstractBaseUser, line_id: int, expected_version: int, other_id: int,
               other_expected_version: int) -> Line:
    """Merge two lines of a page into the one that comes first in reading order: its box becomes both
    boxes, its text both texts (first, a space, second), its baseline both baselines; the polygon goes
    (a union of two polygons is not one outline), kept in the history. The other line is deleted with
    its history kept. LineConflict names the line that changed since it was read."""
    if line_id == other_id:
        raise ValidationError({"with": "A line cannot be merged with itself."})
    with transaction.atomic():
        locked = {line.pk: line for line in Line.objects.select_for_update().filter(page=page,
                                                                                     pk__in=[line_id, other_id])}
        if other_id not in locked:
            raise ValidationError({"with": f"Line {other_id} is not a line of this page."})
        for checked_id, version in ((line_id, expected_version), (other_id, other_expected_version)):
            if locked[checked_id].version != version:
                raise LineConflict(locked[checked_id])
        first, second = sorted(locked.values(), key=lambda line: (line.order, line.pk))
        text = " ".join(part for part in (first.text.strip(), second.text.strip()) if part)
        baseline = sorted((first.baseline or []) + (second.baseline or [])) or None
        bbox = (min(first.x0, second.x0), min(first.y0, second.y0), max(first.x1, second.x1),
                max(first.y1, second.y1))
        cleaned = clean_line(LineData(bbox=bbox, text=text, polygon=None, baseline=baseline), page=page)
        check_text_to_verify(first, cleaned.text)
        _delete_keeping_history(second, user=user)
        _human_write(first, user=user, action=RevisionAction.UPDATE, old=_apply(first, cleaned))
        page_status_refresh(page=page)
    return first


def line_split(*, page: Page, user: AbstractBaseUser, line_id: int, expected_version: int, x: int,
               text_before: str, text_after: str) -> list[Line]:
    """Split a line at page column `x` into itself (left part, `text_before`) and a new line right
    after it in reading order (right part, `text_after`); the baseline is cut at `x`, the polygon
    goes (kept in the history). Both parts need text: a person vouches for both. Returns the page's
    lines in their new order."""
    with transaction.atomic():
        line = Line.objects.select_for_update().get(pk=line_id, page=page)
        if line.version != expected_version:
            raise LineConflict(line)
        if not line.x0 < x < line.x1:
            raise ValidationError({"x": f"x={x} is not inside the line's box [{line.x0}, {line.x1}]: split "
                                        "where both parts keep some of the box."})
        if not text_before.strip() or not text_after.strip():
            raise ValidationError({"text": "Both parts of a split line need text: split between words."})
        baseline = line.baseline or []
        left_baseline = [point for point in baseline if point[0] <= x] or None
        right_baseline = [point for point in baseline if point[0] >= x] or None
        left = clean_line(LineData(bbox=(line.x0, line.y0, x, line.y1), text=text_before, baseline=left_baseline),
                          page=page, where="left part")
        right = clean_line(LineData(bbox=(x, line.y0, line.x1, line.y1), text=text_after, baseline=right_baseline),
                           page=page, where="right part")
        _human_write(line, user=user, action=RevisionAction.UPDATE, old=_apply(line, left))
        ordered = [line if other.pk == line.pk else other
                   for other in Line.objects.select_for_update().filter(page=page).order_by("order", "id")]
        position = next(index for index, other in enumerate(ordered) if other.pk == line.pk) + 1
        created = Line.objects.create(page=page, project_id=page.project_id, x0=right.bbox[0], y0=right.bbox[1],
                                      x1=right.bbox[2], y1=right.bbox[3], baseline=right.baseline,
                                      order=position, text=right.text, source=LineSource.HUMAN,
                                      verified_by=user, verified_at=timezone.now())
        _revision(line=created, user=user, action=RevisionAction.CREATE, old=None)
        ordered.insert(position, created)
        _lines_put_in_order(page=page, user=user, lines=ordered)
        page_status_refresh(page=page)
    return ordered


def _lines_put_in_order(*, page: Page, user, lines: Sequence[Line]) -> None:
    """Number `lines` 0, 1, 2, ...; each line whose number changes gets a new version and a revision of
    the move. A move changes no text or box, so it leaves `verified_by` and `source` as they are."""
    for order, line in enumerate(lines):
        if line.order == order:
            continue
        old = {"text": line.text, "geometry": line.geometry()}
        line.order = order
        line.version += 1
        line.save(update_fields=["order", "version", "updated_at"])
        _revision(line=line, user=user, action=RevisionAction.UPDATE, old=old)


def line_revert(*, line: Line, page: Page, user: AbstractBaseUser, text: str) -> Line:
    """Make `line` a model suggestion again, reading `text`, back in the review queue (unverified,
    model-made); a REVERT revision keeps the text it replaces.

    Precondition: the caller holds the line's row lock (select_for_update) in its transaction and
    has checked the version the person saw, so nothing changed the line in between.
    """
    with transaction.atomic():
        replaced_text = line.text
        line.text = text
        line.version += 1
        line.source = LineSource.MODEL
        line.verified_by = None
        line.verified_at = None
        line.save()
        LineRevision.objects.create(
            page=page, line=line, line_ref=line.pk, action=RevisionAction.REVERT, user=user,
            old_text=replaced_text, new_text=line.text, old_geometry=line.geometry(),
            new_geometry=line.geometry(), version=line.version)
        page_status_refresh(page=page)
    return line


def line_losing_edit_record(*, line: Line, user, text: str, geometry: dict) -> LineRevision:
    """Record in the line's history an edit that lost to what the line holds now (an annotation older
    than inkloop's own edit), so whoever reads the history sees that text was not lost.

    The line itself does not change, so its version stays: the REVERT revision goes from the losing
    text and geometry to the line as it is.
    """
    return LineRevision.objects.create(page_id=line.page_id, line=line, line_ref=line.pk,
                                       action=RevisionAction.REVERT, user=user, old_text=text, old_geometry=geometry,
                                       new_text=line.text, new_geometry=line.geometry(), version=line.version)


def page_model_lines_replace(*, page: Page, lines: Sequence[ModelLine], model_label: str) -> list[Line] | None:
    """Make the page's lines the model's `lines`, in that order, unless a person verified one of the
    page's lines: then nothing changes and the answer is None.

    Every line the page held is deleted with its history kept, each deletion and creation naming
    `model_label`. Precondition: the caller holds the page's row lock (select_for_update) in its
    transaction, so no person's line can arrive between the check and the replacement.
    """
    with transaction.atomic():
        if page.lines.filter(verified_at__isnull=False).exists():
            return None  # a person started on it: their lines win
        old = list(page.lines.all())
        if old:
            LineRevision.objects.bulk_create([_deletion(line, user=None, model_version=model_label) for line in old])
            LineRevision.objects.filter(line__in=old).update(line=None)
            page.lines.all().delete()
        created = Line.objects.bulk_create([
            Line(page=page, project_id=page.project_id, x0=line.bbox[0], y0=line.bbox[1], x1=line.bbox[2],
                 y1=line.bbox[3], polygon=[list(point) for point in line.polygon] if line.polygon else None,
                 order=order, text=line.text, source=LineSource.MODEL, confidence=line.confidence,
                 char_confidences=line.char_confidences, model_version=model_label)
            for order, line in enumerate(lines)])
        LineRevision.objects.bulk_create([_creation(line, user=None, model_version=model_label) for line in created])
        page_status_refresh(page=page)
    return created


class ModelReading(Protocol):
    text: str
    confidence: float
    char_confidences: list[float]


def model_lines_reread(*, readings: Sequence[tuple[Line, ModelReading]], model_label: str) -> int:
    """Give unverified model lines a newer model's reading of their unchanged boxes; returns the lines
    written. A line a person touched since it was read (verified, edited: its version moved) keeps
    what it holds: people's work always wins over a model's."""
    written = 0
    with transaction.atomic():
        current = Line.objects.select_for_update().in_bulk([line.pk for line, _ in readings])
        for read_as, reading in readings:
            line = current.get(read_as.pk)
            if (line is None or line.version != read_as.version or line.verified_at is not None
                    or line.source != LineSource.MODEL):
                continue
            old = {"text": line.text, "geometry": line.geometry()}
            line.text, line.confidence = reading.text, reading.confidence
            line.char_confidences, line.model_version = reading.char_confidences, model_label
            line.version += 1
            line.save()
            _revision(line=line, user=None, action=RevisionAction.UPDATE, old=old, model_version=model_label)
            written += 1
    return written


def _delete_keeping_history(line: Line, *, user) -> None:
    """Delete a line; its revisions stay (detached), plus one saying who deleted it and what it held."""
    _deletion(line, user=user).save()
    LineRevision.objects.filter(line=line).update(line=None)
    line.delete()


def _deletion(line: Line, *, user, model_version: str = "") -> LineRevision:
    return LineRevision(page_id=line.page_id, line=None, line_ref=line.pk, action=RevisionAction.DELETE, user=user,
                        model_version=model_version, old_text=line.text, old_geometry=line.geometry(),
                        version=line.version + 1)


def _creation(line: Line, *, user, model_version: str = "") -> LineRevision:
    return LineRevision(page_id=line.page_id, line=line, line_ref=line.pk, action=RevisionAction.CREATE, user=user,
                        model_version=model_version, new_text=line.text, new_geometry=line.geometry(),
                        version=line.version)


def _apply(line: Line, data: LineData, *, order: int | None = None) -> dict | None:
    """Copy `data` onto `line`; return the old text and geometry if anything changed."""
    old = {"text": line.text, "geometry": line.geometry()}
    line.x0, line.y0, line.x1, line.y1 = data.bbox
    line.text, line.polygon, line.baseline = data.text, data.polygon, data.baseline
    if order is not None:
        line.order = order
    if old["text"] == line.text and old["geometry"] == line.geometry():
        return None
    return old


def _human_write(line: Line, *, user, action: str, old: dict | None) -> None:
    revision = _human_edit(line, user=user, action=action, old=old, now=timezone.now())
    line.save()
    revision.save()


def _human_edit(line: Line, *, user, action: str, old: dict | None, now) -> LineRevision:
    """A person's write of `line` (whose data `_apply` already changed, `old` being what it held, or None
    when nothing changed and the person only agreed): a new version, verified by them, and made theirs if
    they changed it. Returns its revision, unsaved; the caller saves both."""
    line.version += 1
    line.source = LineSource.HUMAN if old is not None else line.source
    line.verified_by = user
    line.verified_at = now
    return _revision_row(line=line, user=user, action=action,
                         old=old or {"text": line.text, "geometry": line.geometry()})


def _revision(*, line: Line, user, action: str, old: dict | None, model_version: str = "") -> LineRevision:
    revision = _revision_row(line=line, user=user, action=action, old=old, model_version=model_version)
    revision.save()
    return revision


def _revision_row(*, line: Line, user, action: str, old: dict | None, model_version: str = "") -> LineRevision:
    return LineRevision(
        page_id=line.page_id, line=line, line_ref=line.pk, action=action, user=user, model_version=model_version,
        old_text=old["text"] if old else None, old_geometry=old["geometry"] if old else None,
        new_text=line.text, new_geometry=line.geometry(), version=line.version)
