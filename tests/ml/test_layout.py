import dataclasses
from pathlib import Path

import pytest

from ml.data.layout import (
    LayoutFormatError,
    LineAnnotation,
    NotALayoutError,
    PageAnnotation,
    check_inside_image,
    clip_to_image,
    group_of,
    pair_layouts_with_images,
    read_layout,
    write_alto,
    write_page_xml,
)
from tests.services import skip_without_service

REPO = Path(__file__).resolve().parents[2]
CREMMA = REPO.parent / "shared" / "data" / "cremma-testaments"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIRST_PAGE = "TestamentsDePoilus_will_AD78_0002-0"

needs_cremma = pytest.mark.skipif(
    not CREMMA.is_dir(), reason=f"CREMMA data not found at {CREMMA}"
)


@pytest.fixture(scope="module")
def cremma_pages() -> dict[str, PageAnnotation]:
    if not CREMMA.is_dir():
        skip_without_service("data", f"CREMMA data not found at {CREMMA}")
    return {path.stem: read_layout(path) for path in sorted(CREMMA.glob("*.xml"))}


def bounds(points):
    xs, ys = zip(*points)
    return min(xs), min(ys), max(xs), max(ys)


# ------------------------------------------------------------------- ALTO (real)


@needs_cremma
def test_alto_first_page_known_line():
    page = read_layout(CREMMA / f"{FIRST_PAGE}.xml")
    assert page.format == "alto"
    assert page.image_filename == f"{FIRST_PAGE}.jpg"
    assert (page.width, page.height) == (1127, 1600)
    assert len(page.lines) == 23
    first = page.lines[0]
    assert first.id == "eSc_line_dc46d5f3"
    assert first.bbox == (312, 148, 312 + 752, 148 + 55)
    assert first.text == "né à Marolles-les-Braults le dix huit"
    assert first.baseline == [(315, 185), (1064, 192)]
    assert first.polygon[:3] == [(315, 185), (315, 161), (409, 161)]
    assert first.polygon[-1] == (312, 196)
    # Document order is kept even where it is not top-to-bottom.
    assert page.lines[1].id == "eSc_line_0a605ffe"
    assert page.lines[1].bbox[1] < first.bbox[1]


def test_alto_reads_bytes_str_and_path_alike(cremma_pages):
    path = CREMMA / f"{FIRST_PAGE}.xml"
    from_path = read_layout(path)
    assert read_layout(path.read_bytes()) == from_path
    assert read_layout(path.read_text(encoding="utf-8")) == from_path
    assert read_layout(str(path)) == from_path
    assert from_path == cremma_pages[FIRST_PAGE]


def test_cremma_folder_full_pass_is_complete():
    # How fast the folder reads is bench/import_bench.py's business, not a test's.
    if not CREMMA.is_dir():
        skip_without_service("data", f"CREMMA data not found at {CREMMA}")
    pages = [read_layout(path) for path in sorted(CREMMA.glob("*.xml"))]
    assert len(pages) == 173
    assert sum(len(page.lines) for page in pages) == 2597
    for page in pages:
        check_inside_image(page)
        for line in page.lines:
            assert line.polygon and line.baseline and line.id
            assert line.text


def test_alto_variants_multiple_strings_floats_comma_points_no_namespace():
    xml = """<alto><Description><MeasurementUnit>pixel</MeasurementUnit>
      <sourceImageInformation><fileName>/data/img/p1.tif</fileName></sourceImageInformation></Description>
      <Layout><Page WIDTH="500.4" HEIGHT="300" ID="p1"><PrintSpace><TextBlock ID="b1">
        <TextLine ID="t1" HPOS="10.6" VPOS="20.2" WIDTH="100.3" HEIGHT="30" BASELINE="11,45 110,47">
          <String CONTENT="Mon"/><SP/><String CONTENT="frère"/><HYP CONTENT="-"/>
        </TextLine>
        <TextLine ID="t2" BASELINE="80">
          <Shape><Polygon POINTS="20,60 220,60 220,90 20,90"/></Shape>
          <String CONTENT="cafe&#x301;"/>
        </TextLine>
        <TextLine ID="t3" HPOS="0" VPOS="100" WIDTH="50" HEIGHT="20"/>
      </TextBlock></PrintSpace></Page></Layout></alto>"""
    page = read_layout(xml.encode())
    assert page.image_filename == "p1.tif"
    assert (page.width, page.height) == (500, 300)
    t1, t2, t3 = page.lines
    assert t1.bbox == (11, 20, 111, 50)  # round(10.6), round(10.6 + 100.3)
    assert t1.text == "Mon frère-"
    assert t1.baseline == [(11, 45), (110, 47)]
    assert t1.polygon is None
    # No HPOS...: the bbox is the polygon's bounds; an old-style scalar BASELINE spans the box.
    assert t2.bbox == (20, 60, 220, 90)
    assert t2.baseline == [(20, 80), (220, 80)]
    assert t2.text == "café" and len(t2.text) == 4  # NFC
    assert t3.text == "" and t3.baseline is None


