"""Detector training: a function a worker can call with in-memory pages.

    result = train_detector(train_pages, val_pages, out_dir=..., epochs=60)

The loop is `ml.trainer.Trainer` (resume from `last.pt`, budget, cancel, AMP, early stopping);
this module supplies the detector's part: random crops of the prepared pages, the line-body
loss (cross-entropy plus dice, counted only where a partly checked page is known), validation
by F1 at IoU 0.5 on whole pages, and a learning rate halved when val F1 stalls.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ml.checkpoints import load_checkpoint
from ml.detection.augment import PageAugmentConfig, sample_crops
from ml.detection.data import PageSample, PartialPage, TrainingPage
from ml.detection.evaluate import ValPage, evaluate
from ml.detection.geometry import as_line_geometry, to_gray_array
from ml.detection.model import DetectorConfig, LineBodyNet, parameter_count
from ml.detection.postprocess import PostprocessConfig
from ml.detection.predict import CHECKPOINT_KIND, Detector
from ml.detection.targets import known_region_mask, line_body_mask
from ml.progress import ProgressCallback
from ml.trainer import LoopConfig, Trainer, TrainResult, Validation, resumable_checkpoint

__all__ = ["DetectorTrainingConfig", "TrainConfig", "TrainResult", "train_detector"]


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
    """Everything that defines a detector training run, stored in its checkpoints."""

    model: DetectorConfig = field(default_factory=DetectorConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "postprocess": self.postprocess.to_dict(), "train": self.train.to_dict()}


def train_detector(
    train_pages: Sequence[TrainingPage],
    val_pages: Sequence[PageSample],
    *,
    out_dir: str | os.PathLike,
    config: DetectorTrainingConfig | None = None,
    init: str | os.PathLike | bytes | None = None,
    epochs: int,
    device: str = "cpu",
    callback: ProgressCallback | None = None,
    seed: int = 0,
    max_minutes: float | None = None,
    resume: bool = True,
    show_progress: bool = True,
) -> TrainResult:
    """Train on `(PIL image, lines)` samples (lines are boxes, polygons, dicts or `LineAnnotation`s) and
    `PartialPage`s, which teach only where people checked them; validate on whole pages.

    `init` starts from another detector checkpoint (fine-tuning; its model config wins over
    `config.model`). With `resume`, an existing `out_dir/last.pt` is continued instead, optimizer
    and counters included. `max_minutes` bounds wall-clock training time across resumes (the
    running epoch is cut short, then validated and saved). A callback raising `TrainingCancelled`
    stops training at that step and leaves `last.pt`; the result then says `stopped="cancelled"`.
    `best_metrics` of the result: val precision, recall, F1 and counts.
    """
    if not train_pages or not val_pages:
        raise ValueError("need at least one training page and one validation page")
    config = config or DetectorTrainingConfig()
    resumed = resumable_checkpoint(out_dir, CHECKPOINT_KIND, resume=resume)
    start_from = resumed if resumed is not None else (
        load_checkpoint(init, expected_kind=CHECKPOINT_KIND) if init is not None else None)
    if start_from is not None:
        # The weights decide the architecture: a fine-tuned or resumed model keeps its own.
        config = replace(config, model=DetectorConfig.from_dict(start_from["config"]["model"]))
    torch.manual_seed(seed)
    task = DetectorTask(train_pages, val_pages, config=config, device=device, seed=seed)
    if start_from is not None:
        task.model.load_state_dict(start_from["state_dict"])
    loop = LoopConfig(epochs=epochs, patience=config.train.patience, callback_every=config.train.progress_every)
    trainer = Trainer(task, out_dir=out_dir, loop=loop, device=device, seed=seed, max_minutes=max_minutes,
                      callback=callback, show_progress=show_progress)
    return trainer.run(resumed)


@dataclass
class PreparedPage:
    gray: np.ndarray                # (H, W) float32 in [0, 1] at the network's input scale
    body: np.ndarray                # (H, W) float32 line-body target at the same scale
    known: np.ndarray | None = None  # (H, W) float32 where the loss counts; None: everywhere


def prepare_page(sample: TrainingPage, model: DetectorConfig) -> PreparedPage:
    if isinstance(sample, PartialPage):
        gray, scale = to_gray_array(sample.image, model.input_long_side)
        lines = [as_line_geometry(line) for line in sample.lines]
        known = known_region_mask(lines, [as_line_geometry(box) for box in sample.not_lines],
                                  [as_line_geometry(box) for box in sample.unchecked], gray.shape, scale)
        return PreparedPage(gray, line_body_mask(lines, gray.shape, scale, model.body_shrink), known)
    image, lines = sample
    gray, scale = to_gray_array(image, model.input_long_side)
    geometry = [as_line_geometry(line) for line in lines]
    return PreparedPage(gray, line_body_mask(geometry, gray.shape, scale, model.body_shrink))


def body_loss(logits: torch.Tensor, targets: torch.Tensor, dice_weight: float,
              known: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy plus soft dice over the batch, on `(N, 1, h, w)` logits and soft targets.

    `known` `(N, 1, h, w)` weighs each pixel (0 where a partly checked page says nothing); all ones
    gives exactly the unweighted loss.
    """
    if known is None:
        known = torch.ones_like(targets)
    bce = (F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * known).sum() \
        / known.sum().clamp(min=1.0)
    probability = torch.sigmoid(logits) * known
    targets = targets * known
    overlap = (probability * targets).sum()
    dice = 1 - (2 * overlap + 1) / (probability.sum() + targets.sum() + 1)
    return bce + dice_weight * dice


