"""Rendered lines with known text, for pre-training or padding out a small training set.

Printed-looking lines teach the character shapes and the CTC alignment before any
handwriting is labelled; lines in handwriting and cursive fonts (Debian's
fonts-ecolier-court, fonts-dkg-handwriting, ...) add joined letters and school
hands to a base model's training. They never go into validation, which must stay real.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from matplotlib.ft2font import FT2Font

from ml.data.lines import LineSample
from ml.data.synthetic import render_line, sample_text_lines

# Debian packages and the font files they install; only those present are used. Left out
# after looking at their lines: fonts-bwht and fonts-humor-sans draw small letters as
# capitals (the image would contradict its text), fonts-joscelyn's tall glyphs overflow
# the line.
HANDWRITING_FONTS = {
    "fonts-ecolier-court": ("truetype/ecolier-court/Ecolier-court.ttf",),
    "fonts-dkg-handwriting": ("truetype/fifthhorseman/dkg.ttf", "truetype/fifthhorseman/dkgIt.ttf"),
    "fonts-breip": ("truetype/breip/Breip.ttf",),
    "fonts-femkeklaver": ("truetype/femkeklaver/femkeklaver.ttf",),
    "fonts-dancingscript": ("opentype/dancingscript/DancingScript-Regular.otf",),
    "fonts-kristi": ("truetype/kristi/Kristi.ttf",),
}
FONT_ROOT = Path("/usr/share/fonts")


def synthetic_line_samples(count: int, *, seed: int = 0, height: int = 64) -> list[LineSample]:
    texts = sample_text_lines(count, seed=seed)
    return [LineSample(render_line(text, seed=seed + i, height=height), text, group="synthetic",
                       id=f"synthetic-{seed}-{i}") for i, text in enumerate(texts)]


def handwriting_fonts(root: Path = FONT_ROOT) -> list[Path]:
    """The handwriting font files installed on this machine (see HANDWRITING_FONTS)."""
    return [root / name for names in HANDWRITING_FONTS.values() for name in names if (root / name).is_file()]


@lru_cache(maxsize=None)
def _covered(font: Path) -> frozenset[int]:
    return frozenset(FT2Font(str(font)).get_charmap())


def handwriting_line_samples(texts: Sequence[str], count: int, *, seed: int = 0, height: int = 64,
                             fonts: Sequence[Path] | None = None) -> list[LineSample]:
    """`count` lines of `texts` (drawn with replacement) rendered in handwriting fonts.

    Each line goes to a font that has a glyph for every one of its characters, so no
    line teaches the model a missing-glyph box; texts no font covers are not drawn.
    """
    fonts = list(fonts if fonts is not None else handwriting_fonts())
    if not fonts:
        raise FileNotFoundError("no handwriting fonts installed: apt-get install " + " ".join(HANDWRITING_FONTS))
    rng = random.Random(seed)
    samples: list[LineSample] = []
    attempts = 0
    while len(samples) < count and attempts < 20 * count:
        attempts += 1
        text = rng.choice(texts).strip()
        usable = [font for font in fonts if all(ord(char) in _covered(font) or char == " " for char in text)]
        if not text or not usable:
            continue
        font = rng.choice(usable)
        number = len(samples)
        image = render_line(text, seed=seed * 1_000_003 + number, height=height, font_file=str(font))
        samples.append(LineSample(image, text, group="synthetic", id=f"handwriting-{seed}-{number}-{font.stem}"))
    return samples
