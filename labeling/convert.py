"""Conversions between inkloop lines and Label Studio results. Pure functions, no I/O.

Label Studio gives geometry in percent of the image, rectangles rotated clockwise by
`rotation` degrees around their top-left corner; inkloop stores pixels, an axis-aligned
bbox (x1/y1 exclusive) and, for anything not axis-aligned, the polygon.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from labeling.config import BOX, IMAGE, LABEL, POLYGON, TRANSCRIPTION

logger = logging.getLogger(__name__)

PERCENT_SLACK = 0.01  # Label Studio's own rounding can land a hair outside 0-100


class MalformedResult(ValueError):
    """The annotation is not a list of Label Studio results at all: the whole delivery is refused."""


class BadRegion(ValueError):
    """One region cannot become a line; it is logged and skipped, the rest of the page still applies."""


@dataclass(frozen=True)
class Region:
    region_id: str
    bbox: tuple[int, int, int, int]
    polygon: list[list[int]] | None
    text: str


def regions_from_result(result: Any, *, width: int, height: int) -> tuple[list[Region], dict[str, str]]:
    """The annotation's lines, and why each skipped region (by id) was skipped."""
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise MalformedResult("An annotation's result must be a list of objects.")
    shapes: dict[str, dict] = {}
    texts: dict[str, dict] = {}
    for item in result:
        region_id = str(item.get("id") or "")
        kind = item.get("type")
        if kind in ("rectanglelabels", "polygonlabels", "rectangle", "polygon"):
            shapes[region_id] = item
        elif kind == "textarea":
            texts[region_id] = item
    regions, skipped = [], {}
    for region_id, shape in shapes.items():
        try:
            regions.append(_region(region_id, shape, texts.get(region_id), width=width, height=height))
        except BadRegion as error:
            skipped[region_id] = str(error)
    for region_id in texts.keys() - shapes.keys():
        skipped[region_id] = "a transcription without a box"
    for region_id, reason in skipped.items():
        logger.warning("Label Studio annotation: skipped region %r: %s", region_id, reason)
    return regions, skipped


def _region(region_id: str, shape: dict, text_item: dict | None, *, width: int, height: int) -> Region:
    if not region_id:
        raise BadRegion("no region id")
    text = _text(text_item)
    value = shape.get("value")
    if not isinstance(value, dict):
        raise BadRegion("no value")
    if "points" in value:
        corners = [_to_pixels(point, width=width, height=height) for point in _percent_points(value["points"])]
    else:
        corners = _rectangle_corners(value, width=width, height=height)
    # Rounded first: cos(90°) is 6e-17, not 0, and ceil() would grow the box by a pixel.
    xs, ys = [round(x, 6) for x, _ in corners], [round(y, 6) for _, y in corners]
    bbox = (max(0, math.floor(min(xs))), max(0, math.floor(min(ys))),
            min(width, math.ceil(max(xs))), min(height, math.ceil(max(ys))))
    if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
        raise BadRegion("an empty box")
    axis_aligned = "points" not in value and not _rotation(value)
    polygon = None if axis_aligned else [[min(width, max(0, round(x))), min(height, max(0, round(y)))]
                                         for x, y in corners]
    return Region(region_id=region_id, bbox=bbox, polygon=polygon, text=text)


def _text(item: dict | None) -> str:
    if item is None:
        raise BadRegion("no transcription")
    lines = (item.get("value") or {}).get("text")
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list) or not lines or not all(isinstance(line, str) for line in lines):
        raise BadRegion("no transcription")
    return " ".join(line.strip() for line in lines).strip()


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRegion(f"{name} is not a number")
    return float(value)


def _percent(value: Any, name: str) -> float:
    number = _number(value, name)
    if not -PERCENT_SLACK <= number <= 100 + PERCENT_SLACK:
        raise BadRegion(f"{name}={number} is outside 0-100")
    return min(100.0, max(0.0, number))


def _rotation(value: dict) -> float:
    return _number(value.get("rotation", 0) or 0, "rotation") % 360


