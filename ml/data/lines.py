"""Line samples: a grayscale crop of one text line and its transcription.

Crops come from a page image and a box or polygon. The same `LineSample` is built by
the command-line tools (from ALTO/PAGE folders) and by the web workers (from database
rows), so training never needs to know where lines came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ml.data.alphabet import normalize_text
from ml.data.layout import LineAnnotation, PageAnnotation, group_of, pair_layouts_with_images, read_layout

Box = tuple[int, int, int, int]
Point = tuple[int, int]


@dataclass
class LineSample:
    image: Image.Image            # mode "L", the line's crop
    text: str                     # NFC
    group: str = ""               # writer or document: splits never separate a group
    id: str = ""


def crop_line(page: Image.Image, bbox: Box, polygon: Sequence[Point] | None = None,
              baseline: Sequence[Point] | None = None) -> Image.Image:
    """Grayscale crop of `bbox` (x1/y1 exclusive); with a polygon, pixels outside it become background;
    with a baseline, turned upright (see `upright`).

    Background is the crop's median grey rather than pure white, so a masked margin looks
    like the paper around it and does not draw an edge the model could mistake for ink.
    """
    gray = page if page.mode == "L" else page.convert("L")
    x0, y0, x1, y1 = _clip_box(bbox, gray.size)
    crop = gray.crop((x0, y0, x1, y1))
    if polygon is not None and len(polygon) >= 3:
        mask = Image.new("L", crop.size, 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=255, outline=255)
        background = Image.new("L", crop.size, int(np.median(np.asarray(crop))))
        crop = Image.composite(crop, background, mask)
    return upright(crop, baseline)


def upright(crop: Image.Image, baseline: Sequence[Point] | None) -> Image.Image:
    """A line written sideways (a note up the margin, a page turned to write across it) turned so that
    it reads left to right, as every line the recognizer learns from does.

    The baseline runs in the writing direction, from its first point to its last: one that runs
    mostly down the page is turned a quarter counter-clockwise, one that runs up, clockwise. Only
    sideways lines are turned, and only when their crop is taller than wide: a baseline that runs
    right to left along a horizontal line is as often one drawn backwards as right-to-left script,
    so horizontal lines are never turned.
    """
    if not baseline or len(baseline) < 2 or crop.height <= crop.width:
        return crop
    dx = baseline[-1][0] - baseline[0][0]
    dy = baseline[-1][1] - baseline[0][1]
    if abs(dy) <= abs(dx):
        return crop
    return crop.rotate(90 if dy > 0 else -90, expand=True)


def _clip_box(bbox: Box, size: tuple[int, int]) -> Box:
    width, height = size
    x0, y0, x1, y1 = bbox
    x0, y0 = max(0, min(x0, width - 1)), max(0, min(y0, height - 1))
    return x0, y0, max(x0 + 1, min(x1, width)), max(y0 + 1, min(y1, height))


def samples_from_page(page_image: Image.Image, page: PageAnnotation, *, group: str,
                      use_polygons: bool = True) -> list[LineSample]:
    """Every line with a non-empty transcription, in reading order."""
    samples = []
    for number, line in enumerate(page.lines):
        text = normalize_text(line.text).strip()
        if not text:
            continue
        polygon = line.polygon if use_polygons else None
        samples.append(LineSample(crop_line(page_image, line.bbox, polygon, line.baseline), text, group,
                                  line.id or f"{page.image_filename}#{number}"))
    return samples


def load_page(xml_path: Path, image_path: Path) -> tuple[Image.Image, PageAnnotation]:
    page = read_layout(xml_path)
    with Image.open(image_path) as image:
        return image.convert("L"), page


def load_line_samples(folders: Iterable[str | os.PathLike], *, use_polygons: bool = True) -> list[LineSample]:
    """All transcribed lines of every ALTO/PAGE file (paired with its image) in `folders`."""
    samples: list[LineSample] = []
    for folder in folders:
        for xml_path, image_path in pair_layouts_with_images(folder):
            image, page = load_page(xml_path, image_path)
            samples += samples_from_page(image, page, group=group_of(image_path.name), use_polygons=use_polygons)
    return samples


def line_boxes(page: PageAnnotation) -> list[LineAnnotation]:
    """Annotated lines with text, the ground truth a detector is compared with."""
    return [line for line in page.lines if line.text.strip()]
