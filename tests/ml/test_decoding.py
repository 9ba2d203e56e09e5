import itertools
from collections import defaultdict

import numpy as np
import pytest

from ml.recognition.decode import align, beam_search, greedy_decode


def one_hot_log_probs(path: list[int], classes: int = 4, p: float = 0.9) -> np.ndarray:
    probs = np.full((len(path), classes), (1 - p) / (classes - 1))
    probs[np.arange(len(path)), path] = p
    return np.log(probs)


def test_greedy_merges_repeats_and_drops_blanks():
    decoded = greedy_decode(one_hot_log_probs([1, 1, 0, 1, 2, 2, 0]))
    assert decoded.labels == [1, 1, 2]
    assert decoded.frames == [[0, 1], [3], [4, 5]]


def test_greedy_of_all_blanks_is_empty():
    assert greedy_decode(one_hot_log_probs([0, 0, 0])).labels == []


def test_beam_finds_the_labelling_the_best_path_misses():
    # Best path is blank-blank (0.16), but "a" collects 0.4025 over its three paths.
    frame = np.log([0.4, 0.35, 0.25])
    log_probs = np.stack([frame, frame])
    assert greedy_decode(log_probs).labels == []
    assert beam_search(log_probs, beam_width=5).labels == [1]


def brute_force_best(log_probs: np.ndarray) -> tuple[tuple[int, ...], dict]:
    totals: dict[tuple[int, ...], float] = defaultdict(float)
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        labels, previous = [], 0
        for c in path:
            if c and c != previous:
                labels.append(c)
            previous = c
        totals[tuple(labels)] += float(np.exp(sum(log_probs[t, c] for t, c in enumerate(path))))
    return max(totals, key=totals.get), totals


@pytest.mark.parametrize("seed", range(20))
def test_wide_beam_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    log_probs = np.log(rng.dirichlet(np.full(3, 0.7), size=int(rng.integers(1, 7))))
    best, totals = brute_force_best(log_probs)
    found = tuple(beam_search(log_probs, beam_width=64, prune_log_prob=-np.inf).labels)
    assert totals[found] == pytest.approx(totals[best])


def test_beam_keeps_doubled_letters_apart():
    decoded = beam_search(one_hot_log_probs([1, 0, 1, 2]), beam_width=8)
    assert decoded.labels == [1, 1, 2]
    assert decoded.frames == [[0], [2], [3]]


def test_align_assigns_frames_to_each_label():
    frames = align(one_hot_log_probs([0, 1, 1, 0, 2, 0]), [1, 2])
    assert frames == [[1, 2], [4]]
