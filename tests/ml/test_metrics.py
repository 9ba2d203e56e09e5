import pytest

from ml.metrics import ErrorCounts, box_iou, cer, char_errors, match_lines, page_char_errors, wer


def test_cer_counts_edits_over_reference_length():
    assert cer(["kitten"], ["sitting"]) == pytest.approx(3 / 7)
    assert cer(["abc", ""], ["abc", "de"]) == pytest.approx(2 / 5)   # micro-averaged: 2 edits, 5 chars


def test_wer_counts_word_edits():
    assert wer(["le chat noir"], ["le chien noir"]) == pytest.approx(1 / 3)
    assert wer(["a b c d"], ["a c d"]) == pytest.approx(1 / 3)


def test_perfect_and_empty():
    assert cer(["même"], ["même"]) == 0.0
    assert char_errors("", "").rate == 0.0
    assert ErrorCounts(2, 0).rate == 2.0


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_match_lines_is_one_to_one():
    pairs = match_lines([(0, 0, 10, 10), (0, 0, 10, 9)], [(0, 0, 10, 10)])
    assert pairs == [(0, 0)]


def test_page_cer_counts_missed_and_extra_lines():
    reference = [((0, 0, 100, 20), "abcd"), ((0, 30, 100, 50), "efgh")]
    predicted = [((0, 0, 100, 21), "abce"), ((0, 100, 100, 120), "xyz")]
    counts = page_char_errors(predicted, reference)
    # 1 substitution + 4 deleted (missed line) + 3 inserted (extra line), over 8 reference chars.
    assert counts.edits == 8 and counts.reference_length == 8
