"""Turn one uploaded file into normalised page images, or refuse it with a reason.

An upload may be a single JPEG/PNG/TIFF image (a multi-page TIFF gives one page per
frame), a PDF (one page per PDF page, rendered), or a zip archive holding any of those
in folders. The kind is decided from the content, never from the client's filename.

Everything is validated before anything is returned: `ingest_upload` either gives back
every page of the upload or raises `UploadRejected`, so a caller can store the result
without having to clean up after a half-accepted upload.

Every page is re-encoded from its pixels (JPEG input as JPEG quality 95, everything
else as PNG) with no metadata carried over. That strips anything a client hid in
comments, text chunks, EXIF or ICC profiles (such as an HTML payload in an image that
is later served from our domain), and it makes the stored bytes a deterministic
function of the upload, so the sha256 can be used to spot duplicates.

No Django here: this module is plain Python so it can be tested without a database.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
import struct
import threading
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import BinaryIO

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageChops, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

__all__ = [
    "IngestLimits",
    "PageImage",
    "UploadRejected",
    "ZipReader",
    "ingest_image",
    "ingest_upload",
    "is_junk_path",
    "iter_zip_members",
    "open_checked_image",
    "open_zip",
]


class UploadRejected(ValueError):
    """An upload that cannot be accepted.

    `reason` is a sentence for the API user saying what was wrong; it names the file
    (and the zip entry or PDF page where that applies).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IngestLimits:
    max_upload_bytes: int = 200 * 1024 * 1024  # one uploaded file (zip/pdf/tiff/image)
    max_image_pixels: int = 80_000_000  # per page: more is refused as a decompression bomb
    max_pages_per_upload: int = 2000
    max_total_uncompressed_bytes: int = 2 * 1024**3  # zip: sum of declared AND actually read sizes
    max_compression_ratio: int = 200  # zip entry: file_size / compress_size above this -> zip bomb
    pdf_render_dpi: int = 200
    # A zip read member by member from disk (layout imports): its own size may be far over
    # max_upload_bytes, since only one member at a time is ever in memory. None: max_upload_bytes.
    max_archive_bytes: int | None = None


_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif"}


@dataclass(frozen=True)
class PageImage:
    name: str  # e.g. "scan.png", "letters.zip/box1/p1.jpg", "book.pdf#p3", "multi.tif#p2"
    data: bytes = field(repr=False)  # the bytes to store
    format: str  # "JPEG" | "PNG" | "TIFF" (what `data` is)
    width: int
    height: int
    sha256: str  # hex digest of `data`

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self.format]


# --------------------------------------------------------------------------- kinds

_JPEG, _PNG, _TIFF, _PDF, _ZIP = "JPEG", "PNG", "TIFF", "PDF", "ZIP"
_IMAGE_KINDS = (_JPEG, _PNG, _TIFF)

_MAGIC: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", _JPEG),
    (b"\x89PNG\r\n\x1a\n", _PNG),
    (b"II*\x00", _TIFF),
    (b"MM\x00*", _TIFF),
    (b"II+\x00", _TIFF),  # BigTIFF
    (b"MM\x00+", _TIFF),
    (b"%PDF-", _PDF),
    (b"PK\x03\x04", _ZIP),
    (b"PK\x05\x06", _ZIP),  # an empty archive: refused later as holding no images
]

# Pillow's own reader for each image kind. The kind was already decided from the magic
# bytes, so no format sniffing is wanted (it must never fall back to another plugin),
# and opening with the plugin class lets our own pixel limit, not Pillow's process-wide
# MAX_IMAGE_PIXELS, decide what counts as a decompression bomb.
_PIL_READERS: dict[str, type[ImageFile.ImageFile]] = {
    _JPEG: JpegImagePlugin.JpegImageFile,
    _PNG: PngImagePlugin.PngImageFile,
    _TIFF: TiffImagePlugin.TiffImageFile,
}


