"""Rendered lines with known text, for pre-training or padding out a small training set.

Printed-looking lines teach the character shapes and the CTC alignment before any
handwriting is labelled; they never go into validation, which must stay real.
"""

from __future__ import annotations

from ml.data.lines import LineSample
from ml.data.synthetic import render_line, sample_text_lines


def synthetic_line_samples(count: int, *, seed: int = 0, height: int = 64) -> list[LineSample]:
    texts = sample_text_lines(count, seed=seed)
    return [LineSample(render_line(text, seed=seed + i, height=height), text, group="synthetic", id=f"synthetic-{seed}-{i}") for i, text in enumerate(texts)]
