"""Imports as real HTR tools export them: Transkribus collections (PAGE 2013 in page/, images beside,
mets.xml and metadata.xml), eScriptorium ALTO with points outside the page, lines that cannot be
stored, images that are already pages, zips larger than the upload limit, the import_layout
command, and a project's own export imported back under the same names."""

from __future__ import annotations

import io
import json
import random
import zipfile
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from PIL import Image

from ml.data.layout import read_layout
from tests.webapp.conftest import png_bytes, upload
from webapp.corpus import services
from webapp.corpus.models import Line, LineRevision, Page, RevisionAction
from webapp.corpus.transfer import MANIFEST_NAME
from webapp.projects.services import project_create

pytestmark = pytest.mark.django_db

HTR_BASE = Path(__file__).resolve().parents[3] / "shared" / "data" / "htr-base"


def post_import(client, project_id: int, files, **data):
    return client.post(f"/api/projects/{project_id}/import/",
                       {"files": [SimpleUploadedFile(name, content) for name, content in files], **data},
                       format="multipart")


def zip_bytes(files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def jpeg_bytes(width: int, height: int, seed: int) -> bytes:
    """A page-like JPEG: noise, so every seed gives other pixels (and another sha256)."""
    noise = Image.frombytes("L", (width, height), random.Random(seed).randbytes(width * height))
    image = noise.point(lambda value: 150 + value * 105 // 255)  # light paper
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def lines_of(page: Page) -> list[tuple]:
    return [(line.text, line.bbox, [tuple(p) for p in line.polygon or []], [tuple(p) for p in line.baseline or []])
            for line in page.lines.order_by("order", "id")]


def file_entry(response, name: str) -> dict:
    return next(entry for entry in response.data["files"] if entry["file"] == name)


# A Transkribus export, laid out as Transkribus writes it: <collection>/<document>/ with the page images,
# mets.xml and metadata.xml, and the PAGE 2013 files in page/ under the images' names.

PAGE_2013 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"


def transkribus_line(ident: str, points: str, text: str, baseline: str | None = None) -> str:
    baseline_element = f'<Baseline points="{baseline}"/>' if baseline else ""
    return (f'<TextLine id="{ident}" custom="readingOrder {{index:0;}}"><Coords points="{points}"/>'
            f'{baseline_element}<TextEquiv><Unicode>{text}</Unicode></TextEquiv></TextLine>')


def transkribus_page(image: str, width: int, height: int, lines: list[str], page_nr: int = 1) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<PcGts xmlns="{PAGE_2013}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="{PAGE_2013} {PAGE_2013}/pagecontent.xsd">
    <Metadata>
        <Creator>prov=READ-COOP:name=PyLaia@TranskribusPlatform:version=2.12.1:model_id=20686:lm=none</Creator>
        <Created>2024-03-17T15:55:09.645+02:00</Created>
        <LastChange>2024-06-04T18:42:33.358+02:00</LastChange>
        <TranskribusMetadata docId="1936050" pageId="6831384{page_nr}" pageNr="{page_nr}" tsid="169945409"
            status="GT" userId="8349" imgUrl="https://files.transkribus.eu/Get?id=BINZ&amp;fileType=view"
            xmlUrl="https://files.transkribus.eu/Get?id=PBTH" imageId="5930197{page_nr}"/>
    </Metadata>
    <Page imageFilename="{image}" imageWidth="{width}" imageHeight="{height}">
        <ReadingOrder>
            <OrderedGroup id="ro_1717519564227" caption="Regions reading order">
                <RegionRefIndexed index="0" regionRef="r1"/>
            </OrderedGroup>
        </ReadingOrder>
        <TextRegion orientation="0.0" id="r1" custom="readingOrder {{index:0;}} structure {{type:paragraph;}}">
            <Coords points="0,0 {width},0 {width},{height} 0,{height}"/>
            {"".join(lines)}
            <TextEquiv><Unicode>the region's text, which is not a line</Unicode></TextEquiv>
        </TextRegion>
    </Page>
</PcGts>""".encode()


METS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ns3:mets xmlns:ns3="http://www.loc.gov/METS/" xmlns:ns2="http://www.w3.org/1999/xlink">
  <ns3:metsHdr CREATEDATE="2024-06-04T18:42:33.358+02:00"/>
  <ns3:fileSec><ns3:fileGrp ID="MASTER"><ns3:fileGrp ID="IMG">
    <ns3:file ID="IMG_1" MIMETYPE="image/jpeg"><ns3:FLocat LOCTYPE="OTHER" OTHERLOCTYPE="FILE"
      ns2:href="0001_p001.jpg"/></ns3:file></ns3:fileGrp>
    <ns3:fileGrp ID="PAGEXML"><ns3:file ID="PAGEXML_1" MIMETYPE="application/xml"><ns3:FLocat LOCTYPE="OTHER"
      OTHERLOCTYPE="FILE" ns2:href="page/0001_p001.xml"/></ns3:file></ns3:fileGrp></ns3:fileGrp></ns3:fileSec>
</ns3:mets>"""


def metadata(title: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><trpDocMetadata><docId>1936050</docId>'
            f'<title>{title}</title><nrOfPages>2</nrOfPages><status>0</status></trpDocMetadata>').encode()


LONG_TEXT = "x" * 81  # over INKLOOP_MAX_LINE_TEXT = 80 below

DOC_A_PAGE_1 = [
    transkribus_line("r1l1", "20,30 380,30 380,70 20,70", "Je soussigné", "20,65 380,65"),
    # 1 px above the page, as in the real export's "bbox (948, -1, 1278, 135)".
    transkribus_line("r1l2", "20,-1 380,-1 380,40 20,40", "déclare que", "20,36 380,36"),
    # 300 px beyond the right edge, as in "bbox (304, 146, 2331, 215) falls outside the 1524x2430 image".
    transkribus_line("r1l3", "300,100 700,100 700,140 300,140", "ceci est", "300,135 700,135"),
    transkribus_line("r1l4", "450,200 600,200 600,240 450,240", "wholly outside"),
    transkribus_line("r1l5", "20,300 380,300", "two points"),
    transkribus_line("r1l6", "20,400 380,400 380,440 20,440", LONG_TEXT),
    transkribus_line("r1l7", "20,500 380,500 380,540 20,540", "mon testament", "20,535 380,535"),
]
DOC_B_PAGE_1 = [
    transkribus_line("tl_1", "-2,61 138,61 138,232 -2,232", "Paris le 3 mars"),  # "bbox (-2, 61, 138, 232)"
    transkribus_line("tl_2", "150,300 400,300 400,340 150,340", "tab&#9;inside"),
]


def transkribus_export() -> bytes:
    root = "Testaments_Collection"
    return zip_bytes([
        (f"{root}/DocA/0001_p001.jpg", jpeg_bytes(400, 600, seed=1)),
        (f"{root}/DocA/0002_p002.jpg", jpeg_bytes(400, 600, seed=2)),
        (f"{root}/DocA/mets.xml", METS),
        (f"{root}/DocA/metadata.xml", metadata("DocA")),
        (f"{root}/DocA/page/0001_p001.xml", transkribus_page("0001_p001.jpg", 400, 600, DOC_A_PAGE_1)),
        (f"{root}/DocA/page/0002_p002.xml", transkribus_page("0002_p002.jpg", 400, 600, [
            transkribus_line("r1l1", "20,30 380,30 380,70 20,70", "fait à Paris", "20,65 402,65")], page_nr=2)),
        # Another document whose first page has the same file name as DocA's.
        (f"{root}/DocB/0001_p001.jpg", jpeg_bytes(500, 700, seed=3)),
        (f"{root}/DocB/mets.xml", METS),
        (f"{root}/DocB/metadata.xml", metadata("DocB")),
        (f"{root}/DocB/page/0001_p001.xml", transkribus_page("0001_p001.jpg", 500, 700, DOC_B_PAGE_1)),
    ])


def test_a_transkribus_export_imports_every_page_clipping_and_skipping_lines(manager_client, project, settings):
    settings.INKLOOP_MAX_LINE_TEXT = 80
    root = "Testaments_Collection"

    response = post_import(manager_client, project.pk, [("export_job_2024.zip", transkribus_export())])

    assert response.status_code == 201, response.data
    data = response.data
    assert (data["pages_created"], data["lines_created"], data["lines_clipped"], data["lines_skipped"]) == (3, 6, 4, 4)
    assert data["files_skipped"] == 4 and data["files_not_imported"] == 0
    for doc in ("DocA", "DocB"):
        for name in ("mets.xml", "metadata.xml"):
            entry = file_entry(response, f"{root}/{doc}/{name}")
            assert entry["status"] == "skipped" and "neither ALTO" in entry["detail"], entry

    first = file_entry(response, f"{root}/DocA/page/0001_p001.xml")
    assert (first["status"], first["image"], first["lines_created"]) == ("created", f"{root}/DocA/0001_p001.jpg", 4)
    assert [note["line"] for note in first["clipped_lines"]] == ["r1l2", "r1l3"]
    assert "bbox (300, 100, 700, 140) clipped to (300, 100, 400, 140)" in first["clipped_lines"][1]["reason"]
    assert [(note["line"], note["reason"]) for note in first["skipped_lines"]] == [
        ("r1l5", "polygon has 2 points; at least 3 are needed"),
        ("r1l4", "reaches 200 px outside the 400x600 image and has no area inside it"),
        ("r1l6", "text has 81 characters; the limit is 80."),
    ]
    second_doc = file_entry(response, f"{root}/DocB/page/0001_p001.xml")
    assert (second_doc["image"], second_doc["lines_clipped"]) == (f"{root}/DocB/0001_p001.jpg", 1)
    assert second_doc["skipped_lines"] == [{"line": "tl_2", "reason": "text contains control characters "
                                                                       "(a line is one line)."}]
    assert {(item["file"], item["line"]) for item in data["skipped_lines"]} == {
        (f"{root}/DocA/page/0001_p001.xml", "r1l4"), (f"{root}/DocA/page/0001_p001.xml", "r1l5"),
        (f"{root}/DocA/page/0001_p001.xml", "r1l6"), (f"{root}/DocB/page/0001_p001.xml", "tl_2")}

    pages = {page.original_name: page for page in Page.objects.filter(project=project)}
    assert sorted(pages) == [f"{root}/DocA/0001_p001.jpg", f"{root}/DocA/0002_p002.jpg", f"{root}/DocB/0001_p001.jpg"]
    assert (pages[f"{root}/DocB/0001_p001.jpg"].width, pages[f"{root}/DocB/0001_p001.jpg"].height) == (500, 700)
    # A Transkribus document folder is the pages' group, so a document never straddles the validation split.
    assert {name: page.group for name, page in pages.items()} == {
        f"{root}/DocA/0001_p001.jpg": "DocA", f"{root}/DocA/0002_p002.jpg": "DocA",
        f"{root}/DocB/0001_p001.jpg": "DocB"}
    assert lines_of(pages[f"{root}/DocA/0001_p001.jpg"]) == [
        ("Je soussigné", (20, 30, 380, 70), [(20, 30), (380, 30), (380, 70), (20, 70)], [(20, 65), (380, 65)]),
        ("déclare que", (20, 0, 380, 40), [(20, 0), (380, 0), (380, 40), (20, 40)], [(20, 36), (380, 36)]),
        ("ceci est", (300, 100, 400, 140), [(300, 100), (400, 100), (400, 140), (300, 140)],
         [(300, 135), (400, 135)]),
        ("mon testament", (20, 500, 380, 540), [(20, 500), (380, 500), (380, 540), (20, 540)],
         [(20, 535), (380, 535)]),
    ]
    assert lines_of(pages[f"{root}/DocA/0002_p002.jpg"])[0][3] == [(20, 65), (400, 65)]  # baseline end clipped
    assert [line[0] for line in lines_of(pages[f"{root}/DocB/0001_p001.jpg"])] == ["Paris le 3 mars"]
    assert Line.objects.filter(page__project=project, verified_at__isnull=False).count() == 6


def test_a_real_escriptorium_alto_with_a_line_above_the_page_imports_with_that_line_clipped(manager_client,
                                                                                             project):
    folder, stem = HTR_BASE / "cremma-mss-18", "beautifully-illustrated-french-manuscript-on-artillery-001"
    layout = read_layout(folder / f"{stem}.xml")

    response = post_import(manager_client, project.pk, [(f"{stem}.xml", (folder / f"{stem}.xml").read_bytes()),
                                                        (f"{stem}.jpg", (folder / f"{stem}.jpg").read_bytes())])

    assert response.status_code == 201, response.data
    assert (response.data["pages_created"], response.data["lines_created"]) == (1, len(layout.lines))
    assert [note["line"] for note in file_entry(response, f"{stem}.xml")["clipped_lines"]] == ["eSc_line_86db251d"]
    line = Line.objects.get(page__project=project, text="54")
    assert line.bbox == (583, 0, 654, 64) and min(y for _, y in line.polygon) == 0


# An image that is already a page ------------------------------------------------------------------


def alto(lines: list[tuple[str, tuple[int, int, int, int]]], image: str = "p.png", width=120, height=80) -> bytes:
    body = "".join(f'<TextLine ID="l{n}" HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}">'
                   f'<String CONTENT="{text}"/></TextLine>' for n, (text, (x0, y0, x1, y1)) in enumerate(lines))
    return (f'<?xml version="1.0"?><alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Description>'
            f'<sourceImageInformation><fileName>{image}</fileName></sourceImageInformation></Description>'
            f'<Layout><Page WIDTH="{width}" HEIGHT="{height}"><PrintSpace><TextBlock>{body}</TextBlock></PrintSpace>'
            f'</Page></Layout></alto>').encode()


TWO_LINES = [("Je lègue", (5, 5, 100, 30)), ("à mon frère", (5, 40, 100, 70))]


def test_an_xml_whose_image_is_already_a_page_without_lines_puts_its_lines_on_that_page(manager_client, project,
                                                                                      manager):
    page_id = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]["id"]

    response = post_import(manager_client, project.pk, [("p.xml", alto(TWO_LINES)), ("p.png", png_bytes())])

    assert response.status_code == 201, response.data
    entry = file_entry(response, "p.xml")
    assert (entry["status"], entry["page_id"], entry["lines_created"]) == ("merged", page_id, 2)
    assert response.data["lines_created"] == 2 and response.data["pages_created"] == 0
    page = Page.objects.get(project=project)
    assert page.pk == page_id and [line[0] for line in lines_of(page)] == ["Je lègue", "à mon frère"]
    assert all(line.verified_by == manager for line in page.lines.all()) and page.status == "done"


def test_an_xml_whose_image_is_a_page_with_other_lines_is_not_imported_and_the_answer_says_why(manager_client,
                                                                                             project):
    first = post_import(manager_client, project.pk, [("p.xml", alto(TWO_LINES)), ("p.png", png_bytes())])
    page_id = first.data["pages"][0]["id"]

    # Another transcription of the same image, and a copy of the first one, in one request.
    response = post_import(manager_client, project.pk, [("other.xml", alto([("Autre texte", (5, 5, 100, 30))])),
                                                        ("p.png", png_bytes()), ("same.xml", alto(TWO_LINES))])

    assert response.status_code == 409, response.data
    conflict = file_entry(response, "other.xml")
    assert conflict["status"] == "conflict" and conflict["lines_created"] == 0
    assert f"already page {page_id}" in conflict["detail"] and "2 lines" in conflict["detail"]
    assert "not imported" in conflict["detail"] and "not imported" in response.data["detail"]
    assert file_entry(response, "same.xml")["status"] == "unchanged"
    assert [line[0] for line in lines_of(Page.objects.get(pk=page_id))] == ["Je lègue", "à mon frère"]


def test_an_xml_whose_image_is_a_page_with_only_model_lines_replaces_them_keeping_their_history(manager_client,
                                                                                              project):
    page = Page.objects.get(pk=upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]["id"])
    guess = SimpleNamespace(bbox=(5, 5, 100, 30), polygon=None, text="Je legve", confidence=0.4,
                            char_confidences=[0.4] * 8)
    with transaction.atomic():
        Page.objects.select_for_update().get(pk=page.pk)
        [model_line] = services.page_model_lines_replace(page=page, lines=[guess], model_label="recognizer v1")

    response = post_import(manager_client, project.pk, [("p.xml", alto(TWO_LINES)), ("p.png", png_bytes())])

    assert response.status_code == 201, response.data
    assert file_entry(response, "p.xml")["status"] == "merged"
    assert "replaced the 1 model-suggested lines" in file_entry(response, "p.xml")["detail"]
    assert [line[0] for line in lines_of(page)] == ["Je lègue", "à mon frère"]
    assert LineRevision.objects.filter(line_ref=model_line.pk, action=RevisionAction.DELETE,
                                       old_text="Je legve").exists()


