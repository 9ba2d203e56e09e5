import numpy as np
from PIL import Image

from ml.data.augment import AugmentConfig, augment_line
from ml.data.lines import crop_line
from ml.data.preprocess import normalize_line


def test_polygon_crop_masks_outside_with_background():
    page = Image.new("L", (100, 60), 200)
    page.paste(0, (10, 10, 30, 20))                       # ink inside the polygon
    page.paste(0, (70, 40, 90, 50))                       # a neighbour's ink, outside it
    triangle = [(10, 10), (89, 10), (10, 49)]
    crop = np.asarray(crop_line(page, (10, 10, 90, 50), triangle))
    assert crop.shape == (40, 80)
    assert crop[1, 1] == 0                                # inside the polygon: kept
    assert crop[-1, -1] == 200                            # outside: the paper's grey


def test_a_line_written_sideways_is_turned_to_read_left_to_right():
    page = Image.new("L", (60, 200), 255)
    page.paste(0, (10, 10, 30, 40))                       # ink at the top, on the crop's left half
    box = (10, 10, 50, 190)
    down = crop_line(page, box, baseline=[(30, 10), (30, 189)])
    assert down.size == (180, 40)                         # turned a quarter counter-clockwise
    assert np.asarray(down)[25:35, 5:25].max() == 0       # the top went left, the left half down
    up = crop_line(page, box, baseline=[(30, 189), (30, 10)])
    assert up.size == (180, 40)                           # turned clockwise: it starts at the bottom
    assert np.asarray(up)[5:15, -25:-5].max() == 0        # the top went right, the left half up
    backwards = crop_line(page, (0, 0, 60, 20), baseline=[(59, 15), (0, 15)])
    assert backwards.size == (60, 20)                     # a horizontal line is never turned
    assert crop_line(page, box).size == (40, 180)         # without a baseline, nothing to go by


def test_box_crop_is_clipped_to_the_page():
    page = Image.new("L", (50, 50), 255)
    assert crop_line(page, (-5, 40, 60, 80)).size == (50, 10)


def test_normalised_lines_have_ink_high_and_fixed_height():
    line = Image.new("L", (200, 50), 230)
    line.paste(20, (50, 20, 150, 30))
    array = normalize_line(line, 32, horizontal_scale=0.5)
    assert array.shape == (32, 64) and array.dtype == np.uint8
    assert array[16, 32] == 255 and array[2, 2] == 0


def test_augmentation_keeps_height_and_type():
    rng = np.random.default_rng(0)
    array = np.zeros((48, 300), dtype=np.uint8)
    array[20:28, 30:270] = 255
    for _ in range(20):
        out = augment_line(array, rng, AugmentConfig(probability=1.0, elastic_probability=1.0))
        assert out.shape[0] == 48 and out.dtype == np.uint8
        assert 0.8 * 300 <= out.shape[1] <= 1.2 * 300
        assert out.max() > 100                            # the stroke survives
