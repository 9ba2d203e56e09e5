"""Pages people have only partly checked train the detector where they are known, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ml.detection.augment import NO_AUGMENTATION
from ml.detection.data import PartialPage
from ml.detection.geometry import LineGeometry
from ml.detection.model import DetectorConfig
from ml.detection.targets import known_region_mask
from ml.detection.train import DetectorTask, DetectorTrainingConfig, TrainConfig, body_loss, prepare_page

MODEL = DetectorConfig(input_long_side=256, channels=(8, 12, 16))


def page_with_three_lines() -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A 400 × 200 page with three dark lines of 'ink'."""
    pixels = np.full((200, 400), 255, dtype=np.uint8)
    boxes = [(20, 30, 380, 50), (20, 90, 380, 110), (20, 150, 380, 170)]
    for x0, y0, x1, y1 in boxes:
        pixels[y0 + 4:y1 - 4, x0:x1] = 30
    return Image.fromarray(pixels), boxes


def test_the_known_region_is_around_verified_lines_and_marked_boxes_but_never_on_unchecked_lines():
    verified = [LineGeometry((20, 30, 380, 50))]
    marked = [LineGeometry((300, 180, 340, 196))]
    unchecked = [LineGeometry((20, 56, 380, 76))]     # starts 6 px below it, inside its 10 px margin
    weight = known_region_mask(verified, marked, unchecked, (200, 400), 1.0, margin=0.5)
    assert weight[40, 200] == 1.0                       # on the verified line
    assert weight[25, 200] == 1.0 and weight[55, 200] == 1.0   # in its margin (half its height, 10 px)
    assert weight[19, 200] == 0.0 and weight[61, 200] == 0.0   # beyond it
    assert weight[58, 200] == 0.0                       # an unchecked line inside the margin stays unknown
    assert weight[188, 320] == 1.0                      # a box marked as not a line is known background
    assert weight[120, 200] == 0.0                      # the rest of the page says nothing


def test_a_fully_known_weight_gives_the_unweighted_loss():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 16, 16, generator=generator)
    targets = (torch.rand(2, 1, 16, 16, generator=generator) > 0.7).float()
    plain = body_loss(logits, targets, 1.0)
    assert torch.allclose(body_loss(logits, targets, 1.0, known=torch.ones_like(targets)), plain)


def test_logits_where_the_page_is_unknown_get_no_gradient():
    logits = torch.zeros(1, 1, 8, 8, requires_grad=True)
    targets = torch.zeros(1, 1, 8, 8)
    known = torch.zeros(1, 1, 8, 8)
    known[..., :4, :] = 1.0
    body_loss(logits, targets, 1.0, known=known).backward()
    assert torch.all(logits.grad[..., 4:, :] == 0)
    assert torch.all(logits.grad[..., :4, :] > 0)       # background there pushes logits down


def test_a_partly_checked_page_teaches_its_verified_line_and_says_nothing_of_its_unchecked_ones():
    image, boxes = page_with_three_lines()
    partial = PartialPage(image=image, lines=[boxes[0]], unchecked=[boxes[1]])
    prepared = prepare_page(partial, MODEL)
    scale = 400 / prepared.gray.shape[1]
    row = lambda y: int(y / scale)  # noqa: E731
    assert prepared.body[row(40)].max() == 1.0                    # the verified line's body is a target
    assert prepared.known[row(100)].max() == 0.0                  # the unchecked line is not background
    assert prepared.known[row(160)].max() == 0.0                  # nor is a line nobody looked at
    whole = prepare_page((image, boxes), MODEL)
    assert whole.known is None                                   # a whole page counts everywhere


@pytest.mark.parametrize("seed", [0, 1])
def test_a_training_batch_of_partial_pages_carries_where_it_is_known(seed):
    image, boxes = page_with_three_lines()
    config = DetectorTrainingConfig(model=MODEL, train=TrainConfig(batch_size=2, crop_size=128,
                                                                   augment=NO_AUGMENTATION))
    task = DetectorTask([PartialPage(image=image, lines=[boxes[0]]), (image, boxes)], [(image, boxes)],
                        config=config, device="cpu", seed=seed)
    logits, targets = task.forward([0, 1], np.random.default_rng(seed))
    assert targets.shape[1] == 2
    assert targets[0, 1].min() == 0.0 and targets[1, 1].min() == 1.0
    loss = task.loss(logits, targets)
    assert torch.isfinite(loss) and loss.item() > 0
    assert task.meta["partial_train_pages"] == 1
