"""Import and export of pages with their lines as ALTO / PAGE XML (and plain text).

The XML reading and writing itself lives in `ml.data.layout`, so training reads the
same files the same way as the web app.

An import reads its files one at a time (a zip from disk, member by member), so its size is
bounded by settings, not by memory. What is unsafe or damaged (entities, bombs, traversal,
files that are not what they claim, an XML without its image) refuses the whole import and
stores nothing. What real exports carry routinely does not: coordinates outside the image are
clipped to it, lines that cannot be stored are skipped, XML that is not a page (METS,
metadata) is skipped, and an image that is already a page gets the file's lines only when
that loses nothing. Every such case is in the per-file report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import unicodedata
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser

from ml.data.layout import (IMAGE_SUFFIXES, LayoutFormatError, LineAnnotation, NotALayoutError, PageAnnotation,
                            clip_to_image, read_layout, write_alto, write_page_xml)
from webapp.corpus.lines import LineData
from webapp.corpus.models import Page
from webapp.corpus.services import PageOutcome, PageToStore, PageWriter, import_limits, page_writer
from webapp.ingest import IngestLimits, UploadRejected, ingest_image, is_junk_path, open_zip
from webapp.projects.models import Project

EXPORT_FORMATS = ("alto", "page", "text")
# Written beside the pages of an ALTO/PAGE export: each page's original name and group, so that
# importing the export gives back the same names even where the zip had to use other ones.
MANIFEST_NAME = "inkloop-export.json"
MANIFEST_FORMAT = "inkloop-export/1"


class FileStatus:
    """What an import did with one file."""

    CREATED = "created"        # a new page with the file's lines
    MERGED = "merged"          # its image was already a page without a person's lines; the lines went onto it
    UNCHANGED = "unchanged"    # its image was already a page with these lines
    CONFLICT = "conflict"      # its image was already a page with other lines: not imported (see detail)
    SKIPPED = "skipped"        # not a page: XML that is neither ALTO nor PAGE, a file no XML names

    CHOICES = (CREATED, MERGED, UNCHANGED, CONFLICT, SKIPPED)


_STATUS_OF_OUTCOME = {PageOutcome.CREATED: FileStatus.CREATED, PageOutcome.MERGED: FileStatus.MERGED,
                      PageOutcome.UNCHANGED: FileStatus.UNCHANGED, PageOutcome.CONFLICT: FileStatus.CONFLICT}


@dataclass
class LineNote:
    line: str | None             # the line's XML id, when it has one
    reason: str


@dataclass
class SkippedLineReport:
    file: str                    # the XML file it was in
    line: str | None             # its XML id, when it has one
    reason: str


@dataclass
class FileReport:
    file: str                    # its path in the import (zip member, folder-relative path or upload name)
    status: str                  # a FileStatus
    detail: str = ""
    image: str | None = None     # the image the XML was paired with
    page: Page | None = None
    lines_created: int = 0
    clipped_lines: list[LineNote] = field(default_factory=list)
    skipped_lines: list[LineNote] = field(default_factory=list)


@dataclass
class ImportResult:
    files: list[FileReport]

    def _count(self, *statuses: str) -> int:
        return sum(1 for item in self.files if item.status in statuses)

    @property
    def pages_created(self) -> int:
        return self._count(FileStatus.CREATED)

    @property
    def pages_merged(self) -> int:
        return self._count(FileStatus.MERGED)

    @property
    def pages_existing(self) -> int:
        """Files whose image was already a page (merged, unchanged or in conflict)."""
        return self._count(FileStatus.MERGED, FileStatus.UNCHANGED, FileStatus.CONFLICT)

    @property
    def files_not_imported(self) -> int:
        return self._count(FileStatus.CONFLICT)

    @property
    def files_skipped(self) -> int:
        return self._count(FileStatus.SKIPPED)

    @property
    def lines_created(self) -> int:
        return sum(item.lines_created for item in self.files)

    @property
    def lines_clipped(self) -> int:
        return sum(len(item.clipped_lines) for item in self.files)

    @property
    def lines_skipped(self) -> int:
        return sum(len(item.skipped_lines) for item in self.files)

    @property
    def skipped_lines(self) -> list[SkippedLineReport]:
        return [SkippedLineReport(item.file, note.line, note.reason) for item in self.files
                for note in item.skipped_lines]

    @property
    def pages(self) -> list[tuple[Page, bool]]:
        """Each page a file went to, once, with whether this import created it."""
        seen: dict[int, tuple[Page, bool]] = {}
        for item in self.files:
            if item.page is not None and item.page.pk not in seen:
                seen[item.page.pk] = (item.page, item.status == FileStatus.CREATED)
        return list(seen.values())

    @property
    def stored_anything(self) -> bool:
        return self.pages_created > 0 or self.lines_created > 0

    def summary(self) -> str:
        """One sentence for people (the API's `detail`, the command's last line)."""
        parts = [f"{self.pages_created} pages created with {self.lines_created} lines"]
        counted = [(self.pages_merged, "files' lines added to pages that had the same image"),
                   (self._count(FileStatus.UNCHANGED), "files already imported"),
                   (self.lines_clipped, "lines clipped to their image"),
                   (self.lines_skipped, "lines skipped"),
                   (self.files_skipped, "files skipped"),
                   (self.files_not_imported, "files not imported because their image is already a page "
                                             "with other lines")]
        parts += [f"{count} {what}" for count, what in counted if count]
        return "; ".join(parts) + "."


Progress = Callable[[int, int], None]  # (files done, files in all)


def layout_import(*, project: Project, user: AbstractBaseUser | None,
                  files: Sequence[tuple[str, bytes | BinaryIO]] = (), paths: Sequence[str | os.PathLike] = (),
                  group: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Pages and their lines from ALTO/PAGE XML files with their images: uploaded files (loose or
    zips, as bytes or seekable files) and, for the command line, folders and zips on disk.

    Stores everything in one transaction, one page at a time, or nothing: raises UploadRejected
    (image/zip problems) or LayoutFormatError (XML problems) for what refuses the whole import.
    """
    limits = import_limits()
    with ExitStack() as stack:
        index = _MemberIndex(_members(stack, files=files, paths=paths, limits=limits))
        if not index.layouts:
            raise LayoutFormatError("The import holds no ALTO or PAGE XML file.")
        if len(index.layouts) > limits.max_pages_per_upload:
            raise UploadRejected(f"The import holds {len(index.layouts)} XML files; the limit is "
                                 f"{limits.max_pages_per_upload} pages per import.")
        reports: list[FileReport] = []
        manifest = _read_manifest(index, reports)
        if progress:
            progress(0, len(index.layouts))
        with page_writer(project=project, user=user) as writer:
            for done, member in enumerate(index.layouts, start=1):
                reports.append(_import_file(member, index=index, writer=writer, limits=limits, group=group,
                                            manifest=manifest))
                if progress:
                    progress(done, len(index.layouts))
        reports += [FileReport(member.name, FileStatus.SKIPPED, detail="no ALTO or PAGE XML in the import names "
                                                                       "this file as its image")
                    for member in index.unused()]
    return ImportResult(files=reports)


