"""Active-learning strategies: from unlabelled candidates and what the model says about
them to the next batch to label.

Every strategy has the same signature,

    strategy(ids, scores, size, rng) -> list of ids, in the order they were chosen

and works the same for line ids and page ids. `random` ignores the model and stays as
the control every other strategy is judged against.

Confidences are the line measures of `ml.recognition.confidence` (higher = surer). Ties are broken
at random, not by pool order: an untrained model gives many lines the same score, and
pool order would then pick whole pages of one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np


@dataclass
class CandidateScores:
    """What the current model says about the candidates, row i describing ids[i]."""
    measures: dict[str, np.ndarray]                  # measure name → (N,) confidence in [0, 1]
    embeddings: np.ndarray | None = None             # (N, D) recognizer features
    labelled_embeddings: np.ndarray | None = None    # (M, D) features of what is already labelled


Strategy = Callable[[Sequence[str], CandidateScores, int, np.random.Generator], list[str]]

# Strategy names use "calibrated" for the temperature-scaled measure: it is the one
# whose temperature is fitted on validation lines.
MEASURE_BY_NAME = {"mean_logprob": "mean_logprob", "min_char_prob": "min_char_prob", "mean_entropy": "mean_entropy",
                   "calibrated": "temperature_scaled"}


def random_batch(ids: Sequence[str], scores: CandidateScores | None, size: int, rng: np.random.Generator) -> list[str]:
    """`size` ids drawn uniformly without replacement."""
    chosen = rng.choice(len(ids), size=min(size, len(ids)), replace=False)
    return [ids[i] for i in chosen.tolist()]


def least_confident_order(confidence: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices from least to most confident, ties in random order."""
    shuffled = rng.permutation(len(confidence))
    return shuffled[np.argsort(confidence[shuffled], kind="stable")]


def least_confidence(ids: Sequence[str], scores: CandidateScores, size: int, rng: np.random.Generator, *,
                     measure: str) -> list[str]:
    """The `size` ids the model is least sure of by `measure`, least sure first."""
    order = least_confident_order(np.asarray(scores.measures[measure], dtype=np.float64), rng)
    return [ids[i] for i in order[:size].tolist()]


def k_center_greedy(embeddings: np.ndarray, size: int, *, centers: np.ndarray | None = None,
                    first: int = 0) -> list[int]:
    """Greedy k-center: repeatedly take the point farthest from everything taken so far.

    `centers` (already labelled points) count as taken; without them the walk starts at
    `first`. Distances are between L2-normalised rows: the direction of a line's mean
    features says what it looks like, their norm mostly how much ink it holds.
    """
    points = _unit_rows(embeddings)
    size = min(size, len(points))
    if size <= 0:
        return []
    chosen: list[int] = []
    if centers is not None and len(centers):
        distance = _distances(points, _unit_rows(centers)).min(axis=1)
    else:
        chosen.append(first)
        distance = _distances(points, points[first : first + 1])[:, 0]
    while len(chosen) < size:
        distance[chosen] = -1.0
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, _distances(points, points[pick : pick + 1])[:, 0])
    return chosen


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between unit rows, as a matrix product (no N×M×D array)."""
    return np.sqrt(np.maximum(2.0 - 2.0 * a @ b.T, 0.0))


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def uncertain_k_center(ids: Sequence[str], scores: CandidateScores, size: int, rng: np.random.Generator, *,
                       measure: str, shortlist_factor: int = 4) -> list[str]:
    """k-center greedy on recognizer embeddings among the `shortlist_factor × size` least confident.

    Pure least-confidence tends to fill a batch with near-duplicates (one faded page, one
    unusual hand); spreading the batch over the embedding space among the uncertain lines
    buys more new information per label.
    """
    if scores.embeddings is None:
        raise ValueError("uncertain_k_center needs candidate embeddings")
    order = least_confident_order(np.asarray(scores.measures[measure], dtype=np.float64), rng)
    shortlist = order[: shortlist_factor * size]
    picked = k_center_greedy(scores.embeddings[shortlist], size, centers=scores.labelled_embeddings, first=0)
    return [ids[i] for i in shortlist[picked].tolist()]


def strategy_names() -> list[str]:
    return ["random", *(f"least_{name}" for name in MEASURE_BY_NAME), *(f"diverse_{name}" for name in MEASURE_BY_NAME)]


def get_strategy(name: str) -> Strategy:
    """'random', 'least_<measure>' or 'diverse_<measure>', measure one of MEASURE_BY_NAME."""
    if name == "random":
        return random_batch
    kind, _, measure_name = name.partition("_")
    measure = MEASURE_BY_NAME.get(measure_name)
    if measure is not None and kind == "least":
        return partial(least_confidence, measure=measure)
    if measure is not None and kind == "diverse":
        return partial(uncertain_k_center, measure=measure)
    raise ValueError(f"unknown strategy {name!r}; known: {', '.join(strategy_names())}")


def needs_model(name: str) -> bool:
    """Whether the strategy reads model scores (random does not, so its rounds skip scoring)."""
    return name != "random"


def needs_labelled_embeddings(name: str) -> bool:
    """Whether the strategy spreads its picks away from what is already labelled."""
    return name.startswith("diverse_")
