"""Recognizer quality on transcribed lines: CER, WER and confidence calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.confidence import CalibrationReport, calibrate
from ml.decoding import Decoded
from ml.metrics import cer, char_errors, wer
from ml.recognition import Recognizer


@dataclass
class LineEvaluation:
    cer: float
    wer: float
    predictions: list[str]
    calibration: CalibrationReport | None

    def as_dict(self) -> dict:
        result = {"cer": self.cer, "wer": self.wer, "lines": len(self.predictions)}
        if self.calibration is not None:
            result["calibration"] = self.calibration.as_dict()
        return result


def evaluate_arrays(recognizer: Recognizer, arrays: Sequence[np.ndarray], references: Sequence[str], *, with_calibration: bool = True, batch_size: int = 32) -> LineEvaluation:
    """Greedy decoding of normalised line arrays against their references."""
    logits = recognizer.line_logits(arrays, batch_size=batch_size)
    decoded: list[Decoded] = [recognizer.decode(z) for z in logits]
    predictions = [recognizer.alphabet.decode(d.labels) for d in decoded]
    calibration = None
    if with_calibration and predictions:
        correct = [p == r for p, r in zip(predictions, references)]
        line_cers = [char_errors(p, r).rate for p, r in zip(predictions, references)]
        calibration = calibrate(logits, decoded, correct, line_cers)
    return LineEvaluation(cer(predictions, references), wer(predictions, references), predictions, calibration)
