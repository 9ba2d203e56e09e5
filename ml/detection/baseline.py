"""A scripted line detector with no learning: binarise, smear horizontally, split tall blobs.

It is the floor the learned detector must beat, and a fallback before any
detector has been trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image
from scipy import ndimage

from ml.detection.geometry import sort_reading_order, to_gray_array
from ml.detection.types import DetectedLine


@dataclass
class BaselineConfig:
    long_side: int = 800            # working resolution
    window: int = 31                # Sauvola window, working pixels
    sauvola_k: float = 0.2
    min_speck: int = 12             # ink components smaller than this (working pixels) are noise
    smear: float = 2.5              # horizontal closing width, in line heights
    min_width: float = 3.0          # lines narrower than this many line heights are dropped
    split_above: float = 1.6        # blobs taller than this many line heights hold several lines


class ScriptedBaseline:
    def __init__(self, config: BaselineConfig | None = None) -> None:
        self.config = config or BaselineConfig()

    def detect(self, image: Image.Image) -> list[DetectedLine]:
        """Line boxes in page pixels, in reading order; polygons are the boxes' rectangles."""
        gray, scale = to_gray_array(image, self.config.long_side)
        ink = sauvola(gray, self.config.window, self.config.sauvola_k)
        ink = drop_border_touching(drop_specks(ink, self.config.min_speck))
        line_height = estimate_line_height(ink)
        blobs = smear(ink, max(3, int(self.config.smear * line_height)))
        boxes = []
        for top, bottom, left, right in blob_boxes(blobs, ink, line_height, self.config):
            boxes.append(_to_page((left, top, right, bottom), scale, image.size))
        order = sort_reading_order(boxes)
        return [DetectedLine(boxes[i], _rectangle(boxes[i]), 1.0) for i in order]


def sauvola(gray: np.ndarray, window: int, k: float) -> np.ndarray:
    """Ink mask: darker than the local mean lowered by k times the local contrast (handles stained paper)."""
    mean = ndimage.uniform_filter(gray, window)
    mean_sq = ndimage.uniform_filter(gray * gray, window)
    std = np.sqrt(np.clip(mean_sq - mean * mean, 0, None))
    return gray < mean * (1 + k * (std / 0.5 - 1))


def drop_specks(ink: np.ndarray, min_size: int) -> np.ndarray:
    labels, count = ndimage.label(ink, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def drop_border_touching(ink: np.ndarray) -> np.ndarray:
    """Ink touching the image edge is the scan's border or a neighbouring page, not text."""
    labels, count = ndimage.label(ink, structure=np.ones((3, 3)))
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = np.ones(count + 1, dtype=bool)
    keep[edge] = False
    keep[0] = False
    return keep[labels]


def estimate_line_height(ink: np.ndarray) -> float:
    """Median height of ink components, a proxy for x-height, times 2.5 for the whole line."""
    windows = ndimage.find_objects(ndimage.label(ink, structure=np.ones((3, 3)))[0])
    heights = [w[0].stop - w[0].start for w in windows if w is not None]
    return 2.5 * float(np.median(heights)) if heights else 20.0


def smear(ink: np.ndarray, width: int) -> np.ndarray:
    """Horizontal closing joins the letters and words of a line, not the lines above and below.

    The mask is padded with background on the left and right before the closing and
    cropped after: outside the array counts as background for the erosion too, which
    would otherwise eat the ink of lines within half a smear width of the edges.
    """
    padded = np.pad(ink, ((0, 0), (width, width)))
    closed = ndimage.binary_closing(padded, structure=np.ones((1, width), dtype=bool))
    return closed[:, width:-width]


def blob_boxes(blobs: np.ndarray, ink: np.ndarray, line_height: float,
               config: BaselineConfig) -> Iterator[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of every line, splitting tall blobs at row-profile valleys."""
    labels, _ = ndimage.label(blobs)
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        rows, cols = window
        width, height = cols.stop - cols.start, rows.stop - rows.start
        # Narrow and taller than wide: vertical marginal text or a stamp, not a stack of lines.
        if width < config.min_width * line_height or (height > width and width < 8 * line_height):
            continue
        blob = (labels[window] == index) & ink[window]
        for top, bottom in split_rows(blob, line_height, config.split_above):
            part = blob[top:bottom]
            columns = np.nonzero(part.any(axis=0))[0]
            if columns.size == 0 or columns[-1] - columns[0] + 1 < config.min_width * line_height:
                continue
            yield rows.start + top, rows.start + bottom, cols.start + columns[0], cols.start + columns[-1] + 1


def split_rows(blob: np.ndarray, line_height: float, split_above: float) -> list[tuple[int, int]]:
    """Cut a blob taller than `split_above` line heights at the emptiest rows between line centres."""
    height = blob.shape[0]
    if height <= split_above * line_height:
        return [(0, height)]
    profile = ndimage.uniform_filter1d(blob.sum(axis=1).astype(np.float64), max(3, int(line_height / 4)))
    pieces = max(2, round(height / line_height))
    cuts = [0]
    for k in range(1, pieces):
        centre = int(k * height / pieces)
        low, high = max(cuts[-1] + 1, centre - int(line_height / 2)), min(height - 1, centre + int(line_height / 2))
        if low >= high:
            continue
        cuts.append(low + int(np.argmin(profile[low:high])))
    cuts.append(height)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _to_page(box: tuple[int, int, int, int], scale: float, page_size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = page_size
    x0, y0, x1, y1 = box
    return (int(max(0, np.floor(x0 * scale))), int(max(0, np.floor(y0 * scale))),
            int(min(width, np.ceil(x1 * scale))), int(min(height, np.ceil(y1 * scale))))


def _rectangle(box: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
