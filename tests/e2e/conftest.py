"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

No browser is downloaded: `.ci/run` installs the `chromium` Debian package. Without it the
tests skip locally and fail in CI (INKLOOP_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.e2e.factories import suggest_lines
from tests.services import skip_without_service
from tests.workers.factories import cremma_project
from webapp.corpus.models import Line
from webapp.projects.models import Project

CHROMIUM = os.environ.get("INKLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
FIGURES = ARTIFACTS / "review-figures.json"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        skip_without_service("browser", f"no Chromium at {CHROMIUM}; apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while the browser lives; the ORM
    # calls tests make between browser steps are ordinary blocking ones, which Django would refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of every alert, confirm or prompt the page opened: a script ran that should not have."""
    return []


@pytest.fixture
def page(browser, live_server, dialogs):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path
    return take


@pytest.fixture
def record_figure():
    """Measured figures go to artifacts/review-figures.json (and the test output with -s)."""
    def record(name: str, value: float, unit: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        figures[name] = {"value": round(value, 2), "unit": unit}
        FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\n{name}: {value:.2f} {unit}")
    return record


@pytest.fixture
def log_in(live_server):
    """A session cookie for `user`, as the login form would set it (test_login uses the form itself)."""
    def log_in(page, user) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value,
                                   "url": live_server.url}])
    return log_in


@pytest.fixture
def review_project(media_root):
    """A project with one validation page of verified lines and `pages - 1` pages of model suggestions."""
    def make(*, name: str = "wills", pages: int = 2) -> tuple[Project, list[Line]]:
        project = cremma_project(name=name, pages=pages, val_pages=1)
        return project, suggest_lines(project)
    return make
