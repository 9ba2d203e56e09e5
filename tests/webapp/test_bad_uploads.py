"""Bad input through the API: a 4xx whose `detail` says what was wrong, and afterwards no
Page, no Line and no file under MEDIA_ROOT (nothing half-stored, no orphan file)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.webapp.conftest import png_bytes, upload
from webapp.corpus.models import Line, LineRevision, Page

pytestmark = pytest.mark.django_db


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for path, data in entries.items():
            archive.writestr(zipfile.ZipInfo(path), data, compress_type=compression)
    return buffer.getvalue()


def assert_refused(response, *fragments: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, getattr(response, "data", None))
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail, detail
    assert not Page.objects.exists()
    assert not Line.objects.exists()
    assert not LineRevision.objects.exists()


def assert_no_files(settings) -> None:
    root = Path(settings.MEDIA_ROOT)
    assert [path for path in root.rglob("*") if path.is_file()] == []


# ----------------------------------------------------------------------- uploads


def bomb_png() -> bytes:
    header = struct.pack(">IIBBBBB", 40000, 40000, 1, 0, 0, 0, 0)
    data = PNG_SIGNATURE + png_chunk(b"IHDR", header)
    return data + png_chunk(b"IDAT", zlib.compress(b"\x00" * 5001 * 20)) + png_chunk(b"IEND", b"")


def polyglot() -> bytes:
    return b"<html><body><script>alert(document.cookie)</script></body></html>\n" + png_bytes()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'

BAD_UPLOADS = {
    # id: (files, fragments the detail must hold)
    "truncated png": ([("scan.png", png_bytes()[:60])], ["scan.png", "truncated or damaged"]),
    "corrupt png data": ([("scan.png", png_bytes()[:33] + b"\x00" * 40 + png_bytes()[73:])],
                         ["scan.png is a damaged PNG image"]),
    "text named png": ([("scan.png", b"just some notes, not an image\n")],
                       ["scan.png is not", "content looks like plain text"]),
    "html/png polyglot": ([("scan.png", polyglot())], ["scan.png is not", "content looks like HTML"]),
    "svg": ([("drawing.svg", SVG)], ["drawing.svg is not", "SVG"]),
    "svg named png": ([("drawing.png", SVG)], ["drawing.png is not", "SVG"]),
    "decompression bomb": ([("bomb.png", bomb_png())], ["bomb.png", "decompression bomb", "40000×40000"]),
    "zip with ../": ([("pages.zip", zip_bytes({"ok.png": png_bytes(), "../evil.png": png_bytes(shade=9)}))],
                     ["pages.zip", "points outside the archive", "../evil.png"]),
    "zip with absolute path": ([("pages.zip", zip_bytes({"/tmp/evil.png": png_bytes()}))],
                               ["pages.zip", "absolute path", "/tmp/evil.png"]),
    "zip bomb": ([("bomb.zip", zip_bytes({"zeros.png": bytes(20 * 1024 * 1024)}, zipfile.ZIP_DEFLATED))],
                 ["bomb.zip", "zip bomb"]),
    "zip with a bad member": ([("pages.zip", zip_bytes({"a.png": png_bytes(), "b.png": b"not an image"}))],
                              ["pages.zip/b.png"]),
    "2nd file bad": ([("good.png", png_bytes()), ("bad.png", b"GIF89a not allowed")],
                     ["bad.png is not", "GIF"]),
    "3rd file bad": ([("good.png", png_bytes()), ("good2.png", png_bytes(shade=3)), ("bomb.png", bomb_png())],
                     ["bomb.png", "decompression bomb"]),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_refused_and_nothing_is_stored(case, manager_client, project, settings):
    files, fragments = BAD_UPLOADS[case]

    response = upload(manager_client, project.pk, *files)

    assert_refused(response, *fragments)
    assert_no_files(settings)


def test_empty_file_is_refused(manager_client, project, settings):
    response = upload(manager_client, project.pk, ("blank.png", b""))

    assert_refused(response, "blank.png is empty")
    assert_no_files(settings)


def test_file_over_the_size_limit_is_refused(manager_client, project, settings):
    settings.INKLOOP_MAX_UPLOAD_BYTES = 200
    data = png_bytes(300, 300)
    assert len(data) > 200

    response = upload(manager_client, project.pk, ("big.png", data))

    assert_refused(response, "big.png", f"is {len(data)} bytes", "the limit is 200 bytes")
    assert_no_files(settings)


def test_upload_without_files_is_refused(manager_client, project):
    response = manager_client.post(f"/api/projects/{project.pk}/pages/", {"group": "x"}, format="multipart")

    assert_refused(response, "files")


def test_a_good_upload_after_a_bad_one_still_works(manager_client, project):
    assert upload(manager_client, project.pk, ("good.png", png_bytes()), ("bad.png", b"nope")).status_code == 400

    response = upload(manager_client, project.pk, ("good.png", png_bytes()))

    assert response.status_code == 201 and response.data[0]["created"] is True


# ------------------------------------------------------------------------- import


def alto(*, lines: str, width: int = 120, height: int = 80, image: str = "page.png", doctype: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>{doctype}
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
  <Description><MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>{image}</fileName></sourceImageInformation></Description>
  <Layout><Page WIDTH="{width}" HEIGHT="{height}" PHYSICAL_IMG_NR="1" ID="p1"><PrintSpace>
    <TextBlock ID="b1">{lines}</TextBlock>
  </PrintSpace></Page></Layout>
</alto>""".encode()