# Large collections --------------------------------------------------------------------------------


def small_collection(pages: int = 3) -> list[tuple[str, bytes]]:
    files = []
    for number in range(pages):
        files.append((f"wills/will-{number}.jpg", jpeg_bytes(300, 300, seed=10 + number)))
        files.append((f"wills/will-{number}.xml", alto([(f"page {number}", (10, 10, 290, 60))], f"will-{number}.jpg",
                                                       300, 300)))
    return files


def test_a_zip_over_the_upload_limit_imports_under_the_import_limit(manager_client, project, settings):
    files = small_collection()
    archive = zip_bytes(files)
    settings.INKLOOP_MAX_UPLOAD_BYTES = len(archive) // 2  # each file in it is smaller still
    assert max(len(data) for _, data in files) < settings.INKLOOP_MAX_UPLOAD_BYTES

    response = post_import(manager_client, project.pk, [("wills.zip", archive)])

    assert response.status_code == 201, response.data
    assert (response.data["pages_created"], response.data["lines_created"]) == (3, 3)

    settings.INKLOOP_MAX_IMPORT_BYTES = len(archive) - 1
    refused = post_import(manager_client, project.pk, [("wills.zip", archive)])
    assert refused.status_code == 400 and "wills.zip is" in refused.data["detail"]
    assert "per archive" in refused.data["detail"]