class DetectorTask:
    """The detector's part of a training run (see `ml.trainer.TrainingTask`)."""

    kind = CHECKPOINT_KIND
    metric_name = "f1"
    higher_is_better = True

    def __init__(self, train_pages: Sequence[TrainingPage], val_pages: Sequence[PageSample], *,
                 config: DetectorTrainingConfig, device: str, seed: int) -> None:
        self.config, self.seed = config, seed
        self.device = torch.device(device)
        self.model = LineBodyNet(config.model).to(self.device)
        train = config.train
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=train.learning_rate,
                                           weight_decay=train.weight_decay)
        # Halving the rate when val F1 stalls settles the noisy F1 without knowing the run's length in advance.
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=0.5, patience=train.plateau_patience)
        self.prepared = [prepare_page(sample, config.model) for sample in train_pages]
        self.validation = [ValPage(image, [as_line_geometry(line).bbox for line in lines])
                           for image, lines in val_pages]
        partial = sum(isinstance(page, PartialPage) for page in train_pages)
        self.meta = {"seed": seed, "train_pages": len(train_pages), "partial_train_pages": partial,
                     "val_pages": len(val_pages),
                     "parameters": parameter_count(self.model), "device": str(self.device)}

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Every page `crops_per_page` times, in an order fixed by (seed, epoch)."""
        train = self.config.train
        rng = np.random.default_rng([self.seed, epoch])
        order = np.concatenate([rng.permutation(len(self.prepared)) for _ in range(train.crops_per_page)]).tolist()
        steps = math.ceil(len(order) / train.batch_size)
        return [order[index * train.batch_size:(index + 1) * train.batch_size] for index in range(steps)]

    def forward(self, indices: Sequence[int], rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        train = self.config.train
        chosen = [self.prepared[i] for i in indices]
        images, targets = sample_crops([page.gray for page in chosen], [page.body for page in chosen],
                                       train.crop_size, self.config.model.output_stride, rng, train.augment,
                                       weights=[page.known for page in chosen])
        return self.model(images.to(self.device)), targets.to(self.device)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """`targets` `(N, 2, h, w)`: the line-body target and where it is known (see `sample_crops`)."""
        return body_loss(logits.float(), targets[:, :1], self.config.train.dice_weight, known=targets[:, 1:])

    def after_step(self, time_fraction: float) -> None:
        pass

    def after_epoch(self, validation: Validation | None) -> None:
        if validation is not None:
            self.scheduler.step(validation.value)

    def validate(self) -> Validation:
        detector = Detector(self.model, self.config.model, self.config.postprocess, device=self.device)
        metrics = evaluate(detector, self.validation)
        return Validation(metrics["f1"], metrics)

    def best_meta(self, validation: Validation | None) -> dict[str, Any]:
        return {**self.meta, "val": validation.metrics if validation is not None else {}}

    def last_meta(self, best_metrics: dict[str, Any]) -> dict[str, Any]:
        return {**self.meta, "val": best_metrics}

    def payload(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint: tensors and builtins only, so it loads with `weights_only=True`."""
        state_dict = {key: value.detach().cpu() for key, value in self.model.state_dict().items()}
        return {"kind": CHECKPOINT_KIND, "config": self.config.to_dict(), "state_dict": state_dict, "meta": meta}

    def schedule_state(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_schedule_state(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()
