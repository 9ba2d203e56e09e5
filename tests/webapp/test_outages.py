"""Health per dependency, JSON errors for API clients, and 503 + Retry-After while PostgreSQL is away.

The outage tests start a PostgreSQL and a Redis of their own (not the suite's), stop them under a
running server, and start them again.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from webapp.devstack import Postmaster, embedded_postgres, embedded_redis, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/projects/abc/", "/api/projects/1/pages/x/", "/api/no-such-route/"])
def test_an_unknown_api_path_or_a_malformed_id_is_a_json_404(manager_client, path):
    response = manager_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.django_db
def test_a_path_without_its_slash_is_still_redirected_to_its_route(manager_client):
    response = manager_client.get("/api/projects")
    assert response.status_code == 301 and response["Location"] == "/api/projects/"


@pytest.mark.django_db
def test_health_reports_every_dependency_and_refuses_unknown_ones():
    response = APIClient().get("/api/health/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["needs"] == ["database", "storage"]
    assert {name for name, check in body["checks"].items() if check["ok"]} >= {"database", "broker", "storage"}
    bad = APIClient().get("/api/health/?needs=database,coffee")
    assert bad.status_code == 400 and "coffee" in bad.json()["detail"]


@pytest.mark.django_db
def test_health_is_503_while_the_broker_a_caller_needs_is_down_and_ok_once_it_is_back(tmp_path, monkeypatch):
    client = APIClient()
    with embedded_redis(tmp_path / "redis") as url:
        monkeypatch.setenv("REDIS_URL", url)
        assert client.get("/api/health/?needs=database,broker").status_code == 200
    # That redis-server is stopped now; its socket is gone.
    down = client.get("/api/health/?needs=database,broker")
    assert down.status_code == 503 and down["Retry-After"] == "30"
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["broker"]["ok"] is False and down.json()["checks"]["broker"]["error"]
    assert client.get("/api/health/").status_code == 200  # the default needs do not include the broker
    with embedded_redis(tmp_path / "redis") as url:
        monkeypatch.setenv("REDIS_URL", url)
        assert client.get("/api/health/?needs=database,broker").status_code == 200


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def _wait_serving(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            _get(port, "/api/health/")
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not answer")


def _stop_postgres(pgdata: Path, timeout: float = 30) -> None:
    """A fast shutdown of that PostgreSQL (SIGINT to the postmaster), its data kept to start it again."""
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while (pgdata / "postmaster.pid").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not stop")
        time.sleep(0.1)


def test_while_postgresql_is_down_requests_get_503_with_retry_after_and_recover_after(tmp_path):
    with embedded_postgres(tmp_path / "pg") as database_url:
        port = free_port()
        # DEBUG on, as `make run` has it: the case where a database error used to be an HTML debug page.
        # Connections kept between requests, as compose keeps them.
        env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "1", "ALLOWED_HOSTS": "127.0.0.1",
               "SECURE_SSL_REDIRECT": "0", "MEDIA_ROOT": str(tmp_path / "media"), "DB_CONN_MAX_AGE": "60"}
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind",
                                   f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"], cwd=REPO, env=env)
        try:
            _wait_serving(port, server)
            status, _, body = _get(port, "/api/health/")
            assert status == 200 and json.loads(body)["checks"]["database"]["ok"]
            _stop_postgres(tmp_path / "pg")
            status, headers, body = _get(port, "/api/projects/", {"Authorization": "Token " + "a" * 40})
            assert status == 503 and headers["Retry-After"] == "30", body[:300]
            assert headers["Content-Type"] == "application/json"
            assert "database is unavailable" in json.loads(body)["detail"]
            status, headers, body = _get(port, "/", {"Cookie": "inkloop_sessionid=" + "k" * 32})
            assert status == 503 and headers["Retry-After"] == "30" and b"database is unavailable" in body
            status, headers, body = _get(port, "/api/health/")
            assert status == 503 and json.loads(body)["checks"]["database"]["ok"] is False

            restarted = Postmaster.watch(tmp_path / "pg", tmp_path / "pg")  # the same data and socket, again
            try:
                status, _, body = _get(port, "/api/health/")
                assert status == 200 and json.loads(body)["checks"]["database"]["ok"], body
                # Restarted again while no request came: the connection the server kept is dead, and is
                # replaced before a request uses it, not answered 503.
                restarted.terminate()
                restarted = Postmaster.watch(tmp_path / "pg", tmp_path / "pg")
                status, _, body = _get(port, "/api/health/")
                assert status == 200 and json.loads(body)["checks"]["database"]["ok"], body
            finally:
                restarted.terminate()
        finally:
            server.terminate()
            server.wait(timeout=30)
