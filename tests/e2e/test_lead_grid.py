"""A project lead's page grid, upload and search in a real browser: thumbnails and badges, filters and
paging, a bulk delete, uploads with their per-file report, search to a line, and the project's export."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from ml.data.layout import pair_layouts_with_images
from tests.workers.factories import CREMMA, manager_of
from webapp import task_names
from webapp.corpus.models import Line, Page, PageStatus, Split
from webapp.outbox.models import OutboxMessage
from webapp.training.models import ModelStatus, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Axe()
THUMBNAILS_LOADED = ("() => { const images = [...document.querySelectorAll('.page-card img.thumb')];"
                     " return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0); }")


@pytest.fixture(autouse=True)
def patient(page):
    """Room for a busy machine: these screens each wait on a few real requests (thumbnails, uploads)."""
    page.set_default_timeout(45_000)
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


def assert_accessible(page) -> None:
    violations = AXE.run(page).response["violations"]
    grave = [(item["id"], item["impact"], [node["target"] for node in item["nodes"]][:3]) for item in violations
             if item["impact"] in ("serious", "critical")]
    assert grave == []


def test_grid_filters_paging_bulk_delete_search_and_export(page, review_project, log_in, screenshot, settings):
    settings.INKLOOP_GRID_PAGE_SIZE = 2
    project, _ = review_project(pages=3)  # one validation page of verified lines, two pre-annotated ones
    log_in(page, manager_of(project))
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Open the page grid").click()

    expect(page.locator("#grid-count")).to_have_text("3 pages, 1–2 shown.")
    page.wait_for_function(THUMBNAILS_LOADED)
    expect(page.locator(".page-card .badge.status-done")).to_have_text(["Verified"])
    expect(page.locator(".page-card .badge.status-predicted")).to_have_text(["Pre-annotated"])
    assert_accessible(page)
    screenshot(page, "pages-grid")

    page.get_by_role("link", name="Next").click()
    expect(page.locator("#grid-count")).to_have_text("3 pages, 3–3 shown.")
    page.wait_for_function(THUMBNAILS_LOADED)

    page.get_by_label("Status").select_option(label="Pre-annotated")
    page.get_by_label("Split").select_option("train")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#grid-count")).to_have_text("2 pages, 1–2 shown.")
    expect(page.locator(".page-card")).to_have_count(2)
    expect(page.locator(".page-card[data-status='predicted']")).to_have_count(2)
    page.get_by_label("Split").select_option("val")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#grid-count")).to_have_text("0 pages.")

    # Delete one page of the grid through the API, asked for in the page first.
    page.goto(f"/projects/{project.pk}/pages/")
    victim = Page.objects.filter(project=project).order_by("original_name").first()
    page.get_by_label(f"Select {victim.original_name}").check()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.get_by_role("button", name="Delete selected").click()
    expect(page.locator("#delete-confirm")).to_contain_text(victim.original_name)
    page.get_by_role("button", name="Delete these pages").click()
    expect(page.locator("#grid-announcer")).to_have_text("Deleted 1 page.")
    expect(page.locator(f".page-card[data-page='{victim.pk}']")).to_have_count(0)
    assert not Page.objects.filter(pk=victim.pk).exists()
    assert not Line.objects.filter(page_id=victim.pk).exists()

    # The whole project's ALTO, downloaded by the browser with its session.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export ALTO (whole project)").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        xml = [name for name in archive.namelist() if name.endswith(".xml")]
        assert len(xml) == 2 and "alto" in archive.read(xml[0]).decode()[:500].lower()

    # Search from the dashboard: the true count, and a hit leads to its line on the page view.
    line = Line.objects.filter(project=project).exclude(text="").order_by("page_id", "order").first()
    word = max(re.findall(r"\w+", line.text), key=len)
    expected = Line.objects.filter(project=project, text__icontains=word).count()
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("searchbox", name="Text").fill(word)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-count")).to_contain_text(re.compile(r"^\d+ lines? found"))
    shown = int(page.locator("#search-count").inner_text().split()[0])
    assert shown >= expected
    assert_accessible(page)
    screenshot(page, "search-results")
    hit = page.locator(".hits a").first
    target = hit.get_attribute("href")
    hit.click()
    line_id = target.split("#line-")[1]
    expect(page).to_have_url(re.compile(rf"#line-{line_id}$"))
    expect(page.locator(f"#line-{line_id}")).to_be_visible()


def test_pre_annotate_selected_shows_the_apis_answer(page, review_project, log_in):
    project, _ = review_project(pages=2)  # one page of verified lines, one of model suggestions
    verified, suggested = Page.objects.filter(project=project).order_by("id")
    log_in(page, manager_of(project))
    page.goto(f"/projects/{project.pk}/pages/")
    announcer = page.locator("#grid-announcer")
    button = page.get_by_role("button", name="Pre-annotate selected")
    expect(button).to_be_disabled()
    page.get_by_label(f"Select {verified.original_name}").check()
    page.get_by_label(f"Select {suggested.original_name}").check()

    button.click()  # the project opted out of the base models and promoted none
    expect(announcer).to_have_text(re.compile(r"^Not queued: This project has no promoted recognizer yet"))

    ModelVersion.objects.create(project=project, kind="recognizer", number=1, checkpoint="v1.pt",
                                checkpoint_sha256="1" * 64, status=ModelStatus.PROMOTED)
    button.click()
    expect(announcer).to_have_text(
        f"Pre-annotation queued for 1 page. Skipped: {verified.original_name} (a person verified lines on it, and "
        "pre-annotation never replaces people's lines). The grid shows the new lines once it has run; reload to "
        "see them.")
    assert list(OutboxMessage.objects.filter(task_name=task_names.PREDICTION_PREANNOTATE).values_list(
        "args", flat=True)) == [[project.pk, [suggested.pk]]]


def test_upload_reports_each_file(page, review_project, log_in, screenshot):
    project, _ = review_project(pages=1)
    log_in(page, manager_of(project))
    pairs = pair_layouts_with_images(CREMMA)
    xml, image = pairs[1]  # not in the project yet
    zipped_xml, zipped_image = pairs[2]
    export = io.BytesIO()
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr(f"Document/{zipped_xml.name}", zipped_xml.read_bytes())
        archive.writestr(f"Document/{zipped_image.name}", zipped_image.read_bytes())
    scans = io.BytesIO()
    with zipfile.ZipFile(scans, "w") as archive:  # images only: they become pages without lines
        archive.writestr("scans/extra.jpg", pairs[3][1].read_bytes())

    page.goto(f"/projects/{project.pk}/upload/")
    page.get_by_label("choose files").set_input_files(files=[
        {"name": xml.name, "mimeType": "application/xml", "buffer": xml.read_bytes()},
        {"name": image.name, "mimeType": "image/jpeg", "buffer": image.read_bytes()},
        {"name": "export.zip", "mimeType": "application/zip", "buffer": export.getvalue()},
        {"name": "scans.zip", "mimeType": "application/zip", "buffer": scans.getvalue()},
        {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"not really a jpeg"},
    ])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_have_text("Done; 1 of 4 uploads refused (see below).", timeout=60_000)
    uploads = page.locator("#uploads > li")
    expect(uploads).to_have_count(4)
    expect(uploads.nth(0).locator("progress")).to_have_attribute("value", "100")
    expect(uploads.nth(0).locator("tbody")).to_contain_text(xml.name)
    expect(uploads.nth(0).locator("td.status-created")).to_have_count(1)
    expect(uploads.nth(1)).to_contain_text("Import: export.zip")
    expect(uploads.nth(1).locator("td.status-created")).to_contain_text(["created"])
    expect(uploads.nth(2)).to_contain_text("Upload: scans.zip")
    expect(uploads.nth(2)).to_contain_text("Stored 1 page.")
    expect(uploads.nth(3).locator(".outcome")).to_contain_text(re.compile(r"^Refused: .+"))
    assert_accessible(page)
    screenshot(page, "upload-report")

    stored = {item.original_name.rsplit("/", 1)[-1]: item for item in Page.objects.filter(project=project)}
    assert len(stored) == 4 and "broken.jpg" not in stored
    assert stored[image.name].lines.count() > 0 and stored[zipped_image.name].lines.count() > 0
    assert stored["extra.jpg"].status == PageStatus.NEW and stored["extra.jpg"].split in Split.values