def _rectangle_corners(value: dict, *, width: int, height: int) -> list[tuple[float, float]]:
    x, y = _percent(value.get("x"), "x"), _percent(value.get("y"), "y")
    w, h = _percent(value.get("width"), "width"), _percent(value.get("height"), "height")
    if x + w > 100 + PERCENT_SLACK or y + h > 100 + PERCENT_SLACK:
        raise BadRegion("the box reaches beyond the image")
    # Rotation happens in pixel space: percent units differ along x and y on a non-square page.
    left, top = x * width / 100, y * height / 100
    box_w, box_h = w * width / 100, h * height / 100
    angle = math.radians(_rotation(value))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(0, 0), (box_w, 0), (box_w, box_h), (0, box_h)]
    rotated = [(left + dx * cos - dy * sin, top + dx * sin + dy * cos) for dx, dy in corners]
    if any(not (-1 <= px <= width + 1 and -1 <= py <= height + 1) for px, py in rotated):
        raise BadRegion("the rotated box reaches beyond the image")
    return rotated


def _percent_points(points: Any) -> list[tuple[float, float]]:
    if not isinstance(points, list) or len(points) < 3:
        raise BadRegion("a polygon needs at least three points")
    try:
        return [(_percent(x, "x"), _percent(y, "y")) for x, y in points]
    except (TypeError, ValueError) as error:
        raise BadRegion("polygon points must be [x, y] pairs") from error


def _to_pixels(point: tuple[float, float], *, width: int, height: int) -> tuple[float, float]:
    return point[0] * width / 100, point[1] * height / 100


# inkloop -> Label Studio ---------------------------------------------------------------------------


def same_shape(bbox: Sequence[int], polygon: Sequence[Sequence[int]] | None,
               other_bbox: Sequence[int], other_polygon: Sequence[Sequence[int]] | None) -> bool:
    """Whether two lines have one shape. With a polygon the polygon is the shape: the bbox read back
    from it is its integer bounds, which may differ by a pixel from the bbox of a rotated box."""
    if polygon or other_polygon:
        return _points(polygon) == _points(other_polygon)
    return tuple(bbox) == tuple(other_bbox)


def _points(polygon: Sequence[Sequence[int]] | None) -> list[list[int]] | None:
    return [[round(x), round(y)] for x, y in polygon] if polygon else None


@dataclass(frozen=True)
class LineForLabelStudio:
    region_id: str
    bbox: tuple[int, int, int, int]
    text: str
    score: float | None = None
    polygon: Sequence[Sequence[float]] | None = None  # page pixels; a line with one goes as a polygon


def result_from_lines(lines: Iterable[LineForLabelStudio], *, width: int, height: int) -> list[dict]:
    """Two results per line, a shape and its transcription, sharing the line's region id.

    The shape is a polygon when the line has one (a rotated box or a detected outline would lose
    its shape as a rectangle), else an axis-aligned rectangle. The transcription repeats the
    shape's geometry, as Label Studio's editor does for a per-region TextArea.
    """
    result = []
    for line in lines:
        if line.polygon and len(line.polygon) >= 3:
            geometry = {"points": [[100 * x / width, 100 * y / height] for x, y in line.polygon], "closed": True}
            shape = {"from_name": POLYGON, "type": "polygonlabels", "value": {**geometry, "polygonlabels": [LABEL]}}
        else:
            x0, y0, x1, y1 = line.bbox
            geometry = {"x": 100 * x0 / width, "y": 100 * y0 / height, "width": 100 * (x1 - x0) / width,
                        "height": 100 * (y1 - y0) / height, "rotation": 0}
            shape = {"from_name": BOX, "type": "rectanglelabels", "value": {**geometry, "rectanglelabels": [LABEL]}}
        common = {"id": line.region_id, "to_name": IMAGE, "original_width": width, "original_height": height,
                  "image_rotation": 0}
        score = {} if line.score is None else {"score": line.score}
        result.append({**common, **score, **shape})
        result.append({**common, **score, "from_name": TRANSCRIPTION, "type": "textarea",
                       "value": {**geometry, "text": [line.text]}})
    return result
