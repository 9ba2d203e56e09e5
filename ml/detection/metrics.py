"""Line detection quality: one-to-one box matching at an IoU threshold, P/R/F1 over pages.

Not every line of ink is annotated (marginal notes, stamps, officials'
signatures often are not), so a false positive that lies almost entirely
outside every annotated box is counted apart, in `fp_unannotated`: it is
either noise or a real line nobody labelled, and a reader of the figures
should know which kind of error dominates.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ml.detection.geometry import BBox, box_areas, box_iou_matrix, intersection_matrix

# A prediction with less than this share of its area inside annotated boxes overlaps no annotation.
UNANNOTATED_OVERLAP = 0.1


def match_boxes(pred: Sequence[BBox], gt: Sequence[BBox], iou: float = 0.5) -> list[tuple[int, int]]:
    """One-to-one `(pred_index, gt_index)` pairs with IoU >= `iou`, as many as possible, then highest IoU."""
    if not pred or not gt:
        return []
    ious = box_iou_matrix(pred, gt)
    eligible = ious >= iou
    # The constant outweighs any sum of IoUs, so the assignment maximises the match count first.
    bonus = len(pred) + len(gt)
    cost = np.where(eligible, -(bonus + ious), 0.0)
    rows, cols = linear_sum_assignment(cost)
    return sorted((int(r), int(c)) for r, c in zip(rows, cols) if eligible[r, c])


def detection_prf(pred: Sequence[BBox], gt: Sequence[BBox], iou: float = 0.5) -> dict[str, float | int]:
    """P/R/F1 of one page, with the counts needed to aggregate pages (see `sum_prf`)."""
    matches = match_boxes(pred, gt, iou)
    matched = {p for p, _ in matches}
    unmatched = [box for i, box in enumerate(pred) if i not in matched]
    counts = {
        "tp": len(matches),
        "fp": len(pred) - len(matches),
        "fn": len(gt) - len(matches),
        "fp_unannotated": count_unannotated(unmatched, gt),
    }
    return with_rates(counts)


def count_unannotated(pred: Sequence[BBox], gt: Sequence[BBox]) -> int:
    if not pred:
        return 0
    boxes = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    if not gt:
        return len(pred)
    inside = intersection_matrix(boxes, np.asarray(gt, dtype=np.float64).reshape(-1, 4)).sum(axis=1)
    share = inside / np.maximum(box_areas(boxes), 1.0)
    return int((share < UNANNOTATED_OVERLAP).sum())


def sum_prf(pages: Iterable[dict[str, float | int]]) -> dict[str, float | int]:
    """Micro-averaged P/R/F1 over pages: counts are summed, then rates computed once."""
    totals = {"tp": 0, "fp": 0, "fn": 0, "fp_unannotated": 0}
    for page in pages:
        for key in totals:
            totals[key] += int(page[key])
    return with_rates(totals)


def with_rates(counts: dict[str, int]) -> dict[str, float | int]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    annotated = tp + fp - counts["fp_unannotated"]
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        # Precision if predictions on unannotated regions were not counted against the detector.
        "precision_annotated": tp / annotated if annotated else 0.0,
        **counts,
    }
