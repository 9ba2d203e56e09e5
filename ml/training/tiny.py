"""Very small checkpoints trained in seconds on CPU, for tests of code that needs real ones.

    paths = build_tiny_checkpoints(tmp_dir)   # {"recognizer": Path, "detector": Path (when available)}

The recognizer memorises a handful of synthetic lines (`TINY_TEXTS`), so it reads them
back almost perfectly and reads anything else badly: enough to test decoding,
confidences, CLIs and the web layer, and useless for real pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ml.data.lines import LineSample
from ml.data.synthetic import render_line, sample_text_lines
from ml.models.recognizer import RecognizerConfig
from ml.training.recognizer import TrainConfig, train_recognizer

TINY_MODEL = RecognizerConfig(num_classes=0, height=32, channels=(8, 16, 32, 32), projection=48, lstm_hidden=64, lstm_layers=1, dropout=0.0)
TINY_TEXTS = ["le 12 mars 1915", "mon frère Louis", "à Paris, église", "quinze enfants"]
COPIES = 8   # identical copies per line: more steps per epoch, fewer validation passes


def tiny_line_samples(texts: list[str] = TINY_TEXTS, *, seed: int = 0) -> list[LineSample]:
    return [LineSample(render_line(text, seed=seed + i, height=48), text, group=f"tiny-{i}", id=f"tiny-{i}") for i, text in enumerate(texts)]


def build_tiny_recognizer(out_dir: str | os.PathLike, *, seed: int = 0, epochs: int = 60) -> Path:
    """Train on TINY_TEXTS (also the validation set) and return the path of `best.pt`."""
    lines = tiny_line_samples()
    config = TrainConfig(model=TINY_MODEL, batch_size=2 * len(lines), lr=1e-2, warmup_steps=5, patience=epochs, augment=None, checkpoint_every=10**9)
    result = train_recognizer(lines * COPIES, lines, out_dir=out_dir, config=config, epochs=epochs, seed=seed, resume=False, show_progress=False)
    return result.best_path


def build_tiny_checkpoints(out_dir: str | os.PathLike) -> dict[str, Path]:
    """A tiny recognizer, and a tiny detector when the detection package provides one."""
    out_dir = Path(out_dir)
    threads = torch.get_num_threads()
    # One thread: tiny layers gain nothing from more, and the result is the same on every machine.
    torch.set_num_threads(1)
    try:
        paths = {"recognizer": build_tiny_recognizer(out_dir / "recognizer")}
        try:
            from ml.detection.tiny import build_tiny_detector
        except ImportError:
            return paths
        from ml.data.synthetic import render_page

        pages = [render_page(sample_text_lines(5, seed=20 + i), seed=i) for i in range(3)]
        paths["detector"] = build_tiny_detector(out_dir / "detector", [(image, page.lines) for image, page in pages])
        return paths
    finally:
        torch.set_num_threads(threads)
