"""A very small recognizer trained in seconds on CPU, for tests of code that needs a real checkpoint.

It memorises a handful of synthetic lines (`TINY_TEXTS`), so it reads them
back almost perfectly and reads anything else badly: enough to test decoding,
confidences, CLIs and the web layer, and useless for real pages.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml.data.lines import LineSample
from ml.data.synthetic import render_line
from ml.recognition.model import RecognizerConfig
from ml.recognition.train import TrainConfig, train_recognizer

TINY_MODEL = RecognizerConfig(num_classes=0, height=32, channels=(8, 16, 32, 32), projection=48, lstm_hidden=64,
                              lstm_layers=1, dropout=0.0)
TINY_TEXTS = ["le 12 mars 1915", "mon frère Louis", "à Paris, église", "quinze enfants"]
COPIES = 8   # identical copies per line: more steps per epoch, fewer validation passes


def tiny_line_samples(texts: list[str] = TINY_TEXTS, *, seed: int = 0) -> list[LineSample]:
    return [LineSample(render_line(text, seed=seed + i, height=48), text, group=f"tiny-{i}", id=f"tiny-{i}")
            for i, text in enumerate(texts)]


def build_tiny_recognizer(out_dir: str | os.PathLike, *, seed: int = 0, epochs: int = 60) -> Path:
    """Train on TINY_TEXTS (also the validation set) and return the path of `best.pt`."""
    lines = tiny_line_samples()
    config = TrainConfig(model=TINY_MODEL, batch_size=2 * len(lines), lr=1e-2, warmup_steps=5, patience=epochs,
                         augment=None, checkpoint_every=10**9)
    result = train_recognizer(lines * COPIES, lines, out_dir=out_dir, config=config, epochs=epochs, seed=seed,
                              resume=False, show_progress=False)
    return result.best_path
