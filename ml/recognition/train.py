"""Recognizer training: a function a worker can call with in-memory lines.

    result = train_recognizer(train_lines, val_lines, out_dir=..., config=TrainConfig(epochs=30))

The loop is `ml.trainer.Trainer` (resume from `last.pt`, budget, cancel, AMP, early stopping);
this module supplies the recognizer's part: width-bucketed batches of encoded lines, the CTC
loss, validation by CER (which also fits the confidence measure and temperature that `best.pt`
keeps), and a warm-up + cosine learning rate that anneals to the step or time budget.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ml.checkpoints import load_checkpoint
from ml.data.alphabet import Alphabet
from ml.data.augment import AugmentConfig
from ml.data.lines import LineSample
from ml.progress import ProgressCallback
from ml.recognition.data import EncodedLine, encode_lines, epoch_batches, make_batch
from ml.recognition.evaluate import evaluate_arrays
from ml.recognition.model import LineRecognizer, RecognizerConfig
from ml.recognition.predict import CHECKPOINT_KIND, Recognizer, model_from_payload, recognizer_payload
from ml.schedule import WarmupCosineSchedule
from ml.trainer import LoopConfig, Trainer, TrainResult, Validation, resumable_checkpoint

__all__ = ["TrainConfig", "TrainResult", "train_recognizer"]


@dataclass
class TrainConfig:
    # num_classes comes from the alphabet
    model: RecognizerConfig = field(default_factory=lambda: RecognizerConfig(num_classes=0))
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
    freeze_cnn: bool = False             # fine-tuning on very few lines: keep the convolutional features as they are
    checkpoint_every: int = 200          # steps between mid-epoch saves of last.pt
    callback_every: int = 10             # steps between progress reports
    grad_clip: float = 5.0

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["model"] = self.model.as_dict()
        if self.augment is not None:
            data["augment"] = {k: list(v) if isinstance(v, tuple) else v
                               for k, v in dataclasses.asdict(self.augment).items()}
        return data

    def loop(self) -> LoopConfig:
        return LoopConfig(epochs=self.epochs, max_steps=self.max_steps, patience=self.patience,
                          patience_after_steps=self.patience_after_steps, checkpoint_every=self.checkpoint_every,
                          callback_every=self.callback_every, grad_clip=self.grad_clip)


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
    last.pt saved. `best_metrics` of the result: val "cer", "wer" and "calibration".
    """
    config = config or TrainConfig()
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    torch.manual_seed(seed)
    resumed = resumable_checkpoint(out_dir, CHECKPOINT_KIND, resume=resume)
    model, alphabet = _build_model(config, train_lines, resumed, init)
    task = RecognizerTask(model, alphabet, train_lines, val_lines, config=config, device=device, seed=seed)
    trainer = Trainer(task, out_dir=out_dir, loop=config.loop(), device=device, seed=seed, max_minutes=max_minutes,
                      callback=callback, show_progress=show_progress)
    return trainer.run(resumed, alphabet=alphabet.characters)


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


class RecognizerTask:
    """The recognizer's part of a training run (see `ml.trainer.TrainingTask`)."""

    kind = CHECKPOINT_KIND
    metric_name = "val_cer"
    higher_is_better = False

    def __init__(self, model: LineRecognizer, alphabet: Alphabet, train_lines: Sequence[LineSample],
                 val_lines: Sequence[LineSample], *, config: TrainConfig, device: str, seed: int) -> None:
        self.model, self.alphabet, self.config, self.seed = model.to(device), alphabet, config, seed
        self.device = torch.device(device)
        height, scale = model.config.height, model.config.horizontal_scale
        self.train_set: list[EncodedLine] = encode_lines(train_lines, alphabet, height, scale)
        self.val_set: list[EncodedLine] = encode_lines(val_lines, alphabet, height, scale)
        if not self.train_set:
            raise ValueError("no training line has a transcription with known characters")
        self.widths = [line.array.shape[1] for line in self.train_set]
        if config.freeze_cnn:
            model.cnn.requires_grad_(False)
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                           weight_decay=config.weight_decay)
        total = config.epochs * len(self.epoch_batches(0))
        total = total if config.max_steps is None else min(config.max_steps, total)
        self.schedule = WarmupCosineSchedule(self.optimizer, peak_lr=config.lr, total_steps=total,
                                             warmup_steps=config.warmup_steps)
        self.ctc = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
        self.evaluation = None

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        return epoch_batches(self.widths, self.config.batch_size, seed=self.seed, epoch=epoch,
                             max_columns=self.config.max_columns)

    def forward(self, indices: Sequence[int], rng: np.random.Generator) -> tuple[torch.Tensor, Any]:
        batch = make_batch(self.train_set, indices, augment=self.config.augment, rng=rng)
        if self.config.freeze_cnn:
            self.model.cnn.eval()   # frozen features include their batch-norm statistics
        # No packing in training: width buckets keep padding short, and packed LSTMs
        # lose the fused CPU kernel (about 3× slower per step).
        return self.model(batch.images.to(self.device)), batch                     # (N, T, C)

    def loss(self, logits: torch.Tensor, batch: Any) -> torch.Tensor:
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)                  # (T, N, C)
        lengths = self.model.output_lengths(batch.widths)
        return self.ctc(log_probs, batch.targets, lengths, batch.target_lengths)

    def after_step(self, time_fraction: float) -> None:
        self.schedule.step(time_fraction)

    def after_epoch(self, validation: Validation | None) -> None:
        pass

    def validate(self) -> Validation | None:
        if not self.val_set:
            return None
        recognizer = Recognizer(self.model, self.alphabet, device=str(self.device))
        evaluation = self.evaluation = evaluate_arrays(recognizer, [line.array for line in self.val_set],
                                                       [line.text for line in self.val_set])
        calibration = evaluation.calibration.as_dict() if evaluation.calibration else None
        return Validation(evaluation.cer, {"cer": evaluation.cer, "wer": evaluation.wer, "calibration": calibration})

    def best_meta(self, validation: Validation | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"train_lines": len(self.train_set)}
        if validation is not None:
            meta.update(val_cer=validation.metrics["cer"], val_wer=validation.metrics["wer"],
                        val_lines=len(self.val_set))
            calibration = self.evaluation.calibration if self.evaluation is not None else None
            if calibration is not None:
                meta.update(confidence_measure=calibration.measure, temperature=calibration.temperature,
                            calibration=calibration.as_dict())
        return meta

    def last_meta(self, best_metrics: dict[str, Any]) -> dict[str, Any]:
        return {}

    def payload(self, meta: dict[str, Any]) -> dict[str, Any]:
        return recognizer_payload(self.model, self.alphabet, meta)

    def schedule_state(self) -> dict[str, Any]:
        return self.schedule.state_dict()

    def load_schedule_state(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state)

    def config_dict(self) -> dict[str, Any]:
        return self.config.as_dict()
