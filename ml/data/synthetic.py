"""Small synthetic handwriting-like pages and lines for demos, tests and pre-training.

Text is drawn with TrueType fonts shipped by matplotlib (DejaVu, STIX) on a noisy
light-grey background, each line with its own slant, tilt, offset and ink tone so
that a page is not trivially clean. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ml.data.layout import LineAnnotation, PageAnnotation

__all__ = ["render_page", "render_line", "sample_text_lines"]

FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneralItalic.ttf",
)

# Pixels of the ink mask at or above this value count as ink for the boxes;
# fainter anti-aliasing fringes are practically invisible on the noisy paper.
INK_THRESHOLD = 48

WORDS = (
    "le",
    "la",
    "de",
    "et",
    "mon",
    "ma",
    "mes",
    "je",
    "lègue",
    "donne",
    "maison",
    "frère",
    "sœur",
    "mère",
    "père",
    "enfants",
    "testament",
    "fait",
    "à",
    "Paris",
    "le",
    "jour",
    "mille",
    "neuf",
    "cent",
    "quinze",
    "biens",
    "héritier",
    "signé",
    "the",
    "of",
    "and",
    "my",
    "house",
    "field",
    "letter",
    "written",
    "brother",
    "mother",
    "give",
    "all",
    "year",
    "town",
    "garden",
    "église",
    "août",
    "où",
)


@dataclass
class _InkLayer:
    """One rendered line: an ink mask (0-255) and where its baseline ends up."""

    mask: np.ndarray  # uint8, 255 = full ink
    baseline: list[tuple[float, float]]  # in mask coordinates


def sample_text_lines(n: int, *, seed: int) -> list[str]:
    """``n`` plausible short lines of mixed French/English words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
        if rng.random() < 0.25:
            words.insert(rng.randrange(len(words) + 1), str(rng.randint(1, 1918)))
        line = " ".join(words)
        if rng.random() < 0.5:
            line = line[0].upper() + line[1:]
        if rng.random() < 0.3:
            line += rng.choice((".", ",", ";", ":"))
        lines.append(line)
    return lines


