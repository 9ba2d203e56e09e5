"""`make run`'s launcher (webapp/devstack.py): it says the app is ready when the app answers, not before."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from tests.services import skip_without_service
from webapp.devstack import (REPO_ROOT, Supervisor, announce_when_serving, embedded_redis, free_port, label_studio,
                             ready_banner)


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


# Run inside `devstack exec`: kill its Redis and its PostgreSQL, and wait until both answer again.
SUPERVISED_CHILD = r"""
import os, signal, sys, time
from pathlib import Path
import psycopg2, redis

def pids_with(fragment):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and fragment in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found

def until(what, check, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} did not come back")

socket_path = os.environ["REDIS_URL"].removeprefix("unix://").split("?")[0]
client = redis.Redis(unix_socket_path=socket_path, socket_timeout=2)
client.ping()
[first_redis] = [pid for pid in pids_with(socket_path) if pid != os.getpid()]
os.kill(first_redis, signal.SIGKILL)
until("redis", lambda: client.ping() and pids_with(socket_path) != [first_redis])

pgdata = Path(os.environ["INKLOOP_STATE_DIR"]) / "postgres"
first_pg = int((pgdata / "postmaster.pid").read_text().split()[0])
psycopg2.connect(os.environ["DATABASE_URL"]).close()
os.kill(first_pg, signal.SIGQUIT)  # an immediate shutdown, as in a crash
until("postgres", lambda: psycopg2.connect(os.environ["DATABASE_URL"]).close() is None
      and int((pgdata / "postmaster.pid").read_text().split()[0]) != first_pg)
