"""The training loop behind `train_detector`: epochs, validation, checkpoints, progress.

`last.pt` (weights, optimizer, scheduler, counters, history) is written
atomically after every epoch and when training is cancelled; a new run on the
same folder continues from it. The crops of an epoch come from a generator
seeded by (seed, epoch), so a resumed run draws the crops an uninterrupted one
would have drawn.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ml.checkpoints import save_checkpoint
from ml.detection.augment import sample_crops
from ml.detection.data import PageSample
from ml.detection.detector import CHECKPOINT_KIND, Detector
from ml.detection.geometry import BBox, as_line_geometry, to_gray_array
from ml.detection.metrics import detection_prf, sum_prf
from ml.detection.model import DetectorConfig, LineBodyNet, parameter_count
from ml.detection.targets import line_body_mask
from ml.detection.train_config import DetectorTrainingConfig
from ml.progress import Progress, ProgressCallback, TrainingCancelled

VAL_METRIC = "f1"


@dataclass
class TrainResult:
    best_path: Path
    last_path: Path
    best_metrics: dict[str, Any]    # val P/R/F1 and counts of best.pt
    epochs_completed: int
    steps: int
    wall_seconds: float             # this call only, not earlier runs it resumed
    stopped: str                    # "epochs" | "early_stopping" | "time_limit" | "cancelled"
    history: list[dict[str, Any]]   # one entry per epoch: loss and val metrics

    @property
    def cancelled(self) -> bool:
        return self.stopped == "cancelled"


@dataclass
class PreparedPage:
    gray: np.ndarray                # (H, W) float32 in [0, 1] at the network's input scale
    body: np.ndarray                # (H, W) float32 line-body target at the same scale


@dataclass
class ValPage:
    image: Any                      # PIL image at page resolution
    boxes: list[BBox]


@dataclass
class RunState:
    """Counters that `last.pt` keeps so a resumed run carries on where the killed one stopped."""

    epoch: int = 0                  # epochs completed
    step: int = 0
    best_f1: float = -1.0
    best_metrics: dict[str, Any] = field(default_factory=dict)
    stale_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class TrainingRun:
    def __init__(self, train_pages: Sequence[PageSample], val_pages: Sequence[PageSample], *, out_dir: Path,
                 config: DetectorTrainingConfig, start_from: dict[str, Any] | None, resuming: bool,
                 device: torch.device, seed: int, callback: ProgressCallback | None, show_progress: bool) -> None:
        if start_from is not None:
            # The weights decide the architecture: a fine-tuned or resumed model keeps its own.
            config = replace(config, model=DetectorConfig.from_dict(start_from["config"]["model"]))
        self.config, self.device, self.seed = config, device, seed
        self.callback, self.show_progress = callback, show_progress
        self.best_path, self.last_path = out_dir / "best.pt", out_dir / "last.pt"
        torch.manual_seed(seed)
        self.network = LineBodyNet(config.model).to(device)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=config.train.learning_rate,
                                           weight_decay=config.train.weight_decay)
        # Halving the rate when val F1 stalls settles the noisy F1 without knowing the run's length in advance.
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=0.5, patience=config.train.plateau_patience)
        self.use_amp = device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state = RunState()
        if start_from is not None:
            self.network.load_state_dict(start_from["state_dict"])
        if resuming and start_from is not None:
            self.optimizer.load_state_dict(start_from["optimizer"])
            self.scheduler.load_state_dict(start_from["scheduler"])
            self.scaler.load_state_dict(start_from["scaler"])
            self.state = RunState(**start_from["training_state"])
        self.prepared = [prepare_page(sample, config.model) for sample in train_pages]
        self.validation = [ValPage(image, [as_line_geometry(line).bbox for line in lines]) for image, lines in val_pages]
        self.meta = {"seed": seed, "train_pages": len(train_pages), "val_pages": len(val_pages),
                     "parameters": parameter_count(self.network), "device": str(device)}

    def run(self, epochs: int, deadline: float) -> str:
        """Train until `epochs` are done, val F1 stops improving, the monotonic `deadline` passes or a cancel."""
        steps_per_epoch = math.ceil(len(self.prepared) * self.config.train.crops_per_page / self.config.train.batch_size)
        self.clock = _StepClock(steps_per_epoch * epochs, deadline)
        try:
            while self.state.epoch < epochs:
                losses = self.train_epoch(steps_per_epoch, epochs, deadline)
                self.end_epoch(losses)
                if time.monotonic() > deadline:
                    return "time_limit"
                if self.state.stale_epochs >= self.config.train.patience:
                    return "early_stopping"
            return "epochs"
        except TrainingCancelled:
            # The partial epoch's weights are kept; a resumed run repeats that epoch's crops.
            self.save_last()
            return "cancelled"
        finally:
            if not self.best_path.exists():
                save_checkpoint(self.payload(), self.best_path)

    def train_epoch(self, steps: int, epochs: int, deadline: float) -> list[float]:
        train = self.config.train
        rng = np.random.default_rng([self.seed, self.state.epoch])
        order = np.concatenate([rng.permutation(len(self.prepared)) for _ in range(train.crops_per_page)])
        self.network.train()
        losses = []
        bar = tqdm(range(steps), desc=f"detector epoch {self.state.epoch + 1}/{epochs}",
                   disable=not self.show_progress, leave=False, file=sys.stderr)
        for index in bar:
            chosen = [self.prepared[i] for i in order[index * train.batch_size:(index + 1) * train.batch_size]]
            images, targets = sample_crops([page.gray for page in chosen], [page.body for page in chosen],
                                           train.crop_size, self.config.model.output_stride, rng, train.augment)
            loss = train_step(self.network, self.optimizer, self.scaler, images.to(self.device),
                              targets.to(self.device), train.dice_weight, self.use_amp)
            losses.append(loss)
            self.state.step += 1
            bar.set_postfix(loss=f"{loss:.3f}")
            if self.state.step % train.progress_every == 0:
                self.report(epoch=self.state.epoch + 1, loss=loss, val_metric=None)
            if time.monotonic() > deadline:
                break
        return losses

    def end_epoch(self, losses: list[float]) -> None:
        """Validate, keep the best weights, save `last.pt`, adjust the learning rate and report."""
        detector = Detector(self.network, self.config.model, self.config.postprocess, device=self.device)
        metrics = evaluate(detector, self.validation)
        state = self.state
        state.epoch += 1
        loss = float(np.mean(losses)) if losses else 0.0
        state.history.append({"epoch": state.epoch, "loss": loss, **metrics})
        if metrics[VAL_METRIC] > state.best_f1:
            state.best_f1, state.best_metrics, state.stale_epochs = metrics[VAL_METRIC], metrics, 0
            save_checkpoint(self.payload(), self.best_path)
        else:
            state.stale_epochs += 1
        self.scheduler.step(metrics[VAL_METRIC])
        self.save_last()
        self.report(epoch=state.epoch, loss=loss, val_metric=metrics[VAL_METRIC])

    def report(self, *, epoch: int, loss: float, val_metric: float | None) -> None:
        if self.callback is None:
            return
        best = self.state.best_f1 if self.state.best_f1 >= 0 else None
        self.callback(Progress(epoch=epoch, step=self.state.step, total_steps=self.clock.total_steps, loss=loss,
                               val_metric=val_metric, val_metric_name=VAL_METRIC,
                               eta_seconds=self.clock.eta(self.state.step), best_val_metric=best))

    def payload(self, **extra: Any) -> dict[str, Any]:
        """The checkpoint: tensors and builtins only, so it loads with `weights_only=True`."""
        state_dict = {key: value.detach().cpu() for key, value in self.network.state_dict().items()}
        meta = {**self.meta, "val": self.state.best_metrics, "epoch": self.state.epoch, "step": self.state.step}
        return {"kind": CHECKPOINT_KIND, "config": self.config.to_dict(), "state_dict": state_dict, "meta": meta,
                **extra}

    def save_last(self) -> None:
        save_checkpoint(self.payload(optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                                     scaler=self.scaler.state_dict(), training_state=asdict(self.state)),
                        self.last_path)


class _StepClock:
    """Estimates the time left from the pace of this call's steps, capped by the deadline."""

    def __init__(self, total_steps: int, deadline: float) -> None:
        self.total_steps, self.deadline = total_steps, deadline
        self.started = time.monotonic()
        self.first_step: int | None = None

    def eta(self, step: int) -> float | None:
        if self.first_step is None:
            self.first_step = step - 1
        done = step - self.first_step
        now = time.monotonic()
        by_pace = (now - self.started) / max(done, 1) * max(self.total_steps - step, 0)
        return min(by_pace, max(self.deadline - now, 0.0))


