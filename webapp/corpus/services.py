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
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Iterable, Protocol, Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from webapp.corpus.lines import LineData, clean_line
from webapp.corpus.models import (Line, LineRevision, LineSource, Page, PageStatus, RevisionAction,
                                  split_for_group)
from webapp.ingest import IngestLimits, PageImage, ingest_upload
from webapp.projects.models import Project

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


@dataclass
class StoredPage:
    page: Page
    created: bool


@dataclass
class PageToStore:
    image: PageImage
    group: str | None = None
    lines: list[LineData] = field(default_factory=list)


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


def derive_group(*, name: str, pattern: str) -> str:
    """The document a page belongs to: the container of a PDF/TIFF page, else the file name rule."""
    if "#p" in name:  # "book.pdf#p3": every page of one file is one document
        return PurePosixPath(name.split("#p")[0]).name
    stem = PurePosixPath(name).stem
    if pattern:
        match = re.match(pattern, stem)
        if match:
            return match.groupdict().get("group") or (match.group(1) if match.groups() else match.group(0))
    return stem


def pages_upload(*, project: Project, user: AbstractBaseUser, files: Sequence[tuple[str, bytes]],
                 group: str | None = None) -> list[StoredPage]:
    """Store every page of every uploaded file, or none (UploadRejected says why)."""
    limits = ingest_limits()
    images = [image for name, data in files for image in ingest_upload(data, name, limits=limits)]
    return pages_store(project=project, user=user, pages=[PageToStore(image=image, group=group) for image in images])


def pages_store(*, project: Project, user: AbstractBaseUser | None, pages: Sequence[PageToStore],
                lines_verified: bool = True) -> list[StoredPage]:
    """Create pages (and their lines); an image already in the project returns the existing page."""
    written_files: list[str] = []
    try:
        with transaction.atomic():
            stored = [_page_store_one(project=project, user=user, item=item, written_files=written_files,
                                      lines_verified=lines_verified) for item in pages]
            if any(item.created and item.page.status == PageStatus.NEW for item in stored):
                # Pages without lines get the promoted models' lines (the base models' from the first page on).
                from webapp.predictions.services import preannotation_request_if_ready

                preannotation_request_if_ready(project=project)
    except BaseException:
        for name in written_files:
            default_storage.delete(name)
        raise
    return stored


def _page_store_one(*, project: Project, user, item: PageToStore, written_files: list[str],
                    lines_verified: bool) -> StoredPage:
    image = item.image
    existing = Page.objects.filter(project=project, sha256=image.sha256).first()
    if existing is not None:
        return StoredPage(page=existing, created=False)
    group = ((item.group or "").strip() or derive_group(name=image.name, pattern=project.group_pattern))[:255]
    page = Page(project=project, original_name=image.name[:500], extension=image.extension, sha256=image.sha256,
                width=image.width, height=image.height, group=group, uploaded_by=user,
                split=group_split(project=project, group=group))
    page.image.save(image.name, ContentFile(image.data), save=False)
    written_files.append(page.image.name)
    try:
        with transaction.atomic():  # a savepoint: a concurrent upload of the same image wins cleanly
            page.save()
    except IntegrityError:
        return StoredPage(page=Page.objects.get(project=project, sha256=image.sha256), created=False)
    if item.lines:
        cleaned = [clean_line(line, page=page, where=f"{image.name} line {index + 1}")
                   for index, line in enumerate(item.lines)]
        _lines_bulk_create(page=page, user=user, lines=cleaned, verified=lines_verified)
    return StoredPage(page=page, created=True)


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
    with transaction.atomic():
        Page.objects.filter(pk__in=[page.pk for page in pages]).delete()
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


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
    line.version += 1
    line.source = LineSource.HUMAN if old is not None else line.source
    line.verified_by = user
    line.verified_at = timezone.now()
    line.save()
    _revision(line=line, user=user, action=action,
              old=old or {"text": line.text, "geometry": line.geometry()})


def _revision(*, line: Line, user, action: str, old: dict | None, model_version: str = "") -> LineRevision:
    return LineRevision.objects.create(
        page_id=line.page_id, line=line, line_ref=line.pk, action=action, user=user, model_version=model_version,
        old_text=old["text"] if old else None, old_geometry=old["geometry"] if old else None,
        new_text=line.text, new_geometry=line.geometry(), version=line.version)
