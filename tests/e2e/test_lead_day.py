"""A project lead's whole day in a real browser, in the order it is lived and through the UI only: log in, create a
project, hold out a will for validation, invite an annotator, import a folder of ALTO pages, the page grid, fix a
box in the editor, a training run on the real workers to its verdict in words, a roll back, search, the ALTO
export; then the annotator's own login, and what their role keeps from them.

Before the walk only the two accounts exist; everything else is made by clicking. What the pages show is checked
against PostgreSQL. Each step's seconds go to artifacts/lead-day-steps.json (and the output with -s)."""

from __future__ import annotations

import json
import re
import shutil
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib.postgres.search import TrigramWordSimilarity
from django.db.models import Q
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, centre, drag
from tests.e2e.factories import PASSWORD, user_with_password
from tests.workers.factories import CREMMA
from webapp.corpus.models import Line, Page, Split, split_for_group
from webapp.corpus.selectors import SEARCH_MIN_SIMILARITY
from webapp.projects.models import Membership, Project, Role
from webapp.review import views_pages
from webapp.training.models import ModelPromotion, ModelStatus, ModelVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "Yvelines wills"
# Four pages of three wills (0006 has two pages), each with enough lines that whichever will is held out for
# validation has the lines a first run needs (INKLOOP_MIN_VAL_LINES, 5 with the test workers).
PAGES = ("TestamentsDePoilus_will_AD78_0002-0", "TestamentsDePoilus_will_AD78_0003-0",
         "TestamentsDePoilus_will_AD78_0006-0", "TestamentsDePoilus_will_AD78_0006-1")
WILLS = sorted({stem.rsplit("-", 1)[0] for stem in PAGES})  # the project's default group pattern: a will a group
QUERY = "mon"
SEARCH_PAGE_SIZE = 10  # so that the hits of QUERY take more than one page of results
THUMBNAILS_LOADED = ("() => { const images = [...document.querySelectorAll('.page-card img.thumb')];"
                     " return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0); }")
ALTO_LINE = ".//{*}TextLine"


@pytest.fixture(autouse=True)
def _patient(page):
    """Room for a busy machine: each check waits on real requests. Nothing here checks timing."""
    page.set_default_timeout(45_000)
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


@pytest.fixture
def steps():
    """Seconds spent on each step of the walk, written out even when a step fails, to see where time goes."""
    started = last = time.perf_counter()
    spent: dict[str, float] = {}

    def done(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        spent[name] = round(now - last, 1)
        last = now

    yield done
    spent["total"] = round(time.perf_counter() - started, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "lead-day-steps.json").write_text(json.dumps(spent, indent=2) + "\n")
    print("\nlead's day, seconds per step: " + ", ".join(f"{name} {seconds}" for name, seconds in spent.items()))


def assert_accessible(page) -> None:
    violations = Axe().run(page).response["violations"]
    serious = [(v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3]) for v in violations
               if v["impact"] in ("serious", "critical")]
    assert serious == []


