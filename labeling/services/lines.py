"""Line writes made on behalf of Label Studio: the corpus services, plus the region id that ties them.

They go through webapp.corpus.services so every change still bumps the version, writes a
LineRevision and marks the line verified by the annotator. `from_label_studio()` tells
this adapter's own signal receivers not to echo these writes back to Label Studio.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator, Sequence

from labeling.convert import Region
from webapp.corpus import services as corpus
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, Page

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


def lines_from_regions(*, page: Page, user, create: Sequence[Region] = (), update: Sequence[tuple[Line, Region]] = (),
                       delete: Sequence[Line] = ()) -> list[LineRevision]:
    """One annotation's changes to the page, all at once: new lines for the regions in `create`, the lines
    in `update` made what their regions say (an unchanged one is verified), the lines in `delete` deleted.
    The caller holds the page's and these lines' row locks (corpus.page_lines_write). Returns the revisions."""
    if not (create or update or delete):
        return []
    with from_label_studio():
        return corpus.page_lines_write(
            page=page, user=user,
            create=[LineData(bbox=region.bbox, text=region.text, polygon=region.polygon, ls_region_id=region.region_id)
                    for region in create],
            # A region has no baseline: the line keeps its own.
            update=[(line, LineData(bbox=region.bbox, text=region.text, polygon=region.polygon, baseline=line.baseline))
                    for line, region in update],
            delete=delete)


def region_ids_assign(*, lines: list[Line]) -> None:
    """Lines made in inkloop get a region id the first time they go to Label Studio."""
    for line in lines:
        if not line.ls_region_id:
            line.ls_region_id = f"inkloop-{line.pk}"
            Line.objects.filter(pk=line.pk, ls_region_id__isnull=True).update(ls_region_id=line.ls_region_id)
