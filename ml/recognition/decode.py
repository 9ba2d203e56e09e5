"""CTC decoding of one line's per-frame log-probabilities (T, C); class 0 is the blank.

Both decoders return labels and, for each label, the frames that emit it; confidences
are computed from those frames (see `ml.recognition.confidence`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

BLANK = 0


@dataclass
class Decoded:
    labels: list[int]              # class indices, blank-free
    frames: list[list[int]]        # frames[i]: the frames that emit labels[i]


def greedy_decode(log_probs: np.ndarray) -> Decoded:
    """Best path: argmax per frame, merge repeats, drop blanks. log_probs (T, C)."""
    best = log_probs.argmax(axis=1)
    labels: list[int] = []
    frames: list[list[int]] = []
    previous = BLANK
    for t, label in enumerate(best.tolist()):
        if label != BLANK:
            if label == previous:
                frames[-1].append(t)
            else:
                labels.append(label)
                frames.append([t])
        previous = label
    return Decoded(labels, frames)


def beam_search(log_probs: np.ndarray, beam_width: int = 10, prune_log_prob: float = -12.0) -> Decoded:
    """CTC prefix beam search, no language model. log_probs (T, C).

    A prefix keeps two scores: ending in blank and ending in its last label, because
    a repeated label only extends the prefix after a blank. Labels whose frame log-prob
    is below `prune_log_prob` are skipped, which keeps the search linear in practice.
    """
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -np.inf)}  # prefix → (log p_blank, log p_label)
    for t in range(log_probs.shape[0]):
        frame = log_probs[t]
        candidates = np.flatnonzero(frame > prune_log_prob)
        following: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-np.inf, -np.inf])
        for prefix, (p_blank, p_label) in beams.items():
            total = np.logaddexp(p_blank, p_label)
            for c in candidates.tolist():
                p = float(frame[c])
                if c == BLANK:
                    entry = following[prefix]
                    entry[0] = np.logaddexp(entry[0], total + p)
                    continue
                extended = prefix + (c,)
                entry = following[extended]
                if prefix and prefix[-1] == c:
                    # "aa" needs a blank between: only the blank-ending mass extends; the rest stays "a".
                    entry[1] = np.logaddexp(entry[1], p_blank + p)
                    same = following[prefix]
                    same[1] = np.logaddexp(same[1], p_label + p)
                else:
                    entry[1] = np.logaddexp(entry[1], total + p)
        ranked = sorted(following.items(), key=lambda item: np.logaddexp(*item[1]), reverse=True)
        beams = {prefix: (scores[0], scores[1]) for prefix, scores in ranked[:beam_width]}
    best = max(beams.items(), key=lambda item: np.logaddexp(*item[1]))[0]
    labels = list(best)
    return Decoded(labels, align(log_probs, labels))


def align(log_probs: np.ndarray, labels: list[int]) -> list[list[int]]:
    """Viterbi (forced) alignment of `labels` to the frames; frames[i] emit labels[i].

    Used to find which frames read each character of a beam-search result, whose
    labels need not lie on the best path.
    """
    if not labels:
        return []
    steps = log_probs.shape[0]
    extended = [BLANK]
    for label in labels:
        extended += [label, BLANK]
    states = len(extended)
    score = np.full((steps, states), -np.inf)
    back = np.zeros((steps, states), dtype=np.int64)
    score[0, 0] = log_probs[0, BLANK]
    score[0, 1] = log_probs[0, extended[1]]
    for t in range(1, steps):
        for s in range(states):
            options = [(score[t - 1, s], s)]
            if s >= 1:
                options.append((score[t - 1, s - 1], s - 1))
            if s >= 2 and extended[s] != BLANK and extended[s] != extended[s - 2]:
                options.append((score[t - 1, s - 2], s - 2))
            best_score, best_state = max(options)
            score[t, s] = best_score + log_probs[t, extended[s]]
            back[t, s] = best_state
    state = states - 1 if score[-1, states - 1] >= score[-1, states - 2] else states - 2
    frames: list[list[int]] = [[] for _ in labels]
    for t in range(steps - 1, -1, -1):
        if extended[state] != BLANK:
            frames[(state - 1) // 2].insert(0, t)
        state = back[t, state]
    return frames
