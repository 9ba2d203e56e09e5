"""The training loop both models share: resume, checkpoints, budget, cancel, AMP, early stopping, progress.

    task = RecognizerTask(...)            # or DetectorTask: the model, its batches, its loss, its metric
    result = Trainer(task, out_dir=..., loop=LoopConfig(epochs=30), max_minutes=20).run(resumed)

A task (`TrainingTask`) supplies what differs between models; the trainer does the rest:
- `last.pt` = the task's inference payload plus `"training"`: {"optimizer", "schedule", "scaler",
  "loop" (TrainState), "config", "seed"}, written at each epoch end, every `checkpoint_every`
  steps, on cancel and on time-out; a new call on the same folder resumes from it, mid-epoch.
- `best.pt` = the inference payload of the model with the best validation metric.
- `max_minutes` counts wall-clock time across resumes (`TrainState.elapsed_seconds`).
- Batches are index lists fixed by (seed, epoch); each step's random generator is seeded by
  (seed, epoch, step in epoch), so a resumed run sees the batches an uninterrupted one would.
- A callback raising `TrainingCancelled` stops at that step, with `last.pt` saved.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from ml.checkpoints import load_checkpoint, save_checkpoint
from ml.progress import Progress, ProgressCallback, TrainingCancelled

log = logging.getLogger(__name__)

STOP_REASONS = ("completed", "early_stopping", "time_budget", "cancelled")


@dataclass
class LoopConfig:
    epochs: int = 50
    max_steps: int | None = None         # a fixed step budget: stops there, "completed"
    patience: int = 10                   # epochs without a better val metric before stopping
    patience_after_steps: int = 0        # ...counted only after this many steps
    checkpoint_every: int | None = None  # steps between mid-epoch saves of last.pt (None: at epoch ends only)
    callback_every: int = 10             # steps between progress reports
    grad_clip: float | None = None


@dataclass
class Validation:
    value: float                         # the metric that picks best.pt (the task says which way is better)
    metrics: dict[str, Any]              # builtins only: stored in checkpoints and in the result


class TrainingTask(Protocol):
    """What a model brings to the trainer."""

    kind: str                            # the checkpoint kind
    metric_name: str                     # as progress reports it: "val_cer", "f1"
    higher_is_better: bool
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def epoch_batches(self, epoch: int) -> list[list[int]]: ...
    def forward(self, batch_indices: Sequence[int], rng: np.random.Generator) -> tuple[Any, Any]: ...
    def loss(self, output: Any, target: Any) -> torch.Tensor: ...
    def after_step(self, time_fraction: float) -> None: ...
    def after_epoch(self, validation: Validation | None) -> None: ...
    def validate(self) -> Validation | None: ...
    def payload(self, meta: dict[str, Any]) -> dict[str, Any]: ...
    def best_meta(self, validation: Validation | None) -> dict[str, Any]: ...
    def last_meta(self, best_metrics: dict[str, Any]) -> dict[str, Any]: ...
    def schedule_state(self) -> dict[str, Any]: ...
    def load_schedule_state(self, state: dict[str, Any]) -> None: ...
    def config_dict(self) -> dict[str, Any]: ...


@dataclass
class TrainState:
    """Everything besides weights that a resumed run needs; builtins only."""
    epoch: int = 0                       # epochs completed
    step: int = 0
    step_in_epoch: int = 0
    best_value: float | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)
    epochs_without_improvement: int = 0
    elapsed_seconds: float = 0.0         # wall clock across resumes: what max_minutes bounds
    train_seconds: float = 0.0           # in optimizer steps only
    samples_seen: int = 0
    epoch_loss_sum: float = 0.0
    epoch_loss_steps: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)   # per epoch: loss and val metrics


@dataclass
class TrainResult:
    best_path: Path
    last_path: Path
    best_metrics: dict[str, Any]         # val metrics of best.pt ({} without validation data)
    epochs_completed: int
    steps: int
    stopped: str                         # one of STOP_REASONS
    wall_seconds: float                  # this call only
    samples_per_second: float            # training samples (lines, pages) per second of optimizer steps
    history: list[dict[str, Any]]
    alphabet: list[str] = field(default_factory=list)     # the recognizer's characters (classes 1..); [] for a detector

    @property
    def cancelled(self) -> bool:
        return self.stopped == "cancelled"


def resumable_checkpoint(out_dir: str | os.PathLike, kind: str, *, resume: bool = True) -> dict[str, Any] | None:
    """`out_dir/last.pt` when resuming and it exists, in today's layout (older layouts are upgraded)."""
    path = Path(out_dir) / "last.pt"
    if not (resume and path.exists()):
        return None
    return upgrade_last(load_checkpoint(path, expected_kind=kind))


