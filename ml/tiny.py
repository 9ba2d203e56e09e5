"""Very small checkpoints of both models, trained in seconds on CPU, for tests of code that needs real ones.

    paths = build_tiny_checkpoints(tmp_dir)   # {"recognizer": Path, "detector": Path}

See `ml.recognition.tiny` and `ml.detection.tiny`: enough to test decoding, confidences, CLIs
and the web layer, and useless for real pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ml.data.synthetic import render_page, sample_text_lines
from ml.detection.tiny import build_tiny_detector
from ml.recognition.tiny import build_tiny_recognizer


def build_tiny_checkpoints(out_dir: str | os.PathLike) -> dict[str, Path]:
    """A tiny recognizer and a tiny detector, trained on rendered lines and pages."""
    out_dir = Path(out_dir)
    threads = torch.get_num_threads()
    # One thread: tiny layers gain nothing from more, and the result is the same on every machine.
    torch.set_num_threads(1)
    try:
        paths = {"recognizer": build_tiny_recognizer(out_dir / "recognizer")}
        pages = [render_page(sample_text_lines(5, seed=20 + i), seed=i) for i in range(3)]
        paths["detector"] = build_tiny_detector(out_dir / "detector", [(image, page.lines) for image, page in pages])
        return paths
    finally:
        torch.set_num_threads(threads)
