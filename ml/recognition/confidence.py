"""Per-character and per-line confidence from CTC outputs, how well they rank errors, and their calibration.

Raw CTC probabilities are bimodal and overconfident, so no single line score is trusted
by default: several are computed, and the one that best separates lines read with and
without error on validation data (AUROC) becomes the ranking measure. A calibrator fitted
on the same validation lines maps it to the probability that the line is read exactly
(isotonic regression or temperature scaling, whichever has the lower cross-validated ECE);
another maps each character's probability to the probability that the character is right.
Both are monotone, and kept strictly increasing, so ranking by the calibrated confidence
is ranking by the measure: the review queue orders lines by the best measure and shows a
probability a person can read. Everything is stored in the checkpoint's meta.

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
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein
from scipy.optimize import isotonic_regression, minimize
from scipy.special import expit

from ml.recognition.decode import Decoded

MEASURES = ("mean_logprob", "min_char_prob", "mean_entropy", "temperature_scaled")
MIN_LINES_PER_CLASS = 10    # lines read exactly, and with an error, for AUROC on "read with an error" to choose


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


# Calibration --------------------------------------------------------------------------------------

CALIBRATION_METHODS = ("isotonic", "temperature")
CV_FOLDS = 5
MAX_BREAKPOINTS = 64       # an isotonic map kept in the checkpoint: enough for a smooth curve, small in meta
TIE_BREAK = 1e-6           # slope added to every map so that it is strictly increasing (keeps the ranking)


@dataclass
class Calibrator:
    """A monotone map from a score in [0, 1] to a probability of being right.

    isotonic:    piecewise linear through `xs` → `ys` (fitted by isotonic regression), flat beyond
    temperature: sigmoid((logit(score) − bias) / temperature), fitted by minimising the NLL
    Each is blended with the score by TIE_BREAK so that it is strictly increasing.
    """

    method: str
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    temperature: float = 1.0
    bias: float = 0.0

    def __call__(self, scores: np.ndarray | Sequence[float] | float) -> np.ndarray:
        values = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
        if self.method == "isotonic" and self.xs:
            mapped = np.interp(values, self.xs, self.ys)
        elif self.method == "temperature":
            mapped = _sigmoid((_logit(values) - self.bias) / self.temperature)
        else:
            mapped = values
        return (1.0 - TIE_BREAK) * mapped + TIE_BREAK * values

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "xs": self.xs, "ys": self.ys, "temperature": self.temperature,
                "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibrator":
        return cls(method=str(data["method"]), xs=[float(x) for x in data.get("xs", [])],
                   ys=[float(y) for y in data.get("ys", [])], temperature=float(data.get("temperature", 1.0)),
                   bias=float(data.get("bias", 0.0)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z)


def fit_isotonic(scores: Sequence[float], correct: Sequence[bool]) -> Calibrator:
    """Isotonic regression of `correct` on `scores`, kept as at most MAX_BREAKPOINTS points."""
    x = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(correct, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    x, y = x[order], y[order]
    fitted = isotonic_regression(y, increasing=True).x
    unique, first = np.unique(x, return_index=True)
    values = np.maximum.reduceat(fitted, first)           # one value per distinct score
    if len(unique) > MAX_BREAKPOINTS:
        keep = np.unique(np.linspace(0, len(unique) - 1, MAX_BREAKPOINTS).round().astype(int))
        unique, values = unique[keep], values[keep]
    return Calibrator("isotonic", xs=unique.tolist(), ys=values.tolist())


def fit_binary_temperature(scores: Sequence[float], correct: Sequence[bool]) -> Calibrator:
    """Temperature scaling of the score's log-odds (with a bias), minimising the binary NLL."""
    z = _logit(np.asarray(scores, dtype=np.float64))
    y = np.asarray(correct, dtype=np.float64)

    def nll(params: np.ndarray) -> float:
        log_t, bias = params
        p = np.clip(_sigmoid((z - bias) / math.exp(log_t)), 1e-9, 1 - 1e-9)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    best = minimize(nll, x0=np.array([0.0, 0.0]), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 2000})
    return Calibrator("temperature", temperature=float(math.exp(best.x[0])), bias=float(best.x[1]))


FITTERS = {"isotonic": fit_isotonic, "temperature": fit_binary_temperature}


def cross_validated_ece(method: str, scores: np.ndarray, correct: np.ndarray, *, seed: int = 0) -> float:
    """ECE of `method` on held-out folds: a map fitted and scored on the same lines would flatter isotonic."""
    folds = np.random.default_rng(seed).permutation(len(scores)) % CV_FOLDS
    predicted = np.empty(len(scores))
    for fold in range(CV_FOLDS):
        held = folds == fold
        if held.all() or not held.any():
            continue
        predicted[held] = FITTERS[method](scores[~held], correct[~held])(scores[held])
    return expected_calibration_error(predicted.tolist(), correct.tolist())


