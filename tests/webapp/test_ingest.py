"""Upload ingestion: what is accepted, how it is normalised, and what is refused.

Every input is built here from Pillow, numpy and zipfile, so the tests need no fixtures
on disk and no database.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from webapp.ingest import (
    IngestLimits,
    PageImage,
    UploadRejected,
    ingest_image,
    ingest_upload,
    iter_zip_members,
    open_checked_image,
)

# --------------------------------------------------------------------- builders


def image_bytes(fmt: str, size: tuple[int, int] = (60, 40), colour=(200, 30, 30), mode: str = "RGB", **params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for path, data in entries.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def zip_with_info(info: zipfile.ZipInfo, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, data)
    return buffer.getvalue()


def decoded(page: PageImage) -> Image.Image:
    image = Image.open(io.BytesIO(page.data))
    image.load()
    return image


def refusal(data: bytes, filename: str, **limits) -> str:
    with pytest.raises(UploadRejected) as caught:
        ingest_upload(data, filename, limits=IngestLimits(**limits))
    assert caught.value.reason == str(caught.value)
    return caught.value.reason


# ------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("fmt", "expected_format", "extension"),
    [("JPEG", "JPEG", ".jpg"), ("PNG", "PNG", ".png"), ("TIFF", "PNG", ".png")],
)
def test_single_images_are_accepted_and_re_encoded(fmt, expected_format, extension):
    pages = ingest_upload(image_bytes(fmt), "scan.bin")

    assert len(pages) == 1
    page = pages[0]
    assert (page.name, page.format, page.extension) == ("scan.bin", expected_format, extension)
    assert (page.width, page.height) == (60, 40)
    image = decoded(page)
    assert image.format == expected_format and image.size == (60, 40) and image.mode == "RGB"
    red, green, blue = image.getpixel((30, 20))
    assert red > 180 and green < 60 and blue < 60
    import hashlib

    assert page.sha256 == hashlib.sha256(page.data).hexdigest()


def test_page_name_drops_any_client_directory():
    assert ingest_upload(image_bytes("PNG"), "C:\\fakepath\\scan.png")[0].name == "scan.png"


def test_exif_orientation_is_applied_and_then_dropped():
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste((255, 0, 0), (0, 0, 8, 8))  # mark the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif.tobytes())

    page = ingest_upload(buffer.getvalue(), "phone.jpg")[0]

    assert (page.width, page.height) == (20, 40)
    upright = decoded(page)
    assert upright.size == (20, 40)
    red, green, blue = upright.getpixel((16, 3))  # stored top-left is displayed top-right
    assert red > 200 and green < 80 and blue < 80
    assert upright.getpixel((3, 3))[1] > 200  # displayed top-left stays white
    # The orientation tag must not survive, or viewers would rotate the page a second time.
    assert 0x0112 not in upright.getexif()


def test_sixteen_bit_grayscale_tiff_is_scaled_not_clamped():
    levels = np.array([[0, 0x1234, 0x8000, 0xFFFF]] * 3, dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, "TIFF")

    page = ingest_upload(buffer.getvalue(), "scan16.tif")[0]

    image = decoded(page)
    assert page.format == "PNG" and image.mode == "L"
    assert [image.getpixel((x, 1)) for x in range(4)] == [0, 0x12, 0x80, 0xFF]


def test_multi_page_tiff_gives_one_page_per_frame():
    frames = [Image.new("L", (30 + 10 * i, 20), 40 * i) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])

    pages = ingest_upload(buffer.getvalue(), "multi.tif")

    assert [p.name for p in pages] == ["multi.tif#p1", "multi.tif#p2", "multi.tif#p3"]
    assert [(p.width, p.height) for p in pages] == [(30, 20), (40, 20), (50, 20)]
    assert [decoded(p).getpixel((0, 0)) for p in pages] == [0, 40, 80]


@pytest.mark.parametrize(
    ("mode", "colour", "expected_mode", "expected_pixel"),
    [
        ("1", 1, "L", 255),
        ("LA", (0, 0), "L", 255),  # fully transparent: paper
        ("P", 3, "RGB", None),
        ("CMYK", (0, 255, 255, 0), "RGB", (255, 0, 0)),
        ("I;16", 0xFFFF, "L", 255),
    ],
)
def test_unusual_modes_become_l_or_rgb(mode, colour, expected_mode, expected_pixel):
    buffer = io.BytesIO()
    Image.new(mode, (8, 8), colour).save(buffer, "TIFF" if mode in ("CMYK", "I;16") else "PNG")

    image = decoded(ingest_upload(buffer.getvalue(), "m")[0])

    assert image.mode == expected_mode
    if expected_pixel is not None:
        assert image.getpixel((4, 4)) == expected_pixel


def test_pdf_pages_are_rendered_gray_or_colour():
    gray_page = Image.new("RGB", (144, 72), (128, 128, 128))  # 2 × 1 inch at 72 dpi
    colour_page = Image.new("RGB", (72, 72), (0, 0, 255))
    buffer = io.BytesIO()
    gray_page.save(buffer, "PDF", save_all=True, append_images=[colour_page], resolution=72)

    pages = ingest_upload(buffer.getvalue(), "book.pdf", limits=IngestLimits(pdf_render_dpi=100))

    assert [p.name for p in pages] == ["book.pdf#p1", "book.pdf#p2"]
    assert [(p.width, p.height) for p in pages] == [(200, 100), (100, 100)]
    assert all(p.format == "PNG" for p in pages)
    first, second = (decoded(p) for p in pages)
    assert first.mode == "L" and abs(first.getpixel((100, 50)) - 128) <= 2
    assert second.mode == "RGB" and second.getpixel((50, 50))[2] > 200


def test_zip_with_folders_skips_junk_and_sorts_pages():
    archive = zip_bytes(
        {
            "box2/b.png": image_bytes("PNG"),
            "box1/": b"",
            "box1/p1.jpg": image_bytes("JPEG"),
            "__MACOSX/box1/._p1.jpg": b"\x00\x05\x16\x07 apple double",
            "box1/.DS_Store": b"\x00\x00\x00\x01Bud1",
            "Thumbs.db": b"\xd0\xcf\x11\xe0",
        },
        zipfile.ZIP_DEFLATED,
    )

    pages = ingest_upload(archive, "letters.zip")

    assert [p.name for p in pages] == ["letters.zip/box1/p1.jpg", "letters.zip/box2/b.png"]
    assert [p.format for p in pages] == ["JPEG", "PNG"]


def test_zip_may_hold_pdfs_and_multi_page_tiffs():
    frames = [Image.new("L", (20, 20), v) for v in (0, 255)]
    tiff = io.BytesIO()
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:])
    pdf = io.BytesIO()
    Image.new("L", (72, 72), 0).save(pdf, "PDF", resolution=72)

    pages = ingest_upload(zip_bytes({"a.tif": tiff.getvalue(), "b/doc.pdf": pdf.getvalue()}), "mix.zip")

    assert [p.name for p in pages] == ["mix.zip/a.tif#p1", "mix.zip/a.tif#p2", "mix.zip/b/doc.pdf#p1"]


def test_same_upload_gives_same_bytes_and_sha256():
    for fmt in ("JPEG", "PNG", "TIFF"):
        data = image_bytes(fmt, size=(80, 50))
        first, second = ingest_upload(data, "a"), ingest_upload(bytes(data), "b")
        assert first[0].sha256 == second[0].sha256 and first[0].data == second[0].data
    pdf = io.BytesIO()
    Image.new("RGB", (72, 72), (10, 120, 30)).save(pdf, "PDF", resolution=72)
    assert ingest_upload(pdf.getvalue(), "x.pdf")[0].sha256 == ingest_upload(pdf.getvalue(), "y.pdf")[0].sha256


def test_ingest_image_and_open_checked_image():
    assert len(ingest_image(image_bytes("PNG"), "one.png")) == 1
    image = open_checked_image(image_bytes("PNG", mode="RGBA", colour=(0, 0, 0, 0)), "clear.png")
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)  # transparency is paper
    with pytest.raises(UploadRejected, match=r"doc\.pdf is not a JPEG, PNG or TIFF image \(content looks like"):
        ingest_image(b"%PDF-1.4\n", "doc.pdf")


def test_iter_zip_members_yields_regular_files_in_order():
    archive = zip_bytes({"page.xml": b"<alto/>", "img/page.png": b"png", "__MACOSX/x": b"", "dir/": b""})

    assert list(iter_zip_members(archive, "bundle.zip")) == [("img/page.png", b"png"), ("page.xml", b"<alto/>")]


# -------------------------------------------------------------------- refused


def test_truncated_jpeg_is_refused():
    data = image_bytes("JPEG", size=(300, 300), colour=(10, 200, 90))
    reason = refusal(data[: len(data) // 2], "half.jpg")
    assert reason.startswith("half.jpg is truncated or damaged")


def test_png_with_bad_header_checksum_is_refused():
    data = bytearray(image_bytes("PNG"))
    data[29] ^= 0xFF  # the IHDR CRC
    assert refusal(bytes(data), "bad.png").startswith("bad.png is a damaged PNG image")


def test_png_with_garbage_after_the_header_is_refused():
    data = image_bytes("PNG")
    garbage = np.random.default_rng(7).integers(0, 256, 400, dtype=np.uint8).tobytes()
    assert refusal(data[:33] + garbage, "noise.png").startswith("noise.png is")


def test_png_with_corrupt_image_data_is_refused():
    data = PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50, 50, 8, 0, 0, 0, 0))
    data += png_chunk(b"IDAT", b"x\x9c" + b"\xff" * 60) + png_chunk(b"IEND", b"")
    assert refusal(data, "idat.png").startswith("idat.png is truncated or damaged")


def test_plain_text_named_png_is_refused():
    reason = refusal(b"just some notes\n", "notes.png")
    assert reason == (
        "notes.png is not a JPEG, PNG or TIFF image, a PDF or a zip archive (content looks like plain text)."
    )


def test_svg_named_png_is_refused():
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert "content looks like SVG" in refusal(svg, "logo.png")
    assert "content looks like SVG" in refusal(b"<svg onload=alert(1)>", "x.png")


def test_html_followed_by_png_is_refused():
    reason = refusal(b"<html><script>alert(1)</script></html>" + image_bytes("PNG"), "poly.png")
    assert reason.startswith("poly.png is not") and "content looks like HTML" in reason


def test_html_inside_png_text_chunk_is_stripped():
    png = image_bytes("PNG")
    payload = png_chunk(b"tEXt", b"Comment\x00<html><script>alert(1)</script></html>")
    polyglot = png[:33] + payload + png[33:]
    assert b"<script" in polyglot and Image.open(io.BytesIO(polyglot)).text

    page = ingest_upload(polyglot, "poly.png")[0]

    assert b"<script" not in page.data and b"<html" not in page.data
    assert decoded(page).size == (60, 40)


def test_html_inside_jpeg_comment_is_stripped():
    data = image_bytes("JPEG", comment=b"<html><script>alert(1)</script></html>")
    assert b"<script" in data

    assert b"<script" not in ingest_upload(data, "poly.jpg")[0].data


def test_decompression_bomb_is_refused_from_its_header():
    header = struct.pack(">IIBBBBB", 40000, 40000, 1, 0, 0, 0, 0)
    bomb = PNG_SIGNATURE + png_chunk(b"IHDR", header)
    bomb += png_chunk(b"IDAT", zlib.compress(b"\x00" * 5001 * 20)) + png_chunk(b"IEND", b"")
    assert len(bomb) < 1000

    reason = refusal(bomb, "bomb.png")

    assert reason == "bomb.png was refused as a decompression bomb: declares 40000×40000 pixels, limit 80000000."


def test_pixel_limit_follows_the_configured_limit():
    reason = refusal(image_bytes("JPEG", size=(20, 20)), "big.jpg", max_image_pixels=399)
    assert "declares 20×20 pixels, limit 399" in reason
    assert ingest_upload(image_bytes("JPEG", size=(20, 20)), "ok.jpg", limits=IngestLimits(max_image_pixels=400))


def test_empty_file_is_refused():
    assert refusal(b"", "x.png") == "x.png is empty."


def test_file_over_the_size_limit_is_refused():
    reason = refusal(image_bytes("PNG"), "large.png", max_upload_bytes=100)
    assert reason.startswith("large.png is ") and "the limit is 100 bytes per file" in reason


def test_corrupt_pdf_is_refused():
    reason = refusal(b"%PDF-1.7\n" + b"\x00garbage" * 50, "broken.pdf")
    assert reason.startswith("broken.pdf could not be opened as a PDF: it is damaged")


def password_protected_pdf() -> bytes:
    """A one-page PDF whose standard security handler rejects the empty password."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    file_id = b"<" + b"ab" * 16 + b">"
    pdf += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [%s %s] >>\n" % (len(objects) + 1, file_id, file_id)
    pdf += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(pdf)


