"""Browser tests: Playwright driving Debian's Chromium (tests/browser.py) against pytest-django's live server."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from tests.browser import ARTIFACTS
from tests.e2e.factories import suggest_lines
from tests.workers.factories import cremma_project
from webapp.corpus.models import Line
from webapp.projects.models import Project

FIGURES = ARTIFACTS / "review-figures.json"


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
