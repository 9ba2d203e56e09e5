"""One real Label Studio per test session, a live inkloop for it to call, real workers, and an annotator.

Label Studio runs from its own virtualenv (labeling/devserver.py) unless LABEL_STUDIO_URL
and LABEL_STUDIO_API_KEY point at one already running. Label Studio delivers webhooks
synchronously and calls the ML backend, so inkloop is served by pytest-django's
live_server (session scoped: its URL, given to the workers, stays the same) and the tests
commit their data (transaction=True).

The Celery tasks the adapter enqueues (provision, import a page, delete a task, write back,
push a prediction, catch up) go through Redis to the session's real workers
(tests/workers/cluster.py), which are told where Label Studio and inkloop are. Their effect
comes later than the write that enqueued them: a test waits for it (`wait_for`). What Label
Studio's own API does arrives at once, since it delivers its webhooks before it answers.

Beat runs too, but its reconciliation is pushed past the session (SYNC_SECONDS): a test that
drops a webhook must see the loss before it sees the repair, which it asks for itself.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from django.urls import get_resolver
from label_studio_sdk import LabelStudio

from labeling import devserver
from tests.labeling.helpers import ANNOTATOR_PASSWORD
from tests.services import skip_without_service

HTTP_TIMEOUT = 15
SYNC_SECONDS = 24 * 3600  # beat's reconciliation period for the workers: not within a session
STARTUP = {}


@dataclass(frozen=True)
class LabelStudioUnderTest:
    url: str
    api_key: str
    # The server's process and its admin's password when the session started it.
    pid: int | None = None
    admin_password: str | None = None


@pytest.fixture(scope="session")
def label_studio_process(tmp_path_factory):
    url, api_key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
    if url and api_key:
        yield LabelStudioUnderTest(url=url.rstrip("/"), api_key=api_key)
        return
    if not devserver.label_studio_executable().exists():
        skip_without_service("label-studio", f"{devserver.label_studio_executable()} is missing; run "
                                             "`python -m labeling.devserver venv` (make label-studio-venv)")
    with ExitStack() as stack:
        try:
            data_dir = devserver.fresh_data_dir(tmp_path_factory.mktemp("label-studio"))
            server = stack.enter_context(devserver.label_studio_server(data_dir=data_dir))
        except RuntimeError as error:
            skip_without_service("label-studio", str(error))
        STARTUP["seconds"] = server.started_in_seconds
        yield LabelStudioUnderTest(url=server.url, api_key=server.token, pid=server.pid,
                                  admin_password=server.password)


def pytest_terminal_summary(terminalreporter):
    if "seconds" in STARTUP:
        terminalreporter.write_line(f"Label Studio start-up: {STARTUP['seconds']:.1f} s")


@pytest.fixture
def labeling(label_studio_process, live_server, workers, settings):
    """Label Studio configured for this test, inkloop reachable from it, the workers configured alike."""
    env = {"LABEL_STUDIO_URL": label_studio_process.url, "LABEL_STUDIO_API_KEY": label_studio_process.api_key,
           "INKLOOP_PUBLIC_URL": live_server.url, "INKLOOP_BROWSER_URL": live_server.url,
           # The workers write it into the webhook and the ML backend's login; this process checks it.
           "LABEL_STUDIO_WEBHOOK_SECRET": settings.LABEL_STUDIO_WEBHOOK_SECRET,
           "LABEL_STUDIO_SYNC_SECONDS": str(SYNC_SECONDS)}
    workers.configure(env)
    # Label Studio gives the ML backend's health check one second: the live server (this process) must not
    # spend it importing its URLconf (and the models behind the views), as it would on its first request.
    get_resolver().url_patterns  # loads them
    settings.LABEL_STUDIO_URL = label_studio_process.url
    settings.LABEL_STUDIO_API_KEY = label_studio_process.api_key
    settings.INKLOOP_PUBLIC_URL = settings.INKLOOP_BROWSER_URL = live_server.url
    return label_studio_process


@pytest.fixture
def admin_ls(labeling) -> LabelStudio:
    return LabelStudio(base_url=labeling.url, api_key=labeling.api_key, timeout=HTTP_TIMEOUT)


@dataclass(frozen=True)
class Annotator:
    email: str
    ls_user_id: int
    client: LabelStudio
    password: str = ANNOTATOR_PASSWORD  # their Label Studio login, for the browser tests


def annotator_signs_up(*, url: str, admin_key: str, email: str) -> Annotator:
    token = devserver.sign_up(url=url, admin_token=admin_key, email=email, password=ANNOTATOR_PASSWORD)
    client = LabelStudio(base_url=url, api_key=token, timeout=HTTP_TIMEOUT)
    return Annotator(email=email, ls_user_id=client.users.whoami().id, client=client)


@pytest.fixture
def annotator(labeling) -> Annotator:
    return annotator_signs_up(url=labeling.url, admin_key=labeling.api_key,
                              email=f"annotator-{time.monotonic_ns()}@example.org")
