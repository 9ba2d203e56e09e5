"""Training targets: the shrunk body of every line, rasterised at the network's input scale."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ml.detection.geometry import LineGeometry


def line_body_mask(lines: Sequence[LineGeometry], shape: tuple[int, int], scale: float, shrink: float) -> np.ndarray:
    """`(H, W)` float32 mask of line bodies; `scale` is page pixels per mask pixel.

    Each line is shrunk column by column to the central `shrink` fraction of its
    height, so slanted lines keep their slant and neighbours whose boxes overlap
    stay apart. Lines without a polygon use their box.
    """
    height, width = shape
    mask = np.zeros(shape, dtype=np.float32)
    for line in lines:
        x0, y0 = (max(int(np.floor(v / scale)), 0) for v in line.bbox[:2])
        x1 = min(int(np.ceil(line.bbox[2] / scale)), width)
        y1 = min(int(np.ceil(line.bbox[3] / scale)), height)
        if x1 <= x0 or y1 <= y0:
            continue
        region = _line_region(line, (x0, y0, x1, y1), scale)
        mask[y0:y1, x0:x1] = np.maximum(mask[y0:y1, x0:x1], shrink_columns(region, shrink))
    return mask


def _line_region(line: LineGeometry, window: tuple[int, int, int, int], scale: float) -> np.ndarray:
    x0, y0, x1, y1 = window
    if line.polygon is None:
        return np.ones((y1 - y0, x1 - x0), dtype=bool)
    canvas = Image.new("1", (x1 - x0, y1 - y0), 0)
    points = [(x / scale - x0, y / scale - y0) for x, y in line.polygon]
    ImageDraw.Draw(canvas).polygon(points, fill=1)
    return np.asarray(canvas, dtype=bool)


def shrink_columns(region: np.ndarray, shrink: float) -> np.ndarray:
    """Keep, in every column, the central `shrink` of the span from its first to its last set row (at least 1 px)."""
    rows = np.arange(region.shape[0])[:, None]
    filled = region.any(axis=0)
    top = np.where(filled, region.argmax(axis=0), 0)
    bottom = np.where(filled, region.shape[0] - 1 - region[::-1].argmax(axis=0), -1)
    margin = (bottom - top + 1) * (1.0 - shrink) / 2.0
    centre = (top + bottom) / 2.0
    low = np.minimum(top + margin, centre)
    high = np.maximum(bottom - margin, centre)
    band = (rows >= np.floor(low)) & (rows <= np.ceil(high)) & filled
    return band.astype(np.float32)


def known_region_mask(lines: Sequence[LineGeometry], not_lines: Sequence[LineGeometry],
                      unchecked: Sequence[LineGeometry], shape: tuple[int, int], scale: float,
                      margin: float = 0.5) -> np.ndarray:
    """`(H, W)` float32 weight of a partly checked page: 1 where its truth is known, 0 elsewhere.

    Known: each verified line's box grown by `margin` × its height on every side (a person who
    checked a line saw what lies right around it), and each box marked as not a line. Boxes of
    unchecked lines are unknown even inside those margins, except where a verified line itself is.
    """
    weight = np.zeros(shape, dtype=np.float32)

    def paint(bbox: tuple[int, int, int, int], value: float, grow: float = 0.0) -> None:
        pad = grow * (bbox[3] - bbox[1])
        x0 = max(int(np.floor((bbox[0] - pad) / scale)), 0)
        y0 = max(int(np.floor((bbox[1] - pad) / scale)), 0)
        x1 = min(int(np.ceil((bbox[2] + pad) / scale)), shape[1])
        y1 = min(int(np.ceil((bbox[3] + pad) / scale)), shape[0])
        if x1 > x0 and y1 > y0:
            weight[y0:y1, x0:x1] = value

    for line in lines:
        paint(line.bbox, 1.0, margin)
    for box in not_lines:
        paint(box.bbox, 1.0)
    for box in unchecked:
        paint(box.bbox, 0.0)
    for line in lines:
        paint(line.bbox, 1.0)
    return weight
