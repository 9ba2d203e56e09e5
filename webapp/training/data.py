"""The training and validation data of a project, read from the database and the shared storage.

Only human-verified lines train or judge a model. Pages in the `test` split are kept out
of both, so a project always has untouched pages to report on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from django.db.models import Max, Q, QuerySet

from ml.data.lines import LineSample, crop_line
from ml.detection.data import PageSample, PartialPage, TrainingPage
from webapp.corpus.models import Line, LineRevision, Page, PageStatus, Split
from webapp.corpus.selectors import page_image
from webapp.projects.models import Project


def verified_lines(*, project: Project, split: str) -> QuerySet[Line]:
    return (Line.objects.filter(page__project=project, page__split=split, verified_at__isnull=False)
            .exclude(text="").select_related("page").order_by("page_id", "order", "id"))


def verified_line_count(*, project: Project, split: str | None = None) -> int:
    lines = Line.objects.filter(page__project=project, verified_at__isnull=False)
    return (lines.filter(page__split=split) if split else lines).count()


def revision_watermark(*, project: Project) -> int:
    """The newest line revision of the project: a model trained now has seen everything up to it."""
    return LineRevision.objects.filter(page__project=project).aggregate(newest=Max("id"))["newest"] or 0


def line_samples(lines: Iterable[Line]) -> list[LineSample]:
    """Crops of the lines (grayscale, polygon-masked when a polygon is known), one page image at a time."""
    by_page: dict[int, list[Line]] = defaultdict(list)
    pages: dict[int, Page] = {}
    for line in lines:
        by_page[line.page_id].append(line)
        pages[line.page_id] = line.page
    samples = []
    for page_id, page_lines in by_page.items():
        image = page_image(pages[page_id])
        for line in page_lines:
            polygon = [tuple(point) for point in line.polygon] if line.polygon else None
            samples.append(LineSample(image=crop_line(image, line.bbox, polygon, line.baseline), text=line.text,
                                      group=pages[page_id].group, id=str(line.pk)))
    return samples


def fully_verified_pages(*, project: Project, split: str) -> QuerySet[Page]:
    """Pages whose lines are all human-verified: the only pages a detector is judged on, since a
    half-verified page would count a true line nobody checked yet as a false detection."""
    return Page.objects.filter(project=project, split=split, status=PageStatus.DONE).order_by("id")


def partly_checked_pages(*, project: Project, split: str) -> QuerySet[Page]:
    """Pages not fully verified where people checked something: a verified line (drawn, moved or
    read) or a box marked as not a text line."""
    return (Page.objects.filter(project=project, split=split).exclude(status=PageStatus.DONE)
            .filter(Q(lines__verified_at__isnull=False) | Q(false_detections__isnull=False))
            .distinct().order_by("id"))


def detector_training_page_count(*, project: Project) -> int:
    """How many training pages a detector trained now would learn from (the retrain policy's count)."""
    return (fully_verified_pages(project=project, split=TRAIN_SPLIT).count()
            + partly_checked_pages(project=project, split=TRAIN_SPLIT).count())


def _geometry(line) -> dict:
    return {"bbox": line.bbox, "polygon": [tuple(point) for point in line.polygon] if line.polygon else None}


def page_samples(*, project: Project, split: str) -> list[PageSample]:
    """(page image, lines as {"bbox", "polygon"}) pairs of fully verified pages, as the detector is judged."""
    return [(page_image(page), [_geometry(line) for line in page.lines.all()])
            for page in fully_verified_pages(project=project, split=split).prefetch_related("lines")]


def detector_training_pages(*, project: Project, split: str) -> list[TrainingPage]:
    """What a detector trains on: fully verified pages whole, and partly checked pages as `PartialPage`s,
    which teach their verified lines, the boxes marked as not a line, and nothing where nobody looked."""
    samples: list[TrainingPage] = list(page_samples(project=project, split=split))
    for page in partly_checked_pages(project=project, split=split).prefetch_related("lines", "false_detections"):
        lines = list(page.lines.all())
        samples.append(PartialPage(
            image=page_image(page),
            lines=[_geometry(line) for line in lines if line.verified_at is not None],
            not_lines=[detection.bbox for detection in page.false_detections.all()],
            unchecked=[line.bbox for line in lines if line.verified_at is None]))
    return samples


TRAIN_SPLIT = Split.TRAIN
VAL_SPLIT = Split.VAL
