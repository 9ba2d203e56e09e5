"""Post-processing, targets and the detection metric on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.detection.augment import PageAugmentConfig, sample_crops
from ml.detection.geometry import LineGeometry, as_line_geometry, box_iou_matrix, sort_reading_order
from ml.detection.metrics import detection_prf, match_boxes, sum_prf
from ml.detection.postprocess import PostprocessConfig, lines_from_probability
from ml.detection.targets import line_body_mask


def three_bars() -> np.ndarray:
    probability = np.zeros((100, 200), dtype=np.float32)
    probability[80:85, 10:190] = 0.9
    probability[20:25, 10:190] = 0.8
    probability[50:55, 30:170] = 0.7
    return probability


def test_three_bars_become_three_boxes_in_page_pixels():
    lines = lines_from_probability(three_bars(), scale=4.0, page_size=(800, 400), body_shrink=0.5,
                                   config=PostprocessConfig(merge_gap=0))
    # Each 5-row body grows by 2.5 rows on both sides (shrink 0.5), then map pixels x4.
    assert [line.bbox for line in lines] == [(40, 70, 760, 110), (120, 190, 680, 230), (40, 310, 760, 350)]
    assert [round(line.score, 2) for line in lines] == [0.8, 0.7, 0.9]
    for line in lines:
        x0, y0, x1, y1 = line.bbox
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in line.polygon)


def test_boxes_are_clipped_to_the_page():
    probability = np.zeros((50, 100), dtype=np.float32)
    probability[0:4, 0:100] = 1.0
    (line,) = lines_from_probability(probability, scale=2.0, page_size=(200, 100), body_shrink=0.4)
    assert line.bbox[0] == 0 and line.bbox[1] == 0 and line.bbox[2] == 200 and line.bbox[3] <= 100


def test_pieces_of_one_line_merge_but_neighbouring_lines_do_not():
    probability = np.zeros((60, 200), dtype=np.float32)
    probability[20:25, 10:80] = 1.0
    probability[20:25, 90:190] = 1.0    # a word gap of 10 px, two body heights
    probability[32:37, 10:190] = 1.0    # the next line, 7 px below
    merged = lines_from_probability(probability, scale=1.0, page_size=(200, 60), body_shrink=0.5,
                                    config=PostprocessConfig(merge_gap=3.0))
    split = lines_from_probability(probability, scale=1.0, page_size=(200, 60), body_shrink=0.5,
                                   config=PostprocessConfig(merge_gap=0))
    assert len(merged) == 2 and merged[0].bbox[0] == 10 and merged[0].bbox[2] == 190
    assert len(split) == 3


def test_specks_are_dropped():
    probability = three_bars()
    probability[5:7, 100:103] = 1.0
    assert len(lines_from_probability(probability, scale=1.0, page_size=(200, 100), body_shrink=0.5)) == 3


def test_reading_order_is_rows_top_to_bottom_then_left_to_right():
    boxes = [(500, 100, 900, 150), (0, 300, 400, 350), (0, 105, 400, 148), (0, 200, 900, 250)]
    assert sort_reading_order(boxes) == [2, 0, 3, 1]


def test_body_mask_keeps_the_central_band_of_each_column():
    box_line = LineGeometry((10, 10, 30, 20))            # 10 rows tall
    mask = line_body_mask([box_line], (40, 40), scale=1.0, shrink=0.4)
    rows = np.nonzero(mask[:, 20])[0]
    assert rows.tolist() == [13, 14, 15, 16]
    slanted = LineGeometry((0, 0, 40, 30), [(0, 0), (40, 20), (40, 30), (0, 10)])
    mask = line_body_mask([slanted], (40, 40), scale=1.0, shrink=0.4)
    assert np.nonzero(mask[:, 2])[0].mean() < np.nonzero(mask[:, 37])[0].mean()   # the band follows the slant


def test_lines_are_read_from_boxes_dicts_and_annotations():
    class Annotation:
        bbox = (1, 2, 3, 4)
        polygon = [(1, 2), (3, 2), (3, 4)]

    assert as_line_geometry((1, 2, 3, 4)).bbox == (1, 2, 3, 4)
    assert as_line_geometry({"polygon": [(1, 2), (5, 2), (5, 6)]}).bbox == (1, 2, 6, 7)
    assert as_line_geometry(Annotation()).polygon == [(1, 2), (3, 2), (3, 4)]
    with pytest.raises(ValueError):
        as_line_geometry({"text": "no geometry"})


def test_iou_of_hand_made_boxes():
    ious = box_iou_matrix([(0, 0, 10, 10)], [(0, 0, 10, 10), (5, 0, 15, 10), (10, 10, 20, 20)])
    assert ious.tolist() == [[1.0, pytest.approx(50 / 150), 0.0]]


def test_matching_is_one_to_one_and_prefers_more_matches():
    gt = [(0, 0, 100, 20), (0, 30, 100, 50)]
    # Prediction 0 fits gt 0 best but also overlaps gt 1 enough; prediction 1 only fits gt 0.
    pred = [(0, 0, 100, 20), (0, 0, 100, 18), (0, 30, 100, 50)]
    assert match_boxes(pred, gt) == [(0, 0), (2, 1)]
    assert match_boxes(pred[:2], gt[:1]) == [(0, 0)]
    assert match_boxes([], gt) == [] and match_boxes(pred, []) == []


def test_precision_recall_f1_and_unannotated_predictions():
    gt = [(0, 0, 100, 20), (0, 30, 100, 50), (0, 60, 100, 80), (0, 90, 100, 110)]
    pred = [
        (0, 0, 100, 20),        # tp
        (2, 31, 100, 50),       # tp
        (0, 60, 30, 80),        # fp on an annotated line (too short): IoU 0.3
        (300, 0, 400, 40),      # fp far from any annotation: unannotated ink or noise
    ]
    result = detection_prf(pred, gt)
    assert (result["tp"], result["fp"], result["fn"], result["fp_unannotated"]) == (2, 2, 2, 1)
    assert result["precision"] == 0.5 and result["recall"] == 0.5 and result["f1"] == 0.5
    assert result["precision_annotated"] == pytest.approx(2 / 3)


def test_pages_are_aggregated_by_counts_not_by_averaging_rates():
    page_a = detection_prf([(0, 0, 10, 10)], [(0, 0, 10, 10)])                 # P = R = 1
    page_b = detection_prf([(0, 0, 10, 10)], [(50, 50, 60, 60), (70, 70, 80, 80), (90, 90, 99, 99)])
    total = sum_prf([page_a, page_b])
    assert (total["tp"], total["fp"], total["fn"]) == (1, 1, 3)
    assert total["precision"] == 0.5 and total["recall"] == 0.25 and total["f1"] == pytest.approx(1 / 3)
    assert detection_prf([], [])["f1"] == 0.0


def test_augmented_crops_keep_targets_on_the_ink():
    gray = np.ones((200, 300), dtype=np.float32)
    body = np.zeros_like(gray)
    for top in (40, 90, 140):
        gray[top:top + 12, 20:280] = 0.1
        body[top + 3:top + 9, 20:280] = 1.0
    config = PageAugmentConfig(scale_range=(0.9, 1.1), max_rotation_deg=3.0, contrast_range=(1.0, 1.0),
                               max_brightness=0.0, max_noise=0.0)
    images, targets = sample_crops([gray] * 4, [body] * 4, 96, 2, np.random.default_rng(0), config)
    assert images.shape == (4, 1, 96, 96) and targets.shape == (4, 2, 48, 48)
    assert torch.all(targets[:, 1] == 1.0)                       # a whole page counts everywhere
    ink = 1.0 - torch.nn.functional.avg_pool2d(images, 2)
    on_body = targets[:, :1] > 0.9
    assert on_body.any() and ink[on_body].min() > 0.5          # every body pixel sits on a stroke
