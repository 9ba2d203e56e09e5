"""Real Celery workers and beat, started once per test session against the test database.

The fixtures are registered in tests/conftest.py, so every test folder shares one cluster.
Tests that use them must commit their data (`django_db(transaction=True)`) so the
workers, which are other processes, can see it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.services import skip_without_service

REPO = Path(__file__).resolve().parents[2]
# Tiny models and short timeouts, so a whole training run takes seconds on a CPU.
TEST_TRAINING = {
    "epochs": {"recognizer": 3, "detector": 2},
    # A higher rate and no early stop: on a few pages the tiny model otherwise stops at blanks.
    "recognizer": {"batch_size": 8, "warmup_steps": 5, "augment": None, "lr": 5e-3, "patience": 1000,
                   "model": {"height": 32, "channels": [8, 16, 16, 24], "projection": 48, "lstm_hidden": 32,
                             "lstm_layers": 1}},
    "detector": {"model": {"input_long_side": 256, "channels": [8, 12, 16]},
                 "train": {"batch_size": 2, "crop_size": 128}},
}
HEARTBEAT_TIMEOUT = 6
WATCHDOG_INTERVAL = 2
# The session's cluster while it runs: a test with workers of its own (test_broker_outage.py) stops its
# beat, whose sweeper would otherwise send that test's outbox to this cluster's Redis.
RUNNING_CLUSTERS: list["WorkerCluster"] = []


def test_database_url() -> str:
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class WorkerCluster:
    """The gpu worker, the default worker and beat, as in `make run`."""

    COMMANDS = {
        "gpu": ["worker", "-Q", "gpu", "-c", "1", "--prefetch-multiplier", "1", "-n", "gpu@%h"],
        "default": ["worker", "-Q", "default", "-c", "2", "-n", "default@%h"],
        "beat": ["beat"],
    }

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> subprocess.Popen:
        args = list(self.COMMANDS[name])
        if name == "beat":
            args += ["--schedule", str(self.log_dir / "beat-schedule")]
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", *args, "--loglevel", "INFO"],
            env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    READY = {"gpu": b"ready.", "default": b"ready.", "beat": b"beat: Starting..."}

    def log_size(self, name: str) -> int:
        log = self.log_dir / f"{name}.log"
        return log.stat().st_size if log.exists() else 0

    def wait_ready(self, name: str, timeout: float = 60, *, since: int = 0) -> None:
        """Until the process's log says it is ready, after byte `since` (logs are appended to across restarts)."""
        log = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and self.READY[name] in log.read_bytes()[since:]:
                return
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"celery {name} exited: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery {name} not ready after {timeout} s: {log.read_text()[-2000:]}")

    def pool_child_pids(self, name: str) -> list[int]:
        parent = self.processes[name].pid
        result = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
        return [int(pid) for pid in result.stdout.split()]

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart(self, name: str) -> None:
        since = self.log_size(name)
        if name in self.processes and self.processes[name].poll() is None:
            self.kill(name)
        self.start(name)
        self.wait_ready(name, since=since)

    def configure(self, extra_env: dict[str, str], timeout: float = 90) -> None:
        """Give every process `extra_env` (e.g. where Label Studio is); a no-op when they have it already.

        A process reads its settings once, at start: the workers run the tasks with them (the gpu one
        enqueues follow-ups, such as pushing a pre-annotation), beat reads its schedule. So all three
        restart, and this returns once each is ready again."""
        if all(self.env.get(key) == value for key, value in extra_env.items()):
            return
        self.env = {**self.env, **extra_env}
        since = {name: self.log_size(name) for name in self.READY}
        for name in self.READY:  # all three start at once; then wait for each
            if name in self.processes and self.processes[name].poll() is None:
                self.kill(name)
            self.start(name)
        for name in self.READY:
            self.wait_ready(name, timeout=timeout, since=since[name])

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def worker_media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-media")


@pytest.fixture(scope="session")
def celery_cluster(django_db_setup, django_db_blocker, worker_media_root, tmp_path_factory):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        skip_without_service("redis", "REDIS_URL is unset; run `make test`")
    try:
        redis.Redis.from_url(redis_url).flushdb()
    except redis.RedisError as error:
        skip_without_service("redis", str(error))
    with django_db_blocker.unblock():
        database_url = test_database_url()
    env = dict(os.environ, DATABASE_URL=database_url, MEDIA_ROOT=str(worker_media_root),
               INKLOOP_TRAINING=json.dumps(TEST_TRAINING), INKLOOP_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
               INKLOOP_WATCHDOG_INTERVAL=str(WATCHDOG_INTERVAL), INKLOOP_MIN_VAL_LINES="5",
               INKLOOP_CACHE_DIR=str(tmp_path_factory.mktemp("worker-cache")), INKLOOP_DEVICE="cpu",
               OMP_NUM_THREADS="1")
    cluster = WorkerCluster(env, tmp_path_factory.mktemp("celery-logs"))
    try:
        for name in ("gpu", "default", "beat"):
            cluster.start(name)
        for name in ("gpu", "default"):
            cluster.wait_ready(name)
    except BaseException:
        cluster.stop()  # a worker that never got ready must not outlive the session
        raise
    RUNNING_CLUSTERS.append(cluster)
    yield cluster
    RUNNING_CLUSTERS.remove(cluster)
    cluster.stop()


@pytest.fixture
def workers(celery_cluster, settings, worker_media_root):
    """The running cluster, with this process's settings matching the workers'."""
    settings.MEDIA_ROOT = worker_media_root
    settings.INKLOOP_TRAINING = TEST_TRAINING
    settings.INKLOOP_HEARTBEAT_TIMEOUT = HEARTBEAT_TIMEOUT
    settings.INKLOOP_MIN_VAL_LINES = 5
    for name in ("gpu", "default", "beat"):
        process = celery_cluster.processes.get(name)
        if process is None or process.poll() is not None:
            celery_cluster.restart(name)
    return celery_cluster


def wait_for(predicate, *, timeout: float, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
