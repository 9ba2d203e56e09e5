"""Label Studio in a real browser: the annotator's whole path, with inkloop on the other side.

Chromium (tests/browser.py) opens the session's real Label Studio. Task images come from
inkloop's live server, another origin, so they show only if inkloop answers Label Studio's
origin (labeling/cors.py); what the annotator submits reaches inkloop's PostgreSQL through
the webhook. Every request to anything but Label Studio and inkloop is recorded: Label
Studio's pages must not report to anyone (labeling/devserver.py turns its telemetry off).
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from PIL import Image
from playwright.sync_api import Page as Tab
from playwright.sync_api import expect

from labeling import devserver
from labeling.config import LABEL, TRANSCRIPTION
from labeling.models import LabelStudioTask
from tests.labeling.helpers import ANNOTATOR_PASSWORD, ASYNC_TIMEOUT, PAGE_SIZE, project_with_annotator
from tests.workers.cluster import wait_for
from webapp.corpus.models import Line, LineSource
from webapp.predictions.models import Prediction

pytestmark = pytest.mark.django_db(transaction=True)

W, H = PAGE_SIZE
EDITOR_IMAGE = ".lsf-image img"  # the task image in Label Studio's editor
# The editor downloads the image (a cross-origin XMLHttpRequest), then shows it; a CORS refusal leaves it empty.
IMAGE_SHOWN = f"""() => {{
  const image = document.querySelector({EDITOR_IMAGE!r});
  return image !== null && image.complete && image.naturalWidth > 0; }}"""
REGIONS = ".lsf-outliner-item"  # the editor's list of the annotation's regions
# The task list shows each task's image as a thumbnail, downloaded the same cross-origin way as the editor's.
THUMBNAIL_SHOWN = """() => [...document.querySelectorAll("img")].some(
  image => image.src.includes("/labeling/pages/") && image.complete && image.naturalWidth > 0)"""


@dataclass(frozen=True)
class Browsing:
    tab: Tab
    outside: list[str]  # every request to anything but Label Studio and inkloop


@pytest.fixture
def label_studio_tab(browser, labeling, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    ours = {urlsplit(labeling.url).netloc, urlsplit(live_server.url).netloc}
    outside: list[str] = []

    def record(request) -> None:
        address = urlsplit(request.url)
        if address.scheme in {"http", "https", "ws", "wss"} and address.netloc not in ours:
            outside.append(request.url)

    context.on("request", record)
    tab = context.new_page()
    tab.set_default_timeout(30_000)  # Label Studio's first page loads megabytes of scripts
    yield Browsing(tab=tab, outside=outside)
    context.close()


def log_in(tab: Tab, *, url: str, email: str, password: str) -> None:
    """Label Studio's own login form."""
    tab.goto(f"{url}/user/login/")
    tab.locator("#email").fill(email)
    tab.locator("#password").fill(password)
    tab.locator("button[type=submit]").click()
    expect(tab).not_to_have_url(re.compile(r"/user/login"))


def open_task(tab: Tab, *, url: str, page) -> dict:
    """The page's task in the editor, once its image is shown; returns where the image is on the screen.

    The editor draws the task more than once as it settles (the ML backend's suggestion arrives after
    the task), so the image counts as shown once it has kept its place for a moment."""
    task = LabelStudioTask.objects.get(page=page)
    tab.goto(f"{url}/projects/{task.ls_project_id}/data?task={task.ls_task_id}")
    image, boxes = tab.locator(EDITOR_IMAGE), []
    for _ in range(100):
        tab.wait_for_function(IMAGE_SHOWN)
        boxes = [*boxes[-2:], image.bounding_box()]
        if boxes[-1] is not None and boxes.count(boxes[-1]) == 3:  # the same place for half a second
            return boxes[-1]
        tab.wait_for_timeout(250)
    raise AssertionError("the task image never settled in the editor")


def on_screen(image: dict, x: float, y: float) -> tuple[float, float]:
    """Page pixel (x, y) where the editor shows it."""
    return image["x"] + x * image["width"] / W, image["y"] + y * image["height"] / H


def test_an_annotator_draws_and_types_a_line_in_label_studio_and_inkloop_stores_it(labeling, annotator,
                                                                                    label_studio_tab, screenshot):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    tab = label_studio_tab.tab
    log_in(tab, url=labeling.url, email=annotator.email, password=annotator.password)
    image = open_task(tab, url=labeling.url, page=page)

    tab.get_by_text(LABEL, exact=True).first.click()  # the box tool's label (the polygon tool's comes second)
    tab.mouse.move(*on_screen(image, 80, 120))
    tab.mouse.down()
    tab.mouse.move(*on_screen(image, 480, 180), steps=8)
    tab.mouse.up()
    expect(tab.locator(REGIONS)).to_have_count(1)
    tab.locator(f"{REGIONS}__title").first.click()  # select the new box: its transcription field appears
    tab.locator(f"[name={TRANSCRIPTION}]").fill("Je soussigné")
    tab.keyboard.press("Enter")
    screenshot(tab, "label-studio-annotation", full_page=False)
    tab.get_by_role("button", name="Submit").click()

    line = wait_for(lambda: Line.objects.filter(page=page).first(), timeout=ASYNC_TIMEOUT,
                    what="the annotated line in inkloop's database")
    assert (line.text, line.source, line.verified_by) == ("Je soussigné", LineSource.HUMAN, person)
    assert line.bbox == pytest.approx((80, 120, 480, 180), abs=3)
    assert label_studio_tab.outside == []