def test_password_protected_pdf_is_refused():
    assert refusal(password_protected_pdf(), "secret.pdf") == (
        "secret.pdf is password-protected; upload it without a password."
    )


def test_pdf_page_that_would_render_too_large_is_refused():
    pdf = io.BytesIO()
    Image.new("L", (100, 100), 255).save(pdf, "PDF", resolution=1)  # a 100 × 100 inch page
    reason = refusal(pdf.getvalue(), "poster.pdf")
    assert reason.startswith("poster.pdf#p1 would render at 200 dpi to 20000×20000 pixels")


@pytest.mark.parametrize("entry", ["../evil.png", "box/../../evil.png", "..\\evil.png"])
def test_zip_entry_escaping_the_archive_is_refused(entry):
    reason = refusal(zip_bytes({"ok.png": image_bytes("PNG"), entry: image_bytes("PNG")}), "up.zip")
    assert reason.startswith("up.zip contains an entry that points outside the archive")


@pytest.mark.parametrize("entry", ["/abs.png", "C:\\abs.png", "c:/abs.png"])
def test_zip_entry_with_absolute_path_is_refused(entry):
    info = zipfile.ZipInfo("placeholder.png")
    info.filename = entry  # bypass ZipInfo's own clean-up, as a hostile archiver would
    reason = refusal(zip_with_info(info, image_bytes("PNG")), "up.zip")
    assert reason.startswith("up.zip contains an entry with an absolute path")


