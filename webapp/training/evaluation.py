"""Judge models on a project's current validation data, the same way for candidate and promoted."""

from __future__ import annotations

import os
from typing import Sequence

from ml.data.lines import LineSample
from ml.detection import load_detector
from ml.detection.metrics import detection_prf, sum_prf
from ml.metrics import cer, wer
from ml.recognition import load_recognizer
from webapp.training.data import PageSample


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


def detector_scores(checkpoint: str | os.PathLike | bytes, pages: Sequence[PageSample], *,
                    device: str = "cpu") -> dict:
    detector = load_detector(checkpoint, device=device)
    per_page = [detection_prf([line.bbox for line in detector.detect(page.image)], page.boxes) for page in pages]
    return {**sum_prf(per_page), "pages": len(pages)}


def empty_detection_scores(pages: Sequence[PageSample]) -> dict:
    return {**sum_prf(detection_prf([], page.boxes) for page in pages), "pages": len(pages)}