def _import_file(member: _Member, *, index: _MemberIndex, writer: PageWriter, limits: IngestLimits,
                 group: str | None, manifest: dict[str, tuple[str, str]]) -> FileReport:
    try:
        layout = read_layout(member.read(), name=member.name)
    except NotALayoutError as error:
        return FileReport(member.name, FileStatus.SKIPPED, detail=f"not a page: {error}")
    image_member = index.image_for(layout, member)
    image = ingest_image(image_member.read(), image_member.name, limits=limits)[0]
    original_name, original_group = manifest.get(image_member.name, (None, None))
    if original_name:
        image = dataclasses.replace(image, name=original_name)
    layout = clip_to_image(_fit_to_image(layout, width=image.width, height=image.height, xml_name=member.name))
    lines = [LineData(bbox=line.bbox, text=line.text, polygon=_pairs(line.polygon), baseline=_pairs(line.baseline))
             for line in layout.lines]
    stored = writer.store(PageToStore(image=image, group=group or original_group, lines=lines,
                                      skip_invalid_lines=True, merge_into_existing=True,
                                      document=index.document_of(image_member)))
    status = _STATUS_OF_OUTCOME[stored.outcome]
    report = FileReport(member.name, status, detail=stored.detail, image=image_member.name, page=stored.page,
                        lines_created=stored.lines_created)
    if status != FileStatus.CONFLICT:  # a file in conflict was not imported at all: the detail says why
        report.clipped_lines = [LineNote(line.id, line.reason) for line in layout.clipped]
        report.skipped_lines = [LineNote(line.id, line.reason) for line in layout.skipped]
        report.skipped_lines += [LineNote(layout.lines[index].id, reason) for index, reason in stored.skipped_lines]
    return report