def test_a_pre_annotated_task_shows_the_models_lines_over_the_image(labeling, annotator, label_studio_tab,
                                                                      screenshot):
    project, _, [page] = project_with_annotator(annotator_email=annotator.email)
    label = "detector-v1+recognizer-v1"
    suggested = {"ligne zéro": (40, 40, 400, 80), "ligne un": (40, 100, 400, 140)}
    Line.objects.bulk_create([Line(page=page, project_id=page.project_id, x0=x0, y0=y0, x1=x1, y1=y1, order=order,
                                   text=text, source=LineSource.MODEL, confidence=0.7, model_version=label)
                              for order, (text, (x0, y0, x1, y1)) in enumerate(suggested.items())])
    Prediction.objects.create(page=page, model_label=label, lines_predicted=2, page_score=0.7)
    wait_for(lambda: Prediction.objects.filter(page=page, pushed_to_label_studio=True).exists(),
             timeout=ASYNC_TIMEOUT, what="the prediction pushed to Label Studio")
    tab = label_studio_tab.tab
    log_in(tab, url=labeling.url, email=annotator.email, password=annotator.password)
    image = open_task(tab, url=labeling.url, page=page)

    expect(tab.locator(REGIONS)).to_have_count(len(suggested))
    shot = Image.open(io.BytesIO(tab.screenshot(clip=image))).convert("RGB")
    scale = shot.width / image["width"]  # the device pixels per screen pixel

    def pixel(x: float, y: float) -> tuple[int, int, int]:
        return shot.getpixel((int(x * image["width"] / W * scale), int(y * image["height"] / H * scale)))

    # The page is one grey; each suggested box is drawn over it in the box tool's blue.
    for x0, y0, x1, y1 in suggested.values():
        red, _, blue = pixel((x0 + x1) / 2, (y0 + y1) / 2)
        assert blue - red > 20, "no box drawn where the model found a line"
    red, green, blue = pixel(600, 450)
    assert max(red, green, blue) - min(red, green, blue) < 8 and red > 100, "the page image is not shown"
    screenshot(tab, "label-studio-pre-annotation", full_page=False)

    for index, text in enumerate(suggested):  # the model's text goes with each box
        tab.locator(f"{REGIONS}__title").nth(index).click()
        expect(tab.get_by_text(text, exact=True).first).to_be_visible()
    assert label_studio_tab.outside == []


def test_the_task_list_shows_each_pages_thumbnail(labeling, annotator, label_studio_tab, screenshot):
    project, _, [page] = project_with_annotator(annotator_email=annotator.email)
    task = LabelStudioTask.objects.get(page=page)
    tab = label_studio_tab.tab
    log_in(tab, url=labeling.url, email=annotator.email, password=annotator.password)
    tab.goto(f"{labeling.url}/projects/{task.ls_project_id}/data")
    tab.wait_for_function(THUMBNAIL_SHOWN)
    thumbnail = tab.locator('img[src*="/labeling/pages/"]').first
    thumbnail.scroll_into_view_if_needed()  # the image column comes after Label Studio's own columns
    expect(thumbnail).to_be_visible()
    screenshot(tab, "label-studio-task-list", full_page=False)
    assert label_studio_tab.outside == []


def test_logging_in_to_label_studio_on_the_same_host_keeps_inkloop_logged_in(browser, label_studio_process,
                                                                             live_server):
    """Cookies belong to a host, whatever the port: both apps on `localhost`, as `make run` serves them."""
    inkloop = live_server.url
    label_studio = label_studio_process.url.replace("//127.0.0.1:", "//localhost:")
    assert urlsplit(inkloop).hostname == urlsplit(label_studio).hostname == "localhost"
    user = get_user_model().objects.create_user(username=f"both-{uuid.uuid4().hex[:6]}", password="x" * 12)
    email = f"{user.username}@example.org"
    devserver.sign_up(url=label_studio_process.url, admin_token=label_studio_process.api_key, email=email,
                      password=ANNOTATOR_PASSWORD)
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(30_000)

    def inkloop_log_in() -> None:
        tab.goto(f"{inkloop}/accounts/login/")
        tab.get_by_label("Username").fill(user.username)
        tab.get_by_label("Password").fill("x" * 12)
        tab.keyboard.press("Enter")
        expect(tab.get_by_role("heading", name="Your projects")).to_be_visible()

    def label_studio_logged_in() -> None:
        tab.goto(f"{label_studio}/projects/")
        expect(tab).to_have_url(re.compile(r"/projects/(\?page=\d+)?$"))  # not sent to /user/login/

    try:
        inkloop_log_in()
        log_in(tab, url=label_studio, email=email, password=ANNOTATOR_PASSWORD)
        tab.goto(f"{inkloop}/")
        expect(tab.get_by_role("heading", name="Your projects")).to_be_visible()  # still logged in
        # inkloop's CSRF cookie is intact too: its logout form (a POST) is accepted.
        tab.get_by_role("button", name="Log out").click()
        expect(tab).to_have_url(re.compile(r"/accounts/login/$"))
        label_studio_logged_in()
        inkloop_log_in()  # and logging into inkloop leaves Label Studio's session alone
        label_studio_logged_in()
    finally:
        context.close()
