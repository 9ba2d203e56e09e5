"""Recognizer training: a function a worker can call with in-memory lines.

    result = train_recognizer(train_lines, val_lines, out_dir=..., config=TrainConfig(epochs=30))

The out dir holds `last.pt` (model, optimizer, schedule and loop state; written at each
epoch end, every `checkpoint_every` steps, on cancel and on time-out) and `best.pt` (the
model with the lowest val CER, with its fitted confidence temperature and measure).
Calling again with the same out dir resumes from `last.pt`.
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
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ml.checkpoints import load_checkpoint, save_checkpoint
from ml.data.alphabet import Alphabet
from ml.data.augment import AugmentConfig
from ml.data.lines import LineSample
from ml.evaluation import LineEvaluation, evaluate_arrays
from ml.models.recognizer import LineRecognizer, RecognizerConfig
from ml.progress import Progress, ProgressCallback, TrainingCancelled
from ml.recognition import CHECKPOINT_KIND, Recognizer, model_from_payload, recognizer_payload
from ml.training.batches import EncodedLine, encode_lines, epoch_batches, make_batch
from ml.training.schedule import WarmupCosineSchedule

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    model: RecognizerConfig = field(default_factory=lambda: RecognizerConfig(num_classes=0))  # num_classes comes from the alphabet
    epochs: int = 50
    max_steps: int | None = None         # a fixed step budget (the few-shot benchmark): stops there, "completed"
    batch_size: int = 16
    max_columns: int | None = 16 * 640   # padded pixels per batch row sum; bounds activation memory
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    patience: int = 10                   # epochs without a better val CER before stopping
    patience_after_steps: int = 2000     # ...counted only after this many steps: CTC starts on an all-blank
                                         # plateau that lasts hundreds of steps, and on a few hundred lines
                                         # ten epochs are far fewer steps than that
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    checkpoint_every: int = 200          # steps between mid-epoch saves of last.pt
    callback_every: int = 10             # steps between progress reports
    grad_clip: float = 5.0

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["model"] = self.model.as_dict()
        data["augment"] = None if self.augment is None else {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.augment).items()}
        return data


@dataclass
class TrainResult:
    best_path: Path
    last_path: Path
    best_val_cer: float
    best_val_wer: float
    epochs_completed: int
    steps: int
    stopped: str                         # "completed" | "early_stopping" | "time_budget" | "cancelled"
    train_lines_per_second: float
    alphabet: list[str]
    calibration: dict[str, Any] | None


@dataclass
class LoopState:
    """Everything besides weights that a resumed run needs; builtins only."""
    epoch: int = 0
    step: int = 0
    step_in_epoch: int = 0
    best_val_cer: float = math.inf
    best_val_wer: float = math.inf
    epochs_without_improvement: int = 0
    elapsed_seconds: float = 0.0
    train_seconds: float = 0.0
    lines_seen: int = 0
    best_calibration: dict | None = None


def train_recognizer(
    train_lines: Sequence[LineSample],
    val_lines: Sequence[LineSample],
    *,
    out_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    init: str | os.PathLike | bytes | None = None,
    epochs: int | None = None,
    device: str = "cpu",
    callback: ProgressCallback | None = None,
    seed: int = 0,
    max_minutes: float | None = None,
    resume: bool = True,
    show_progress: bool = True,
) -> TrainResult:
    """Train (or fine-tune from `init`, or resume from `out_dir/last.pt`) and return where the models are.

    `max_minutes` bounds wall-clock training time across resumes; the learning rate
    anneals to it. A callback raising TrainingCancelled stops at the next step with
    last.pt saved.
    """
    config = config or TrainConfig()
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    out_dir = Path(out_dir)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    torch.manual_seed(seed)
    resumed = load_checkpoint(last_path, expected_kind=CHECKPOINT_KIND) if resume and last_path.exists() else None

    model, alphabet = _build_model(config, train_lines, resumed, init)
    model.to(device)
    train_set = encode_lines(train_lines, alphabet, model.config.height, model.config.horizontal_scale)
    val_set = encode_lines(val_lines, alphabet, model.config.height, model.config.horizontal_scale)
    if not train_set:
        raise ValueError("no training line has a transcription with known characters")

    steps_per_epoch = len(epoch_batches([line.array.shape[1] for line in train_set], config.batch_size, seed=seed, epoch=0, max_columns=config.max_columns))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * steps_per_epoch if config.max_steps is None else min(config.max_steps, config.epochs * steps_per_epoch)
    schedule = WarmupCosineSchedule(optimizer, peak_lr=config.lr, total_steps=total_steps, warmup_steps=config.warmup_steps)
    state = LoopState()
    if resumed is not None:
        training = resumed["training"]
        optimizer.load_state_dict(training["optimizer"])
        schedule.load_state_dict(training["schedule"])
        state = LoopState(**training["loop"])

    run = _Run(model, alphabet, optimizer, schedule, state, config, device, seed, out_dir, max_minutes, callback, train_set, val_set)
    stopped = run.loop(show_progress)
    speed = state.lines_seen / state.train_seconds if state.train_seconds else 0.0
    return TrainResult(best_path, last_path, state.best_val_cer, state.best_val_wer, state.epoch, state.step, stopped, speed, list(alphabet.characters), state.best_calibration)


def _build_model(config: TrainConfig, train_lines: Sequence[LineSample], resumed: dict | None,
                 init: str | os.PathLike | bytes | None) -> tuple[LineRecognizer, Alphabet]:
    """The model to train: resumed from last.pt, else fine-tuned from `init` (grown to new characters), else fresh."""
    texts = [line.text for line in train_lines]
    if resumed is not None:
        return model_from_payload(resumed)
    if init is not None:
        model, alphabet = model_from_payload(load_checkpoint(init, expected_kind=CHECKPOINT_KIND))
        alphabet = alphabet.extended(texts)
        model.grow_classes(alphabet.num_classes)
        return model, alphabet
    alphabet = Alphabet.from_texts(texts)
    return LineRecognizer(dataclasses.replace(config.model, num_classes=alphabet.num_classes)), alphabet


class _Run:
    """The loop's moving parts, so each phase is a short method."""

    def __init__(self, model: LineRecognizer, alphabet: Alphabet, optimizer: torch.optim.Optimizer, schedule: WarmupCosineSchedule,
                 state: LoopState, config: TrainConfig, device: str, seed: int, out_dir: Path, max_minutes: float | None,
                 callback: ProgressCallback | None, train_set: list[EncodedLine], val_set: list[EncodedLine]) -> None:
        self.model, self.alphabet, self.optimizer, self.schedule, self.state = model, alphabet, optimizer, schedule, state
        self.config, self.device, self.seed, self.out_dir = config, torch.device(device), seed, out_dir
        self.budget = max_minutes * 60 if max_minutes else None
        self.callback, self.train_set, self.val_set = callback, train_set, val_set
        self.ctc = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
        self.use_amp = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.started = time.monotonic() - state.elapsed_seconds
        self.widths = [line.array.shape[1] for line in train_set]
        self.last_loss = math.nan
        self.total_steps = schedule.total_steps

    def loop(self, show_progress: bool) -> str:
        state = self.state
        bar = tqdm(total=self.total_steps, initial=state.step, disable=not show_progress, desc="recognizer", unit="step")
        try:
            while state.epoch < self.config.epochs:
                stopped = self.train_epoch(bar)
                if stopped:
                    return stopped
                if (state.epochs_without_improvement >= self.config.patience
                        and state.step >= self.config.patience_after_steps):
                    return "early_stopping"
            return "completed"
        finally:
            bar.close()

    def train_epoch(self, bar: tqdm) -> str | None:
        """One epoch from `step_in_epoch`; returns why training stopped, or None to go on."""
        state = self.state
        torch.manual_seed(self.seed * 100_003 + state.epoch)     # dropout masks: a function of the epoch
        batches = epoch_batches(self.widths, self.config.batch_size, seed=self.seed, epoch=state.epoch, max_columns=self.config.max_columns)
        self.model.train()
        while state.step_in_epoch < len(batches):
            if self.config.max_steps is not None and state.step >= self.config.max_steps:
                self.end_epoch(partial=True)
                return "completed"
            loss = self.last_loss = self.train_step(batches[state.step_in_epoch])
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.schedule.current_lr():.2e}", refresh=False)
            if state.step % self.config.checkpoint_every == 0:
                self.save_last()
            try:
                if self.callback and state.step % self.config.callback_every == 0:
                    self.callback(self.progress(loss))
            except TrainingCancelled:
                self.save_last()
                return "cancelled"
            if self.out_of_time():
                self.end_epoch(partial=True)
                return "time_budget"
        self.end_epoch(partial=False)
        return None

    def train_step(self, indices: list[int]) -> float:
        state = self.state
        tick = time.monotonic()
        rng = np.random.default_rng([self.seed, state.epoch, state.step_in_epoch])
        batch = make_batch(self.train_set, indices, augment=self.config.augment, rng=rng)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()
        with autocast:
            # No packing in training: width buckets keep padding short, and packed LSTMs
            # lose the fused CPU kernel (about 3× slower per step).
            logits = self.model(batch.images.to(self.device))                         # (N, T, C)
        # CTC in float32: half precision underflows on long lines.
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)                    # (T, N, C)
        lengths = self.model.output_lengths(batch.widths)
        loss = self.ctc(log_probs, batch.targets, lengths, batch.target_lengths)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step(self.time_fraction())
        state.step += 1
        state.step_in_epoch += 1
        state.lines_seen += len(indices)
        state.train_seconds += time.monotonic() - tick
        return loss.item()

    def end_epoch(self, *, partial: bool) -> None:
        """Validate, keep the best model, save last.pt. A partial epoch (time-out) is not counted."""
        state = self.state
        evaluation = self.validate()
        if evaluation is not None and evaluation.cer < state.best_val_cer:
            state.best_val_cer, state.best_val_wer = evaluation.cer, evaluation.wer
            state.epochs_without_improvement = 0
            state.best_calibration = evaluation.calibration.as_dict() if evaluation.calibration else None
            self.save_best(evaluation)
        elif not partial:
            state.epochs_without_improvement += 1
        if not partial:
            state.epoch += 1
            state.step_in_epoch = 0
        self.save_last()
        if self.callback and evaluation is not None:
            try:
                self.callback(self.progress(self.last_loss, val_cer=evaluation.cer))
            except TrainingCancelled:
                pass  # the epoch is saved; the caller's next check stops it

    def validate(self) -> LineEvaluation | None:
        if not self.val_set:
            # No validation data: the latest model is the best one there is.
            self.save_best(None)
            return None
        recognizer = Recognizer(self.model, self.alphabet, device=str(self.device))
        evaluation = evaluate_arrays(recognizer, [line.array for line in self.val_set], [line.text for line in self.val_set])
        self.model.train()
        log.info("epoch %d val CER %.4f WER %.4f", self.state.epoch, evaluation.cer, evaluation.wer)
        return evaluation

    def save_best(self, evaluation: LineEvaluation | None) -> None:
        meta: dict[str, Any] = {"epoch": self.state.epoch, "step": self.state.step, "train_lines": len(self.train_set)}
        if evaluation is not None:
            meta.update(val_cer=evaluation.cer, val_wer=evaluation.wer, val_lines=len(self.val_set))
            if evaluation.calibration is not None:
                meta.update(confidence_measure=evaluation.calibration.measure, temperature=evaluation.calibration.temperature, calibration=evaluation.calibration.as_dict())
        save_checkpoint(recognizer_payload(self.model, self.alphabet, meta), self.out_dir / "best.pt")

    def save_last(self) -> None:
        self.state.elapsed_seconds = time.monotonic() - self.started
        payload = recognizer_payload(self.model, self.alphabet, {"epoch": self.state.epoch, "step": self.state.step})
        payload["training"] = {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "loop": dataclasses.asdict(self.state),
            "config": self.config.as_dict(),
            "seed": self.seed,
        }
        save_checkpoint(payload, self.out_dir / "last.pt")

    def time_fraction(self) -> float:
        return (time.monotonic() - self.started) / self.budget if self.budget else 0.0

    def out_of_time(self) -> bool:
        return self.budget is not None and time.monotonic() - self.started >= self.budget

    def progress(self, loss: float, val_cer: float | None = None) -> Progress:
        state = self.state
        total = self.total_steps
        elapsed = time.monotonic() - self.started
        eta = elapsed / state.step * (total - state.step) if state.step else None
        if self.budget:
            eta = min(eta if eta is not None else math.inf, max(0.0, self.budget - elapsed))
        best = state.best_val_cer if math.isfinite(state.best_val_cer) else None
        return Progress(state.epoch, state.step, total, loss, val_cer, "val_cer", eta, best)