def _sniff_kind(data: bytes) -> str | None:
    """The kind of file from its first bytes; None when it is none we accept."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def _describe_content(data: bytes) -> str:
    """A short guess at what an unaccepted file is, to make the refusal helpful."""
    head = data[:1024]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in stripped):
        return "SVG"
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<!--")):
        return "HTML"
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<"):
        return "XML/HTML"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "HEIC"
        if brand in (b"avif", b"avis"):
            return "AVIF"
        return "a video/ISO media file"
    if head.startswith(b"\x00\x00\x00\x0cjP  "):
        return "JPEG 2000"
    if head.startswith((b"Rar!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b")):
        return "a RAR/7z/gzip archive"
    if _is_text(head):
        return "plain text"
    return "unknown"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def _not_accepted(data: bytes, name: str, accepted: str) -> UploadRejected:
    return UploadRejected(f"{name} is not {accepted} (content looks like {_describe_content(data)}).")


_NOT_AN_IMAGE = "a JPEG, PNG or TIFF image"
_NOT_AN_UPLOAD = "a JPEG, PNG or TIFF image, a PDF or a zip archive"


# ------------------------------------------------------------------- entry points


def ingest_upload(data: bytes, filename: str, *, limits: IngestLimits = IngestLimits()) -> list[PageImage]:
    """All pages of one uploaded file (image, multi-page TIFF, PDF or zip), or UploadRejected."""
    name = _display_name(filename)
    _check_size(data, name, limits)
    pages = _PageCounter(name, limits.max_pages_per_upload)
    kind = _sniff_kind(data)
    if kind == _ZIP:
        return _pages_from_zip(data, name, limits, pages)
    if kind == _PDF:
        return _pages_from_pdf(data, name, limits, pages)
    if kind in _IMAGE_KINDS:
        return _pages_from_image(data, name, kind, limits, pages)
    raise _not_accepted(data, name, _NOT_AN_UPLOAD)


def ingest_image(data: bytes, name: str, *, limits: IngestLimits = IngestLimits()) -> list[PageImage]:
    """The pages of one image file: one page, or one per frame of a multi-page TIFF."""
    _check_size(data, name, limits)
    kind = _sniff_image_kind(data, name)
    return _pages_from_image(data, name, kind, limits, _PageCounter(name, limits.max_pages_per_upload))


def open_checked_image(data: bytes, name: str, *, limits: IngestLimits = IngestLimits()) -> Image.Image:
    """One validated image: fully decoded, EXIF-transposed, in mode L or RGB, without metadata.

    For a multi-page TIFF this is the first page.
    """
    _check_size(data, name, limits)
    kind = _sniff_image_kind(data, name)
    image = _open_header(data, name, kind)
    _check_pixels(image, name, limits)
    _load_fully(image, name)
    return _normalised(image)


def iter_zip_members(
    data: bytes, name: str, *, limits: IngestLimits = IngestLimits()
) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each regular file in a zip, in sorted path order.

    The whole central directory is checked before the first member is yielded, so an
    unsafe archive is refused before the caller sees any of it. Members are then read
    one at a time with their sizes capped; a damaged or lying member is refused while
    reading, so a caller that stores what it gets must consume the whole iterator first.
    Directories and OS junk (__MACOSX/, .DS_Store, Thumbs.db, hidden files) are skipped.
    """
    _check_size(data, name, limits)
    reader = open_zip(data, name, limits=limits)
    for path in reader.paths:
        yield path, reader.read(path)


class ZipReader:
    """A zip whose central directory has been checked, read one member at a time.

    Only the member being read is ever in memory, so an archive on disk may be far larger
    than memory: what bounds it is `max_archive_bytes` (its own size), the total it unpacks
    to (`max_total_uncompressed_bytes`, counted as members are actually read) and
    `max_upload_bytes` for each member.
    """

    def __init__(self, archive: zipfile.ZipFile, name: str, limits: IngestLimits) -> None:
        self.name = name
        self._archive = archive
        self._limits = limits
        self._members = dict(_checked_members(archive, name, limits))
        self._budget = _ReadBudget(name, limits.max_total_uncompressed_bytes)

    @property
    def paths(self) -> list[str]:
        """The regular, non-junk members in sorted path order."""
        return list(self._members)

    def size(self, path: str) -> int:
        return self._members[path].file_size

    def head(self, path: str, size: int = 64) -> bytes:
        """The first bytes of a member (to tell what it is), outside the read budget."""
        try:
            with self._archive.open(self._members[path]) as stream:
                return stream.read(size)
        except (NotImplementedError, zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, struct.error):
            return b""  # read() will say what is wrong with it, if it is ever needed

    def read(self, path: str) -> bytes:
        info = self._members[path]
        if info.file_size > self._limits.max_upload_bytes:
            raise UploadRejected(
                f"{self.name}: entry '{path}' is {_format_bytes(info.file_size)}; the limit is "
                f"{_format_bytes(self._limits.max_upload_bytes)} per file."
            )
        return _read_member(self._archive, info, path, self.name, self._budget)

    def close(self) -> None:
        self._archive.close()