def render_line(text: str, *, seed: int, height: int = 64, font_file: str | None = None) -> Image.Image:
    """A single grayscale line image of ``height`` pixels, width fitted to the text.

    ``font_file`` is a matplotlib font name or an absolute path (default: one of
    ``FONT_FILES`` chosen by the seed).
    """
    rng = np.random.default_rng(seed)
    font = _font(font_file or _choose_font(rng), max(8, round(height * 0.55)))
    layer = _ink_layer(text, font, rng)
    ink_box = _ink_bbox(layer.mask)

    margin = int(rng.integers(height // 8, height // 3 + 1))
    if ink_box is None:
        width = 2 * margin + height // 2
        return Image.fromarray(_paper(height, width, rng))

    x0, y0, x1, y1 = ink_box
    width = (x1 - x0) + 2 * margin
    # Put the baseline at about 70 % of the height, as in cropped real lines;
    # ascenders or descenders that still overflow are clipped.
    baseline_y = layer.baseline[0][1]
    offset_y = round(height * 0.7 + rng.uniform(-0.05, 0.05) * height - baseline_y)
    canvas = _paper(height, width, rng)
    _stamp(canvas, layer.mask, left=margin - x0, top=offset_y, ink=_ink_tone(rng))
    return Image.fromarray(canvas)


def render_page(
    lines: list[str],
    *,
    seed: int = 0,
    width: int = 1200,
    line_height: int = 64,
    font_size: int = 36,
) -> tuple[Image.Image, PageAnnotation]:
    """Draw ``lines`` on a paper-like page and annotate each drawn line.

    Bboxes are the tight bounds of the ink actually drawn, polygons are those
    rectangles and baselines follow each line's tilt. Lines that draw no ink
    (empty or whitespace-only) keep their vertical slot but get no annotation.
    """
    rng = np.random.default_rng(seed)
    font_file = _choose_font(rng)
    margin_x = max(8, width // 20)
    margin_y = line_height
    height = 2 * margin_y + len(lines) * line_height
    page = _paper(height, width, rng)

    annotations = []
    for index, text in enumerate(lines):
        font = _fitting_font(font_file, font_size, text, max_width=width - 2 * margin_x)
        layer = _ink_layer(text, font, rng)
        ink_box = _ink_bbox(layer.mask)
        if ink_box is None:
            continue
        baseline_x, baseline_y = layer.baseline[0]
        jitter_x = rng.uniform(0, margin_x * 0.5)
        jitter_y = rng.uniform(-0.08, 0.08) * line_height
        target_x = margin_x + jitter_x - ink_box[0]
        target_y = (
            margin_y + index * line_height + 0.72 * line_height + jitter_y - baseline_y
        )
        left, top = round(target_x), round(target_y)
        drawn = _stamp(page, layer.mask, left=left, top=top, ink=_ink_tone(rng))
        if drawn is None:
            continue
        x0, y0, x1, y1 = drawn
        baseline = [
            (min(max(round(x + left), x0), x1), min(max(round(y + top), 0), height))
            for x, y in layer.baseline
        ]
        annotations.append(
            LineAnnotation(
                bbox=drawn,
                text=unicodedata.normalize("NFC", text),
                polygon=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
                baseline=baseline,
                id=f"line_{index + 1}",
            )
        )

    image = Image.fromarray(page)
    annotation = PageAnnotation(
        image_filename=f"synthetic_{seed}.png",
        width=width,
        height=height,
        lines=annotations,
    )
    return image, annotation


# --------------------------------------------------------------------- fonts


@lru_cache(maxsize=None)
def _font_path(filename: str) -> Path:
    if Path(filename).is_absolute():
        return Path(filename)
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"font {filename} not found in matplotlib's data at {path.parent}"
        )
    return path


@lru_cache(maxsize=256)
def _font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    # The basic layout engine gives the same glyph placement with or without libraqm.
    return ImageFont.truetype(
        str(_font_path(filename)), size, layout_engine=ImageFont.Layout.BASIC
    )


def _choose_font(rng: np.random.Generator) -> str:
    return FONT_FILES[int(rng.integers(len(FONT_FILES)))]


def _fitting_font(
    filename: str, size: int, text: str, *, max_width: int
) -> ImageFont.FreeTypeFont:
    # Shrink a long line rather than clip it (the annotation must match the
    # ink), leaving room for slant; below a third of the size it is unreadable.
    font = _font(filename, size)
    needed = font.getlength(text) + size
    if needed <= max_width or not text.strip():
        return font
    smallest = max(8, size // 3)
    for smaller in range(int(size * max_width / needed), smallest - 1, -1):
        font = _font(filename, smaller)
        if font.getlength(text) + smaller <= max_width:
            return font
    raise ValueError(
        f"text line of {len(text)} characters does not fit in {max_width} px "
        f"even at font size {smallest}; use a wider page or shorter lines"
    )


# -------------------------------------------------------------------- drawing


def _ink_layer(
    text: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator
) -> _InkLayer:
    """Draw ``text`` into a mask, then slant and tilt it about the baseline start."""
    ascent, descent = font.getmetrics()
    pad = ascent + descent
    text_width = max(1, round(font.getlength(text)))
    canvas_w = text_width + 2 * pad
    canvas_h = ascent + descent + 2 * pad
    mask = Image.new("L", (canvas_w, canvas_h), 0)
    origin = (pad, pad + ascent)  # left end of the baseline
    ImageDraw.Draw(mask).text(origin, text, fill=255, font=font, anchor="ls")

    shear = rng.uniform(-0.1, 0.3)  # mostly right-leaning, like most hands
    angle = np.deg2rad(rng.uniform(-1.2, 1.2))
    # Forward map about the origin: shear (keeps the baseline row fixed) then rotate.
    cos, sin = np.cos(angle), np.sin(angle)
    shear_matrix = np.array([[1.0, -shear], [0.0, 1.0]])
    rotation = np.array([[cos, -sin], [sin, cos]])
    forward = rotation @ shear_matrix
    inverse = np.linalg.inv(forward)
    ox, oy = origin
    # PIL wants the output->input map: input = inverse @ (output - origin) + origin.
    offset = np.array([ox, oy]) - inverse @ np.array([ox, oy])
    coefficients = (
        inverse[0, 0],
        inverse[0, 1],
        offset[0],
        inverse[1, 0],
        inverse[1, 1],
        offset[1],
    )
    warped = mask.transform(
        mask.size,
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
    )

    def place(x: float, y: float) -> tuple[float, float]:
        dx, dy = forward @ np.array([x - ox, y - oy])
        return ox + dx, oy + dy

    baseline = [place(ox, oy), place(ox + text_width, oy)]
    return _InkLayer(mask=np.asarray(warped, dtype=np.uint8), baseline=baseline)


def _ink_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight (x0, y0, x1, y1) of the ink, x1/y1 exclusive; None if there is none."""
    ink = mask >= INK_THRESHOLD
    rows = np.flatnonzero(ink.any(axis=1))
    columns = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def _paper(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(215, 240)
    # A gentle diagonal shading plus grain, so that the page is not a flat colour.
    ys = np.linspace(0.0, 1.0, height)[:, None]
    xs = np.linspace(0.0, 1.0, width)[None, :]
    shading = rng.uniform(-8, 8) * ys + rng.uniform(-8, 8) * xs
    grain = rng.normal(0.0, 4.0, size=(height, width))
    return np.clip(base + shading + grain, 0, 255).astype(np.uint8)


def _ink_tone(rng: np.random.Generator) -> float:
    return float(rng.uniform(15, 70))


def _stamp(
    canvas: np.ndarray, mask: np.ndarray, *, left: int, top: int, ink: float
) -> tuple[int, int, int, int] | None:
    """Blend ``mask`` as ink onto ``canvas`` at (left, top), clipping to the canvas.

    Returns the bbox, in canvas coordinates, of the ink that landed on the canvas.
    """
    height, width = canvas.shape
    mh, mw = mask.shape
    cx0, cy0 = max(left, 0), max(top, 0)
    cx1, cy1 = min(left + mw, width), min(top + mh, height)
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    part = mask[cy0 - top : cy1 - top, cx0 - left : cx1 - left]
    alpha = part.astype(np.float32) / 255.0
    region = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = np.clip(
        region * (1.0 - alpha) + ink * alpha, 0, 255
    ).astype(np.uint8)
    box = _ink_bbox(part)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return x0 + cx0, y0 + cy0, x1 + cx0, y1 + cy0