def log_in_with_the_form(page, username: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()


def held_out_percentage(project_id: int) -> tuple[int, set[str]]:
    """The lowest validation percentage that puts a will on the validation side, and the wills it puts there.
    The split is a hash of the project and the group, read here from the same function the import uses."""
    for percent in range(1, 101):
        held = {will for will in WILLS if split_for_group(project_id=project_id, group=will, val_percent=percent,
                                                           test_percent=0) == Split.VAL}
        if held:
            assert len(held) < len(WILLS), "every will hashed alike: nothing would be left to train on"
            return percent, held
    raise AssertionError("no percentage holds out a will")


def a_folder_of_pages(folder: Path) -> list[Path]:
    """The pages' ALTO files and images, copied as a lead would have them in a folder of an export."""
    folder.mkdir()
    for stem in PAGES:
        for suffix in (".xml", ".jpg"):
            shutil.copy(CREMMA / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    return sorted(folder.iterdir())


def alto_lines(xml: bytes) -> list[ElementTree.Element]:
    return ElementTree.fromstring(xml).findall(ALTO_LINE)


def promote_on_the_models_page(page, label: str, *, objection: str | None) -> None:
    """Click "Promote <label>"; when the recorded figures object, the page shows the API's reason and asks first."""
    page.get_by_role("button", name=f"Promote {label}").click()
    if objection:
        dialog = page.get_by_role("dialog", name="Promote a model that did not win?")
        expect(dialog).to_contain_text(objection)
        dialog.get_by_role("button", name="Promote anyway").click()
    expect(page.locator("#models-announcer")).to_have_text(
        f"{label} is now the promoted model{' (recorded as forced)' if objection else ''}.")
    expect(page.locator(f'tr[data-version="{label}"]')).to_have_attribute("data-status", "promoted")


def cer_words(value: float) -> str:
    return f"{value * 100:.1f} %"


def test_a_project_leads_day(workers, page, screenshot, steps, tmp_path, monkeypatch):
    user_with_password("lead")
    annotator = user_with_password("ann")
    monkeypatch.setattr(views_pages, "SEARCH_PAGE_SIZE", SEARCH_PAGE_SIZE)

    # Morning: the login form, then a project of one's own, starting from the shipped base models.
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert_accessible(page)  # the login page: no other browser test checks it
    screenshot(page, "day-login")
    log_in_with_the_form(page, "lead")
    expect(page.locator(".empty-state")).to_contain_text("You are not in any project yet")
    steps("log in")
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name").fill(NAME)
    page.get_by_label("Description (optional)").fill("Soldiers' wills, 1914–1918")
    expect(page.get_by_label("Start from the shipped base models")).to_be_checked()
    screenshot(page, "day-project-new")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.locator(".messages")).to_contain_text(f"Project “{NAME}” created. You are its manager.")
    expect(page.locator("#next-step")).to_have_text("Next: Upload pages: the project has none yet.")
    project = Project.objects.get()
    lead = Membership.objects.get(project=project, role=Role.MANAGER).user
    assert lead.username == "lead"
    base = ModelVersion.objects.get(project=project, kind="recognizer")
    assert (base.label, base.source, base.status) == ("recognizer-v1", "base", ModelStatus.PROMOTED)
    steps("create the project")

    # One will is held out to judge models on: the validation percentage that puts it, and no other, there.
    percent, held_out = held_out_percentage(project.pk)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Validation pages (%)").fill(str(percent))
    page.get_by_label("Test pages (%)").fill("0")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Settings saved.")
    project.refresh_from_db()
    assert (project.val_percent, project.test_percent) == (percent, 0)
    screenshot(page, "day-settings")

    # An annotator is invited; the answer is the same whether or not the account exists.
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Username or email").fill("ann")
    page.get_by_label("Role", exact=True).select_option("annotator")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_contain_text(
        "Invitation recorded for username “ann” as annotator: whoever has that username joins the project when "
        "they next log in.")
    expect(page.locator(".invitations li")).to_have_count(1)
    assert not Membership.objects.filter(project=project, user=annotator).exists()  # not before they log in
    screenshot(page, "day-members")
    steps("settings, invite")

    # A folder of ALTO pages with their images, chosen in the upload screen: one import, a report per file.
    files = a_folder_of_pages(tmp_path / "wills")
    expected_lines = {stem: len(alto_lines((CREMMA / f"{stem}.xml").read_bytes())) for stem in PAGES}
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Upload pages").click()
    page.get_by_label("choose files").set_input_files(files)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_have_text("Done: 1 upload stored.", timeout=90_000)
    upload = page.locator("#uploads > li")
    expect(upload).to_have_count(1)
    expect(upload.locator(".outcome")).to_have_text(
        f"{len(PAGES)} pages created with {sum(expected_lines.values())} lines.")
    expect(upload.locator("tbody tr")).to_have_count(len(PAGES))  # one row per XML file; the images are theirs
    for stem, count in expected_lines.items():
        row = upload.locator("tbody tr").filter(has_text=f"{stem}.xml")
        expect(row.locator("td.status-created")).to_have_text("created")
        expect(row.locator("td").nth(2)).to_have_text(str(count))
    screenshot(page, "day-upload-report")
    pages = {item.original_name.rsplit(".", 1)[0]: item for item in Page.objects.filter(project=project)}
    assert set(pages) == set(PAGES)
    for stem, item in pages.items():
        assert item.lines.count() == item.lines.filter(verified_at__isnull=False).count() == expected_lines[stem]
        assert item.split == (Split.VAL if item.group in held_out else Split.TRAIN), (stem, item.group, item.split)
    steps("import a folder")

    # The grid: every page with its thumbnail, verified, on its side of the split.
    page.get_by_role("link", name="Page grid").click()
    expect(page.locator("#grid-count")).to_have_text(f"{len(PAGES)} pages, 1–{len(PAGES)} shown.")
    page.wait_for_function(THUMBNAILS_LOADED)
    expect(page.locator(".page-card .badge.status-done")).to_have_count(len(PAGES))
    held_out_pages = sum(item.split == Split.VAL for item in pages.values())
    expect(page.locator(".page-card .badge", has_text=re.compile("^Validation$"))).to_have_count(held_out_pages)
    screenshot(page, "day-grid", full_page=False)
    steps("grid")

    # A page: its first line's box reaches too far right; dragging its right handle fixes it.
    fixed_page = pages[PAGES[0]]
    line = Line.objects.filter(page=fixed_page).order_by("order", "id").first()
    page.locator(f".page-card[data-page='{fixed_page.pk}'] a").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/pages/{fixed_page.pk}/$"))
    expect(page.locator("rect.box")).to_have_count(expected_lines[PAGES[0]])
    box = page.locator(f"rect.box[data-line='{line.pk}']")
    box.click()
    expect(page.locator(f"#text-{line.pk}")).to_be_focused()
    scale = page.evaluate("() => document.getElementById('editor-svg').getScreenCTM().a")
    drag(page, centre(page.locator(".handle-e")), (-40, 0))
    expect(page.locator("#page-announcer")).to_have_text("Line 1: box saved.")
    fixed = Line.objects.get(pk=line.pk)
    assert (fixed.x0, fixed.y0, fixed.y1, fixed.version) == (line.x0, line.y0, line.y1, line.version + 1)
    assert fixed.x1 < line.x1 and abs(fixed.x1 - (line.x1 - 40 / scale)) <= 2, (fixed.x1, line.x1, scale)
    expect(box).to_have_attribute("width", str(fixed.x1 - fixed.x0))
    page.evaluate("() => window.scrollTo(0, 0)")  # the toolbar and the answer above the fixed box
    screenshot(page, "day-editor", full_page=False)
    steps("fix a box")

    # Training from the dashboard, on the real workers; the run's page follows it to its verdict in words.
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("button", name="Retrain now: recognizer").click()
    # The run's row appears in place (what the announcer says meanwhile depends on how fast the worker is).
    run_link = page.locator("tr[data-kind='recognizer']").get_by_role("link")
    expect(run_link).to_be_visible()
    run = TrainingRun.objects.get(project=project)
    run_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Line recognizer training run #{run.pk}")
    outcome = page.locator(".run-outcome")
    expect(outcome).to_have_text(re.compile(r"^(Promoted|Rejected): val CER "), timeout=240_000)
    steps("train")
    run.refresh_from_db()
    trained = run.model_version
    assert (run.status, run.parent, trained.label) == (RunStatus.SUCCEEDED, base, "recognizer-v2")
    mine, theirs = trained.metrics["validation"]["cer"], trained.metrics["baseline"]["cer"]
    margin = project.promotion_margin
    # The one rule of promotion, checked on the judge's own figures: lower validation CER by the margin.
    assert run.promoted == (mine < theirs - margin), (mine, theirs, run.verdict)
    assert run.verdict.startswith(f"{'promoted' if run.promoted else 'rejected'}: val CER {mine:.3f} vs "
                                  f"{theirs:.3f} of recognizer-v1")
    words = f"val CER {cer_words(mine)} vs {cer_words(theirs)} of recognizer-v1"
    expect(outcome).to_have_text(f"Promoted: {words}" if run.promoted
                                 else f"Rejected: {words} (it must be lower by {margin * 100:g} points)")
    expect(page.locator("#run-announcer")).to_have_text(outcome.inner_text())
    screenshot(page, "day-run")

    # The dashboard says the same (its table of runs and versions: no other test checks it for accessibility).
    page.goto(f"/projects/{project.pk}/")
    run_row = page.locator(f'tr[data-run="{run.pk}"]')
    expect(run_row.locator(".run-status")).to_have_text("Promoted" if run.promoted else "Rejected")
    expect(run_row.locator(".run-result")).to_contain_text("promoted: " if run.promoted else "rejected: ")
    assert_accessible(page)
    screenshot(page, "day-dashboard")

    # Roll back on the models page. A model that lost is promoted only after the page shows why and asks.
    page.get_by_role("link", name=re.compile("^Every model version")).click()
    expect(page.locator('tr[data-version="recognizer-v2"] .verdict')).to_have_text(
        f"beat recognizer-v1: val CER {cer_words(mine)} vs {cer_words(theirs)}" if run.promoted
        else f"rejected: {words}")
    if not run.promoted:
        # The lead tries the model that lost anyway, then rolls back from it.
        promote_on_the_models_page(page, "recognizer-v2", objection=f"recognizer-v2 did not beat recognizer-v1: "
                                                                    f"val CER {mine:.3f} vs {theirs:.3f}")
    base_won = theirs < mine - margin
    promote_on_the_models_page(page, "recognizer-v1", objection=None if base_won else (
        f"recognizer-v1 did not beat recognizer-v2: val CER {theirs:.3f} vs {mine:.3f}"))
    promotion = ModelPromotion.objects.filter(version=base).order_by("-created_at").first()
    assert (promotion.via, promotion.promoted_by, promotion.forced, promotion.replaced) == (
        "manual", lead, not base_won, trained)
    assert ModelVersion.objects.get(pk=base.pk).status == ModelStatus.PROMOTED
    assert ModelVersion.objects.get(pk=trained.pk).status != ModelStatus.PROMOTED
    # The curve, like the verdict, still shows what the judgement said of recognizer-v2, whatever became of it.
    expect(page.locator('svg[data-axis="lines"] circle[data-label="recognizer-v2"]')).to_have_attribute(
        "class", "point ready" if run.promoted else "point rejected")
    screenshot(page, "day-models")
    steps("verdict, roll back")

    # Search from the dashboard: the count is the true count, over every page of results, and a hit leads to
    # its line on its page.
    matching = set(Line.objects.filter(project=project).annotate(similarity=TrigramWordSimilarity(QUERY, "text"))
                   .filter(Q(text__icontains=QUERY) | Q(similarity__gte=SEARCH_MIN_SIMILARITY))
                   .values_list("pk", flat=True))
    assert len(matching) > SEARCH_PAGE_SIZE
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("searchbox", name="Text").fill(QUERY)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-count")).to_have_text(
        f"{len(matching)} lines found; 1–{SEARCH_PAGE_SIZE} shown.")
    screenshot(page, "day-search")
    first_hit = page.locator(".hits a").first.get_attribute("href")
    shown = [link.get_attribute("href") for link in page.locator(".hits a").all()]
    for start in range(SEARCH_PAGE_SIZE + 1, len(matching) + 1, SEARCH_PAGE_SIZE):
        page.get_by_role("link", name="Next", exact=True).click()
        end = min(start + SEARCH_PAGE_SIZE - 1, len(matching))
        expect(page.locator("#search-count")).to_have_text(f"{len(matching)} lines found; {start}–{end} shown.")
        shown += [link.get_attribute("href") for link in page.locator(".hits a").all()]
    expect(page.get_by_role("link", name="Next", exact=True)).to_have_count(0)
    hits = {int(href.rsplit("#line-", 1)[1]): href for href in shown}
    assert len(shown) == len(hits) and set(hits) == matching
    hit = Line.objects.get(pk=int(first_hit.rsplit("#line-", 1)[1]))
    assert first_hit == f"/projects/{project.pk}/pages/{hit.page_id}/#line-{hit.pk}"
    page.goto(first_hit)
    expect(page.locator(f"#line-{hit.pk}")).to_be_visible()
    expect(page.locator(f"#text-{hit.pk}")).to_have_value(hit.text)
    steps("search")

    # The whole project's ALTO, downloaded by the browser: the fixed box is there with its new coordinates.
    page.goto(f"/projects/{project.pk}/pages/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export ALTO (whole project)").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert sorted(name for name in archive.namelist() if name.endswith(".xml")) == sorted(
            f"{stem}.xml" for stem in PAGES)
        exported = {element.get("ID"): element for element in alto_lines(archive.read(f"{PAGES[0]}.xml"))}
    assert len(exported) == expected_lines[PAGES[0]]
    box_attributes = tuple(int(exported[f"line_{line.pk}"].get(name)) for name in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    assert box_attributes == (fixed.x0, fixed.y0, fixed.x1 - fixed.x0, fixed.y1 - fixed.y0)
    steps("export")

    # Evening: the annotator logs in; the invitation is fulfilled then, and the role shows in what they get.
    page.get_by_role("button", name="Log out").click()
    log_in_with_the_form(page, "ann")
    assert Membership.objects.get(project=project, user=annotator).role == Role.ANNOTATOR
    card = page.locator(".cards li", has_text=NAME)
    expect(card).to_contain_text(f"{len(PAGES)} pages · annotator")
    assert_accessible(page)  # a list of projects: the other tests check only the empty one
    screenshot(page, "day-annotator-projects")
    card.get_by_role("link", name=NAME).click()
    expect(page.get_by_role("link", name=re.compile(r"^Review lines"))).to_be_visible()
    for control in ("Upload pages", "Settings"):
        expect(page.get_by_role("link", name=control)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Retrain|Cancel)"))).to_have_count(0)
    screenshot(page, "day-annotator-dashboard")
    page.goto(f"/projects/{project.pk}/models/")
    expect(page.locator('tr[data-version="recognizer-v1"]')).to_have_attribute("data-status", "promoted")
    expect(page.get_by_role("button", name=re.compile("^Promote"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Download"))).to_have_count(0)
    page.goto(f"/projects/{project.pk}/pages/")
    expect(page.locator(".page-card")).to_have_count(len(PAGES))
    expect(page.get_by_role("link", name=re.compile("^(Export|Upload)"))).to_have_count(0)
    expect(page.locator(".page-card input.pick")).to_have_count(0)
    page.goto(f"/projects/{project.pk}/members/")
    expect(page.get_by_role("button", name="Invite")).to_have_count(0)
    for path in (f"/projects/{project.pk}/settings/", f"/projects/{project.pk}/upload/",
                 f"/api/projects/{project.pk}/export/?format=alto", f"/api/projects/{project.pk}/invitations/"):
        assert page.goto(path).status == 403, path  # a member: refused for the role, not hidden
    # With the session and its CSRF token, as the models page would send it: refused for the role.
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == settings.CSRF_COOKIE_NAME)
    refused = page.request.post(f"/api/projects/{project.pk}/models/{trained.pk}/promote/", data={"force": True},
                                headers={"X-CSRFToken": token, "Referer": page.url})
    assert refused.status == 403 and "needs the manager role" in refused.json()["detail"]
    assert ModelVersion.objects.get(pk=base.pk).status == ModelStatus.PROMOTED
    steps("the annotator")