second_redis = [pid for pid in pids_with(socket_path) if pid != os.getpid()]
second_pg = int((pgdata / "postmaster.pid").read_text().split()[0])
print("PIDS", *second_redis, second_pg, flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_the_supervisor_waits_longer_after_each_quick_death_and_stops_everything_it_started(capsys):
    """A service that dies at once is not started again in a tight loop: 1 s, then 2 s, then 4 s; and
    stop() ends the processes still running, the ones it started again included."""
    launched: list[subprocess.Popen] = []

    def launcher(code: str):
        def launch() -> subprocess.Popen:
            launched.append(subprocess.Popen([sys.executable, "-c", code]))
            return launched[-1]
        return launch

    supervisor = Supervisor()
    try:
        supervisor.start("crashing", launcher("import sys; sys.exit(3)"))
        supervisor.start("lasting", launcher("import time; time.sleep(600)"))
        printed, deadline = "", time.monotonic() + 60
        while "starting it again in 4 s" not in printed:
            assert time.monotonic() < deadline, printed
            time.sleep(0.2)
            printed += capsys.readouterr().out
    finally:
        supervisor.stop(timeout=10)
    waits = [line.rsplit(" in ", 1)[1] for line in printed.splitlines() if "crashing exited with code 3" in line]
    assert waits[:3] == ["1 s", "2 s", "4 s"], printed
    assert printed.count("devstack: started crashing again") >= 2, printed
    assert "lasting" not in printed  # it never died, so it was never started again
    assert all(process.poll() is not None for process in launched), "stop() left a child running"
    assert len(launched) >= 4


def test_the_dev_stack_restarts_a_dead_redis_and_postgresql_and_stops_them_all_on_exit(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["INKLOOP_STATE_DIR"] = str(tmp_path / "state")
    result = subprocess.run([sys.executable, "-m", "webapp.devstack", "exec", "--", sys.executable, "-c",
                             SUPERVISED_CHILD], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "devstack: redis-server exited with code -9; starting it again in 1 s" in result.stdout
    assert "devstack: started redis-server again" in result.stdout
    assert "devstack: postgres exited with code 1; starting it again in 1 s" in result.stdout
    # The dev stack prints its own shutdown lines after the child's, so read the child's line only.
    [pids_line] = [line for line in result.stdout.splitlines() if line.startswith("PIDS ")]
    pids = [int(pid) for pid in pids_line.split()[1:]]
    assert len(pids) == 2
    time.sleep(0.5)
    assert [pid for pid in pids if _alive(pid)] == [], "servers started again were left running after exit"


def test_a_task_the_embedded_redis_took_survives_that_redis_being_killed_and_started_again(tmp_path):
    """The outbox marks a message sent once Redis took it; a Redis that forgot its queue on a restart
    would lose that work for good (compose's Redis keeps an append-only file; so must the dev stack's)."""
    import redis
    from celery import Celery

    from webapp.queueing import DEFAULT_QUEUE, broker_url, celery_config

    with embedded_redis(tmp_path / "redis", supervise=True) as url:
        app = Celery("sender", set_as_current=False)
        app.conf.update({**celery_config(), "broker_url": broker_url(url)})
        app.send_task("inkloop.not_consumed", args=[1], queue=DEFAULT_QUEUE)
        client = redis.Redis(unix_socket_path=url.removeprefix("unix://").split("?")[0], socket_timeout=2)
        assert client.llen(DEFAULT_QUEUE) == 1
        first = client.info("server")["process_id"]
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.info("server")["process_id"] != first:
                    break
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the supervisor did not start redis-server again"
            time.sleep(0.2)
        assert client.llen(DEFAULT_QUEUE) == 1


def _pids_with(fragment: str) -> list[int]:
    """The processes whose command line (arguments joined by NUL) holds `fragment`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and fragment in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            pass
    return found


def test_the_dev_stack_restarts_a_dead_label_studio_on_its_port_with_its_data_and_stops_it_on_exit(
        tmp_path, monkeypatch, capfd):
    """`make run`'s Label Studio, killed, answers again on the same port with the same data and token (its
    secrets still only in its environment, its telemetry still off), and nothing of it outlives the stack."""
    from label_studio_sdk import LabelStudio

    from labeling import devserver

    if not devserver.label_studio_executable().exists():
        skip_without_service("label-studio", f"{devserver.label_studio_executable()} is missing; run "
                                             "`python -m labeling.devserver venv` (make label-studio-venv)")
    monkeypatch.setenv("INKLOOP_STATE_DIR", str(tmp_path / "state"))
    port = free_port()
    server_args = f"\0start\0--no-browser\0--port\0{port}\0"  # `label-studio start`, not its launcher
    with label_studio(dict(os.environ), port=port) as started:
        url, token = started["LABEL_STUDIO_URL"], started["LABEL_STUDIO_API_KEY"]
        assert url == f"http://127.0.0.1:{port}"
        client = LabelStudio(base_url=url, api_key=token, timeout=15)
        project = client.projects.create(title="Kept across a restart")
        [first] = _pids_with(server_args)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + devserver.START_TIMEOUT_SECONDS
        while True:  # the same URL and token: nothing the app was given changes
            try:
                listed = [(each.id, each.title) for each in client.projects.list()]
                break
            except Exception:  # refused while it is down, then answering again
                assert time.monotonic() < deadline, "Label Studio did not answer again after it was killed"
                time.sleep(0.5)
        assert (project.id, "Kept across a restart") in listed
        [second] = _pids_with(server_args)
        assert second != first
        password = (tmp_path / "state" / "label-studio" / "inkloop-admin-password").read_text().strip()
        arguments = Path(f"/proc/{second}/cmdline").read_bytes().decode(errors="replace")
        assert token not in arguments and password not in arguments
        environment = dict(item.split("=", 1) for item in Path(f"/proc/{second}/environ").read_bytes()
                           .decode(errors="replace").split("\0") if "=" in item)
        assert environment["LABEL_STUDIO_USER_TOKEN"] == token and environment["LABEL_STUDIO_PASSWORD"] == password
        assert environment["SENTRY_DSN"] == environment["FRONTEND_SENTRY_DSN"] == ""
        assert environment["COLLECT_ANALYTICS"] == environment["LATEST_VERSION_CHECK"] == "false"
    printed = capfd.readouterr().out
    assert "devstack: label-studio exited with code 1; starting it again in 1 s" in printed, printed
    assert "devstack: started label-studio again" in printed, printed
    assert not _alive(second), "the Label Studio started again was left running after exit"
    assert _pids_with(server_args) == [] and _pids_with(f"labeling.devserver\0run\0--port\0{port}\0") == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=5)
