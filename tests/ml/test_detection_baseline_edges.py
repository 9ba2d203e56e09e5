"""The scripted baseline keeps the ink of lines that run close to the page's edges."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ml.detection import ScriptedBaseline
from ml.detection.baseline import smear

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
PAGE = (1600, 1200)
# Boxes are found at half the page's resolution (800 px long side): allow a working pixel or two.
SLACK = 3


def _page_with_lines(lines: list[tuple[int | None, str]], right_margin: int = 8):
    """A white page with one text line per entry (left x, or None to end `right_margin` px from the right edge).

    Returns the page and each line's ink extent (x0, y0, x1, y1), x1 and y1 exclusive.
    """
    font = ImageFont.truetype(str(FONT), 36)
    page = Image.new("L", PAGE, 255)
    extents = []
    for row, (x, text) in enumerate(lines):
        y = 100 + 90 * row
        if x is None:
            x = PAGE[0] - right_margin - font.getbbox(text)[2]
        alone = Image.new("L", PAGE, 255)
        ImageDraw.Draw(alone).text((x, y), text, font=font, fill=0)
        ImageDraw.Draw(page).text((x, y), text, font=font, fill=0)
        ink = np.asarray(alone) < 128
        cols, rows = np.nonzero(ink.any(axis=0))[0], np.nonzero(ink.any(axis=1))[0]
        extents.append((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    return page.convert("RGB"), extents


def _box_for(extent, boxes):
    """The detected box sharing most rows with a line's ink."""
    overlap = [min(b[3], extent[3]) - max(b[1], extent[1]) for b in boxes]
    best = int(np.argmax(overlap))
    assert overlap[best] > 0, f"no box found for the line with ink {extent}"
    return boxes[best]


LINES = [
    (5, "Mettre en ordre ses affaires du jour"),
    (10, "Hello world from the left margin"),
    (20, "Testament of the late merchant here"),
    (None, "this line ends by the right edge"),
    (300, "a line well inside the page body"),
]


def test_lines_near_the_left_and_right_edges_keep_their_ends():
    page, extents = _page_with_lines(LINES)
    boxes = [line.bbox for line in ScriptedBaseline().detect(page)]
    assert len(boxes) == len(LINES)
    for extent in extents:
        box = _box_for(extent, boxes)
        assert box[0] <= extent[0] + SLACK, f"box {box} cuts the start of the ink {extent}"
        assert box[2] >= extent[2] - SLACK, f"box {box} cuts the end of the ink {extent}"


@pytest.mark.parametrize("right_margin", [3, 12, 30])
def test_line_ending_near_the_right_edge_keeps_its_last_letters(right_margin):
    page, extents = _page_with_lines([(200, "the closing words of the line"), (None, "ends right by the edge")],
                                     right_margin=right_margin)
    boxes = [line.bbox for line in ScriptedBaseline().detect(page)]
    box = _box_for(extents[1], boxes)
    assert box[0] <= extents[1][0] + SLACK and box[2] >= extents[1][2] - SLACK


def test_smear_never_removes_ink_at_the_array_edges():
    ink = np.zeros((5, 40), dtype=bool)
    ink[1, [0, 1, 2, 6, 8]] = True          # letters touching the left edge
    ink[3, [30, 33, 37, 38, 39]] = True     # and the right edge
    blobs = smear(ink, 9)
    assert blobs.shape == ink.shape
    assert not (ink & ~blobs).any()         # a closing only adds pixels
    assert blobs[1, 0:9].all() and blobs[3, 30:40].all()
    assert not blobs[[0, 2, 4]].any()       # and only along the row
