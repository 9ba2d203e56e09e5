"""A very small detector trained in seconds on CPU, for tests of code that needs a real checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ml.detection.augment import NO_AUGMENTATION
from ml.detection.data import PageSample
from ml.detection.model import DetectorConfig
from ml.detection.train import DetectorTrainingConfig, TrainConfig, train_detector

TINY_CONFIG = DetectorTrainingConfig(
    model=DetectorConfig(input_long_side=256, channels=(8, 12, 16)),
    train=TrainConfig(batch_size=2, crop_size=128, crops_per_page=2, learning_rate=5e-3, augment=NO_AUGMENTATION),
)


def build_tiny_detector(out_dir: str | os.PathLike, pages: Sequence[PageSample], *, epochs: int = 3,
                        seed: int = 0) -> Path:
    """Train on `pages` (the first two also validate) and return the path of `best.pt`.

    The weights are far from useful; they are real, loadable and deterministic for a seed.
    """
    result = train_detector(pages, pages[:2], out_dir=out_dir, config=TINY_CONFIG, epochs=epochs,
                            device="cpu", seed=seed, resume=False, show_progress=False)
    return result.best_path
