"""Line-level page layouts: ALTO (v2-v4) and PAGE XML (2013-07-15, 2019-07-15).

Everything is read into one small model, :class:`PageAnnotation`, that holds the
page size, the image file name and the text lines in reading order.

Coordinate conventions, shared by both formats:

* ``bbox`` is ``(x0, y0, x1, y1)`` in page pixels with ``x1``/``y1`` exclusive, so
  that ALTO's ``HPOS + WIDTH`` is ``x1`` without an off-by-one.
* When a bbox has to be derived from points (PAGE ``Coords``, or an ALTO line
  without ``HPOS``/``VPOS``/``WIDTH``/``HEIGHT``), it is the points' bounds:
  ``x1 = max(x)``, ``y1 = max(y)``. Writing such a bbox to ALTO and reading it
  back therefore gives the same numbers.
* Coordinates are integers; fractional values in files are rounded.

Round trips: ``read_layout(write_alto(p)) == p`` and the same through PAGE,
except for what PAGE cannot express: PAGE requires a polygon (``Coords``) and an
``id`` on every line, so a line without them comes back with its bbox rectangle
as polygon and a generated id, and the bbox comes back as the polygon's bounds.
``format`` reflects the file that was read.
"""

from __future__ import annotations

import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable
from xml.parsers import expat

import defusedxml
import defusedxml.ElementTree as SafeET

__all__ = [
    "LineAnnotation",
    "PageAnnotation",
    "SkippedLine",
    "ClippedLine",
    "LayoutFormatError",
    "NotALayoutError",
    "read_layout",
    "check_inside_image",
    "clip_to_image",
    "write_alto",
    "write_page_xml",
    "pair_layouts_with_images",
    "group_of",
]

Point = tuple[int, int]

ALTO_NS_V4 = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_NS_PREFIX = "http://www.loc.gov/standards/alto/"
ALTO_SCHEMA_LOCATION = f"{ALTO_NS_V4} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"

PAGE_NAMESPACES = {
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15": "page2013",
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15": "page2019",
}
PAGE_NS_BY_SCHEMA = {
    "2013": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
    "2019": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
}
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


@dataclass
class LineAnnotation:
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels; x1/y1 exclusive
    text: str  # Unicode NFC-normalised
    polygon: list[Point] | None = None
    baseline: list[Point] | None = None
    id: str | None = None  # the XML ID attribute, when any


@dataclass
class SkippedLine:
    """A TextLine left out because its geometry encloses no area; callers report it."""

    id: str | None  # the XML ID attribute, when any
    reason: str  # for end users: "polygon has 2 points; at least 3 are needed"


@dataclass
class ClippedLine:
    """A TextLine whose coordinates reached outside the image and were moved onto its edge."""

    id: str | None
    reason: str  # for end users: "bbox (948, -1, 1278, 135) clipped to (948, 0, 1278, 135) ..."


@dataclass
class PageAnnotation:
    image_filename: str  # basename named by the XML
    width: int
    height: int
    lines: list[LineAnnotation]  # in reading order
    format: str = "alto"  # "alto" | "page2013" | "page2019"
    # Degenerate lines (fewer than 3 polygon points, zero-area box) found while reading:
    # real exports carry a few, and one must not cost its whole page or folder.
    skipped: list[SkippedLine] = field(default_factory=list)
    # Lines clip_to_image moved inside the image (HTR tools often write points a few
    # pixels, sometimes hundreds, beyond the page).
    clipped: list[ClippedLine] = field(default_factory=list)


class LayoutFormatError(ValueError):
    """A layout file that cannot be used; the message is meant for end users."""


class NotALayoutError(LayoutFormatError):
    """Well-formed XML that is neither ALTO nor PAGE: the METS and metadata files that
    Transkribus and eScriptorium exports carry beside the pages. Callers may skip it."""


class _DegenerateLine(Exception):
    """Raised by the line readers for a line to skip, not a file to refuse."""