def open_zip(
    source: bytes | BinaryIO | str | os.PathLike, name: str, *, limits: IngestLimits = IngestLimits()
) -> ZipReader:
    """Open a zip given as bytes, as a seekable binary file or as a path, and check its
    central directory (paths, links, encryption, compression ratios, declared sizes) without
    reading any member. UploadRejected says what is wrong."""
    limit = limits.max_archive_bytes or limits.max_upload_bytes
    if isinstance(source, (bytes, bytearray)):
        size, head, opened = len(source), bytes(source[:8]), BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        size, opened = os.path.getsize(source), os.fspath(source)  # zipfile opens (and closes) the path itself
        with open(source, "rb") as stream:
            head = stream.read(8)
    else:
        source.seek(0, os.SEEK_END)
        size = source.tell()
        source.seek(0)
        head = source.read(8)
        source.seek(0)
        opened = source
    if size == 0:
        raise UploadRejected(f"{name} is empty.")
    if size > limit:
        raise UploadRejected(f"{name} is {_format_bytes(size)}; the limit is {_format_bytes(limit)} per archive.")
    if _sniff_kind(head) != _ZIP:
        raise _not_accepted(head, name, "a zip archive")
    try:
        archive = zipfile.ZipFile(opened)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as error:
        raise UploadRejected(f"{name} is not a readable zip archive ({_short(error)}).") from None
    try:
        return ZipReader(archive, name, limits)
    except BaseException:
        archive.close()
        raise


def is_junk_path(path: str) -> bool:
    """OS junk that archives and folders carry: __MACOSX/, .DS_Store, Thumbs.db, hidden files."""
    return _is_junk(path)


# ----------------------------------------------------------------- common checks


