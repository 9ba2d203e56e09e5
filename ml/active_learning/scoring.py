"""One pass of a checkpoint over candidate lines: every confidence measure and an embedding per line.

Strategies need both, and the forward pass is the expensive part, so they come from
the same pass: lines batched by width (little padding), no gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ml.active_learning.embeddings import classifier_inputs, mean_over_frames
from ml.active_learning.strategies import CandidateScores
from ml.recognition.confidence import MEASURES
from ml.data.preprocess import to_tensor_batch
from ml.recognition.model import LineRecognizer
from ml.recognition import Recognizer


@dataclass
class LineScores:
    """Row i describes the i-th line given to `score_lines`."""
    # measure → (N,) confidence in [0, 1]; temperature_scaled at the checkpoint's temperature
    measures: dict[str, np.ndarray]
    embeddings: np.ndarray               # (N, D) float32
    predictions: list[str]               # greedy readings


@torch.no_grad()
def score_lines(recognizer: Recognizer, arrays: Sequence[np.ndarray], *, batch_size: int = 32) -> LineScores:
    """Normalised line arrays (see `Recognizer.prepare`) → measures, embeddings and readings."""
    count = len(arrays)
    measures = {measure: np.zeros(count) for measure in MEASURES}
    embeddings: list[np.ndarray | None] = [None] * count
    predictions = [""] * count
    order = sorted(range(count), key=lambda i: arrays[i].shape[1])
    model = recognizer.model
    for start in range(0, count, batch_size):
        chunk = order[start : start + batch_size]
        images, widths = to_tensor_batch([arrays[i] for i in chunk])
        with classifier_inputs(model) as captured:
            logits = model(images.to(recognizer.device), widths).float().cpu()      # (N, T, C)
        lengths = LineRecognizer.output_lengths(widths).clamp(max=logits.shape[1])
        features = mean_over_frames(captured[0].float().cpu(), lengths).numpy()
        for row, i in enumerate(chunk):
            reading = recognizer.read(logits[row, : int(lengths[row])].numpy())
            for measure in MEASURES:
                measures[measure][i] = reading.measures[measure]
            embeddings[i] = features[row]
            predictions[i] = reading.text
    width = embeddings[0].shape[0] if count else 0
    stacked = np.stack(embeddings).astype(np.float32) if count else np.zeros((0, width), np.float32)
    return LineScores(measures, stacked, predictions)


def candidate_scores(recognizer: Recognizer, candidates: Sequence[np.ndarray],
                     labelled: Sequence[np.ndarray] | None = None) -> CandidateScores:
    """What a strategy reads about the candidates; `labelled` lines only add their embeddings (for diversity)."""
    scored = score_lines(recognizer, candidates)
    labelled_embeddings = score_lines(recognizer, labelled).embeddings if labelled is not None else None
    return CandidateScores(scored.measures, scored.embeddings, labelled_embeddings)