def upgrade_last(payload: dict[str, Any]) -> dict[str, Any]:
    """A `last.pt` written before both models shared this trainer, in today's layout."""
    if "training_state" in payload:       # the detector's own loop kept its state at the top level
        old = payload.pop("training_state")
        payload["training"] = {
            "optimizer": payload.pop("optimizer"), "schedule": payload.pop("scheduler"),
            "scaler": payload.pop("scaler", None), "config": payload.get("config", {}),
            "loop": {"epoch": old["epoch"], "step": old["step"],
                     "best_value": old["best_f1"] if old.get("best_f1", -1) >= 0 else None,
                     "best_metrics": old.get("best_metrics", {}),
                     "epochs_without_improvement": old.get("stale_epochs", 0), "history": old.get("history", [])},
        }
        return payload
    loop = payload.get("training", {}).get("loop", {})
    if "best_val_cer" in loop:           # the recognizer's own loop
        best = loop.pop("best_val_cer")
        wer = loop.pop("best_val_wer", math.inf)
        calibration = loop.pop("best_calibration", None)
        loop["best_value"] = best if math.isfinite(best) else None
        loop["best_metrics"] = {"cer": best, "wer": wer, "calibration": calibration} if math.isfinite(best) else {}
        loop["samples_seen"] = loop.pop("lines_seen", 0)
    return payload