@pytest.mark.parametrize(
    "namespace",
    [
        "http://www.loc.gov/standards/alto/ns-v2#",
        "http://www.loc.gov/standards/alto/ns-v3#",
    ],
)
def test_older_alto_namespaces(namespace):
    xml = f"""<alto xmlns="{namespace}"><Layout><Page WIDTH="100" HEIGHT="100">
      <PrintSpace><TextBlock><TextLine HPOS="1" VPOS="2" WIDTH="3" HEIGHT="4"><String CONTENT="x"/></TextLine>
      </TextBlock></PrintSpace></Page></Layout></alto>"""
    page = read_layout(xml)
    assert page.lines == [LineAnnotation(bbox=(1, 2, 4, 6), text="x")]
    assert page.image_filename == ""


# ------------------------------------------------------------------ PAGE (hand)


def test_page_2019_fixture_field_by_field():
    page = read_layout(FIXTURES / "page2019.xml")
    assert page.format == "page2019"
    assert page.image_filename == "folio_12r.jpg"
    assert (page.width, page.height) == (1000, 1400)
    # ReadingOrder puts the margin region first; the unlisted region comes last.
    assert [line.id for line in page.lines] == [
        "l_margin_1",
        "l_main_1",
        "l_main_2",
        "l_main_3",
        "l_footer",
    ]
    margin, main_1, main_2, main_3, footer = page.lines

    assert (
        margin.text == "Approuvé" and len(margin.text) == 8
    )  # combining accent composed
    assert margin.bbox == (925, 110, 985, 590)
    assert margin.baseline is None

    assert (
        main_1.text == "Ceci est mon testament"
    )  # index="0" wins over the earlier index="1"
    assert main_1.polygon == [
        (100, 110),
        (500, 105),
        (880, 120),
        (880, 170),
        (500, 160),
        (100, 165),
    ]
    assert main_1.bbox == (100, 105, 880, 170)  # polygon bounds
    assert main_1.baseline == [(100, 155), (880, 160)]

    assert main_2.text == "Je lègue"  # from Word TextEquivs only
    assert main_2.bbox == (120, 200, 860, 260)

    assert main_3.text == ""  # empty lines are kept
    assert footer.text == "pied de page"


def test_page_2013_fixture_field_by_field():
    page = read_layout(FIXTURES / "page2013.xml")
    assert page.format == "page2013"
    assert (
        page.image_filename == "will_0007-2.png"
    )  # Windows path reduced to its basename
    assert (page.width, page.height) == (800, 600)
    assert [line.id for line in page.lines] == ["r2_l1", "r1_l1", "r1_l2"]
    heading, line_1, line_2 = page.lines
    assert heading == LineAnnotation(
        bbox=(210, 60, 590, 110),
        text="Testament",
        polygon=[(210, 60), (590, 60), (590, 110), (210, 110)],
        baseline=[(210, 100), (590, 100)],
        id="r2_l1",
    )
    assert line_1.text == "fait à Paris"
    assert line_1.bbox == (60, 305, 740, 360)
    assert line_1.baseline == [(60, 350), (740, 352)]
    assert line_2.text == "le dix mai"
    assert line_2.baseline is None