def _check_area(bbox: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = bbox
    if x1 <= x0 or y1 <= y0:
        raise _DegenerateLine(f"box {bbox} has zero area")


def _read_lines(elements: Iterable[ET.Element], read) -> tuple[list[LineAnnotation], list[SkippedLine]]:
    """Read each line element with `read`, setting degenerate ones aside with their reason."""
    lines, skipped = [], []
    for element in elements:
        try:
            lines.append(read(element))
        except _DegenerateLine as reason:
            skipped.append(SkippedLine(element.get("ID") or element.get("id"), str(reason)))
    return lines, skipped


# --------------------------------------------------------------------------- parsing


def read_layout(source: bytes | str | os.PathLike, *, name: str = "") -> PageAnnotation:
    """Read an ALTO or PAGE XML document.

    ``source`` is the XML itself (``bytes``, or a ``str`` starting with ``<``) or a
    path. ``name`` is used in error messages; it defaults to the file name.
    """
    data, label = _load(source, name)
    root = _parse(data, label)
    namespace, local = _split_tag(root.tag)
    if local == "alto" and (namespace == "" or namespace.startswith(ALTO_NS_PREFIX)):
        return _read_alto(root, namespace, label)
    if local == "PcGts":
        page_format = PAGE_NAMESPACES.get(namespace)
        if page_format is None:
            raise LayoutFormatError(
                f"{label}: unsupported PAGE XML namespace {namespace!r}; "
                f"supported are {', '.join(sorted(PAGE_NAMESPACES))}"
            )
        return _read_page(root, namespace, page_format, label)
    raise NotALayoutError(
        f"{label}: root element <{local}>"
        + (f" in namespace {namespace!r}" if namespace else "")
        + " is neither ALTO (<alto>) nor PAGE XML (<PcGts>)"
    )


def _load(source: bytes | str | os.PathLike, name: str) -> tuple[bytes | str, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), name or "XML document"
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n").startswith("<"):
        return source, name or "XML document"
    path = Path(source)
    return path.read_bytes(), name or path.name


def _parse(data: bytes | str, label: str) -> ET.Element:
    try:
        # A plain DOCTYPE is harmless; entity declarations (billion laughs) and
        # external references (XXE) are what defusedxml refuses here, and
        # refusing them individually lets the message name the culprit.
        return SafeET.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except defusedxml.EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            raise LayoutFormatError(
                f"{label}: external entity {exc.name!r} ({exc.sysid or exc.pubid}) is not allowed"
            ) from None
        raise LayoutFormatError(
            f"{label}: entity declaration {exc.name!r} is not allowed (entity expansion is refused)"
        ) from None
    except defusedxml.ExternalReferenceForbidden as exc:
        raise LayoutFormatError(
            f"{label}: external reference {exc.sysid or exc.pubid!r} is not allowed"
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise LayoutFormatError(
            f"{label}: refused unsafe XML construct ({exc})"
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise LayoutFormatError(
            f"{label}: malformed XML at line {line}, column {column}: {reason}"
        ) from None


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _qualifier(namespace: str):
    prefix = f"{{{namespace}}}" if namespace else ""
    return lambda local: prefix + local


def _describe(element: ET.Element) -> str:
    _, local = _split_tag(element.tag)
    element_id = element.get("ID") or element.get("id")
    return f"<{local} id={element_id!r}>" if element_id else f"<{local}>"


def _number(
    value: str | None, *, label: str, element: ET.Element, attribute: str
) -> float:
    if value is None:
        raise LayoutFormatError(
            f"{label}: {_describe(element)} lacks the {attribute} attribute"
        )
    try:
        number = float(value)
    except ValueError:
        raise LayoutFormatError(
            f"{label}: {_describe(element)} has non-numeric {attribute}={value!r}"
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise LayoutFormatError(
            f"{label}: {_describe(element)} has invalid {attribute}={value!r}"
        )
    return number


def _size(element: ET.Element, attribute: str, label: str) -> int:
    size = round(
        _number(
            element.get(attribute), label=label, element=element, attribute=attribute
        )
    )
    if size <= 0:
        raise LayoutFormatError(
            f"{label}: {_describe(element)} has {attribute}={element.get(attribute)!r}; "
            "it must be positive"
        )
    return size


_POINT_SEPARATORS = re.compile(r"[\s,]+")


def _points(
    value: str, *, label: str, element: ET.Element, attribute: str
) -> list[Point]:
    """Parse "x y x y ..." or "x,y x,y ..." (both appear in the wild)."""
    tokens = [token for token in _POINT_SEPARATORS.split(value.strip()) if token]
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(tokens) % 2:
        raise LayoutFormatError(
            f"{label}: {_describe(element)} {attribute}={shown!r} has an odd number of coordinates"
        )
    try:
        numbers = [round(float(token)) for token in tokens]
    except (ValueError, OverflowError):
        raise LayoutFormatError(
            f"{label}: {_describe(element)} {attribute}={shown!r} contains a non-numeric coordinate"
        ) from None
    return list(zip(numbers[0::2], numbers[1::2]))


def _bounds(points: Iterable[Point]) -> tuple[int, int, int, int]:
    xs, ys = zip(*points)
    return min(xs), min(ys), max(xs), max(ys)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _basename(filename: str) -> str:
    # Windows paths occur in files exported from desktop tools.
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


# ---------------------------------------------------------------------------- ALTO


def _read_alto(root: ET.Element, namespace: str, label: str) -> PageAnnotation:
    q = _qualifier(namespace)
    description = root.find(q("Description"))
    image_filename = ""
    if description is not None:
        unit = description.findtext(q("MeasurementUnit"))
        if unit is not None and unit.strip() != "pixel":
            raise LayoutFormatError(
                f"{label}: MeasurementUnit {unit.strip()!r} is unsupported; only 'pixel' is supported"
            )
        filename = description.findtext(
            f"{q('sourceImageInformation')}/{q('fileName')}"
        )
        image_filename = _basename(filename or "")

    pages = root.findall(f"{q('Layout')}/{q('Page')}")
    if not pages:
        raise LayoutFormatError(f"{label}: ALTO document has no Layout/Page element")
    if len(pages) > 1:
        raise LayoutFormatError(
            f"{label}: ALTO document has {len(pages)} Page elements; one page per file is supported"
        )
    page = pages[0]
    width = _size(page, "WIDTH", label)
    height = _size(page, "HEIGHT", label)
    lines, skipped = _read_lines(page.iter(q("TextLine")), lambda line: _read_alto_line(line, q, label))
    return PageAnnotation(
        image_filename=image_filename,
        width=width,
        height=height,
        lines=lines,
        format="alto",
        skipped=skipped,
    )


def _read_alto_line(line: ET.Element, q, label: str) -> LineAnnotation:
    polygon = None
    polygon_element = line.find(f"{q('Shape')}/{q('Polygon')}")
    if polygon_element is not None and polygon_element.get("POINTS", "").strip():
        polygon = _points(
            polygon_element.get("POINTS"),
            label=label,
            element=line,
            attribute="Polygon POINTS",
        )
        if len(polygon) < 3:
            raise _DegenerateLine(f"polygon has {len(polygon)} points; at least 3 are needed")

    bbox = _alto_bbox(line, polygon, label)
    _check_area(bbox)
    baseline = _alto_baseline(line, bbox, label)

    parts = []
    for child in line:
        _, local = _split_tag(child.tag)
        if local in ("String", "HYP"):
            parts.append(child.get("CONTENT", ""))
        elif local == "SP":
            parts.append(" ")
    return LineAnnotation(
        bbox=bbox,
        text=_nfc("".join(parts)),
        polygon=polygon,
        baseline=baseline,
        id=line.get("ID"),
    )


def _alto_bbox(
    line: ET.Element, polygon: list[Point] | None, label: str
) -> tuple[int, int, int, int]:
    attributes = ("HPOS", "VPOS", "WIDTH", "HEIGHT")
    if all(line.get(attribute) is not None for attribute in attributes):
        hpos, vpos, width, height = (
            _number(line.get(attribute), label=label, element=line, attribute=attribute)
            for attribute in attributes
        )
        if width < 0 or height < 0:
            raise LayoutFormatError(
                f"{label}: {_describe(line)} has negative WIDTH/HEIGHT ({width:g}, {height:g})"
            )
        # Round the edges, not the extent, so that x1 stays HPOS+WIDTH.
        return round(hpos), round(vpos), round(hpos + width), round(vpos + height)
    if polygon:
        return _bounds(polygon)
    raise LayoutFormatError(
        f"{label}: {_describe(line)} has neither HPOS/VPOS/WIDTH/HEIGHT nor a Shape/Polygon"
    )


def _alto_baseline(
    line: ET.Element, bbox: tuple[int, int, int, int], label: str
) -> list[Point] | None:
    value = (line.get("BASELINE") or "").strip()
    if not value:
        return None
    if _POINT_SEPARATORS.search(value) is None:
        # ALTO before 4.2: BASELINE is a single vertical position; make it a
        # horizontal segment across the line box.
        y = round(_number(value, label=label, element=line, attribute="BASELINE"))
        return [(bbox[0], y), (bbox[2], y)]
    baseline = _points(value, label=label, element=line, attribute="BASELINE")
    if len(baseline) < 2:
        raise LayoutFormatError(
            f"{label}: {_describe(line)} BASELINE={value!r} has fewer than 2 points"
        )
    return baseline


def write_alto(page: PageAnnotation) -> bytes:
    """Serialise ``page`` as ALTO v4 (UTF-8), one TextBlock holding every line."""
    q = _qualifier("")
    root = _root_element("alto", ALTO_NS_V4, ALTO_SCHEMA_LOCATION)
    description = ET.SubElement(root, q("Description"))
    ET.SubElement(description, q("MeasurementUnit")).text = "pixel"
    source = ET.SubElement(description, q("sourceImageInformation"))
    ET.SubElement(source, q("fileName")).text = page.image_filename

    used_ids = {line.id for line in page.lines if line.id}
    layout = ET.SubElement(root, q("Layout"))
    page_element = ET.SubElement(
        layout,
        q("Page"),
        {
            "ID": _unique_id("page", used_ids),
            "PHYSICAL_IMG_NR": "1",
            "WIDTH": str(page.width),
            "HEIGHT": str(page.height),
        },
    )
    print_space = ET.SubElement(
        page_element,
        q("PrintSpace"),
        {
            "HPOS": "0",
            "VPOS": "0",
            "WIDTH": str(page.width),
            "HEIGHT": str(page.height),
        },
    )
    block = ET.SubElement(
        print_space, q("TextBlock"), {"ID": _unique_id("block", used_ids)}
    )
    if page.lines:
        x0, y0, x1, y1 = _union(line.bbox for line in page.lines)
        block.attrib.update(_alto_box(x0, y0, x1, y1))

    for line in page.lines:
        attributes = {"ID": line.id} if line.id else {}
        if line.baseline:
            attributes["BASELINE"] = _format_points(line.baseline, " ")
        attributes.update(_alto_box(*line.bbox))
        line_element = ET.SubElement(block, q("TextLine"), attributes)
        if line.polygon:
            shape = ET.SubElement(line_element, q("Shape"))
            ET.SubElement(
                shape, q("Polygon"), {"POINTS": _format_points(line.polygon, " ")}
            )
        ET.SubElement(
            line_element, q("String"), {"CONTENT": line.text, **_alto_box(*line.bbox)}
        )

    return _serialise(root)


def _alto_box(x0: int, y0: int, x1: int, y1: int) -> dict[str, str]:
    return {
        "HPOS": str(x0),
        "VPOS": str(y0),
        "WIDTH": str(x1 - x0),
        "HEIGHT": str(y1 - y0),
    }


# ---------------------------------------------------------------------------- PAGE


def _read_page(
    root: ET.Element, namespace: str, page_format: str, label: str
) -> PageAnnotation:
    q = _qualifier(namespace)
    page = root.find(q("Page"))
    if page is None:
        raise LayoutFormatError(f"{label}: PAGE document has no Page element")
    image_filename = _basename(page.get("imageFilename", ""))
    width = _size(page, "imageWidth", label)
    height = _size(page, "imageHeight", label)

    order = _reading_order(page, q)
    parents = {child: parent for parent in page.iter() for child in parent}
    line_tag = q("TextLine")

    # Regions that hold lines, each ranked by the reading-order position of
    # itself or its nearest listed ancestor (nested regions, e.g. table cells,
    # follow their container); unlisted regions keep document order after them.
    holders: list[ET.Element] = []
    for element in page.iter():
        if element.find(line_tag) is not None:
            holders.append(element)
    unlisted = len(order)

    def rank(item: tuple[int, ET.Element]) -> tuple[int, int]:
        index, element = item
        node: ET.Element | None = element
        while node is not None and node is not page:
            position = order.get(node.get("id", ""))
            if position is not None:
                return position, index
            node = parents.get(node)
        return unlisted, index

    elements = [line for _, holder in sorted(enumerate(holders), key=rank) for line in holder.findall(line_tag)]
    lines, skipped = _read_lines(elements, lambda line: _read_page_line(line, q, label))
    return PageAnnotation(
        image_filename=image_filename,
        width=width,
        height=height,
        lines=lines,
        format=page_format,
        skipped=skipped,
    )


def _reading_order(page: ET.Element, q) -> dict[str, int]:
    """Region id -> position, flattened from the (nested) ReadingOrder groups."""
    reading_order = page.find(q("ReadingOrder"))
    if reading_order is None:
        return {}
    region_ids: list[str] = []

    def visit(group: ET.Element) -> None:
        children = list(group)
        _, group_local = _split_tag(group.tag)
        if group_local.startswith("OrderedGroup"):
            # Indexed children carry their position explicitly; document order breaks ties.
            children = [
                child
                for _, _, child in sorted(
                    (_index_of(child), position, child)
                    for position, child in enumerate(children)
                )
            ]
        for child in children:
            _, local = _split_tag(child.tag)
            if local.startswith("RegionRef"):
                region_ids.append(child.get("regionRef", ""))
            elif local.startswith(("OrderedGroup", "UnorderedGroup")):
                if child.get("regionRef"):
                    region_ids.append(child.get("regionRef"))
                visit(child)

    for group in reading_order:
        visit(group)
    order: dict[str, int] = {}
    for region_id in region_ids:
        order.setdefault(region_id, len(order))
    return order


def _index_of(element: ET.Element) -> float:
    try:
        return float(element.get("index", "inf"))
    except ValueError:
        return float("inf")


def _read_page_line(line: ET.Element, q, label: str) -> LineAnnotation:
    coords = line.find(q("Coords"))
    polygon = (
        _page_points(coords, q, label, line, "Coords") if coords is not None else None
    )
    if not polygon:
        raise LayoutFormatError(f"{label}: {_describe(line)} has no Coords points")
    if len(polygon) < 3:
        raise _DegenerateLine(f"polygon has {len(polygon)} points; at least 3 are needed")
    _check_area(_bounds(polygon))
    baseline_element = line.find(q("Baseline"))
    baseline = None
    if baseline_element is not None:
        baseline = _page_points(baseline_element, q, label, line, "Baseline") or None

    text = _page_text(line, q)
    if text is None:
        words = (_page_text(word, q) for word in line.findall(q("Word")))
        text = " ".join(word for word in words if word is not None)
    return LineAnnotation(
        bbox=_bounds(polygon),
        text=_nfc(text),
        polygon=polygon,
        baseline=baseline,
        id=line.get("id"),
    )


def _page_points(
    element: ET.Element, q, label: str, line: ET.Element, what: str
) -> list[Point]:
    points = element.get("points")
    if points is not None:
        return _points(points, label=label, element=line, attribute=f"{what} points")
    # PAGE 2010 style <Point x="" y=""/> children still appear in converted files.
    return [
        (
            round(
                _number(
                    point.get("x"),
                    label=label,
                    element=line,
                    attribute=f"{what} Point x",
                )
            ),
            round(
                _number(
                    point.get("y"),
                    label=label,
                    element=line,
                    attribute=f"{what} Point y",
                )
            ),
        )
        for point in element.findall(q("Point"))
    ]


def _page_text(element: ET.Element, q) -> str | None:
    """Text of the element's own TextEquiv (index 0 preferred, else the first)."""
    equivs = element.findall(q("TextEquiv"))
    if not equivs:
        return None
    chosen = next((equiv for equiv in equivs if equiv.get("index") == "0"), equivs[0])
    return chosen.findtext(q("Unicode")) or ""


def write_page_xml(page: PageAnnotation, *, schema: str = "2019") -> bytes:
    """Serialise ``page`` as PAGE XML (``schema`` "2019" or "2013"), one TextRegion."""
    namespace = PAGE_NS_BY_SCHEMA.get(schema)
    if namespace is None:
        raise ValueError(f"unknown PAGE schema {schema!r}; use '2013' or '2019'")
    q = _qualifier("")
    root = _root_element("PcGts", namespace, f"{namespace} {namespace}/pagecontent.xsd")
    metadata = ET.SubElement(root, q("Metadata"))
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    ET.SubElement(metadata, q("Creator")).text = "inkloop"
    ET.SubElement(metadata, q("Created")).text = now
    ET.SubElement(metadata, q("LastChange")).text = now

    page_element = ET.SubElement(
        root,
        q("Page"),
        {
            "imageFilename": page.image_filename,
            "imageWidth": str(page.width),
            "imageHeight": str(page.height),
        },
    )
    used_ids = {line.id for line in page.lines if line.id}
    region_id = _unique_id("region", used_ids)
    reading_order = ET.SubElement(page_element, q("ReadingOrder"))
    group = ET.SubElement(
        reading_order, q("OrderedGroup"), {"id": _unique_id("reading_order", used_ids)}
    )
    ET.SubElement(group, q("RegionRefIndexed"), {"index": "0", "regionRef": region_id})

    region = ET.SubElement(page_element, q("TextRegion"), {"id": region_id})
    if page.lines:
        region_box = _union(line.bbox for line in page.lines)
    else:
        region_box = (0, 0, page.width, page.height)
    ET.SubElement(
        region, q("Coords"), {"points": _format_points(_rectangle(region_box), ",")}
    )

    for line in page.lines:
        line_id = line.id or _unique_id("line", used_ids)
        line_element = ET.SubElement(region, q("TextLine"), {"id": line_id})
        polygon = line.polygon or _rectangle(line.bbox)
        ET.SubElement(
            line_element, q("Coords"), {"points": _format_points(polygon, ",")}
        )
        if line.baseline:
            ET.SubElement(
                line_element,
                q("Baseline"),
                {"points": _format_points(line.baseline, ",")},
            )
        equiv = ET.SubElement(line_element, q("TextEquiv"))
        ET.SubElement(equiv, q("Unicode")).text = line.text

    return _serialise(root)


# ------------------------------------------------------------------------- helpers


def _rectangle(bbox: tuple[int, int, int, int]) -> list[Point]:
    x0, y0, x1, y1 = bbox
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _union(boxes: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    x0s, y0s, x1s, y1s = zip(*boxes)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def _format_points(points: Iterable[Point], separator: str) -> str:
    return " ".join(f"{x}{separator}{y}" for x, y in points)


def _unique_id(prefix: str, used: set[str]) -> str:
    # IDs we invent must not clash with the lines' own IDs (XML IDs are unique per document).
    candidate, counter = prefix, 1
    while candidate in used:
        counter += 1
        candidate = f"{prefix}_{counter}"
    used.add(candidate)
    return candidate


def _root_element(tag: str, namespace: str, schema_location: str) -> ET.Element:
    # Namespace declarations are written as plain attributes: ElementTree's
    # default_namespace option rejects the unprefixed attributes both formats use.
    return ET.Element(
        tag,
        {
            "xmlns": namespace,
            "xmlns:xsi": XSI_NS,
            "xsi:schemaLocation": schema_location,
        },
    )


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------ page checks


def check_inside_image(page: PageAnnotation) -> None:
    """Raise LayoutFormatError for the first line whose geometry leaves the image.

    Bounds are exact: ``0 <= x <= width`` and ``0 <= y <= height`` (bbox x1/y1
    are exclusive, so they may equal the image size).
    """
    for number, line in enumerate(page.lines, start=1):
        who = f"line {number}" + (f" (id {line.id!r})" if line.id else "")
        x0, y0, x1, y1 = line.bbox
        if x0 > x1 or y0 > y1:
            raise LayoutFormatError(
                f"{page.image_filename}: {who} has an inverted bbox {line.bbox}"
            )
        if x0 < 0 or y0 < 0 or x1 > page.width or y1 > page.height:
            raise LayoutFormatError(
                f"{page.image_filename}: {who} bbox {line.bbox} falls outside the "
                f"{page.width}x{page.height} image"
            )
        for what, points in (("polygon", line.polygon), ("baseline", line.baseline)):
            for x, y in points or ():
                if not (0 <= x <= page.width and 0 <= y <= page.height):
                    raise LayoutFormatError(
                        f"{page.image_filename}: {who} {what} point ({x}, {y}) falls outside the "
                        f"{page.width}x{page.height} image"
                    )


def clip_to_image(page: PageAnnotation) -> PageAnnotation:
    """``page`` with every coordinate outside ``0..width`` x ``0..height`` moved onto the
    image's edge; each line so changed is listed in ``clipped``.

    Points are clamped one by one, not intersected with the image as shapes: the lines HTR
    tools write past the edge are bands that overshoot by some pixels, for which the two
    agree. A line with no area left inside the image (wholly outside, or flat along an
    edge) is moved to ``skipped`` instead. A baseline that collapses to one point is dropped.
    """
    width, height = page.width, page.height
    lines, clipped, skipped = [], list(page.clipped), list(page.skipped)

    def clamp(point: Point) -> Point:
        return min(max(point[0], 0), width), min(max(point[1], 0), height)

    for line in page.lines:
        points = [(line.bbox[0], line.bbox[1]), (line.bbox[2], line.bbox[3])]
        points += list(line.polygon or ()) + list(line.baseline or ())
        overshoot = max(max(-x, -y, x - width, y - height) for x, y in points)
        if overshoot <= 0:
            lines.append(line)
            continue
        (x0, y0), (x1, y1) = clamp(line.bbox[:2]), clamp(line.bbox[2:])
        polygon = [clamp(point) for point in line.polygon] if line.polygon else None
        baseline = [clamp(point) for point in line.baseline] if line.baseline else None
        if baseline is not None and len(set(baseline)) < 2:
            baseline = None
        outside = f"reaches {overshoot} px outside the {width}x{height} image"
        if x1 <= x0 or y1 <= y0 or (polygon and _has_no_area(polygon)):
            skipped.append(SkippedLine(line.id, f"{outside} and has no area inside it"))
            continue
        bbox = (x0, y0, x1, y1)
        moved = [f"bbox {line.bbox} clipped to {bbox}"] if bbox != line.bbox else []
        moved += [f"{what} points moved onto the edge" for what, before, after in
                  (("polygon", line.polygon, polygon), ("baseline", line.baseline, baseline)) if before != after]
        clipped.append(ClippedLine(line.id, f"{outside}: {'; '.join(moved)}"))
        lines.append(LineAnnotation(bbox=bbox, text=line.text, polygon=polygon, baseline=baseline, id=line.id))
    return PageAnnotation(image_filename=page.image_filename, width=width, height=height, lines=lines,
                          format=page.format, skipped=skipped, clipped=clipped)


def _has_no_area(polygon: list[Point]) -> bool:
    x0, y0, x1, y1 = _bounds(polygon)
    return x1 <= x0 or y1 <= y0 or len(set(polygon)) < 3


# ------------------------------------------------------------------ folder helpers


def pair_layouts_with_images(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Pair every ``*.xml`` in ``folder`` with its page image, sorted by XML path.

    The image is the file the XML names if it exists in the folder, else a file
    with the XML's stem and a usual image suffix (any case).
    """
    folder = Path(folder)
    images_by_name = {
        path.name: path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    }
    images_by_lower_name = {name.lower(): path for name, path in images_by_name.items()}
    pairs = []
    for xml_path in sorted(
        path for path in folder.iterdir() if path.suffix.lower() == ".xml"
    ):
        named = read_layout(xml_path).image_filename
        image = images_by_name.get(named) if named else None
        if image is None:
            image = next(
                (
                    images_by_lower_name[(xml_path.stem + suffix).lower()]
                    for suffix in IMAGE_SUFFIXES
                    if (xml_path.stem + suffix).lower() in images_by_lower_name
                ),
                None,
            )
        if image is None:
            tried = f"{named!r} or " if named else ""
            raise LayoutFormatError(
                f"{xml_path.name}: no image found in {folder} (looked for {tried}"
                f"{xml_path.stem} with {'/'.join(IMAGE_SUFFIXES)})"
            )
        pairs.append((xml_path, image))
    return pairs


_PAGE_NUMBER_SUFFIX = re.compile(r"^(.+)-\d+$")


def group_of(filename: str) -> str:
    """Default grouping key: the file stem without a trailing ``-N`` page number.

    "TestamentsDePoilus_will_AD78_0003-1.jpg" -> "TestamentsDePoilus_will_AD78_0003";
    a stem without such a suffix is its own group.
    """
    stem = Path(_basename(filename)).stem
    match = _PAGE_NUMBER_SUFFIX.match(stem)
    return match.group(1) if match else stem