def _display_name(filename: str) -> str:
    """The client's filename without any directory part (browsers may send one)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base or "upload"


def _check_size(data: bytes, name: str, limits: IngestLimits) -> None:
    if not data:
        raise UploadRejected(f"{name} is empty.")
    if len(data) > limits.max_upload_bytes:
        raise UploadRejected(
            f"{name} is {_format_bytes(len(data))}; the limit is {_format_bytes(limits.max_upload_bytes)} per file."
        )


def _format_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}"


class _PageCounter:
    """Counts pages across a whole upload so the page limit is enforced before decoding."""

    def __init__(self, upload_name: str, limit: int) -> None:
        self.upload_name = upload_name
        self.limit = limit
        self.count = 0

    def reserve(self, n: int) -> None:
        self.count += n
        if self.count > self.limit:
            raise UploadRejected(
                f"{self.upload_name} has more than {self.limit} pages; the limit is {self.limit} pages per upload."
            )


def _page(image: Image.Image, name: str, source_kind: str) -> PageImage:
    """Encode a normalised image deterministically and describe it as a page."""
    buffer = BytesIO()
    if source_kind == _JPEG:
        image.save(buffer, "JPEG", quality=95)
        fmt = "JPEG"
    else:
        image.save(buffer, "PNG")
        fmt = "PNG"
    data = buffer.getvalue()
    return PageImage(
        name=name,
        data=data,
        format=fmt,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


# ------------------------------------------------------------------------- images


def _sniff_image_kind(data: bytes, name: str) -> str:
    kind = _sniff_kind(data)
    if kind not in _IMAGE_KINDS:
        raise _not_accepted(data, name, _NOT_AN_IMAGE)
    return kind


def _pages_from_image(
    data: bytes, name: str, kind: str, limits: IngestLimits, pages: _PageCounter
) -> list[PageImage]:
    image = _open_header(data, name, kind)
    # Only TIFF frames are pages; an animated PNG is taken as its first frame.
    frame_count = _frame_count(image, name) if kind == _TIFF else 1
    pages.reserve(frame_count)
    if frame_count == 1:
        return [_decoded_page(image, name, kind, limits)]
    result = []
    for index in range(frame_count):
        page_name = f"{name}#p{index + 1}"
        _seek(image, index, page_name)
        result.append(_decoded_page(image, page_name, kind, limits))
    return result


def _decoded_page(image: ImageFile.ImageFile, name: str, kind: str, limits: IngestLimits) -> PageImage:
    _check_pixels(image, name, limits)
    _load_fully(image, name)
    return _page(_normalised(image), name, kind)


def _open_header(data: bytes, name: str, kind: str) -> ImageFile.ImageFile:
    """Parse the image header only; no pixel data is decoded yet."""
    reader = _PIL_READERS[kind]
    try:
        return reader(BytesIO(data))
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as error:
        raise UploadRejected(f"{name} is a damaged {kind} image and could not be read ({_short(error)}).") from None


def _frame_count(image: ImageFile.ImageFile, name: str) -> int:
    try:
        return max(1, int(getattr(image, "n_frames", 1)))
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise UploadRejected(f"{name} is a damaged multi-page image ({_short(error)}).") from None


def _seek(image: ImageFile.ImageFile, index: int, name: str) -> None:
    try:
        image.seek(index)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise UploadRejected(f"{name} could not be read ({_short(error)}).") from None


def _check_pixels(image: Image.Image, name: str, limits: IngestLimits) -> None:
    """Refuse from the declared size, before any pixel memory is allocated."""
    width, height = image.size
    if width < 1 or height < 1:
        raise UploadRejected(f"{name} declares an empty image ({width}×{height} pixels).")
    if width * height > limits.max_image_pixels:
        raise UploadRejected(
            f"{name} was refused as a decompression bomb: declares {width}×{height} pixels, "
            f"limit {limits.max_image_pixels}."
        )


def _load_fully(image: ImageFile.ImageFile, name: str) -> None:
    """Decode all pixel data, refusing truncated or corrupt images."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Some code in this process switched truncated images on globally; validating
        # under that setting would quietly accept half images, so fail loudly instead.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False for upload validation")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise UploadRejected(f"{name} was refused as a decompression bomb ({_short(error)}).") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error) as error:
            reason = f"{name} is truncated or damaged and could not be decoded ({_short(error)})."
            raise UploadRejected(reason) from None


def _short(error: BaseException) -> str:
    text = str(error).strip().rstrip(".") or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ------------------------------------------------------------------ normalisation


def _normalised(image: Image.Image) -> Image.Image:
    """Upright, mode L or RGB, and carrying no metadata at all."""
    upright = _exif_transposed(image)
    converted = _to_l_or_rgb(upright)
    # An empty info dict: encoders copy some entries (JPEG comments, ICC profiles) from
    # `info` into the output, and those can hide arbitrary bytes. Copy first only when
    # nothing above made a new image, so the caller's image is left alone.
    clean = converted.copy() if converted is image else converted
    clean.info.clear()
    return clean


def _exif_transposed(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error):
        # Malformed EXIF: the pixels decoded fine, so keep the image as stored rather
        # than refuse a scan over a broken metadata block.
        return image


def _to_l_or_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16") or mode == "I":
        return _sixteen_bit_to_l(image)
    if mode == "F":
        return image.convert("L")  # rare float TIFFs: values are taken as 0..255 and clamped
    if mode == "P":
        has_alpha = "transparency" in image.info or (image.palette is not None and image.palette.mode == "RGBA")
        return _flattened_on_white(image.convert("RGBA")) if has_alpha else image.convert("RGB")
    if mode in ("LA", "La", "PA"):
        return _flattened_on_white(image.convert("RGBA")).convert("L")
    if mode in ("RGBA", "RGBa"):
        return _flattened_on_white(image.convert("RGBA"))
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """16-bit grayscale scans: keep the high byte (Pillow's convert would clamp at 255)."""
    pixels = np.asarray(image).astype(np.int64)
    scaled = (np.clip(pixels, 0, 65535) >> 8).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _flattened_on_white(rgba: Image.Image) -> Image.Image:
    # Transparent areas of a scan are paper, not ink: composite onto white.
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


