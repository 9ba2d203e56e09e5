"""Recognizer quality on transcribed lines: CER, WER and confidence calibration.

`evaluate_arrays` scores a loaded `Recognizer` (training validates with it); `recognizer_scores`
judges a checkpoint on line samples, the same way for a candidate and the promoted model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.data.lines import LineSample
from ml.metrics import cer, char_errors, wer
from ml.recognition.confidence import CalibrationReport, calibrate
from ml.recognition.decode import Decoded
from ml.recognition.predict import Recognizer, load_recognizer


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


def evaluate_arrays(recognizer: Recognizer, arrays: Sequence[np.ndarray], references: Sequence[str], *,
                    with_calibration: bool = True, batch_size: int = 32) -> LineEvaluation:
    """Greedy decoding of normalised line arrays against their references."""
    logits = recognizer.line_logits(arrays, batch_size=batch_size)
    decoded: list[Decoded] = [recognizer.decode(z) for z in logits]
    predictions = [recognizer.alphabet.decode(d.labels) for d in decoded]
    calibration = None
    if with_calibration and predictions:
        correct = [p == r for p, r in zip(predictions, references)]
        line_cers = [char_errors(p, r).rate for p, r in zip(predictions, references)]
        calibration = calibrate(logits, decoded, correct, line_cers, predictions=predictions,
                                references=list(references))
    return LineEvaluation(cer(predictions, references), wer(predictions, references), predictions, calibration)


def evaluate_samples(recognizer: Recognizer, samples: Sequence[LineSample], *, with_calibration: bool = True,
                     batch_size: int = 32) -> LineEvaluation:
    """Line crops (any size) against their transcriptions."""
    return evaluate_arrays(recognizer, [recognizer.prepare(sample.image) for sample in samples],
                           [sample.text for sample in samples], with_calibration=with_calibration,
                           batch_size=batch_size)


def recognizer_scores(checkpoint: str | os.PathLike | bytes, samples: Sequence[LineSample], *,
                      device: str = "cpu") -> dict:
    recognizer = load_recognizer(checkpoint, device=device)
    predictions = [result.text for result in recognizer.recognize([sample.image for sample in samples],
                                                                  batch_size=32)]
    references = [sample.text for sample in samples]
    return {"cer": cer(predictions, references), "wer": wer(predictions, references), "lines": len(samples)}


def empty_prediction_scores(samples: Sequence[LineSample]) -> dict:
    """What predicting nothing scores: the bar the first model must clear."""
    references = [sample.text for sample in samples]
    return {"cer": cer([""] * len(references), references), "wer": 1.0, "lines": len(samples)}
