"""The review UI in a real browser: login, the keyboard-only queue, undo, conflicts, not a text line, isolation,
escaping."""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect
from rest_framework.test import APIClient

from tests.e2e.factories import add_member
from tests.workers.factories import cremma_project, manager_of
from webapp.corpus.models import Line, LineRevision, RevisionAction
from webapp.predictions.models import FalseDetection

pytestmark = pytest.mark.django_db(transaction=True)

ACCEPTED = '.card[data-state="accepted"]'


def open_queue(page, project) -> None:
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.locator(".card").first).to_have_attribute("aria-current", "true")
    expect(page.locator(".card .line-text").first).to_be_focused()


def test_login_shows_only_the_users_projects(page, review_project):
    project, _ = review_project(name="wills")
    other = cremma_project(name="private", pages=1, val_pages=0)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(manager_of(project).username)
    page.get_by_label("Password").fill("x" * 12)  # the factory's password
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    expect(page.get_by_role("link", name="wills")).to_be_visible()
    expect(page.get_by_role("link", name="private")).to_have_count(0)

    # Another user's project is not reachable by URL, whichever page of it is asked for.
    other_line = Line.objects.filter(project=other).first()
    for path in (f"/projects/{other.pk}/", f"/projects/{other.pk}/review/", f"/projects/{other.pk}/review/lines/",
                 f"/projects/{other.pk}/lines/{other_line.pk}/crop.png", f"/projects/{other.pk}/upload/",
                 f"/projects/{other.pk}/pages/{other_line.page_id}/", f"/projects/{other.pk}/training/"):
        assert page.goto(path).status == 404, path


def test_annotators_see_no_retrain_or_upload(page, review_project, log_in):
    project, _ = review_project()
    log_in(page, add_member(project, "annotator", "annotator"))
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_role("heading", name="Progress")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Retrain"))).to_have_count(0)
    expect(page.get_by_role("link", name="Upload pages")).to_have_count(0)
    assert page.goto(f"/projects/{project.pk}/upload/").status == 403


def test_keyboard_review_with_undo_and_a_conflict(page, review_project, log_in, screenshot):
    project, queue = review_project()
    reviewer = manager_of(project)
    log_in(page, reviewer)
    open_queue(page, project)
    expect(page.locator(".card").first.locator("mark.low").first).to_be_visible()  # uncertain characters marked
    # The crops of the lines ahead are already downloaded before the reviewer reaches them.
    page.wait_for_function("() => { const crops = [...document.querySelectorAll('.card img.crop')];"
                           " return crops.length >= 10"
                           " && crops.slice(0, 10).every((c) => c.complete && c.naturalWidth > 0); }")

    # Correct three lines with the keyboard only: append a word to each, Enter accepts and moves on.
    for _ in range(3):
        page.keyboard.press("End")
        page.keyboard.type(" corrigé")
        page.keyboard.press("Enter")
    expect(page.locator(ACCEPTED)).to_have_count(3)
    for line in queue[:3]:
        stored = Line.objects.get(pk=line.pk)
        assert stored.text == line.text + " corrigé" and stored.verified_by == reviewer and stored.is_verified
        revision = LineRevision.objects.filter(line=stored).last()
        assert (revision.action, revision.old_text, revision.new_text, revision.user) == (
            RevisionAction.UPDATE, line.text, stored.text, reviewer)

    # Alt+Z undoes the last accept with a reverting revision; the line is back in the queue.
    page.keyboard.press("Alt+z")
    expect(page.locator(ACCEPTED)).to_have_count(2)
    expect(page.locator(".card .line-text").nth(2)).to_be_focused()
    expect(page.locator(".card .line-text").nth(2)).to_have_value(queue[2].text)
    undone = Line.objects.get(pk=queue[2].pk)
    assert undone.text == queue[2].text and not undone.is_verified
    assert LineRevision.objects.filter(line=undone).last().action == RevisionAction.REVERT

    # Someone edits the fourth line through the API meanwhile: accepting it shows the conflict instead.
    colleague = add_member(project, "colleague", "annotator")
    api = APIClient()
    api.force_authenticate(colleague)
    assert api.patch(f"/api/projects/{project.pk}/lines/{queue[3].pk}/",
                     {"version": queue[3].version, "text": "changed elsewhere"}, format="json").status_code == 200
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    conflicted = page.locator(".card").nth(3)
    expect(conflicted).to_have_attribute("data-state", "conflict")
    expect(conflicted).to_contain_text("changed elsewhere")
    expect(page.locator("#queue-announcer")).to_contain_text("Nothing was overwritten")
    assert Line.objects.get(pk=queue[3].pk).text == "changed elsewhere"

    # Esc skips a line without writing anything; Up goes back to it.
    page.keyboard.press("Escape")
    expect(page.locator(".card").nth(4)).to_have_attribute("data-state", "skipped")
    expect(page.locator(".card .line-text").nth(5)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.locator(".card .line-text").nth(4)).to_be_focused()
    assert Line.objects.get(pk=queue[4].pk).version == queue[4].version
    screenshot(page, "review-queue")


