"""Learning-rate schedule that also anneals to a wall-clock budget.

A worker may give training 20 minutes instead of N epochs; the rate then follows
warm-up + cosine over whichever runs out first, steps or time, so the last minutes are
spent at a low rate either way. The state is two numbers, so it resumes exactly.
"""

from __future__ import annotations

import math

import torch


class WarmupCosineSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, *, peak_lr: float, total_steps: int, warmup_steps: int = 200,
                 final_fraction: float = 0.02) -> None:
        self.optimizer = optimizer
        self.peak_lr = peak_lr
        self.total_steps = max(1, total_steps)
        self.warmup_steps = max(1, warmup_steps)
        self.final_fraction = final_fraction
        self.step_count = 0
        self.progress = 0.0
        self._apply()

    def step(self, time_fraction: float = 0.0) -> None:
        """Advance one optimizer step; `time_fraction` is elapsed / budget (0 when unbounded)."""
        self.step_count += 1
        self.progress = min(1.0, max(self.step_count / self.total_steps, time_fraction))
        self._apply()

    def current_lr(self) -> float:
        warm = min(1.0, self.step_count / self.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * self.progress))
        return self.peak_lr * warm * (self.final_fraction + (1 - self.final_fraction) * cosine)

    def _apply(self) -> None:
        lr = self.current_lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        return {"step_count": self.step_count, "progress": self.progress}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.progress = float(state["progress"])
        self._apply()
