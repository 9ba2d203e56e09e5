"""Line writes made on behalf of Label Studio: the corpus services, plus the region id that ties them.

They go through webapp.corpus.services so every change still bumps the version, writes a
LineRevision and marks the line verified by the annotator. `from_label_studio()` tells
this adapter's own signal receivers not to echo these writes back to Label Studio.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator

from labeling.convert import Region
from webapp.corpus import services as corpus
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, Page

_applying = contextvars.ContextVar("applying_label_studio", default=False)


@contextmanager
def from_label_studio() -> Iterator[None]:
    token = _applying.set(True)
    try:
        yield
    finally:
        _applying.reset(token)


def applying_label_studio() -> bool:
    return _applying.get()


def line_from_region(*, page: Page, region: Region, user) -> Line:
    with from_label_studio():
        line = corpus.line_create(page=page, user=user,
                                  data=LineData(bbox=region.bbox, text=region.text, polygon=region.polygon))
    Line.objects.filter(pk=line.pk).update(ls_region_id=region.region_id)
    return line


def line_to_region(*, line: Line, region: Region, user) -> Line:
    with from_label_studio():
        return corpus.line_update(line_id=line.pk, page=line.page, user=user, expected_version=line.version,
                                  text=region.text, bbox=region.bbox, polygon=region.polygon, set_polygon=True)


def line_delete(*, line: Line, user) -> None:
    with from_label_studio():
        corpus.line_delete(line_id=line.pk, page=line.page, user=user, expected_version=line.version)


def region_ids_assign(*, lines: list[Line]) -> None:
    """Lines made in inkloop get a region id the first time they go to Label Studio."""
    for line in lines:
        if not line.ls_region_id:
            line.ls_region_id = f"inkloop-{line.pk}"
            Line.objects.filter(pk=line.pk, ls_region_id__isnull=True).update(ls_region_id=line.ls_region_id)