# The files of an import ------------------------------------------------------------------------


@dataclass
class _Member:
    name: str                            # path in the import: "Collection/Doc/page/0001.xml"
    size: int
    read: Callable[[], bytes] = field(repr=False)
    head: Callable[[], bytes] = field(repr=False)

    @property
    def path(self) -> PurePosixPath:
        return PurePosixPath(self.name)


def _members(stack: ExitStack, *, files: Sequence[tuple[str, bytes | BinaryIO]],
             paths: Sequence[str | os.PathLike], limits: IngestLimits) -> list[_Member]:
    members: list[_Member] = []
    for name, content in files:
        members += _members_of_file(stack, name, content, limits)
    for given in paths:
        path = Path(given)
        if path.is_dir():
            members += _members_of_folder(path, limits)
        elif path.is_file():
            members += _members_of_file(stack, path.name, path, limits)
        else:
            raise UploadRejected(f"{given} is neither a folder nor a file.")
    return members


def _members_of_file(stack: ExitStack, name: str, content: bytes | BinaryIO | Path,
                     limits: IngestLimits) -> list[_Member]:
    """One uploaded file or file on disk: itself, or the members of a zip (checked before any is read)."""
    if isinstance(content, (bytes, bytearray)):
        size, read = len(content), partial(bytes, content)
    elif isinstance(content, Path):
        size, read = content.stat().st_size, content.read_bytes
    else:
        content.seek(0, os.SEEK_END)
        size, read = content.tell(), partial(_read_from_start, content)
    head = _head(content, 64)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        reader = open_zip(content, name, limits=limits)
        stack.callback(reader.close)
        return [_Member(path, reader.size(path), partial(reader.read, path), partial(reader.head, path))
                for path in reader.paths]
    return [_loose_member(name, size, read, lambda: head, limits)]


def _head(content: bytes | BinaryIO | Path, size: int) -> bytes:
    if isinstance(content, (bytes, bytearray)):
        return bytes(content[:size])
    if isinstance(content, Path):
        with content.open("rb") as stream:
            return stream.read(size)
    content.seek(0)
    head = content.read(size)
    content.seek(0)
    return head


def _read_from_start(stream: BinaryIO) -> bytes:
    stream.seek(0)
    return stream.read()


def _members_of_folder(folder: Path, limits: IngestLimits) -> list[_Member]:
    members = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for file_name in sorted(names):
            path = Path(root, file_name)
            relative = path.relative_to(folder).as_posix()
            if is_junk_path(relative) or not path.is_file():
                continue
            size = path.stat().st_size
            # A folder may hold other large files; only those the import reads have the upload limit.
            read = path.read_bytes if size <= limits.max_upload_bytes else partial(_too_large, relative, size, limits)
            members.append(_Member(relative, size, read, partial(_head, path, 64)))
    return members


def _too_large(name: str, size: int, limits: IngestLimits) -> bytes:
    raise UploadRejected(f"{name} is {size} bytes; the limit is {limits.max_upload_bytes} bytes.")


def _loose_member(name: str, size: int, read: Callable[[], bytes], head: Callable[[], bytes],
                  limits: IngestLimits) -> _Member:
    # Each file has the upload limit, checked before anything of the import is read or stored.
    if size > limits.max_upload_bytes:
        raise UploadRejected(f"{name} is {size} bytes; the limit is {limits.max_upload_bytes} bytes.")
    return _Member(name, size, read, head)


def _is_layout(member: _Member) -> bool:
    suffix = member.path.suffix.lower()
    if suffix == ".xml":
        return True
    if suffix in IMAGE_SUFFIXES or member.path.name == MANIFEST_NAME:
        return False
    head = member.head().lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith((b"<?xml", b"<alto", b"<PcGts"))