def fit_calibrator(scores: Sequence[float], correct: Sequence[bool]) -> tuple[Calibrator, dict[str, float]]:
    """The method with the lower cross-validated ECE, refitted on every line; and each method's CV ECE.

    With one class only (no line read exactly, as with a young model), both maps are constant and
    say so; temperature wins ties as the smoother map.
    """
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(correct, dtype=bool)
    if len(x) < 2 * CV_FOLDS:
        return Calibrator("identity"), {}
    eces = {method: cross_validated_ece(method, x, y) for method in CALIBRATION_METHODS}
    method = min(CALIBRATION_METHODS, key=lambda m: (eces[m], m != "temperature"))
    return FITTERS[method](x, y), eces


def char_correctness(prediction: str, reference: str) -> list[bool]:
    """For each character of `prediction`, whether it is right: not substituted or superfluous in the
    cheapest edit script to `reference`."""
    wrong = set()
    for operation in Levenshtein.editops(prediction, reference):
        if operation.tag in ("replace", "delete"):
            wrong.add(operation.src_pos)
    return [index not in wrong for index in range(len(prediction))]


@dataclass
class CalibrationReport:
    temperature: float
    measure: str                           # the ranking measure: the best AUROC
    auroc: dict[str, float]                # per measure, for detecting lines with errors
    ece: dict[str, float]                  # per measure, vs "line read without error"
    lines: int
    lines_correct: int
    line_calibrator: Calibrator | None = None    # the ranking measure → P(line read exactly)
    char_calibrator: Calibrator | None = None    # a character's probability → P(character right)
    calibrated_ece: dict[str, float] = field(default_factory=dict)      # line: each method's CV ECE
    char_calibrated_ece: dict[str, float] = field(default_factory=dict)
    characters: int = 0

    def as_dict(self) -> dict:
        return {
            "temperature": self.temperature, "measure": self.measure, "auroc": self.auroc,
            "ece": self.ece, "lines": self.lines, "lines_correct": self.lines_correct,
            "line_calibrator": self.line_calibrator.as_dict() if self.line_calibrator else None,
            "char_calibrator": self.char_calibrator.as_dict() if self.char_calibrator else None,
            "calibrated_ece": self.calibrated_ece, "char_calibrated_ece": self.char_calibrated_ece,
            "characters": self.characters,
            # What a person reads: how well the shown confidence is calibrated and ranks errors.
            "confidence_ece": self.confidence_ece, "confidence_auroc": self.auroc.get(self.measure),
        }

    @property
    def confidence_ece(self) -> float | None:
        if self.line_calibrator is None or self.line_calibrator.method not in self.calibrated_ece:
            return None
        return self.calibrated_ece[self.line_calibrator.method]


def ranking_target(correct: Sequence[bool], line_cers: Sequence[float] | None) -> list[bool]:
    """What a ranking measure must put first: lines read with an error, or, with fewer than MIN_LINES_PER_CLASS
    lines on either side (and line CERs known), lines whose CER is above the median. A handful of exact lines
    cannot say which measure ranks: a young model reads almost every line with some error, and then the queue
    must put first the lines with the most."""
    if line_cers is not None and min(sum(correct), len(correct) - sum(correct)) < MIN_LINES_PER_CLASS:
        return list(np.asarray(line_cers) > np.median(line_cers))
    return [not ok for ok in correct]


def calibrate(logits: list[np.ndarray], decoded: list[Decoded], correct: list[bool],
              line_cers: list[float] | None = None, *, predictions: list[str] | None = None,
              references: list[str] | None = None) -> CalibrationReport:
    """Fit the temperature, score every measure, choose the one with the best AUROC, and calibrate it.

    An early model may read no line (or every line) without error, or only a few; AUROC is
    then undefined or decided by those few, so with `line_cers` and fewer than
    MIN_LINES_PER_CLASS lines on either side the measures are ranked on "line CER above the
    median" instead, which tells which measure puts the worst lines first.
    With `predictions` and `references`, character probabilities are calibrated too.
    """
    temperature = fit_temperature(logits, decoded, correct) if 0 < sum(correct) < len(correct) else 1.0
    per_line = [line_measures(z, d, temperature) for z, d in zip(logits, decoded)]
    errors = ranking_target(correct, line_cers)
    aurocs = {m: auroc([1.0 - line[m] for line in per_line], errors) for m in MEASURES}
    eces = {m: expected_calibration_error([line[m] for line in per_line], correct) for m in MEASURES}
    ranked = [m for m in MEASURES if not math.isnan(aurocs[m])]
    # temperature_scaled is calibrated by construction, so it wins ties and the no-data case.
    measure = max(ranked, key=lambda m: (aurocs[m], m == "temperature_scaled")) if ranked else "temperature_scaled"
    line_calibrator, calibrated_ece = fit_calibrator([line[measure] for line in per_line], correct)
    char_calibrator, char_ece, characters = None, {}, 0
    if predictions is not None and references is not None:
        char_scores, char_right = [], []
        for z, d, prediction, reference in zip(logits, decoded, predictions, references):
            chars = char_confidences(log_softmax(z), d)
            if len(chars) != len(prediction):
                continue  # a symbol of several code points: no character-level alignment
            char_scores += chars
            char_right += char_correctness(prediction, reference)
        characters = len(char_scores)
        if characters:
            char_calibrator, char_ece = fit_calibrator(char_scores, char_right)
    return CalibrationReport(temperature, measure, aurocs, eces, len(correct), int(sum(correct)),
                             line_calibrator, char_calibrator, calibrated_ece, char_ece, characters)