def test_page_nested_reading_order_groups_and_nested_regions():
    xml = """<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
      <Page imageFilename="x.png" imageWidth="100" imageHeight="100">
        <ReadingOrder><OrderedGroup id="g">
          <UnorderedGroupIndexed id="u" index="1"><RegionRef regionRef="a"/></UnorderedGroupIndexed>
          <OrderedGroupIndexed id="o" index="0" regionRef="table">
            <RegionRefIndexed index="1" regionRef="c"/>
            <RegionRefIndexed index="0" regionRef="b"/>
          </OrderedGroupIndexed>
        </OrderedGroup></ReadingOrder>
        <TextRegion id="a"><Coords points="0,0 1,1 2,0"/>
          <TextLine id="la"><Coords points="0,0 1,0 1,1"/><TextEquiv><Unicode>a</Unicode></TextEquiv></TextLine>
        </TextRegion>
        <TextRegion id="c"><Coords points="0,0 1,1 2,0"/>
          <TextLine id="lc"><Coords points="0,0 1,0 1,1"/><TextEquiv><Unicode>c</Unicode></TextEquiv></TextLine>
        </TextRegion>
        <TableRegion id="table"><Coords points="0,0 1,1 2,0"/>
          <TextRegion id="cell"><Coords points="0,0 1,1 2,0"/>
            <TextLine id="lcell"><Coords points="0,0 1,0 1,1"/><TextEquiv><Unicode>cell</Unicode></TextEquiv></TextLine>
          </TextRegion>
        </TableRegion>
        <TextRegion id="b"><Coords points="0,0 1,1 2,0"/>
          <TextLine id="lb"><Coords points="0,0 1,0 1,1"/><TextEquiv><Unicode>b</Unicode></TextEquiv></TextLine>
        </TextRegion>
      </Page></PcGts>"""
    page = read_layout(xml)
    assert [line.text for line in page.lines] == ["cell", "b", "c", "a"]


# ------------------------------------------------------------------- bad input


def error_for(xml: str | bytes, name: str = "upload.xml") -> str:
    with pytest.raises(LayoutFormatError) as info:
        read_layout(xml.encode() if isinstance(xml, str) else xml, name=name)
    return str(info.value)


def test_malformed_xml_reports_line_and_column():
    message = error_for(
        "<alto>\n  <Layout>\n    <Page WIDTH='1' HEIGHT='1'>\n  </Layout>\n</alto>"
    )
    assert message.startswith("upload.xml: malformed XML at line 4, column")
    assert "mismatched tag" in message


def test_empty_document_is_malformed():
    assert "malformed XML at line 1" in error_for(b"")


def test_billion_laughs_is_refused():
    xml = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<alto><Layout><Page WIDTH="1" HEIGHT="1"><PrintSpace><TextBlock>
  <TextLine HPOS="0" VPOS="0" WIDTH="1" HEIGHT="1"><String CONTENT="&lol3;"/></TextLine>
</TextBlock></PrintSpace></Page></Layout></alto>"""
    message = error_for(xml)
    assert (
        message
        == "upload.xml: entity declaration 'lol' is not allowed (entity expansion is refused)"
    )


def test_external_entity_is_refused():
    xml = """<?xml version="1.0"?>
