"""The page editor in a real browser on a real CREMMA page: zoom, resize a box by its handle, draw a line and
type its text, edit text in place, undo, delete, reading order, the next page, and a stale edit that shows
the other person's version instead of overwriting it."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from django.urls import reverse
from rest_framework.test import APIClient

from tests.e2e.factories import add_member
from tests.workers.factories import cremma_project, manager_of
from webapp.corpus.models import Line, LineRevision, Page, RevisionAction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _patient_expect():
    """Each edit waits for the API's answer; on a machine busy with training that can take more than the
    default 5 s, so these checks wait as long as the page fixture's actions do."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def project(media_root):
    """Two real CREMMA pages with their verified lines, imported through the layout import service."""
    return cremma_project(name="editor", pages=2, val_pages=0)


def serious_violations(page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in violations if v["impact"] in ("serious", "critical")]


def editor_url(page_row: Page) -> str:
    # reverse() loads the URLconf (and every view module) in this process, which the live server shares, so
    # its first request does not spend the navigation timeout importing them on a busy machine.
    return reverse("review:page", args=[page_row.project_id, page_row.pk])


def stored(line_id: int) -> Line:
    return Line.objects.get(pk=line_id)


def drag(page, start: tuple[float, float], by: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + by[0] / 2, start[1] + by[1] / 2, steps=3)
    page.mouse.move(start[0] + by[0], start[1] + by[1], steps=3)
    page.mouse.up()


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_edit_a_page_box_by_box(page, project, log_in, screenshot):
    errors: list[str] = []
    first_page, second_page = Page.objects.filter(project=project).order_by("id")
    lines = list(Line.objects.filter(page=first_page).order_by("order", "id"))
    one, two, three = lines[0], lines[1], lines[2]
    log_in(page, manager_of(project))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(editor_url(first_page))
    expect(page.locator("rect.box")).to_have_count(len(lines))
    announcer = page.locator("#page-announcer")

    # Select the first line and zoom onto it: with the buttons, then with the wheel.
    page.locator(f"rect.box[data-line='{one.pk}']").click()
    expect(page.locator(f"#text-{one.pk}")).to_be_focused()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#zoom-level")).to_have_text("150 %")
    page.mouse.move(*centre(page.locator(f"rect.box[data-line='{one.pk}']")))
    page.mouse.wheel(0, -100)
    expect(page.locator("#zoom-level")).to_have_text("188 %")
    assert float(page.locator("#editor-svg").get_attribute("viewBox").split()[2]) < first_page.width / 1.8

    # Drag the box's right edge 60 screen pixels to the left: PostgreSQL holds the new box, the rest is as it was.
    scale = page.evaluate("() => document.getElementById('editor-svg').getScreenCTM().a")
    drag(page, centre(page.locator(".handle-e")), (-60, 0))
    expect(announcer).to_have_text("Line 1: box saved.")
    resized = stored(one.pk)
    assert (resized.x0, resized.y0, resized.y1) == (one.x0, one.y0, one.y1)
    assert abs(resized.x1 - (one.x1 - 60 / scale)) <= 2, (resized.x1, one.x1, scale)
    assert resized.version == one.version + 1
    assert page.locator(f"rect.box[data-line='{one.pk}']").get_attribute("width") == str(resized.x1 - resized.x0)

    # Draw a new line's box and type its text.
    page.get_by_role("button", name="Fit page").click()
    expect(page.locator("#zoom-level")).to_have_text("100 %")
    page.get_by_role("button", name="Draw a line").click()
    expect(page.get_by_role("button", name="Draw a line")).to_have_attribute("aria-pressed", "true")
    page.locator("#editor-svg").scroll_into_view_if_needed()
    image = page.locator("#editor-svg image").bounding_box()
    drag(page, (image["x"] + image["width"] * 0.2, image["y"] + 40), (150, 25))
    expect(page.locator("rect.box")).to_have_count(len(lines) + 1)
    expect(announcer).to_contain_text("added")
    new = Line.objects.filter(page=first_page).order_by("-id").first()
    assert new.pk not in {line.pk for line in lines} and new.text == "" and new.x1 - new.x0 > 20
    expect(page.locator(f"#text-{new.pk}")).to_be_focused()
    page.keyboard.type("Ajouté au crayon")
    page.keyboard.press("Enter")
    expect(announcer).to_have_text(f"Line {len(lines) + 1}: text saved.")
    assert stored(new.pk).text == "Ajouté au crayon" and stored(new.pk).verified_by == manager_of(project)

    # Edit a text in place, then undo it: the line is back to its text, through one more versioned write.
    field = page.locator(f"#text-{two.pk}")
    field.fill("corrigé dans la page")
    field.press("Enter")
    expect(announcer).to_have_text("Line 2: text saved.")
    assert stored(two.pk).text == "corrigé dans la page"
    page.get_by_role("button", name=re.compile("^Undo: text of Line 2")).click()
    expect(announcer).to_have_text("Undone: text of Line 2.")
    expect(field).to_have_value(two.text)
    assert (stored(two.pk).text, stored(two.pk).version) == (two.text, two.version + 2)

    # Delete a line: gone from the page, its history kept.
    page.locator(f"#line-{three.pk}").get_by_role("button", name="Delete").click()
    expect(page.locator(f"rect.box[data-line='{three.pk}']")).to_have_count(0)
    assert not Line.objects.filter(pk=three.pk).exists()
    assert LineRevision.objects.filter(line_ref=three.pk).last().action == RevisionAction.DELETE

    # Reading order: the first line moves down one place.
    page.get_by_role("button", name="Move Line 1 down").click()
    # Closing the deleted line's gap renumbers the lines after it: one transaction of some twenty writes.
    expect(announcer).to_contain_text("Line 1 is now line 2", timeout=40_000)
    order = list(Line.objects.filter(page=first_page).order_by("order", "id").values_list("id", flat=True))
    assert order[:2] == [two.pk, one.pk]
    expect(page.locator("#line-list > li").first).to_have_id(f"line-{two.pk}")

    assert serious_violations(page) == []
    screenshot(page, "page-editor", full_page=False)

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(rf"/pages/{second_page.pk}/$"))
    expect(page.locator("rect.box")).to_have_count(Line.objects.filter(page=second_page).count())
    expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    assert errors == []