class _MemberIndex:
    """The import's files: layouts in path order, the rest by name for pairing XML with images."""

    def __init__(self, members: Iterable[_Member]):
        self.by_name: dict[str, _Member] = {}
        for member in members:
            if member.name in self.by_name:
                raise UploadRejected(f"The import holds two files named '{member.name}'.")
            self.by_name[member.name] = member
        self.layouts = sorted((m for m in self.by_name.values() if _is_layout(m)), key=lambda m: m.name)
        layout_names = {member.name for member in self.layouts}
        self.manifests = [m for m in self.by_name.values() if m.path.name == MANIFEST_NAME]
        self.others = [m for m in self.by_name.values()
                       if m.name not in layout_names and m.path.name != MANIFEST_NAME]
        self.by_basename: dict[str, list[_Member]] = {}
        for member in self.others:
            self.by_basename.setdefault(member.path.name.casefold(), []).append(member)
        self.used: set[str] = set()

    def image_for(self, layout: PageAnnotation, xml: _Member) -> _Member:
        """The image the XML names (in its folder first, then the folder above it, as Transkribus keeps
        PAGE files in page/ beside the images), else one with the XML's stem."""
        wanted = layout.image_filename
        candidates = self.by_basename.get(wanted.casefold(), []) if wanted else []
        if not candidates:
            stems = {PurePosixPath(wanted).stem.casefold(), xml.path.stem.casefold()} - {""}
            candidates = [member for member in self.others if member.path.stem.casefold() in stems]
        if not candidates:
            raise UploadRejected(f"{xml.name} names the image {wanted!r}, which is not in the upload.")
        if len(candidates) > 1:
            candidates = [member for member in candidates if member.path.name == wanted] or candidates
        if len(candidates) > 1:
            for folder in (xml.path.parent, xml.path.parent.parent):
                near = [member for member in candidates if member.path.parent == folder]
                if len(near) == 1:
                    candidates = near
                    break
        if len(candidates) > 1:
            names = ", ".join(sorted(member.name for member in candidates))
            raise UploadRejected(f"{xml.name} names the image {wanted!r}, and the import holds several files of "
                                 f"that name ({names}); keep each XML in the folder of its image or in a folder "
                                 "inside it.")
        self.used.add(candidates[0].name)
        return candidates[0]

    def document_of(self, image: _Member) -> str | None:
        """A Transkribus export keeps each document in its own folder, with a mets.xml: that folder
        is the document its pages belong to (so they stay on one side of the validation split)."""
        folder = image.path.parent
        if folder.name and f"{folder}/mets.xml" in self.by_name:
            return folder.name
        return None

    def unused(self) -> list[_Member]:
        return [member for member in self.others if member.name not in self.used]


def _read_manifest(index: _MemberIndex, reports: list[FileReport]) -> dict[str, tuple[str, str]]:
    """Image path -> (original name, group) from the manifests of inkloop exports in the import."""
    names: dict[str, tuple[str, str]] = {}
    for member in index.manifests:
        try:
            entries = _manifest_entries(json.loads(member.read()))
        except (ValueError, TypeError, KeyError) as error:
            reports.append(FileReport(member.name, FileStatus.SKIPPED,
                                      detail=f"not an inkloop export manifest ({error}); the files keep their "
                                             "names in the zip"))
            continue
        folder = member.path.parent
        for image, name, group in entries:
            names[str(folder / image)] = (name, group)
    return names


def _manifest_entries(data) -> list[tuple[str, str, str]]:
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("pages"), list):
        raise ValueError(f"expected an object with \"format\": \"{MANIFEST_FORMAT}\" and a list of pages")
    entries = []
    for entry in data["pages"]:
        image, name, group = entry["image"], entry["name"], entry["group"]
        if not all(isinstance(value, str) and value for value in (image, name, group)):
            raise ValueError("every page needs a non-empty image, name and group")
        if any(unicodedata.category(char) == "Cc" for char in name + group):
            raise ValueError("a name or group holds control characters")
        entries.append((image, name[:500], group[:255]))
    return entries


def _fit_to_image(layout: PageAnnotation, *, width: int, height: int, xml_name: str) -> PageAnnotation:
    """Scale coordinates when the XML describes the same image at another resolution."""
    if (layout.width, layout.height) == (width, height) or not layout.width or not layout.height:
        return dataclasses.replace(layout, width=width, height=height)
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
    return dataclasses.replace(layout, width=width, height=height, lines=lines)


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