# ---------------------------------------------------------------------------- PDF

# PDFium is not thread-safe; serialise all use of it within this process.
_PDFIUM_LOCK = threading.Lock()


def _pages_from_pdf(data: bytes, name: str, limits: IngestLimits, pages: _PageCounter) -> list[PageImage]:
    with _PDFIUM_LOCK:
        rendered = _render_pdf(data, name, limits, pages)
    # Encoding (the slow part) happens outside the lock.
    return [_page(image, page_name, _PDF) for page_name, image in rendered]


def _render_pdf(
    data: bytes, name: str, limits: IngestLimits, pages: _PageCounter
) -> list[tuple[str, Image.Image]]:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise UploadRejected(f"{name} is password-protected; upload it without a password.") from None
        raise UploadRejected(f"{name} could not be opened as a PDF: it is damaged ({_short(error)}).") from None
    try:
        page_count = len(document)
        if page_count == 0:
            raise UploadRejected(f"{name} is a PDF without pages.")
        pages.reserve(page_count)
        scale = limits.pdf_render_dpi / 72
        return [
            (f"{name}#p{index + 1}", _render_pdf_page(document, index, f"{name}#p{index + 1}", scale, limits))
            for index in range(page_count)
        ]
    finally:
        document.close()


def _render_pdf_page(
    document: pdfium.PdfDocument, index: int, name: str, scale: float, limits: IngestLimits
) -> Image.Image:
    try:
        page = document[index]
    except pdfium.PdfiumError as error:
        raise UploadRejected(f"{name} could not be read from the PDF ({_short(error)}).") from None
    try:
        # The same rounding as PdfPage.render, checked before the bitmap is allocated.
        width = math.ceil(page.get_width() * scale)
        height = math.ceil(page.get_height() * scale)
        if width < 1 or height < 1:
            raise UploadRejected(f"{name} has an empty page size.")
        if width * height > limits.max_image_pixels:
            raise UploadRejected(
                f"{name} would render at {limits.pdf_render_dpi} dpi to {width}×{height} pixels; "
                f"the limit is {limits.max_image_pixels} pixels per page."
            )
        try:
            bitmap = page.render(scale=scale, rev_byteorder=True)
        except (pdfium.PdfiumError, ValueError) as error:
            raise UploadRejected(f"{name} could not be rendered ({_short(error)}).") from None
        image = bitmap.to_pil().convert("RGB")  # a copy that no longer shares PDFium's buffer
        bitmap.close()
        return _gray_if_colourless(image)
    finally:
        page.close()


def _gray_if_colourless(image: Image.Image) -> Image.Image:
    red, green, blue = image.split()
    if ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(green, blue).getbbox() is None:
        return red
    return image


# ---------------------------------------------------------------------------- zip

_JUNK_NAMES = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# Entries this small cannot exhaust anything whatever their compression ratio (a blank
# page saved as uncompressed TIFF compresses far beyond 200:1); the total-size limit
# still covers them.
_RATIO_CHECK_MIN_BYTES = 1024 * 1024
_READ_CHUNK = 1024 * 1024


def _pages_from_zip(data: bytes, name: str, limits: IngestLimits, pages: _PageCounter) -> list[PageImage]:
    archive = _open_zip(data, name)
    members = _checked_members(archive, name, limits)
    if not members:
        raise UploadRejected(f"{name} contains no images.")
    # Every member must become at least one page: refuse an over-full archive before reading it.
    if len(members) > limits.max_pages_per_upload:
        raise UploadRejected(
            f"{name} contains {len(members)} files; the limit is {limits.max_pages_per_upload} pages per upload."
        )
    budget = _ReadBudget(name, limits.max_total_uncompressed_bytes)
    result: list[PageImage] = []
    for path, info in members:
        member_data = _read_member(archive, info, path, name, budget)
        result.extend(_pages_from_member(member_data, f"{name}/{path}", limits, pages))
    return result