<!DOCTYPE alto [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alto><Layout><Page WIDTH="1" HEIGHT="1"><PrintSpace><TextBlock>
  <TextLine HPOS="0" VPOS="0" WIDTH="1" HEIGHT="1"><String CONTENT="&xxe;"/></TextLine>
</TextBlock></PrintSpace></Page></Layout></alto>"""
    message = error_for(xml)
    assert "external entity 'xxe'" in message
    assert "file:///etc/passwd" in message
    assert "root" not in message  # nothing of the file leaks


def test_non_layout_root_is_refused():
    message = error_for('<mets:mets xmlns:mets="http://www.loc.gov/METS/"/>')
    assert message == (
        "upload.xml: root element <mets> in namespace 'http://www.loc.gov/METS/' "
        "is neither ALTO (<alto>) nor PAGE XML (<PcGts>)"
    )
    # Its own kind, so that importers can skip the METS and metadata files exports carry.
    with pytest.raises(NotALayoutError):
        read_layout(b"<trpDocMetadata><docId>1</docId></trpDocMetadata>")


def test_unknown_page_namespace_is_refused():
    message = error_for(
        '<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19"/>'
    )
    assert "unsupported PAGE XML namespace" in message and "2010-03-19" in message


def test_non_pixel_measurement_unit_is_refused():
    xml = """<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
      <Description><MeasurementUnit>mm10</MeasurementUnit></Description>
      <Layout><Page WIDTH="2100" HEIGHT="2970"/></Layout></alto>"""
    assert (
        error_for(xml)
        == "upload.xml: MeasurementUnit 'mm10' is unsupported; only 'pixel' is supported"
    )


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        (
            '<TextLine ID="t9" HPOS="a" VPOS="0" WIDTH="1" HEIGHT="1"/>',
            "<TextLine id='t9'> has non-numeric HPOS='a'",
        ),
        (
            '<TextLine ID="t9"><String CONTENT="x"/></TextLine>',
            "<TextLine id='t9'> has neither HPOS/VPOS/WIDTH/HEIGHT nor a Shape/Polygon",
        ),
        (
            '<TextLine ID="t9" HPOS="0" VPOS="0" WIDTH="1" HEIGHT="1" BASELINE="1 2 3"/>',
            "BASELINE='1 2 3' has an odd number of coordinates",
        ),
    ],
)
def test_bad_alto_line_attributes_name_the_line(fragment, expected):
    xml = (f'<alto><Layout><Page WIDTH="10" HEIGHT="10"><PrintSpace><TextBlock>{fragment}</TextBlock></PrintSpace>'
           '</Page></Layout></alto>')
    assert expected in error_for(xml)


def test_missing_page_size_is_refused():
    xml = ('<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">'
           '<Page imageFilename="a.jpg" imageWidth="10"/></PcGts>')
    assert error_for(xml) == "upload.xml: <Page> lacks the imageHeight attribute"


# ------------------------------------------------------------ check_inside_image


def test_check_inside_image_accepts_exact_bounds_and_names_the_line_outside():
    inside = LineAnnotation(
        bbox=(0, 0, 100, 50), text="ok", polygon=[(0, 0), (100, 0), (100, 50)], id="a"
    )
    page = PageAnnotation(image_filename="p.jpg", width=100, height=50, lines=[inside])
    check_inside_image(page)  # x1 == width and y1 == height are inside

    page.lines.append(LineAnnotation(bbox=(10, 10, 101, 20), text="wide", id="b"))
    with pytest.raises(
        LayoutFormatError,
        match=r"line 2 \(id 'b'\) bbox \(10, 10, 101, 20\) falls outside the 100x50 image",
    ):
        check_inside_image(page)

    page.lines[1] = LineAnnotation(
        bbox=(10, 10, 20, 20), text="x", baseline=[(10, 15), (20, -1)], id="b"
    )
    with pytest.raises(LayoutFormatError, match=r"baseline point \(20, -1\)"):
        check_inside_image(page)

    page.lines[1] = LineAnnotation(
        bbox=(10, 10, 20, 20), text="x", polygon=[(10, 10), (20, 10), (20, 51)]
    )
    with pytest.raises(LayoutFormatError, match=r"line 2 polygon point \(20, 51\)"):
        check_inside_image(page)


def test_clip_to_image_moves_points_onto_the_edge_and_skips_what_has_no_area_inside():
    page = PageAnnotation(image_filename="p.jpg", width=100, height=50, lines=[
        LineAnnotation(bbox=(10, 10, 90, 40), text="inside", id="a"),
        LineAnnotation(bbox=(10, -3, 90, 20), text="above", polygon=[(10, -3), (90, -3), (90, 20), (10, 20)],
                       baseline=[(10, 18), (90, 18)], id="b"),
        LineAnnotation(bbox=(60, 10, 400, 20), text="far right", baseline=[(101, 15), (400, 15)], id="c"),
        LineAnnotation(bbox=(120, 10, 200, 20), text="beside the page", id="d"),
        LineAnnotation(bbox=(10, 30, 40, 60), text="flat", polygon=[(10, 50), (40, 50), (40, 60)], id="e"),
    ])

    clipped = clip_to_image(page)

    assert [line.id for line in clipped.lines] == ["a", "b", "c"]
    assert clipped.lines[0] is page.lines[0]
    assert clipped.lines[1].bbox == (10, 0, 90, 20)
    assert clipped.lines[1].polygon == [(10, 0), (90, 0), (90, 20), (10, 20)]
    assert (clipped.lines[2].bbox, clipped.lines[2].baseline) == ((60, 10, 100, 20), None)  # one point left
    assert [(line.id, line.reason) for line in clipped.clipped] == [
        ("b", "reaches 3 px outside the 100x50 image: bbox (10, -3, 90, 20) clipped to (10, 0, 90, 20); "
              "polygon points moved onto the edge"),
        ("c", "reaches 300 px outside the 100x50 image: bbox (60, 10, 400, 20) clipped to (60, 10, 100, 20); "
              "baseline points moved onto the edge"),
    ]
    assert [(line.id, line.reason) for line in clipped.skipped] == [
        ("d", "reaches 100 px outside the 100x50 image and has no area inside it"),
        ("e", "reaches 10 px outside the 100x50 image and has no area inside it"),
    ]
    check_inside_image(clipped)


# --------------------------------------------------------------------- round trips


def assert_same_lines(actual: PageAnnotation, expected: PageAnnotation) -> None:
    assert len(actual.lines) == len(expected.lines)
    for got, want in zip(actual.lines, expected.lines):
        assert got == want


def test_alto_round_trip_on_cremma(cremma_pages):
    for stem, page in cremma_pages.items():
        again = read_layout(write_alto(page), name=stem)
        assert again == page, stem


@pytest.mark.parametrize("schema", ["2019", "2013"])
def test_alto_to_page_round_trip_on_cremma(cremma_pages, schema):
    for stem, page in cremma_pages.items():
        as_page = read_layout(write_page_xml(page, schema=schema), name=stem)
        assert as_page.format == f"page{schema}"
        # PAGE carries no separate box: it comes back as the polygon's bounds
        # (in CREMMA, HPOS/WIDTH often differ from them by a pixel).
        expected = dataclasses.replace(
            page,
            format=f"page{schema}",
            lines=[
                dataclasses.replace(line, bbox=bounds(line.polygon))
                for line in page.lines
            ],
        )
        assert as_page == expected, stem
        # ... and from there on, PAGE -> PAGE and PAGE -> ALTO -> PAGE are exact.
        assert read_layout(write_page_xml(as_page, schema=schema)) == as_page
        via_alto = read_layout(write_alto(as_page))
        assert via_alto == dataclasses.replace(as_page, format="alto")


@pytest.mark.parametrize("fixture", ["page2013.xml", "page2019.xml"])
@pytest.mark.parametrize("schema", ["2013", "2019"])
def test_page_fixture_round_trips(fixture, schema):
    page = read_layout(FIXTURES / fixture)
    again = read_layout(write_page_xml(page, schema=schema))
    assert again == dataclasses.replace(page, format=f"page{schema}")
    assert read_layout(write_alto(page)) == dataclasses.replace(page, format="alto")


def test_writers_fill_in_what_page_requires():
    page = PageAnnotation(
        image_filename="p.png",
        width=50,
        height=40,
        lines=[
            LineAnnotation(bbox=(1, 2, 30, 12), text="a < b & c"),
            LineAnnotation(bbox=(1, 20, 30, 32), text="", id="line"),
        ],
    )
    assert read_layout(write_alto(page)) == page  # ALTO can say "no polygon, no id"
    again = read_layout(write_page_xml(page))
    first, second = again.lines
    assert first.polygon == [(1, 2), (30, 2), (30, 12), (1, 12)]
    assert first.bbox == (1, 2, 30, 12) and first.text == "a < b & c"
    assert (
        first.id and first.id != "line"
    )  # generated, not clashing with the other line's id
    assert second.id == "line" and second.text == ""


def test_empty_page_round_trips():
    page = PageAnnotation(image_filename="blank.jpg", width=10, height=20, lines=[])
    assert read_layout(write_alto(page)) == page
    assert read_layout(write_page_xml(page, schema="2013")) == dataclasses.replace(
        page, format="page2013"
    )


def test_write_page_xml_rejects_unknown_schema():
    page = PageAnnotation(image_filename="blank.jpg", width=10, height=20, lines=[])
    with pytest.raises(ValueError, match="2013"):
        write_page_xml(page, schema="2010")


# --------------------------------------------------------------- folders and groups


@pytest.mark.parametrize(
    ("filename", "group"),
    [
        (
            "TestamentsDePoilus_will_AD78_0003-1.jpg",
            "TestamentsDePoilus_will_AD78_0003",
        ),
        (
            "TestamentsDePoilus_will_AD78_0003-12.xml",
            "TestamentsDePoilus_will_AD78_0003",
        ),
        ("TestamentsDePoilus_will_AD78_0003", "TestamentsDePoilus_will_AD78_0003"),
        ("folder/scan-v2-3.tiff", "scan-v2"),
        ("scan-final.png", "scan-final"),
        ("page.v2-3.jpg", "page.v2"),
        ("-3.jpg", "-3"),
    ],
)
def test_group_of(filename, group):
    assert group_of(filename) == group


@needs_cremma
def test_pair_layouts_with_images_on_cremma():
    pairs = pair_layouts_with_images(CREMMA)
    assert len(pairs) == 173
    assert pairs == sorted(pairs)
    for xml_path, image_path in pairs:
        assert image_path.stem == xml_path.stem and image_path.suffix == ".jpg"
    assert len({group_of(xml.name) for xml, _ in pairs}) == 112


def test_pair_layouts_with_images_by_named_file_then_stem(tmp_path):
    def alto(filename: str) -> str:
        return (
            f"<alto><Description><sourceImageInformation><fileName>{filename}</fileName>"
            '</sourceImageInformation></Description><Layout><Page WIDTH="1" HEIGHT="1"/></Layout></alto>'
        )

    (tmp_path / "a.xml").write_text(alto("scan_of_a.png"))
    (tmp_path / "scan_of_a.png").write_bytes(b"")
    (tmp_path / "a.jpg").write_bytes(b"")  # the named file wins over the stem
    (tmp_path / "b.xml").write_text(alto("missing.jpg"))
    (tmp_path / "b.TIF").write_bytes(b"")
    assert pair_layouts_with_images(tmp_path) == [
        (tmp_path / "a.xml", tmp_path / "scan_of_a.png"),
        (tmp_path / "b.xml", tmp_path / "b.TIF"),
    ]

    (tmp_path / "c.xml").write_text(alto("c_scan.jpg"))
    with pytest.raises(
        LayoutFormatError, match=r"c\.xml: no image found .*'c_scan\.jpg' or c with"
    ):
        pair_layouts_with_images(tmp_path)


# ------------------------------------------------------------- degenerate lines

HTR_BASE = REPO.parent / "shared" / "data" / "htr-base"


def test_degenerate_alto_lines_are_skipped_with_their_id_and_reason():
    page = read_layout("""<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout>
      <Page WIDTH="100" HEIGHT="100"><PrintSpace><TextBlock>
        <TextLine ID="good" HPOS="0" VPOS="0" WIDTH="50" HEIGHT="10"><String CONTENT="kept"/></TextLine>
        <TextLine ID="two-points"><Shape><Polygon POINTS="10 20 60 20"/></Shape><String CONTENT="a"/></TextLine>
        <TextLine ID="flat" HPOS="5" VPOS="30" WIDTH="40" HEIGHT="0"><String CONTENT="b"/></TextLine>
        <TextLine ID="also-good" HPOS="0" VPOS="40" WIDTH="50" HEIGHT="10"><String CONTENT="kept too"/></TextLine>
      </TextBlock></PrintSpace></Page></Layout></alto>""")
    assert [line.text for line in page.lines] == ["kept", "kept too"]
    assert [(skipped.id, skipped.reason) for skipped in page.skipped] == [
        ("two-points", "polygon has 2 points; at least 3 are needed"),
        ("flat", "box (5, 30, 45, 30) has zero area"),
    ]


def test_degenerate_page_lines_are_skipped_with_their_id_and_reason():
    page = read_layout("""<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
      <Page imageFilename="x.png" imageWidth="100" imageHeight="100"><TextRegion id="r">
        <TextLine id="line"><Coords points="0,0 2,0 2,2"/><TextEquiv><Unicode>kept</Unicode></TextEquiv></TextLine>
        <TextLine id="segment"><Coords points="0,5 50,5"/><TextEquiv><Unicode>a</Unicode></TextEquiv></TextLine>
        <TextLine id="collinear"><Coords points="0,9 20,9 40,9"/><TextEquiv><Unicode>b</Unicode></TextEquiv></TextLine>
      </TextRegion></Page></PcGts>""")
    assert [line.id for line in page.lines] == ["line"]
    assert [(skipped.id, skipped.reason) for skipped in page.skipped] == [
        ("segment", "polygon has 2 points; at least 3 are needed"),
        ("collinear", "box (0, 9, 40, 9) has zero area"),
    ]


def test_a_real_page_with_a_two_point_polygon_keeps_its_other_lines_and_its_folder():
    folder = HTR_BASE / "lectaurep-repertoires"
    page = read_layout(folder / "lectaurep-random-set-2-001.xml")
    assert [(skipped.id, skipped.reason) for skipped in page.skipped] == [
        ("eSc_line_38522abe", "polygon has 2 points; at least 3 are needed")]
    assert len(page.lines) > 100
    assert len(pair_layouts_with_images(folder)) == 25  # the folder is not refused for that page
