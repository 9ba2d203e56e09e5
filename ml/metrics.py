"""Character and word error rates, per line and end-to-end per page.

Rates are total edits / total reference length over a set of lines (micro-averaged),
so long lines weigh more than short ones, as in kraken and eScriptorium.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

Box = tuple[int, int, int, int]


@dataclass
class ErrorCounts:
    edits: int = 0
    reference_length: int = 0

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(self.edits + other.edits, self.reference_length + other.reference_length)

    @property
    def rate(self) -> float:
        """Edits per reference unit; an empty reference gives 0 if nothing was read, else the edit count."""
        return self.edits / self.reference_length if self.reference_length else float(self.edits)


def char_errors(prediction: str, reference: str) -> ErrorCounts:
    return ErrorCounts(Levenshtein.distance(prediction, reference), len(reference))


def word_errors(prediction: str, reference: str) -> ErrorCounts:
    # rapidfuzz compares any sequences of hashables, so word lists work directly.
    reference_words = reference.split()
    return ErrorCounts(Levenshtein.distance(prediction.split(), reference_words), len(reference_words))


def cer(predictions: Sequence[str], references: Sequence[str]) -> float:
    return sum((char_errors(p, r) for p, r in zip(predictions, references, strict=True)), ErrorCounts()).rate


def wer(predictions: Sequence[str], references: Sequence[str]) -> float:
    return sum((word_errors(p, r) for p, r in zip(predictions, references, strict=True)), ErrorCounts()).rate


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes, x1/y1 exclusive."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_lines(predicted: Sequence[Box], reference: Sequence[Box], iou: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best IoU first; pairs (predicted index, reference index)."""
    candidates = sorted(
        ((box_iou(p, r), i, j) for i, p in enumerate(predicted) for j, r in enumerate(reference)),
        reverse=True,
    )
    used_pred: set[int] = set()
    used_ref: set[int] = set()
    pairs = []
    for overlap, i, j in candidates:
        if overlap < iou:
            break
        if i not in used_pred and j not in used_ref:
            used_pred.add(i)
            used_ref.add(j)
            pairs.append((i, j))
    return pairs


def page_char_errors(
    predicted: Sequence[tuple[Box, str]], reference: Sequence[tuple[Box, str]], iou: float = 0.5
) -> ErrorCounts:
    """End-to-end errors on one page: detected lines matched to ground truth by box IoU.

    A ground-truth line with no match counts as wholly deleted; a predicted line with no
    match counts as wholly inserted (its length is added to the edits).
    """
    pairs = match_lines([box for box, _ in predicted], [box for box, _ in reference], iou)
    counts = ErrorCounts()
    for i, j in pairs:
        counts += char_errors(predicted[i][1], reference[j][1])
    matched_pred = {i for i, _ in pairs}
    matched_ref = {j for _, j in pairs}
    for j, (_, text) in enumerate(reference):
        if j not in matched_ref:
            counts += ErrorCounts(len(text), len(text))
    for i, (_, text) in enumerate(predicted):
        if i not in matched_pred:
            counts += ErrorCounts(len(text), 0)
    return counts
