"""Label Studio geometry (percent, rotated around the top-left corner) to page pixels and back."""

from __future__ import annotations

import pytest

from labeling.config import POLYGON
from labeling.convert import LineForLabelStudio, MalformedResult, regions_from_result, result_from_lines, same_shape
from tests.labeling.helpers import polygon_region, region


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


def test_a_polygon_line_goes_back_as_a_polygon_and_reads_back_the_same():
    polygon = [[103, 207], [598, 180], [601, 232], [99, 251]]  # a slanted outline, x1/y1 exclusive bounds below
    line = LineForLabelStudio(region_id="p", bbox=(99, 180, 601, 251), text="penchée", polygon=polygon)
    result = result_from_lines([line], width=1000, height=500)
    shape = next(item for item in result if item["type"] != "textarea")
    assert (shape["type"], shape["from_name"], shape["value"]["polygonlabels"]) == ("polygonlabels", POLYGON, ["Line"])
    assert shape["value"]["points"][0] == pytest.approx([10.3, 41.4])
    assert {item["id"] for item in result} == {"p"}  # the transcription is tied to it by region id

    [back], skipped = regions_from_result(result, width=1000, height=500)
    assert (back.polygon, back.text, skipped) == (polygon, "penchée", {})
    assert all(abs(a - b) <= 1 for a, b in zip(back.bbox, line.bbox))
    assert same_shape(line.bbox, line.polygon, back.bbox, back.polygon)


def test_a_rotated_box_read_from_label_studio_survives_the_round_trip_as_a_polygon():
    [read], _ = regions_from_result(region("r", x=20, y=20, width=40, height=6, text="t", rotation=8),
                                    width=800, height=600)
    result = result_from_lines([LineForLabelStudio(region_id="r", bbox=read.bbox, text="t", polygon=read.polygon)],
                               width=800, height=600)
    [back], _ = regions_from_result(result, width=800, height=600)
    assert back.polygon == read.polygon
    assert all(abs(a - b) <= 1 for a, b in zip(back.bbox, read.bbox))
    assert same_shape(read.bbox, read.polygon, back.bbox, back.polygon)


def test_a_polygon_drawn_in_label_studio_becomes_a_line_with_that_polygon():
    [line], _ = regions_from_result(polygon_region("p", points=[[10, 20], [50, 18], [51, 25], [10, 27]], text="x"),
                                    width=200, height=100)
    assert line.polygon == [[20, 20], [100, 18], [102, 25], [20, 27]]
    assert line.bbox == (20, 18, 102, 27)


def test_shapes_compare_by_polygon_when_there_is_one():
    assert same_shape((0, 0, 10, 10), None, (0, 0, 10, 10), None)
    assert not same_shape((0, 0, 10, 10), None, (0, 0, 10, 11), None)
    assert same_shape((0, 0, 10, 10), [[0, 0], [10, 1], [9, 10]], (0, 0, 10, 11), [[0, 0], [10, 1], [9, 10]])
    assert not same_shape((0, 0, 10, 10), [[0, 0], [10, 1], [9, 10]], (0, 0, 10, 10), None)