def test_an_empty_box_is_never_accepted_and_not_a_text_line_removes_it(page, review_project, log_in):
    project, queue = review_project()
    stamp, signature, line = queue[0], queue[1], queue[2]
    Line.objects.filter(pk__in=[stamp.pk, signature.pk]).update(text="", char_confidences=[])
    reviewer = manager_of(project)
    log_in(page, reviewer)
    open_queue(page, project)
    card = page.locator(f'.card[data-line="{stamp.pk}"]')
    expect(card.locator(".line-text")).to_have_value("")

    # Enter on an empty box: the server refuses to verify it, and the card says why and stays.
    page.keyboard.press("Enter")
    expect(card).to_have_attribute("data-state", "error")
    expect(card).to_contain_text("A line cannot be verified with empty text")
    expect(card).to_contain_text("mark it as not a text line")
    expect(card.locator(".line-text")).to_be_focused()
    assert not Line.objects.get(pk=stamp.pk).is_verified

    # Alt+N: the line and its history go, the box is kept as a false detection, the next line is up.
    page.keyboard.press("Alt+n")
    expect(card).to_have_count(0)
    expect(page.locator(f'.card[data-line="{signature.pk}"] .line-text')).to_be_focused()
    expect(page.locator("#discarded-count")).to_have_text("1")
    expect(page.locator("#queue-announcer")).to_contain_text("not a text line")
    assert not Line.objects.filter(pk=stamp.pk).exists()
    assert not LineRevision.objects.filter(line_ref=stamp.pk).exists()
    detection = FalseDetection.objects.get(line_ref=stamp.pk)
    assert (detection.user, detection.bbox, detection.page_id) == (reviewer, stamp.bbox, stamp.page_id)

    # The card's button does the same.
    page.locator(f'.card[data-line="{signature.pk}"]').get_by_role("button", name="Not a text line").click()
    expect(page.locator(f'.card[data-line="{signature.pk}"]')).to_have_count(0)
    expect(page.locator(f'.card[data-line="{line.pk}"] .line-text')).to_be_focused()
    assert FalseDetection.objects.filter(line_ref__in=[stamp.pk, signature.pk]).count() == 2

    # A line with text is still accepted with Enter.
    page.keyboard.press("Enter")
    expect(page.locator(ACCEPTED)).to_have_count(1)
    assert Line.objects.get(pk=line.pk).is_verified


def test_line_text_with_markup_is_shown_as_text(page, review_project, log_in, dialogs):
    project, queue = review_project()
    hostile = ['<script>alert("script ran")</script>', '<img src=x onerror="alert(\'onerror ran\')">']
    for line, text in zip(queue, hostile):
        Line.objects.filter(pk=line.pk).update(text=text, char_confidences=None)
    log_in(page, manager_of(project))

    open_queue(page, project)
    for index, text in enumerate(hostile):
        card = page.locator(".card").nth(index)
        expect(card.locator(".line-text")).to_have_value(text)
        expect(card.locator(".suggestion")).to_have_text(text)
    page.goto(f"/projects/{project.pk}/?q=onerror")
    expect(page.locator(".hits")).to_contain_text(hostile[1])
    page.goto(f"/projects/{project.pk}/pages/{queue[0].page_id}/")
    expect(page.locator(f"#text-{queue[0].pk}")).to_have_value(hostile[0])
    assert page.locator(".page-lines img, .hits img, .card img:not(.crop)").count() == 0
    assert dialogs == []


def test_review_throughput(page, review_project, log_in, record_figure):
    """Lines accepted per minute by a reviewer who never waits: Enter as fast as Playwright can press it."""
    project, queue = review_project(pages=6)
    lines = min(40, len(queue))
    log_in(page, manager_of(project))
    open_queue(page, project)
    started = time.perf_counter()
    for _ in range(lines):
        page.keyboard.press("Enter")
    expect(page.locator(ACCEPTED)).to_have_count(lines, timeout=60_000)
    elapsed = time.perf_counter() - started
    per_minute = lines / elapsed * 60
    record_figure("review_throughput", per_minute, f"lines/min ({lines} lines accepted with Enter only)")
    assert Line.objects.filter(pk__in=[line.pk for line in queue[:lines]], verified_at__isnull=False).count() == lines
    assert per_minute > 60, "the queue did not keep up with a fast reviewer"


def test_page_view_click_a_box_to_edit_its_line(page, review_project, log_in, screenshot):
    project, queue = review_project()
    line = queue[0]
    log_in(page, manager_of(project))
    page.goto(f"/projects/{project.pk}/pages/{line.page_id}/")
    expect(page.locator("rect.box.model")).to_have_count(Line.objects.filter(page_id=line.page_id).count())
    page.locator(f"rect.box[data-line='{line.pk}']").click()
    field = page.locator(f"#text-{line.pk}")
    expect(field).to_be_focused()
    field.fill("fixed on the page")
    page.keyboard.press("Enter")
    expect(page.locator("#page-announcer")).to_contain_text("saved")
    expect(page.locator(f"rect.box[data-line='{line.pk}']")).to_have_class(re.compile(r"\bhuman\b"))
    stored = Line.objects.get(pk=line.pk)
    assert stored.text == "fixed on the page" and stored.is_verified
    screenshot(page, "page-view", full_page=False)


def test_upload_explains_a_refusal_and_stores_an_image(page, review_project, log_in):
    project, _ = review_project()
    log_in(page, manager_of(project))
    page.goto(f"/projects/{project.pk}/upload/")
    page.get_by_label("choose files").set_input_files(
        files=[{"name": "scan.jpg", "mimeType": "image/jpeg", "buffer": b"not really a jpeg"}])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#uploads .outcome")).to_contain_text(re.compile(r"Refused: .+"))
    before = project.pages.count()

    png = io.BytesIO()
    Image.new("L", (400, 300), 255).save(png, format="PNG")
    page.get_by_label("choose files").set_input_files(
        files=[{"name": "blank.png", "mimeType": "image/png", "buffer": png.getvalue()}])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#uploads .outcome").nth(1)).to_have_text("Stored 1 page.")
    assert project.pages.count() == before + 1
