"""Line crop images for the review queue, cut from the page image read through Django storage."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

from PIL import Image

from ml.data.lines import crop_line
from webapp.corpus.models import Line, Page
from webapp.corpus.selectors import page_image

# A reviewer walks a page's lines one after another: keeping a few decoded pages in memory makes
# every crop after the first a memory copy instead of a JPEG decode.
_PAGES_KEPT = 4
_pages: OrderedDict[str, Image.Image] = OrderedDict()
_pages_lock = threading.Lock()


def geometry_key(line: Line) -> str:
    """Changes whenever the crop would: part of the crop URL, so browsers may cache a crop forever."""
    source = f"{line.page.sha256}:{line.bbox}:{line.polygon}:{line.baseline}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _page_image(page: Page) -> Image.Image:
    with _pages_lock:
        if page.sha256 in _pages:
            _pages.move_to_end(page.sha256)
            return _pages[page.sha256]
    gray = page_image(page)
    with _pages_lock:
        _pages[page.sha256] = gray
        while len(_pages) > _PAGES_KEPT:
            _pages.popitem(last=False)
    return gray


def line_crop_png(line: Line) -> bytes:
    polygon = [tuple(point) for point in line.polygon] if line.polygon else None
    # Upright like the recognizer's input: a sideways line is read by the reviewer as by the model.
    crop = crop_line(_page_image(line.page), line.bbox, polygon, line.baseline)
    out = io.BytesIO()
    crop.save(out, format="PNG", compress_level=1)  # speed over size: crops are small and cached
    return out.getvalue()
