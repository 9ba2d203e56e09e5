"""Line geometry as the detector consumes it: a box and, when known, a polygon.

Training pages come from ALTO/PAGE files (`LineAnnotation` objects), from the web
app's database (dicts) or from tests (bare boxes); `as_line_geometry` accepts them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

BBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels; x1 and y1 exclusive
Point = tuple[int, int]


@dataclass(frozen=True)
class LineGeometry:
    bbox: BBox
    polygon: list[Point] | None = None


def as_line_geometry(line: Any) -> LineGeometry:
    """A bbox tuple, a `{"bbox", "polygon"}` dict or an object with `.bbox` (and `.polygon`)."""
    if isinstance(line, LineGeometry):
        return line
    if isinstance(line, dict):
        bbox, polygon = line.get("bbox"), line.get("polygon")
    elif hasattr(line, "bbox"):
        bbox, polygon = line.bbox, getattr(line, "polygon", None)
    else:
        bbox, polygon = line, None
    if bbox is None and polygon:
        bbox = polygon_bbox(polygon)
    if bbox is None or len(bbox) != 4:
        raise ValueError(f"a line needs a bbox (x0, y0, x1, y1) or a polygon, got {line!r}")
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    points = [(int(round(x)), int(round(y))) for x, y in polygon] if polygon and len(polygon) >= 3 else None
    return LineGeometry((x0, y0, x1, y1), points)


def polygon_bbox(polygon: Sequence[Sequence[float]]) -> BBox:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1


def box_iou_matrix(boxes_a: Sequence[BBox], boxes_b: Sequence[BBox]) -> np.ndarray:
    """`(len(a), len(b))` IoU of axis-aligned boxes with exclusive x1, y1."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    area_a = box_areas(a)[:, None]
    area_b = box_areas(b)[None, :]
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def box_areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def to_gray_array(image: Image.Image, long_side: int) -> tuple[np.ndarray, float]:
    """The page as float32 gray in [0, 1], resized to `long_side`; returns it and the page/array scale."""
    gray = image.convert("L")
    scale = max(gray.size) / long_side
    size = (max(1, round(gray.width / scale)), max(1, round(gray.height / scale)))
    resized = gray.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized, dtype=np.float32) / 255.0, scale


def sort_reading_order(boxes: Sequence[BBox]) -> list[int]:
    """Indices top to bottom; boxes that share most of their height form a row, read left to right."""
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][1] + boxes[i][3]) / 2)
    rows: list[list[int]] = []
    for index in order:
        if rows and _same_row(boxes[rows[-1][-1]], boxes[index]):
            rows[-1].append(index)
        else:
            rows.append([index])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0])]


def _same_row(a: BBox, b: BBox) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap > 0.5 * min(a[3] - a[1], b[3] - b[1])
