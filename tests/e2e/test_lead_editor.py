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

from tests.browser import centre, drag
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
    # Its outline and baseline came along: scaled into the new box, none of their points outside it.
    assert len(resized.polygon) == len(one.polygon) and len(resized.baseline) == len(one.baseline)
    assert all(resized.x0 - 1 <= x <= resized.x1 + 1 for x, _ in resized.polygon), (resized.polygon, resized.bbox)
    assert max(x for x, _ in resized.polygon) >= resized.x1 - 2
    assert max(x for x, _ in resized.baseline) < max(x for x, _ in one.baseline)

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


def shape(line: Line) -> tuple:
    return line.bbox, line.text, line.polygon, line.baseline


def on_screen(page, a: list[int], b: list[int], along: float) -> tuple[float, float]:
    """Where the page point `along` the way from `a` to `b` is on the screen (a thin segment has no box to click)."""
    x, y = a[0] + (b[0] - a[0]) * along, a[1] + (b[1] - a[1]) * along
    return tuple(page.evaluate("([x, y]) => { const svg = document.getElementById('editor-svg');"
                               " const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());"
                               " return [p.x, p.y]; }", [x, y]))


def test_points_merges_and_splits_are_edited_and_undone_through_the_versioned_api(page, project, log_in):
    first_page = Page.objects.filter(project=project).order_by("id").first()
    one, two, three = Line.objects.filter(page=first_page).order_by("order", "id")[:3]
    # A plain quadrilateral inside the first line's box, and a baseline of two points: each point is known.
    x0, y0, x1, y1 = one.bbox
    quad = [[x0 + 10, y0 + 4], [x1 - 10, y0 + 4], [x1 - 10, y1 - 4], [x0 + 10, y1 - 4]]
    Line.objects.filter(pk=one.pk).update(polygon=quad, baseline=[[x0 + 10, y1 - 8], [x1 - 10, y1 - 8]])
    one.refresh_from_db()
    log_in(page, manager_of(project))
    page.goto(editor_url(first_page))
    announcer = page.locator("#page-announcer")
    svg = page.locator("#editor-svg")

    page.locator(f"rect.box[data-line='{one.pk}']").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("circle.point.polygon")).to_have_count(4)

    # Double-click the polygon's top edge a third of the way along: a point there, in one versioned PATCH.
    page.mouse.dblclick(*on_screen(page, quad[0], quad[1], 1 / 3))
    expect(announcer).to_have_text("Line 1: new polygon point saved.")
    added = stored(one.pk)
    assert len(added.polygon) == 5 and added.polygon[0] == quad[0] and added.polygon[2:] == quad[1:]
    assert abs(added.polygon[1][1] - quad[0][1]) <= 1 and quad[0][0] < added.polygon[1][0] < quad[1][0]
    assert added.version == one.version + 1

    # Alt-click a corner: it goes. A baseline of two points keeps them, and says so.
    page.locator("circle.point.polygon[data-index='0']").click(modifiers=["Alt"])
    expect(announcer).to_have_text("Line 1: removal of a polygon point saved.")
    assert stored(one.pk).polygon == added.polygon[1:]
    page.locator("circle.point.baseline[data-index='1']").dblclick()
    expect(announcer).to_have_text("Line 1: a baseline keeps at least 2 points; drag this one instead.")
    page.mouse.dblclick(*on_screen(page, *stored(one.pk).baseline, 1 / 3))
    expect(announcer).to_have_text("Line 1: new baseline point saved.")
    assert len(stored(one.pk).baseline) == 3 and stored(one.pk).version == one.version + 3

    # Undo from the keyboard, one edit at a time, each a new versioned write.
    svg.focus()
    for undone in ("new baseline point", "removal of a polygon point", "new polygon point"):
        page.keyboard.press("Control+z")
        expect(announcer).to_have_text(f"Undone: {undone} of Line 1.")
    assert shape(stored(one.pk)) == shape(one) and stored(one.pk).version == one.version + 6

    # A merge, undone: the first line's own box, text, polygon and baseline, and the second line again, in place.
    page.locator(f"#line-{two.pk}").get_by_role("button", name="Merge with next").click()
    expect(announcer).to_have_text("Lines 2 and 3 merged into line 2.")
    assert not Line.objects.filter(pk=three.pk).exists() and stored(two.pk).text == f"{two.text} {three.text}"
    svg.focus()
    page.keyboard.press("Control+z")
    expect(announcer).to_have_text("Undone: merge of Lines 2 and 3.", timeout=40_000)
    order = list(Line.objects.filter(page=first_page).order_by("order", "id"))
    assert [line.pk for line in order[:2]] == [one.pk, two.pk]
    assert shape(order[1]) == shape(two) and shape(order[2]) == shape(three)
    three = order[2]

    # A split at the text cursor, undone: the parts merged back, and the polygon the split dropped restored.
    two = stored(two.pk)
    field = page.locator(f"#text-{two.pk}")
    cut = two.text.index(" ", len(two.text) // 3)
    field.focus()
    field.evaluate("(input, at) => input.setSelectionRange(at, at)", cut)
    page.locator(f"#line-{two.pk}").get_by_role("button", name="Split at cursor").click()
    expect(announcer).to_have_text("Line 2 split in two.", timeout=40_000)
    right = Line.objects.filter(page=first_page).exclude(pk__in=[line.pk for line in order]).get()
    assert (stored(two.pk).text, right.text) == (two.text[:cut].strip(), two.text[cut:].strip())
    page.get_by_role("button", name="Undo: split of Line 2").click()
    expect(announcer).to_have_text("Undone: split of Line 2.", timeout=40_000)
    assert shape(stored(two.pk)) == shape(two) and not Line.objects.filter(pk=right.pk).exists()

    # Undoing a merge after someone else changed the line: their version is shown, nothing of theirs is lost,
    # and the undo goes on top of it only when chosen.
    page.locator(f"#line-{two.pk}").get_by_role("button", name="Merge with next").click()
    expect(announcer).to_have_text("Lines 2 and 3 merged into line 2.")
    merged = stored(two.pk)
    api = APIClient()
    api.force_authenticate(add_member(project, "colleague", "annotator"))
    assert api.patch(f"/api/projects/{project.pk}/lines/{two.pk}/", {"version": merged.version,
                     "text": "relu par un collègue"}, format="json").status_code == 200
    svg.focus()
    page.keyboard.press("Control+z")
    expect(page.locator("#conflict")).to_be_visible()
    expect(page.locator("#conflict-theirs")).to_contain_text("relu par un collègue")
    assert stored(two.pk).text == "relu par un collègue"
    assert not Line.objects.filter(page=first_page, text=three.text).exists()
    page.get_by_role("button", name="Apply my edit to their version").click()
    expect(announcer).to_have_text("Undone: merge of Lines 2 and 3.", timeout=40_000)
    order = list(Line.objects.filter(page=first_page).order_by("order", "id"))
    assert shape(order[1]) == shape(two) and shape(order[2]) == shape(three)