class Trainer:
    def __init__(self, task: TrainingTask, *, out_dir: str | os.PathLike, loop: LoopConfig, device: str = "cpu",
                 seed: int = 0, max_minutes: float | None = None, callback: ProgressCallback | None = None,
                 show_progress: bool = True) -> None:
        self.task, self.loop, self.seed, self.callback = task, loop, seed, callback
        self.device = torch.device(device)
        self.out_dir = Path(out_dir)
        self.best_path, self.last_path = self.out_dir / "best.pt", self.out_dir / "last.pt"
        self.budget = max_minutes * 60 if max_minutes else None
        self.show_progress = show_progress
        self.use_amp = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state = TrainState()
        self.steps_per_epoch = len(task.epoch_batches(0))
        total = loop.epochs * self.steps_per_epoch
        self.total_steps = total if loop.max_steps is None else min(loop.max_steps, total)
        self.last_loss = math.nan

    def run(self, resumed: dict[str, Any] | None = None, *, alphabet: Sequence[str] = ()) -> TrainResult:
        """Train to a stop reason; `resumed` is `resumable_checkpoint(...)` (its weights are already in the task)."""
        if resumed is not None:
            self._restore(resumed["training"])
        started_call = time.monotonic()
        self.started = started_call - self.state.elapsed_seconds
        bar = tqdm(total=self.total_steps, initial=self.state.step, disable=not self.show_progress,
                   desc=self.task.kind, unit="step")
        try:
            stopped = self._epochs(bar)
        finally:
            bar.close()
            if not self.best_path.exists():
                self._save_best(None)
        state = self.state
        speed = state.samples_seen / state.train_seconds if state.train_seconds else 0.0
        return TrainResult(best_path=self.best_path, last_path=self.last_path, best_metrics=dict(state.best_metrics),
                           epochs_completed=state.epoch, steps=state.step, stopped=stopped,
                           wall_seconds=time.monotonic() - started_call, samples_per_second=speed,
                           history=list(state.history), alphabet=list(alphabet))

    def _restore(self, training: dict[str, Any]) -> None:
        self.task.optimizer.load_state_dict(training["optimizer"])
        self.task.load_schedule_state(training["schedule"])
        if training.get("scaler"):
            self.scaler.load_state_dict(training["scaler"])
        known = {f.name for f in dataclasses.fields(TrainState)}
        self.state = TrainState(**{key: value for key, value in training["loop"].items() if key in known})

    def _epochs(self, bar: tqdm) -> str:
        state = self.state
        while state.epoch < self.loop.epochs:
            stopped = self._epoch(bar)
            if stopped:
                return stopped
            if (state.epochs_without_improvement >= self.loop.patience
                    and state.step >= self.loop.patience_after_steps):
                return "early_stopping"
        return "completed"

    def _epoch(self, bar: tqdm) -> str | None:
        """One epoch from `step_in_epoch`; returns why training stopped, or None to go on."""
        state = self.state
        torch.manual_seed(self.seed * 100_003 + state.epoch)     # dropout masks: a function of the epoch
        batches = self.task.epoch_batches(state.epoch)
        self.task.model.train()
        while state.step_in_epoch < len(batches):
            if self.loop.max_steps is not None and state.step >= self.loop.max_steps:
                return self._end_epoch(partial=True) or "completed"
            loss = self.last_loss = self._step(batches[state.step_in_epoch])
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            if self.loop.checkpoint_every and state.step % self.loop.checkpoint_every == 0:
                self._save_last()
            try:
                if self.callback and state.step % self.loop.callback_every == 0:
                    self.callback(self._progress(loss))
            except TrainingCancelled:
                self._save_last()
                return "cancelled"
            if self._out_of_time():
                return self._end_epoch(partial=True) or "time_budget"
        return self._end_epoch(partial=False)

    def _step(self, indices: Sequence[int]) -> float:
        state, task = self.state, self.task
        tick = time.monotonic()
        rng = np.random.default_rng([self.seed, state.epoch, state.step_in_epoch])
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()
        with autocast:
            output, target = task.forward(indices, rng)
        loss = task.loss(output, target)        # in float32: half precision underflows (CTC on long lines)
        task.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.loop.grad_clip is not None:
            self.scaler.unscale_(task.optimizer)
            torch.nn.utils.clip_grad_norm_(task.model.parameters(), self.loop.grad_clip)
        self.scaler.step(task.optimizer)
        self.scaler.update()
        task.after_step(self._time_fraction())
        value = float(loss.detach())
        state.step += 1
        state.step_in_epoch += 1
        state.samples_seen += len(indices)
        state.epoch_loss_sum += value
        state.epoch_loss_steps += 1
        state.train_seconds += time.monotonic() - tick
        return value

    def _end_epoch(self, *, partial: bool) -> str | None:
        """Validate, keep the best model, save last.pt, report. A partial epoch (time-out, step budget) is not
        counted: a resumed run finishes it."""
        state, task = self.state, self.task
        validation = task.validate()
        task.model.train()
        if validation is not None:
            log.info("%s epoch %d val %s %.4f", task.kind, state.epoch, task.metric_name, validation.value)
        improved = validation is not None and self._better(validation.value)
        if improved:
            state.best_value, state.best_metrics = validation.value, validation.metrics
            state.epochs_without_improvement = 0
            self._save_best(validation)
        elif validation is None:
            self._save_best(None)           # no validation data: the latest model is the best one there is
        if not partial:
            if not improved:
                state.epochs_without_improvement += 1
            loss = state.epoch_loss_sum / state.epoch_loss_steps if state.epoch_loss_steps else 0.0
            state.epoch += 1
            state.step_in_epoch = 0
            state.epoch_loss_sum, state.epoch_loss_steps = 0.0, 0
            figures = {k: v for k, v in (validation.metrics if validation else {}).items() if not isinstance(v, dict)}
            state.history.append({"epoch": state.epoch, "loss": loss, **figures})
            task.after_epoch(validation)
        self._save_last()
        if self.callback is not None and validation is not None:
            try:
                self.callback(self._progress(self.last_loss, val_metric=validation.value))
            except TrainingCancelled:
                return "cancelled"          # the epoch is saved
        return None

    def _better(self, value: float) -> bool:
        best = self.state.best_value
        if best is None:
            return True
        return value > best if self.task.higher_is_better else value < best

    def _save_best(self, validation: Validation | None) -> None:
        meta = {"epoch": self.state.epoch, "step": self.state.step, **self.task.best_meta(validation)}
        save_checkpoint(self.task.payload(meta), self.best_path)

    def _save_last(self) -> None:
        self.state.elapsed_seconds = time.monotonic() - self.started
        payload = self.task.payload({"epoch": self.state.epoch, "step": self.state.step,
                                     **self.task.last_meta(self.state.best_metrics)})
        payload["training"] = {
            "optimizer": self.task.optimizer.state_dict(),
            "schedule": self.task.schedule_state(),
            "scaler": self.scaler.state_dict(),
            "loop": dataclasses.asdict(self.state),
            "config": self.task.config_dict(),
            "seed": self.seed,
        }
        save_checkpoint(payload, self.last_path)

    def _time_fraction(self) -> float:
        return (time.monotonic() - self.started) / self.budget if self.budget else 0.0

    def _out_of_time(self) -> bool:
        return self.budget is not None and time.monotonic() - self.started >= self.budget

    def _progress(self, loss: float, val_metric: float | None = None) -> Progress:
        state = self.state
        elapsed = time.monotonic() - self.started
        eta = elapsed / state.step * (self.total_steps - state.step) if state.step else None
        if self.budget:
            eta = min(eta if eta is not None else math.inf, max(0.0, self.budget - elapsed))
        return Progress(epoch=state.epoch, step=state.step, total_steps=self.total_steps, loss=loss,
                        val_metric=val_metric, val_metric_name=self.task.metric_name, eta_seconds=eta,
                        best_val_metric=state.best_value)
