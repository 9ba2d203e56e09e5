"""Everything that defines a detector training run, stored in its checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ml.detection.augment import PageAugmentConfig
from ml.detection.model import DetectorConfig
from ml.detection.postprocess import PostprocessConfig


@dataclass
class TrainConfig:
    batch_size: int = 4
    crop_size: int = 320            # input pixels; a multiple of 8
    crops_per_page: int = 1         # an epoch draws this many crops from every training page
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 10              # epochs without a better val F1 before stopping
    plateau_patience: int = 2       # epochs without a better val F1 before halving the learning rate
    dice_weight: float = 1.0        # dice keeps thin line bodies from being drowned by background
    progress_every: int = 10        # steps between progress callbacks
    augment: PageAugmentConfig = field(default_factory=PageAugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["augment"] = self.augment.to_dict()
        return payload


@dataclass
class DetectorTrainingConfig:
    model: DetectorConfig = field(default_factory=DetectorConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "postprocess": self.postprocess.to_dict(), "train": self.train.to_dict()}