def prepare_page(sample: PageSample, model: DetectorConfig) -> PreparedPage:
    image, lines = sample
    gray, scale = to_gray_array(image, model.input_long_side)
    geometry = [as_line_geometry(line) for line in lines]
    return PreparedPage(gray, line_body_mask(geometry, gray.shape, scale, model.body_shrink))


def train_step(network: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               images: torch.Tensor, targets: torch.Tensor, dice_weight: float, use_amp: bool) -> float:
    """One optimisation step on `(N, 1, C, C)` crops and `(N, 1, C/s, C/s)` targets; returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=images.device.type, dtype=torch.float16, enabled=use_amp):
        logits = network(images)
    loss = body_loss(logits.float(), targets, dice_weight)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def body_loss(logits: torch.Tensor, targets: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """Binary cross-entropy plus soft dice over the batch, on `(N, 1, h, w)` logits and soft targets."""
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    probability = torch.sigmoid(logits)
    overlap = (probability * targets).sum()
    dice = 1 - (2 * overlap + 1) / (probability.sum() + targets.sum() + 1)
    return bce + dice_weight * dice


def evaluate(detector: Detector, pages: Sequence[ValPage], iou: float = 0.5) -> dict[str, Any]:
    """Micro-averaged detection P/R/F1 at `iou` over the pages."""
    was_training = detector.network.training
    detector.network.eval()
    results = [detection_prf([line.bbox for line in detector.detect(page.image)], page.boxes, iou) for page in pages]
    detector.network.train(was_training)
    return sum_prf(results)
