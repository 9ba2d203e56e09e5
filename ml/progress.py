"""Training progress, reported through a callback so a worker can forward it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Optional


@dataclass
class Progress:
    epoch: int
    step: int
    total_steps: Optional[int]
    loss: float
    val_metric: Optional[float] = None      # val CER for the recognizer, F1 for the detector
    val_metric_name: str = ""
    eta_seconds: Optional[float] = None
    best_val_metric: Optional[float] = None

    def as_dict(self) -> dict:
        return asdict(self)


class TrainingCancelled(Exception):
    """Raised by a progress callback to stop training at the next step."""


ProgressCallback = Callable[[Progress], None]