def _pages_from_member(data: bytes, name: str, limits: IngestLimits, pages: _PageCounter) -> list[PageImage]:
    if not data:
        raise UploadRejected(f"{name} is empty.")
    kind = _sniff_kind(data)
    if kind == _ZIP:
        raise UploadRejected(f"{name} is a zip archive inside the zip archive; nested archives are not supported.")
    if kind == _PDF:
        return _pages_from_pdf(data, name, limits, pages)
    if kind in _IMAGE_KINDS:
        return _pages_from_image(data, name, kind, limits, pages)
    raise _not_accepted(data, name, "a JPEG, PNG or TIFF image or a PDF")


def _open_zip(data: bytes, name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as error:
        raise UploadRejected(f"{name} is not a readable zip archive ({_short(error)}).") from None


def _checked_members(archive: zipfile.ZipFile, name: str, limits: IngestLimits) -> list[tuple[str, zipfile.ZipInfo]]:
    """The regular, non-junk members sorted by path, after checking every entry's header."""
    members: dict[str, zipfile.ZipInfo] = {}
    declared_total = 0
    for info in archive.infolist():
        path = _checked_member_path(info, name)
        _check_member_header(info, path, name, limits)
        if info.is_dir() or path.endswith("/") or _is_junk(path):
            continue
        if path in members:
            raise UploadRejected(f"{name} contains '{path}' more than once.")
        members[path] = info
        declared_total += info.file_size
        if declared_total > limits.max_total_uncompressed_bytes:
            raise UploadRejected(
                f"{name} would unpack to more than {_format_bytes(limits.max_total_uncompressed_bytes)}, "
                "the limit per upload."
            )
    return sorted(members.items())


def _checked_member_path(info: zipfile.ZipInfo, name: str) -> str:
    path = info.filename.replace("\\", "/")
    if path.startswith("/") or _WINDOWS_DRIVE.match(path):
        raise UploadRejected(f"{name} contains an entry with an absolute path: '{info.filename}'.")
    if ".." in path.split("/"):
        raise UploadRejected(f"{name} contains an entry that points outside the archive: '{info.filename}'.")
    return path


def _check_member_header(info: zipfile.ZipInfo, path: str, name: str, limits: IngestLimits) -> None:
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadRejected(f"{name} contains a symbolic link: '{path}'.")
    if info.flag_bits & 0x1:
        raise UploadRejected(f"{name}: entry '{path}' is encrypted; password-protected archives are not supported.")
    if info.file_size > _RATIO_CHECK_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise UploadRejected(
                f"{name}: entry '{path}' is compressed {ratio:.0f}:1 (limit {limits.max_compression_ratio}:1) "
                "and looks like a zip bomb."
            )


def _is_junk(path: str) -> bool:
    parts = path.split("/")
    base = parts[-1]
    return "__MACOSX" in parts or base.startswith(".") or base.lower() in _JUNK_NAMES


class _ReadBudget:
    """Counts bytes actually decompressed, since a zip header can lie about sizes."""

    def __init__(self, upload_name: str, limit: int) -> None:
        self.upload_name = upload_name
        self.limit = limit
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise UploadRejected(
                f"{self.upload_name} unpacks to more than {_format_bytes(self.limit)}, the limit per upload."
            )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, name: str, budget: _ReadBudget) -> bytes:
    chunks = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                chunks += chunk
                budget.spend(len(chunk))
                if len(chunks) > info.file_size:
                    raise UploadRejected(f"{name}: entry '{path}' is larger than its header declares.")
    except UploadRejected:
        raise  # it is a ValueError too; keep it from being reported as damage below
    except NotImplementedError as error:
        reason = f"{name}: entry '{path}' uses an unsupported compression method ({_short(error)})."
        raise UploadRejected(reason) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, struct.error) as error:
        raise UploadRejected(f"{name}: entry '{path}' is damaged and could not be read ({_short(error)}).") from None
    return bytes(chunks)
