"""Checks a line must pass before it is stored, shared by every way a line is written."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable

from django.conf import settings
from django.core.exceptions import ValidationError

from webapp.corpus.models import Page
from webapp.projects.models import AlphabetPolicy


@dataclass
class LineData:
    """A line as a client sends it: bbox in page pixels, x1/y1 exclusive."""

    bbox: tuple[int, int, int, int]
    text: str = ""
    polygon: list[list[int]] | None = None
    baseline: list[list[int]] | None = None
    id: int | None = None
    version: int | None = None
    # The Label Studio region the line mirrors, for lines made from an annotation (page_lines_write).
    ls_region_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def clean_line(data: LineData, *, page: Page, where: str = "line") -> LineData:
    """Validated, NFC-normalised copy of `data`; raises ValidationError saying what is wrong."""
    bbox = _clean_bbox(data.bbox, page=page, where=where)
    polygon = _clean_points(data.polygon, page=page, where=f"{where} polygon")
    baseline = _clean_points(data.baseline, page=page, where=f"{where} baseline")
    text = clean_text(data.text, page=page, where=where)
    return LineData(bbox=bbox, text=text, polygon=polygon, baseline=baseline, id=data.id, version=data.version,
                    ls_region_id=data.ls_region_id, extra=data.extra)


def clean_text(text: Any, *, page: Page, where: str = "line") -> str:
    if not isinstance(text, str):
        raise ValidationError({"text": f"{where}: text must be a string."})
    text = unicodedata.normalize("NFC", text)
    limit = settings.INKLOOP_MAX_LINE_TEXT
    if len(text) > limit:
        raise ValidationError({"text": f"{where}: text has {len(text)} characters; the limit is {limit}."})
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ValidationError({"text": f"{where}: text contains control characters (a line is one line)."})
    project = page.project
    if project.alphabet_policy == AlphabetPolicy.FIXED:
        outside = sorted(set(text) - set(project.alphabet) - {" "})
        if outside:
            raise ValidationError({"text": f"{where}: characters outside the project alphabet: {''.join(outside)!r}."})
    return text


def _clean_bbox(bbox: Any, *, page: Page, where: str) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(round(float(value))) for value in bbox)
    except (TypeError, ValueError):
        raise ValidationError({"bbox": f"{where}: bbox must be four numbers [x0, y0, x1, y1]."}) from None
    if not (x1 > x0 and y1 > y0):
        raise ValidationError({"bbox": f"{where}: bbox [{x0}, {y0}, {x1}, {y1}] is empty (need x1 > x0 and y1 > y0)."})
    if x0 < 0 or y0 < 0 or x1 > page.width or y1 > page.height:
        raise ValidationError({"bbox": f"{where}: bbox [{x0}, {y0}, {x1}, {y1}] is outside the "
                                       f"{page.width}x{page.height} page."})
    return (x0, y0, x1, y1)


def _clean_points(points: Iterable[Any] | None, *, page: Page, where: str) -> list[list[int]] | None:
    if points is None:
        return None
    try:
        cleaned = [[int(round(float(x))), int(round(float(y)))] for x, y in points]
    except (TypeError, ValueError):
        raise ValidationError({"points": f"{where}: points must be a list of [x, y] pairs."}) from None
    if len(cleaned) > 10_000:
        raise ValidationError({"points": f"{where}: more than 10000 points."})
    for x, y in cleaned:
        if not (0 <= x <= page.width and 0 <= y <= page.height):
            raise ValidationError({"points": f"{where}: point ({x}, {y}) is outside the "
                                             f"{page.width}x{page.height} page."})
    return cleaned or None