def test_a_stale_edit_shows_the_other_version_and_overwrites_nothing(page, project, log_in, screenshot):
    first_page = Page.objects.filter(project=project).order_by("id").first()
    line = Line.objects.filter(page=first_page).order_by("order", "id").first()
    log_in(page, manager_of(project))
    page.goto(editor_url(first_page))
    field = page.locator(f"#text-{line.pk}")
    expect(field).to_have_value(line.text)

    # A colleague changes the line through the API behind the browser's back.
    api = APIClient()
    api.force_authenticate(add_member(project, "colleague", "annotator"))
    assert api.patch(f"/api/projects/{project.pk}/lines/{line.pk}/", {"version": line.version,
                     "text": "changé ailleurs"}, format="json").status_code == 200

    field.fill("ma version")
    field.press("Enter")
    conflict = page.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(page.locator("#conflict-theirs")).to_contain_text("changé ailleurs")
    expect(page.locator("#conflict-theirs")).to_contain_text("by colleague")
    expect(page.locator("#conflict-mine")).to_contain_text("ma version")
    expect(field).to_have_value("changé ailleurs")
    assert (stored(line.pk).text, stored(line.pk).version) == ("changé ailleurs", line.version + 1)
    assert serious_violations(page) == []
    screenshot(page, "page-conflict", full_page=False)

    # Only when the person chooses to does their edit go on top of the other version.
    page.get_by_role("button", name="Apply my edit to their version").click()
    expect(conflict).to_be_hidden()
    expect(field).to_have_value("ma version")
    assert (stored(line.pk).text, stored(line.pk).version) == ("ma version", line.version + 2)
