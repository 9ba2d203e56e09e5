import numpy as np
import pytest

from ml.data.layout import check_inside_image, read_layout, write_alto
from ml.data.synthetic import WORDS, render_line, render_page, sample_text_lines

LINES = ["Je lègue à mon frère", "ma maison de Paris,", "le 3 août 1915."]


def test_sample_text_lines_is_deterministic_and_plausible():
    lines = sample_text_lines(20, seed=7)
    assert lines == sample_text_lines(20, seed=7)
    assert lines != sample_text_lines(20, seed=8)
    assert len(lines) == 20
    for line in lines:
        words = line.rstrip(".,;:").split(" ")
        assert 3 <= len(words) <= 9
        for word in words:
            assert word.isdigit() or word.lower() in {w.lower() for w in WORDS}
    assert sample_text_lines(0, seed=1) == []


def test_render_page_is_deterministic_for_a_seed():
    image_a, page_a = render_page(LINES, seed=11)
    image_b, page_b = render_page(LINES, seed=11)
    assert np.array_equal(np.asarray(image_a), np.asarray(image_b))
    assert page_a == page_b
    image_c, page_c = render_page(LINES, seed=12)
    assert not np.array_equal(np.asarray(image_a), np.asarray(image_c))


@pytest.mark.parametrize("seed", range(6))
def test_render_page_annotation_matches_the_ink(seed):
    lines = sample_text_lines(6, seed=seed)
    image, page = render_page(lines, seed=seed, width=900, line_height=56, font_size=30)
    pixels = np.asarray(image)
    assert image.mode == "L"
    assert (page.width, page.height) == image.size == (900, pixels.shape[0])
    assert [line.text for line in page.lines] == lines
    check_inside_image(page)

    paper = np.median(pixels)
    assert paper > 190  # light background
    covered = np.zeros(pixels.shape, dtype=bool)
    for line in page.lines:
        x0, y0, x1, y1 = line.bbox
        assert x1 - x0 > 10 and y1 - y0 > 5
        crop = pixels[y0:y1, x0:x1]
        assert crop.min() < paper - 100, f"no dark ink in {line.bbox}"
        # Tight: every edge row and column of the box carries some ink.
        for edge in (crop[0], crop[-1], crop[:, 0], crop[:, -1]):
            assert edge.min() < paper - 15, f"loose bbox {line.bbox}"
        assert line.polygon == [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        (bx0, by0), (bx1, by1) = line.baseline
        assert x0 <= bx0 < bx1 <= x1
        # The baseline sits in the lower part of the box (descenders go below it).
        assert y0 + (y1 - y0) // 3 <= min(by0, by1) and max(by0, by1) <= y1
        covered[y0:y1, x0:x1] = True
    # All the dark ink on the page is inside some line box.
    assert pixels[~covered].min() > paper - 100


def test_render_page_round_trips_through_alto():
    _, page = render_page(LINES, seed=3)
    assert read_layout(write_alto(page)) == page


@pytest.mark.parametrize("seed", range(5))  # different seeds pick different fonts
def test_long_line_is_shrunk_to_fit_and_empty_line_skipped(seed):
    long_line = " ".join(["testament"] * 10)
    image, page = render_page([long_line, "", "fin"], seed=seed, width=800)
    assert [line.text for line in page.lines] == [long_line, "fin"]
    x0, y0, x1, y1 = page.lines[0].bbox
    assert x1 < 800 and x1 - x0 > 500
    # Shrunk, not clipped: the last column of the image has no ink.
    assert np.asarray(image)[:, -1].min() > 150
    # The empty line keeps its slot: "fin" is drawn on the third row.
    assert page.lines[1].bbox[1] > 2 * 64


def test_line_too_long_for_any_readable_size_is_refused():
    with pytest.raises(ValueError, match="does not fit in"):
        render_page([" ".join(["testament"] * 40)], seed=0, width=600)


def test_render_page_nfc_normalises_text():
    _, page = render_page(["cafe\u0301"], seed=0)
    assert page.lines[0].text == "caf\u00e9"


def test_render_line_is_deterministic_and_inked():
    image = render_line("Je lègue à mon frère", seed=5, height=48)
    again = render_line("Je lègue à mon frère", seed=5, height=48)
    assert image.mode == "L" and image.height == 48
    assert np.array_equal(np.asarray(image), np.asarray(again))
    other = render_line("Je lègue à mon frère", seed=6, height=48)
    assert other.size != image.size or not np.array_equal(
        np.asarray(image), np.asarray(other)
    )

    pixels = np.asarray(image)
    assert pixels.min() < np.median(pixels) - 100
    # Longer text gives a wider image at the same height.
    assert (
        render_line("Je lègue à mon frère toute ma maison", seed=5, height=48).width
        > image.width
    )


def test_render_line_without_text_is_blank_paper():
    pixels = np.asarray(render_line("   ", seed=1))
    assert pixels.shape[0] == 64
    assert pixels.min() > 150
