"""Label Studio geometry (percent, rotated around the top-left corner) to page pixels and back."""

from __future__ import annotations

import pytest

from labeling.convert import LineForLabelStudio, MalformedResult, regions_from_result, result_from_lines
from tests.labeling.helpers import region


def test_a_box_and_its_transcription_become_one_line_in_pixels():
    [line], skipped = regions_from_result(region("a", x=10, y=20, width=50, height=5, text=" bonjour "),
                                          width=1000, height=500)
    assert (line.region_id, line.bbox, line.polygon, line.text, skipped) == ("a", (100, 100, 600, 125), None,
                                                                             "bonjour", {})


def test_a_rotated_box_keeps_its_polygon_and_its_bounds():
    [line], _ = regions_from_result(region("a", x=10, y=10, width=20, height=10, text="t", rotation=90),
                                    width=100, height=100)
    # 90 degrees clockwise around (10, 10): the box now hangs to the left of its corner.
    assert line.bbox == (0, 10, 10, 30)
    assert line.polygon == [[10, 10], [10, 30], [0, 30], [0, 10]]


def test_regions_without_text_or_outside_the_image_are_skipped():
    result = (region("ok", x=0, y=0, width=100, height=10, text="x")
              + region("empty", x=0, y=20, width=10, height=10, text=None)
              + region("out", x=-5, y=20, width=10, height=10, text="y")
              + region("nan", x=float("nan"), y=20, width=10, height=10, text="y"))
    lines, skipped = regions_from_result(result, width=200, height=100)
    assert [line.region_id for line in lines] == ["ok"]
    assert set(skipped) == {"empty", "out", "nan"}


def test_a_result_that_is_not_a_list_is_malformed():
    with pytest.raises(MalformedResult):
        regions_from_result({"id": "a"}, width=10, height=10)


def test_lines_go_back_as_the_same_percentages():
    result = result_from_lines([LineForLabelStudio(region_id="a", bbox=(100, 100, 600, 125), text="bonjour",
                                                   score=0.5)], width=1000, height=500)
    [line], _ = regions_from_result(result, width=1000, height=500)
    assert (line.bbox, line.text) == ((100, 100, 600, 125), "bonjour")
    assert [item["score"] for item in result] == [0.5, 0.5]
    assert {item["id"] for item in result} == {"a"}
