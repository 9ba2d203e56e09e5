"""`make run`'s launcher (webapp/devstack.py): it says the app is ready when the app answers, not before."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from django.core.management import call_command

from webapp.devstack import announce_when_serving, free_port, ready_banner


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_ready_is_printed_once_the_app_answers_and_not_before(capsys):
    port = free_port()
    listening = threading.Event()
    servers = []

    def open_port_late() -> None:  # as runserver does, seconds after it starts
        time.sleep(1.5)
        servers.append(http.server.ThreadingHTTPServer(("127.0.0.1", port), Health))
        listening.set()
        servers[0].serve_forever()

    threading.Thread(target=open_port_late, daemon=True).start()
    announce_when_serving(url=f"http://127.0.0.1:{port}/api/health/", banner="inkloop is ready", timeout=30)
    try:
        deadline = time.monotonic() + 30
        printed = ""
        while "inkloop is ready" not in printed:
            assert time.monotonic() < deadline, f"ready was never printed: {printed!r}"
            time.sleep(0.05)
            printed += capsys.readouterr().out
        # Read after the print: the port was already answering then, or ready came too early.
        assert listening.is_set(), "ready was printed before the app answered"
    finally:
        listening.wait(timeout=10)
        servers[0].shutdown()


def test_the_banner_names_one_host_throughout():
    banner = ready_banner(port="8000", env={"LABEL_STUDIO_URL": "http://127.0.0.1:8080",
                                           "LABEL_STUDIO_BROWSER_URL": "http://localhost:8080"},
                          login="  user:         admin\n")
    assert "http://localhost:8000" in banner and "http://localhost:8080" in banner and "admin" in banner
    assert "127.0.0.1" not in banner


@pytest.mark.django_db
def test_seed_demo_prints_the_login_and_leaves_ready_to_the_launcher(monkeypatch, capsys, media_root):
    monkeypatch.setenv("INKLOOP_ADMIN_PASSWORD", "demo-password-123")
    call_command("seed_demo", data="")
    printed = capsys.readouterr().out
    assert "demo-password-123" in printed and "API token" in printed
    assert "ready" not in printed  # it is not: nothing serves the app yet
