"""Training configurations, with overrides from settings (small models in tests, bigger on GPUs)."""

from __future__ import annotations

import dataclasses

import torch
from django.conf import settings

from ml.detection.model import DetectorConfig
from ml.detection.train import DetectorTrainingConfig
from ml.detection.train import TrainConfig as DetectorLoopConfig
from ml.recognition.model import RecognizerConfig
from ml.recognition.train import TrainConfig as RecognizerTrainConfig


def training_device() -> str:
    """CUDA when the worker has it (CUDA_VISIBLE_DEVICES picks the card), else the CPU."""
    wanted = settings.INKLOOP_DEVICE
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


# Fine-tuning a recognizer that already reads (the base, or the promoted version) starts with a short warm-up
# and a gentler rate than training from nothing, whose first hundred steps climb out of CTC's all-blank
# plateau. Measured with bench/fewshot.py (200 lines of new hands, 300 steps): test CER 36.6 % at 5e-4,
# 36.1 % at 1e-3 and 2e-3; a run of the product's length then needs no more. INKLOOP_TRAINING's
# "recognizer_fine_tuning" overrides these; its "recognizer" section applies to both.
FINE_TUNING = {"lr": 1e-3, "warmup_steps": 30}


def recognizer_config(*, fine_tuning: bool = False) -> RecognizerTrainConfig:
    overrides = dict(settings.INKLOOP_TRAINING.get("recognizer", {}))
    if fine_tuning:
        overrides.update(FINE_TUNING, **settings.INKLOOP_TRAINING.get("recognizer_fine_tuning", {}))
    model = RecognizerConfig.from_dict({**RecognizerConfig(num_classes=0).as_dict(), **overrides.pop("model", {})})
    config = RecognizerTrainConfig(model=model)
    if overrides.pop("augment", True) is None:
        config.augment = None
    return dataclasses.replace(config, **overrides)


def detector_config() -> DetectorTrainingConfig:
    overrides = dict(settings.INKLOOP_TRAINING.get("detector", {}))
    model = DetectorConfig.from_dict({**DetectorConfig().to_dict(), **overrides.pop("model", {})})
    loop = dataclasses.replace(DetectorLoopConfig(), **overrides.pop("train", {}))
    return DetectorTrainingConfig(model=model, train=loop)


def epochs(kind: str) -> int:
    return int(settings.INKLOOP_TRAINING.get("epochs", {}).get(kind, 30))


def max_minutes(kind: str) -> float | None:
    value = settings.INKLOOP_TRAINING.get("max_minutes", {}).get(kind)
    return float(value) if value is not None else None