@dataclass(frozen=True)
class ExportName:
    stem: str          # the page's path in the zip without its extension: "box 1/page (1)"
    image_suffix: str  # ".jpg", or the page's own spelling of it (".JPG", ".jpeg") when that is its format

    @property
    def image(self) -> str:
        return self.stem + self.image_suffix


# Characters that some system's file names cannot hold; control characters are refused as well.
_UNSAFE_CHARACTERS = set('/\\:*?"<>|')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
_SUFFIXES_BY_EXTENSION = {".jpg": (".jpg", ".jpeg"), ".png": (".png",)}


def export_names(pages: Sequence[Page]) -> dict[int, ExportName]:
    """Each page's path in an export zip: its original name (folders included) wherever that is a safe
    file name on every system, else the name with the unsafe characters replaced; names that would
    clash (ignoring case, as Windows and macOS do) get " (2)", " (3)"... The manifest maps them back."""
    wanted = {page.pk: _safe_name(page) for page in pages}
    counts: dict[str, int] = {}
    for name in wanted.values():
        counts[name.stem.casefold()] = counts.get(name.stem.casefold(), 0) + 1
    used = {name.stem.casefold() for name in wanted.values() if counts[name.stem.casefold()] == 1}
    names: dict[int, ExportName] = {}
    for page in pages:
        name = wanted[page.pk]
        if counts[name.stem.casefold()] > 1:
            number = 1
            candidate = name.stem
            while candidate.casefold() in used:
                number += 1
                candidate = f"{name.stem} ({number})"
            used.add(candidate.casefold())
            name = ExportName(candidate, name.image_suffix)
        names[page.pk] = name
    return names


def _safe_name(page: Page) -> ExportName:
    segments = [_safe_segment(segment) for segment in page.original_name.replace("\\", "/").split("/") if segment]
    last = segments.pop() if segments else "page"
    suffix = PurePosixPath(last).suffix
    own_spellings = _SUFFIXES_BY_EXTENSION.get(page.extension, (page.extension,))
    if suffix.lower() in IMAGE_SUFFIXES:
        last = last[: -len(suffix)] or "page"
    image_suffix = suffix if suffix.lower() in own_spellings else page.extension
    return ExportName("/".join([*segments, _safe_segment(last)]), image_suffix)


def _safe_segment(segment: str) -> str:
    text = "".join("_" if char in _UNSAFE_CHARACTERS or unicodedata.category(char).startswith("C") else char
                   for char in unicodedata.normalize("NFC", segment)).strip().rstrip(".")[:120]
    if not text or text.startswith(".") or is_junk_path(text) or text == "__MACOSX":
        text = "_" + text  # hidden and junk names are left out when a zip is unpacked or imported
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    return text


COPY_CHUNK_BYTES = 1024 * 1024


def pages_export(*, pages: Sequence[Page], fmt: str, out: BinaryIO, include_images: bool = True) -> None:
    """Write to `out` a zip with one XML (or .txt) file per page and, for XML, the page images beside
    them and a manifest of the pages' original names and groups (MANIFEST_NAME).

    Images are copied into the zip in chunks, so a project's export never sits in memory whole:
    `out` is a temporary file on disk for the API."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}.")
    names = export_names(pages)
    manifest = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for page in pages:
            name = names[page.pk]
            if fmt == "text":
                text = "\n".join(page.lines.order_by("order", "id").values_list("text", flat=True))
                archive.writestr(f"{name.stem}.txt", text + "\n" if text else "")
                continue
            layout = page_annotation(page, image_filename=PurePosixPath(name.image).name)
            archive.writestr(f"{name.stem}.xml", write_alto(layout) if fmt == "alto" else write_page_xml(layout))
            manifest.append({"image": name.image, "xml": f"{name.stem}.xml", "name": page.original_name,
                             "group": page.group})
            if include_images:
                entry = zipfile.ZipInfo(name.image, date_time=time.localtime()[:6])
                entry.compress_type = zipfile.ZIP_STORED  # JPEG and PNG are compressed already
                with page.image.open("rb") as handle, archive.open(entry, "w", force_zip64=True) as target:
                    shutil.copyfileobj(handle, target, COPY_CHUNK_BYTES)
        if fmt != "text":
            archive.writestr(MANIFEST_NAME, json.dumps({"format": MANIFEST_FORMAT, "pages": manifest},
                                                       ensure_ascii=False, indent=1))
