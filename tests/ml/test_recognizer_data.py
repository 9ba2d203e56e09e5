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
