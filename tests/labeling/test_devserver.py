"""The Label Studio that `make run` and the tests start (labeling/devserver.py): what others on the machine
can see of it, and whom it talks to."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from labeling.devserver import ADMIN_EMAIL


def process_group(leader: int) -> list[Path]:
    """/proc entries of every process in `leader`'s process group (the server and anything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[2]) == leader:  # pgrp, the fifth field of stat
                found.append(entry)
    return found


@pytest.fixture
def own_server(label_studio_process):
    if label_studio_process.pid is None:
        pytest.skip("Label Studio was started outside the tests (LABEL_STUDIO_URL): its process is not ours")
    return label_studio_process


def test_label_studios_password_and_token_are_not_on_its_command_line(own_server):
    processes = process_group(own_server.pid)
    assert processes, "the Label Studio server's processes were not found"
    secrets = {own_server.api_key, own_server.admin_password}
    for process in processes:
        arguments = (process / "cmdline").read_bytes().decode(errors="replace")
        for secret in secrets:
            assert secret not in arguments, f"process {process.name} shows a secret in `ps`: {arguments!r}"
        assert "--password" not in arguments and "--user-token" not in arguments


def test_label_studio_reports_to_no_one(own_server):
    environment = (Path("/proc") / str(own_server.pid) / "environ").read_bytes().decode(errors="replace").split("\0")
    settings = dict(item.split("=", 1) for item in environment if "=" in item)
    # Label Studio's server reports errors to its makers' Sentry unless its DSN is set empty.
    assert settings.get("SENTRY_DSN") == "" and settings.get("FRONTEND_SENTRY_DSN") == ""
    assert settings.get("COLLECT_ANALYTICS") == "false" and settings.get("LATEST_VERSION_CHECK") == "false"
    # ... nor do the pages it serves, from the annotators' browsers (tests/labeling/test_browser.py watches them).
    browser = requests.Session()
    login = f"{own_server.url}/user/login/"
    browser.get(login, timeout=15)
    browser.post(login, data={"email": ADMIN_EMAIL, "password": own_server.admin_password,
                              "csrfmiddlewaretoken": browser.cookies.get("csrftoken")},
                 headers={"Referer": login}, timeout=15)
    app = browser.get(f"{own_server.url}/projects/", timeout=15)
    assert app.status_code == 200 and "APP_SETTINGS" in app.text  # the app itself, not the login form
    assert "sentry-cdn" not in app.text and "sentry_dsn: null" in app.text
    assert "collect_analytics: false" in app.text
