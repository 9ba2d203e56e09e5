"""From a line-body probability map to line boxes and polygons in page pixels."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage

from ml.detection.geometry import Point, sort_reading_order
from ml.detection.types import DetectedLine

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass
class PostprocessConfig:
    threshold: float = 0.5
    # Blobs smaller than these, relative to the map, are specks or stray strokes, not lines.
    min_area_fraction: float = 8e-4     # of the map's area
    min_width_fraction: float = 0.02    # of the map's long side
    merge_gap: float = 6.0          # join pieces of one line whose gap is under this many body heights
    polygon_points: int = 12        # points along each of the polygon's top and bottom edges

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "PostprocessConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in known})


def lines_from_probability(
    probability: np.ndarray,
    *,
    scale: float,
    page_size: tuple[int, int],
    body_shrink: float,
    config: PostprocessConfig | None = None,
) -> list[DetectedLine]:
    """`probability` is `(h, w)` in [0, 1]; `scale` is page pixels per map pixel; `page_size` is (W, H).

    Blobs above the threshold become lines; each blob is grown back from the
    shrunk body to the full line height (the inverse of the training target's
    shrink) and returned in reading order.
    """
    config = config or PostprocessConfig()
    labels = label_bodies(probability >= config.threshold, config)
    min_area = config.min_area_fraction * probability.size
    min_width = config.min_width_fraction * max(probability.shape)
    shapes = []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        blob = labels[window] == index
        if blob.sum() < min_area or blob.shape[1] < min_width:
            continue
        score = float(probability[window][blob].mean())
        shapes.append(grow_blob(blob, window, score, scale=scale, page_size=page_size, body_shrink=body_shrink,
                                points=config.polygon_points))
    order = sort_reading_order([shape.bbox for shape in shapes])
    return [shapes[i] for i in order]


def label_bodies(mask: np.ndarray, config: PostprocessConfig) -> np.ndarray:
    """Connected components, with pieces of one line (split at a wide word gap) given one label."""
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count < 2 or config.merge_gap <= 0:
        return labels
    windows = ndimage.find_objects(labels)
    thickness = [float((labels[w] == i + 1).sum()) / max(w[1].stop - w[1].start, 1) for i, w in enumerate(windows)]
    parent = list(range(count + 1))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_left = sorted(range(count), key=lambda i: windows[i][1].start)
    for position, i in enumerate(by_left):
        for j in by_left[position + 1:]:
            gap = windows[j][1].start - windows[i][1].stop
            if gap > config.merge_gap * max(thickness[i], thickness[j]):
                break
            if _facing_ends_align(labels, i + 1, j + 1, windows[i], windows[j]):
                parent[root(j + 1)] = root(i + 1)
    lookup = np.array([root(i) for i in range(count + 1)])
    return lookup[labels]


def _facing_ends_align(labels: np.ndarray, left: int, right: int, left_window, right_window) -> bool:
    """The right end of one blob and the left end of the other sit at the same height (one text line)."""
    left_rows = np.nonzero((labels[:, left_window[1].stop - 1] == left))[0]
    right_rows = np.nonzero((labels[:, right_window[1].start] == right))[0]
    if left_rows.size == 0 or right_rows.size == 0:
        return False
    overlap = min(left_rows.max(), right_rows.max()) - max(left_rows.min(), right_rows.min()) + 1
    return overlap >= 0.5 * min(left_rows.size, right_rows.size)


def grow_blob(
    blob: np.ndarray,
    window: tuple[slice, slice],
    score: float,
    *,
    scale: float,
    page_size: tuple[int, int],
    body_shrink: float,
    points: int,
) -> DetectedLine:
    """Grow the blob's top and bottom edges back to the full line height and map it to page pixels."""
    rows, columns = window
    filled = blob.any(axis=0)
    xs = np.nonzero(filled)[0]
    tops = blob[:, xs].argmax(axis=0).astype(np.float64)
    bottoms = (blob.shape[0] - blob[::-1, xs].argmax(axis=0)).astype(np.float64)  # exclusive
    body = float(np.median(bottoms - tops))
    pad = body * (1.0 / body_shrink - 1.0) / 2.0
    tops = tops - pad + rows.start
    bottoms = bottoms + pad + rows.start
    xs = xs + columns.start

    width, height = page_size
    x0 = _clip(np.floor(columns.start * scale), width)
    x1 = _clip(np.ceil(columns.stop * scale), width)
    y0 = _clip(np.floor(tops.min() * scale), height)
    y1 = _clip(np.ceil(bottoms.max() * scale), height)
    return DetectedLine((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)),
                     _outline(xs, tops, bottoms, scale, page_size, points), score)


def _outline(xs: np.ndarray, tops: np.ndarray, bottoms: np.ndarray, scale: float,
             page_size: tuple[int, int], points: int) -> list[Point]:
    picks = np.unique(np.linspace(0, len(xs) - 1, num=min(points, len(xs))).round().astype(int))
    width, height = page_size
    left_to_right = [(_clip(xs[i] * scale, width), _clip(tops[i] * scale, height)) for i in picks]
    right_to_left = [(_clip((xs[i] + 1) * scale, width), _clip(bottoms[i] * scale, height)) for i in picks[::-1]]
    return left_to_right + right_to_left


def _clip(value: float, limit: int) -> int:
    return int(min(max(value, 0), limit))