def line(text: str, hpos=10, vpos=30, width=90, height=20, ident="l1") -> str:
    return (f'<TextLine ID="{ident}" HPOS="{hpos}" VPOS="{vpos}" WIDTH="{width}" HEIGHT="{height}">'
            f'<String CONTENT="{text}"/></TextLine>')


def post_import(client, project, *files: tuple[str, bytes]):
    return client.post(f"/api/projects/{project.pk}/import/",
                       {"files": [SimpleUploadedFile(name, data) for name, data in files]}, format="multipart")


BILLION_LAUGHS = """
<!DOCTYPE alto [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>"""

EXTERNAL_ENTITY = """
<!DOCTYPE alto [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"""


def test_import_with_entity_declarations_is_refused(manager_client, project, settings):
    xml = alto(lines=line("&lol3;"), doctype=BILLION_LAUGHS)

    response = post_import(manager_client, project, ("page.xml", xml), ("page.png", png_bytes()))

    assert_refused(response, "page.xml", "entity declaration", "not allowed")
    assert_no_files(settings)


def test_import_with_an_external_entity_is_refused(manager_client, project, settings):
    xml = alto(lines=line("&xxe;"), doctype=EXTERNAL_ENTITY)

    response = post_import(manager_client, project, ("page.xml", xml), ("page.png", png_bytes()))

    assert_refused(response, "page.xml", "external entity", "file:///etc/passwd")
    assert "root:" not in response.content.decode()
    assert_no_files(settings)


def test_import_refused_after_a_page_was_stored_leaves_nothing(manager_client, project, settings):
    # An import stores page by page as it reads; a refusal further on must take the first page back with its file.
    good = alto(lines=line("fine"), image="first.png")

    response = post_import(manager_client, project, ("a_first.xml", good), ("first.png", png_bytes(shade=50)),
                           ("page.xml", alto(lines=line("x"))), ("page.png", polyglot()))

    assert_refused(response, "page.png is not", "HTML")
    assert_no_files(settings)


def test_import_whose_image_is_missing_is_refused(manager_client, project, settings):
    xml = alto(lines=line("orphan"), image="missing.jpg")

    response = post_import(manager_client, project, ("page.xml", xml), ("other.png", png_bytes()))

    assert_refused(response, "page.xml", "'missing.jpg'", "not in the upload")
    assert_no_files(settings)


def test_import_without_xml_is_refused(manager_client, project, settings):
    response = post_import(manager_client, project, ("page.png", png_bytes()))

    assert_refused(response, "no ALTO or PAGE XML")
    assert_no_files(settings)


def test_import_of_malformed_xml_is_refused(manager_client, project, settings):
    response = post_import(manager_client, project, ("page.xml", b"<?xml version='1.0'?><alto><Layout>"),
                           ("page.png", png_bytes()))

    assert_refused(response, "page.xml", "malformed XML")
    assert_no_files(settings)


def test_import_with_a_bad_image_is_refused(manager_client, project, settings):
    response = post_import(manager_client, project, ("page.xml", alto(lines=line("x"))),
                           ("page.png", polyglot()))

    assert_refused(response, "page.png is not", "HTML")
    assert_no_files(settings)


def test_import_zip_with_traversal_is_refused(manager_client, project, settings):
    archive = zip_bytes({"page.xml": alto(lines=line("x")), "../page.png": png_bytes()})

    response = post_import(manager_client, project, ("import.zip", archive))

    assert_refused(response, "import.zip", "points outside the archive")
    assert_no_files(settings)


def test_import_over_the_size_limit_is_refused(manager_client, project, settings):
    xml, data = alto(lines=line("x")), png_bytes(300, 300)
    settings.INKLOOP_MAX_UPLOAD_BYTES = len(xml) + 1
    assert len(data) > len(xml) + 1

    response = post_import(manager_client, project, ("page.xml", xml), ("page.png", data))

    assert_refused(response, "page.png", f"the limit is {len(xml) + 1} bytes")
    assert_no_files(settings)