def test_the_import_layout_command_imports_folders_and_zips_and_can_run_again(project, manager, tmp_path):
    folder = tmp_path / "collection"
    for name, data in small_collection(2):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    archive = tmp_path / "more.zip"
    archive.write_bytes(zip_bytes([(f"more/{name.split('/')[1].replace('will-', 'more-')}", data)
                                   for name, data in small_collection(3)[4:]]))
    out, err = StringIO(), StringIO()

    call_command("import_layout", str(project.pk), str(folder), str(archive), "--user", manager.username,
                 stdout=out, stderr=err)

    names = sorted(Page.objects.filter(project=project).values_list("original_name", flat=True))
    assert names == ["more/more-2.jpg", "wills/will-0.jpg", "wills/will-1.jpg"]
    assert Line.objects.filter(page__project=project, verified_by=manager).count() == 3
    assert "3 pages created with 3 lines" in out.getvalue()
    assert "3/3" in err.getvalue()  # the progress bar

    again = StringIO()
    call_command("import_layout", project.name, str(folder), str(archive), "--user", manager.username, stdout=again,
                 stderr=StringIO())
    assert "0 pages created with 0 lines; 3 files already imported" in again.getvalue()
    assert Page.objects.filter(project=project).count() == 3

    with pytest.raises(CommandError, match="no-such-folder is neither a folder nor a file"):
        call_command("import_layout", str(project.pk), str(tmp_path / "no-such-folder"), stdout=out, stderr=err)