def test_zip_symlink_entry_is_refused():
    info = zipfile.ZipInfo("link.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert refusal(zip_with_info(info, b"/etc/passwd"), "up.zip") == "up.zip contains a symbolic link: 'link.png'."


def test_zip_encrypted_entry_is_refused():
    archive = bytearray(zip_bytes({"secret.png": image_bytes("PNG")}))
    # Set the "encrypted" flag bit in the local and the central header.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        archive[archive.index(signature) + offset] |= 0x1
    reason = refusal(bytes(archive), "up.zip")
    assert reason == "up.zip: entry 'secret.png' is encrypted; password-protected archives are not supported."


def test_zip_bomb_is_refused_by_compression_ratio():
    bomb = zip_bytes({"zeros.png": bytes(50 * 1024 * 1024)}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 200_000

    reason = refusal(bomb, "bomb.zip")

    assert reason.startswith("bomb.zip: entry 'zeros.png' is compressed ") and "looks like a zip bomb" in reason


def test_zip_over_the_total_size_limit_is_refused():
    archive = zip_bytes({"a.png": image_bytes("PNG"), "b.png": image_bytes("PNG")})
    limit = len(image_bytes("PNG")) + 10
    assert "would unpack to more than" in refusal(archive, "two.zip", max_total_uncompressed_bytes=limit)


def test_zip_entry_larger_than_its_header_declares_is_refused():
    data = image_bytes("PNG")
    archive = bytearray(zip_bytes({"a.png": data}))
    # Shrink the declared size in both the local and the central header, as a lying archiver could.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = archive.index(signature) + offset
        archive[start : start + 4] = struct.pack("<I", 10)
    reason = refusal(bytes(archive), "liar.zip")
    assert reason.startswith("liar.zip: entry 'a.png' is")


def test_nested_zip_is_refused():
    inner = zip_bytes({"p.png": image_bytes("PNG")})
    reason = refusal(zip_bytes({"a.png": image_bytes("PNG"), "inner.dat": inner}), "outer.zip")
    assert reason.startswith("outer.zip/inner.dat is a zip archive inside the zip archive")


def test_zip_with_a_non_image_entry_is_refused_naming_it():
    archive = zip_bytes({"box/p1.png": image_bytes("PNG"), "box/readme.png": b"not an image at all"})
    reason = refusal(archive, "letters.zip")
    assert reason.startswith("letters.zip/box/readme.png is not a JPEG, PNG or TIFF image or a PDF")


def test_zip_with_a_broken_image_refuses_the_whole_upload():
    good, broken = image_bytes("JPEG"), image_bytes("JPEG", size=(300, 300))[:400]
    with pytest.raises(UploadRejected, match=r"^letters\.zip/b\.jpg is .*damaged"):
        ingest_upload(zip_bytes({"a.jpg": good, "b.jpg": broken}), "letters.zip")


def test_zip_without_images_is_refused():
    assert refusal(zip_bytes({"__MACOSX/._x": b"junk", "empty/": b""}), "junk.zip") == "junk.zip contains no images."


def test_page_limit_counts_zip_entries_and_tiff_frames():
    archive = zip_bytes({f"p{i}.png": image_bytes("PNG") for i in range(3)})
    assert "limit is 2 pages per upload" in refusal(archive, "three.zip", max_pages_per_upload=2)

    frames = [Image.new("L", (10, 10)) for _ in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    assert "limit is 2 pages per upload" in refusal(buffer.getvalue(), "three.tif", max_pages_per_upload=2)


def test_png_metadata_and_animation_frames_are_dropped():
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down
    frames = [Image.new("L", (30, 10), 0), Image.new("L", (30, 10), 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], exif=exif.tobytes(),
                   icc_profile=b"<script>icc</script>")
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2

    pages = ingest_upload(buffer.getvalue(), "anim.png")

    assert [p.name for p in pages] == ["anim.png"]
    stored = decoded(pages[0])
    assert b"<script" not in pages[0].data and b"eXIf" not in pages[0].data and b"iCCP" not in pages[0].data
    assert stored.getpixel((0, 0)) == 0
