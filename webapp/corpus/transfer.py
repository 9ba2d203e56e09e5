"""Import and export of pages with their lines as ALTO / PAGE XML (and plain text).

The XML reading and writing itself lives in `ml.data.layout`, so training reads the
same files the same way as the web app.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser

from ml.data.layout import (LayoutFormatError, LineAnnotation, PageAnnotation, check_inside_image, read_layout,
                            write_alto, write_page_xml)
from webapp.corpus.lines import LineData
from webapp.corpus.models import Page
from webapp.corpus.services import PageToStore, StoredPage, ingest_limits, pages_store
from webapp.ingest import UploadRejected, ingest_image, iter_zip_members
from webapp.projects.models import Project

EXPORT_FORMATS = ("alto", "page", "text")


@dataclass
class SkippedLineReport:
    file: str                    # the XML file it was in
    line: str | None             # its XML id, when it has one
    reason: str


@dataclass
class ImportResult:
    stored: list[StoredPage]
    # Lines the XML holds but that enclose no area: not imported, and said so.
    skipped_lines: list[SkippedLineReport] = field(default_factory=list)

    @property
    def pages_created(self) -> int:
        return sum(1 for item in self.stored if item.created)

    @property
    def lines_created(self) -> int:
        return sum(item.page.lines.count() for item in self.stored if item.created)


def layout_import(*, project: Project, user: AbstractBaseUser, files: Sequence[tuple[str, bytes]],
                  group: str | None = None) -> ImportResult:
    """Pages and their lines from ALTO/PAGE XML files with their images (loose files or zips).

    Everything is checked before anything is stored: a bad file refuses the whole import.
    Raises UploadRejected (image/zip problems) or LayoutFormatError (XML problems).
    """
    limits = ingest_limits()
    xml_files, image_files = _sort_members(_expand_zips(files, limits=limits))
    if not xml_files:
        raise LayoutFormatError("The import holds no ALTO or PAGE XML file.")
    to_store, skipped = [], []
    for xml_name, xml_data in sorted(xml_files.items()):
        layout = read_layout(xml_data, name=xml_name)
        skipped += [SkippedLineReport(xml_name, line.id, line.reason) for line in layout.skipped]
        image_name, image_data = _image_for(layout, xml_name=xml_name, images=image_files)
        image = ingest_image(image_data, image_name, limits=limits)[0]
        layout = _fit_to_image(layout, width=image.width, height=image.height, xml_name=xml_name)
        check_inside_image(layout)
        lines = [LineData(bbox=line.bbox, text=line.text, polygon=_pairs(line.polygon), baseline=_pairs(line.baseline))
                 for line in layout.lines]
        to_store.append(PageToStore(image=image, group=group, lines=lines))
    return ImportResult(stored=pages_store(project=project, user=user, pages=to_store), skipped_lines=skipped)


def _expand_zips(files: Sequence[tuple[str, bytes]], *, limits) -> list[tuple[str, bytes]]:
    members = []
    for name, data in files:
        if data[:4] == b"PK\x03\x04":
            members.extend(iter_zip_members(data, name, limits=limits))
        else:
            members.append((name, data))
    return members


def _sort_members(members: Iterable[tuple[str, bytes]]) -> tuple[dict[str, bytes], dict[str, tuple[str, bytes]]]:
    xml_files: dict[str, bytes] = {}
    image_files: dict[str, tuple[str, bytes]] = {}
    for name, data in members:
        if _looks_like_xml(name, data):
            xml_files[name] = data
        else:
            image_files[PurePosixPath(name).name] = (name, data)
    return xml_files, image_files


def _looks_like_xml(name: str, data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return name.lower().endswith(".xml") or head.startswith(b"<?xml") or head.startswith(b"<alto") \
        or head.startswith(b"<PcGts")


def _image_for(layout: PageAnnotation, *, xml_name: str, images: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    wanted = PurePosixPath(layout.image_filename.replace("\\", "/")).name
    if wanted in images:
        return images[wanted]
    stem = PurePosixPath(xml_name).stem
    for candidate, item in images.items():
        if PurePosixPath(candidate).stem in (PurePosixPath(wanted).stem, stem):
            return item
    raise UploadRejected(f"{xml_name} names the image {wanted!r}, which is not in the upload.")


def _fit_to_image(layout: PageAnnotation, *, width: int, height: int, xml_name: str) -> PageAnnotation:
    """Scale coordinates when the XML describes the same image at another resolution."""
    if (layout.width, layout.height) == (width, height) or not layout.width or not layout.height:
        return PageAnnotation(image_filename=layout.image_filename, width=width, height=height,
                              lines=layout.lines, format=layout.format)
    sx, sy = width / layout.width, height / layout.height
    if abs(sx - sy) > 0.02 * max(sx, sy):
        raise LayoutFormatError(f"{xml_name} describes a {layout.width}x{layout.height} page but its image is "
                                f"{width}x{height}, with another aspect ratio.")

    def scale(points):
        return None if points is None else [(round(x * sx), round(y * sy)) for x, y in points]

    lines = [LineAnnotation(bbox=(round(line.bbox[0] * sx), round(line.bbox[1] * sy), round(line.bbox[2] * sx),
                                  round(line.bbox[3] * sy)),
                            text=line.text, polygon=scale(line.polygon), baseline=scale(line.baseline), id=line.id)
             for line in layout.lines]
    return PageAnnotation(image_filename=layout.image_filename, width=width, height=height, lines=lines,
                          format=layout.format)


def _pairs(points) -> list[list[int]] | None:
    return None if points is None else [[int(x), int(y)] for x, y in points]


# Export -------------------------------------------------------------------------------------------


def page_annotation(page: Page, *, image_filename: str) -> PageAnnotation:
    lines = [LineAnnotation(bbox=line.bbox, text=line.text,
                            polygon=[tuple(point) for point in line.polygon] if line.polygon else None,
                            baseline=[tuple(point) for point in line.baseline] if line.baseline else None,
                            id=f"line_{line.pk}")
             for line in page.lines.order_by("order", "id")]
    return PageAnnotation(image_filename=image_filename, width=page.width, height=page.height, lines=lines)


def export_file_stems(pages: Sequence[Page]) -> dict[int, str]:
    """A readable, unique file stem per page: its upload name, made safe for a zip."""
    stems: dict[int, str] = {}
    used: set[str] = set()
    for page in pages:
        base = PurePosixPath(page.original_name.replace("#", "_").replace("\\", "/")).name
        stem = "".join(char if char.isalnum() or char in "-_." else "_" for char in PurePosixPath(base).stem) or "page"
        if stem in used:
            stem = f"{stem}_{page.pk}"
        used.add(stem)
        stems[page.pk] = stem
    return stems


def pages_export(*, pages: Sequence[Page], fmt: str, include_images: bool = True) -> bytes:
    """A zip with one XML (or .txt) file per page and, for XML, the page images beside them."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}.")
    stems = export_file_stems(pages)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for page in pages:
            stem = stems[page.pk]
            image_name = f"{stem}{page.extension}"
            if fmt == "text":
                text = "\n".join(page.lines.order_by("order", "id").values_list("text", flat=True))
                archive.writestr(f"{stem}.txt", text + "\n" if text else "")
                continue
            layout = page_annotation(page, image_filename=image_name)
            archive.writestr(f"{stem}.xml", write_alto(layout) if fmt == "alto" else write_page_xml(layout))
            if include_images:
                with page.image.open("rb") as handle:
                    archive.writestr(image_name, handle.read(), compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()