# A project's own export, imported back ------------------------------------------------------------


def test_export_keeps_file_names_and_imports_back_into_a_new_project_as_the_same_pages(manager_client, manager,
                                                                                     project):
    tiff = io.BytesIO()
    Image.new("L", (120, 80), 90).save(tiff, "TIFF")
    originals = {  # original name -> image
        "page (1).png": png_bytes(shade=10), "box 1/page (1).png": png_bytes(shade=20),
        "Scan.png": png_bytes(shade=30), "scan.PNG": png_bytes(shade=40), "note: 3?.png": png_bytes(shade=50),
        "notes.tif": tiff.getvalue(),
    }
    files = []
    for number, (name, data) in enumerate(originals.items()):
        folder, _, base = name.rpartition("/")
        xml_name = f"{folder}/{number}.xml" if folder else f"{number}.xml"
        files += [(name, data), (xml_name, alto([(f"line of {name}", (5, 5, 100, 30 + number))], base))]
    imported = post_import(manager_client, project.pk, [("mine.zip", zip_bytes(files))])
    assert imported.status_code == 201 and imported.data["pages_created"] == 6, imported.data
    Page.objects.filter(project=project, original_name="Scan.png").update(group="letters of 1916")

    exported = manager_client.get(f"/api/projects/{project.pk}/export/", {"format": "alto"}).getvalue()
    archive = zipfile.ZipFile(io.BytesIO(exported))
    assert sorted(archive.namelist()) == sorted([
        "page (1).png", "page (1).xml", "box 1/page (1).png", "box 1/page (1).xml", "Scan.png", "Scan.xml",
        "scan (2).PNG", "scan (2).xml", "note_ 3_.png", "note_ 3_.xml", "notes.png", "notes.xml", MANIFEST_NAME])
    manifest = json.loads(archive.read(MANIFEST_NAME))
    assert {"image": "note_ 3_.png", "xml": "note_ 3_.xml", "name": "note: 3?.png",
            "group": "note: 3?"} in manifest["pages"]

    fresh = project_create(creator=manager, name="Back again", use_base_models=False)
    response = post_import(manager_client, fresh.pk, [("export.zip", exported)])

    assert response.status_code == 201, response.data
    assert response.data["files_skipped"] == 0 and response.data["pages_created"] == 6

    def pages(of) -> dict[str, tuple]:
        return {page.original_name: (page.sha256, page.group, page.width, page.height, lines_of(page))
                for page in Page.objects.filter(project=of)}

    assert pages(fresh) == pages(project)
    assert sorted(pages(fresh)) == sorted(originals)
