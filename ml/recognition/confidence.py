"""Per-character and per-line confidence from CTC outputs, and how well they rank errors.

Raw CTC probabilities are bimodal and overconfident, so no single line score is trusted
by default: several are computed, the one that best separates lines read with and
without error on validation data (AUROC) is stored in the checkpoint, and its calibration
is measured (ECE).

Line measures (all in [0, 1], higher = more likely correct):
  mean_logprob        exp(mean log p(char)): geometric mean of the character confidences
  min_char_prob       the least sure character
  mean_entropy        1 − mean frame entropy / log C  (frames read as a whole)
  temperature_scaled  ∏ p(char) from softmax(logits / T): the probability that every
                      character is right; T is fitted on validation data by minimising
                      the binary NLL of "line read without error" (see `fit_temperature`)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.recognition.decode import Decoded

MEASURES = ("mean_logprob", "min_char_prob", "mean_entropy", "temperature_scaled")


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(T, C) logits → (T, C) log-probabilities at the given temperature."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    return scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))


def char_confidences(log_probs: np.ndarray, decoded: Decoded) -> list[float]:
    """For each decoded character, its highest probability over the frames that emit it."""
    return [float(np.exp(log_probs[frames, label].max())) for label, frames in zip(decoded.labels, decoded.frames)]


def line_measures(logits: np.ndarray, decoded: Decoded, temperature: float = 1.0) -> dict[str, float]:
    """Every line measure for one line; logits (T, C) restricted to the line's own frames."""
    log_probs = log_softmax(logits)
    chars = char_confidences(log_probs, decoded)
    scaled_chars = char_confidences(log_softmax(logits, temperature), decoded)
    entropy = -(np.exp(log_probs) * log_probs).sum(axis=1).mean() / math.log(logits.shape[1])
    if chars:
        mean_logprob = float(np.exp(np.mean(np.log(np.maximum(chars, 1e-12)))))
        min_char = min(chars)
    else:
        # Nothing read: the blank's own certainty is the only evidence.
        mean_logprob = min_char = float(np.exp(log_probs[:, 0].mean()))
    return {
        "mean_logprob": mean_logprob,
        "min_char_prob": float(min_char),
        "mean_entropy": float(1.0 - entropy),
        "temperature_scaled": float(np.prod(scaled_chars)) if scaled_chars else min_char,
    }


def fit_temperature(logits: list[np.ndarray], decoded: list[Decoded], correct: list[bool]) -> float:
    """T minimising the NLL of 'line read without error' under p = ∏ p(char | T).

    A 1-D problem, so a log-spaced grid followed by a finer grid is enough and cannot
    diverge the way gradient steps on a handful of lines can.
    """
    target = np.asarray(correct, dtype=np.float64)

    def nll(temperature: float) -> float:
        p = np.array([line_measures(z, d, temperature)["temperature_scaled"] for z, d in zip(logits, decoded)])
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return float(-(target * np.log(p) + (1 - target) * np.log(1 - p)).mean())

    coarse = np.geomspace(0.25, 8.0, 16)
    best = min(coarse, key=nll)
    fine = np.geomspace(best / 1.25, best * 1.25, 9)
    return float(min(fine, key=nll))


def auroc(scores: list[float], positives: list[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half).

    Here positive = line read WITH an error and the score is 1 − confidence, so 1.0
    means confidence puts every wrong line below every right one. NaN with one class only.
    """
    scores_array = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(positives, dtype=bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = scores_array.argsort(kind="mergesort")
    ranks = np.empty(len(scores_array))
    sorted_scores = scores_array[order]
    # Average ranks over ties (Mann-Whitney U).
    i = 0
    while i < len(sorted_scores):
        j = i
        while j + 1 < len(sorted_scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """Σ_bins (|bin| / N) · |mean confidence − accuracy|, equal-width bins on [0, 1]."""
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    if len(conf) == 0:
        return float("nan")
    index = np.minimum((conf * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(conf[members].mean() - hits[members].mean())
    return float(error)


@dataclass
class CalibrationReport:
    temperature: float
    measure: str                           # the measure with the best AUROC
    auroc: dict[str, float]                # per measure, for detecting lines with errors
    ece: dict[str, float]                  # per measure, vs "line read without error"
    lines: int
    lines_correct: int

    def as_dict(self) -> dict:
        return {
            "temperature": self.temperature, "measure": self.measure, "auroc": self.auroc,
            "ece": self.ece, "lines": self.lines, "lines_correct": self.lines_correct,
        }


def calibrate(logits: list[np.ndarray], decoded: list[Decoded], correct: list[bool],
              line_cers: list[float] | None = None) -> CalibrationReport:
    """Fit the temperature, score every measure, choose the one with the best AUROC.

    An early model may read no line (or every line) without error; AUROC is then
    undefined, so with `line_cers` the measures are ranked on "line CER above the
    median" instead, which still tells which measure puts the worst lines first.
    """
    temperature = fit_temperature(logits, decoded, correct) if 0 < sum(correct) < len(correct) else 1.0
    per_line = [line_measures(z, d, temperature) for z, d in zip(logits, decoded)]
    errors = [not ok for ok in correct]
    if line_cers is not None and not 0 < sum(correct) < len(correct):
        errors = list(np.asarray(line_cers) > np.median(line_cers))
    aurocs = {m: auroc([1.0 - line[m] for line in per_line], errors) for m in MEASURES}
    eces = {m: expected_calibration_error([line[m] for line in per_line], correct) for m in MEASURES}
    ranked = [m for m in MEASURES if not math.isnan(aurocs[m])]
    # temperature_scaled is calibrated by construction, so it wins ties and the no-data case.
    measure = max(ranked, key=lambda m: (aurocs[m], m == "temperature_scaled")) if ranked else "temperature_scaled"
    return CalibrationReport(temperature, measure, aurocs, eces, len(correct), int(sum(correct)))
