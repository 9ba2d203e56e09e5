"""A throw-away inkloop served as in production, for the load benchmarks (webhook_load.py, api_soak.py).

In a fresh state directory: the dev stack's own embedded PostgreSQL and Redis, both supervised
(webapp/devstack.py: one that dies is started again), migrated; the Celery workers and beat as
`make run` starts them (supervised too); gunicorn with several sync workers, as compose runs it
(each process keeping its database connection a minute, DB_CONN_MAX_AGE=60), on a free loopback
port; and, when asked, a real Label Studio from the migrated template (labeling/devserver.py).
Nothing configured in the environment is reused, so a benchmark never touches anyone's data and
can kill its own Redis.

The benchmark's own process gets Django set up against the same database (for its fixtures and
for checking, afterwards, what reached PostgreSQL), without Label Studio's settings: what it
writes there asks no worker to provision anything.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
# Services a developer's shell may point at: never used here, the benchmark starts its own.
SERVICE_URLS = ("DATABASE_URL", "REDIS_URL", "CACHE_REDIS_URL", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY",
                "INKLOOP_PUBLIC_URL", "INKLOOP_BROWSER_URL", "LABEL_STUDIO_BROWSER_URL", "MEDIA_ROOT",
                "INKLOOP_TEST_DATABASE", "INKLOOP_STATE_DIR")
LABEL_STUDIO_SETTINGS = ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_BROWSER_URL")


@dataclass
class ServedStack:
    url: str                      # gunicorn, http://127.0.0.1:PORT
    env: dict[str, str]           # what gunicorn and the workers run with
    state: Path
    celery: object                # webapp.devstack.Supervisor of the workers and beat
    gunicorn: subprocess.Popen
    web_workers: int

    @property
    def redis_socket(self) -> str:
        return self.env["REDIS_URL"].removeprefix("unix://").split("?")[0]

    def redis_pid(self) -> int | None:
        """The redis-server now serving the broker's socket, or None while there is none."""
        import redis

        try:
            client = redis.Redis(unix_socket_path=self.redis_socket, socket_timeout=2, socket_connect_timeout=2)
            try:
                return int(client.info("server")["process_id"])
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return None

    def cpu_roots(self) -> dict[str, list[int]]:
        """The process trees whose CPU time the benchmarks count: web, database, broker, workers."""
        postmaster = self.state / "postgres" / "postmaster.pid"
        return {"gunicorn": [self.gunicorn.pid],
                "postgresql": [int(postmaster.read_text().split()[0])] if postmaster.exists() else [],
                "redis": [pid for pid in [self.redis_pid()] if pid],
                "celery": [pid for name in ("worker-default", "worker-gpu", "beat")
                           for pid in [self.celery_pid(name)] if pid]}

    def celery_pid(self, name: str) -> int | None:
        processes = [process for process in self.celery.processes(name) if process.poll() is None]
        return processes[0].pid if processes else None


def wait_until(predicate: Callable[[], object], *, what: str, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def served_stack(*, web_workers: int = 3, label_studio: bool = False, env: dict[str, str] | None = None,
                 keep: bool = False) -> Iterator[ServedStack]:
    """Start everything, set Django up in this process, yield; stop everything on the way out."""
    for name in SERVICE_URLS:
        os.environ.pop(name, None)
    state = Path(tempfile.mkdtemp(prefix="inkloop-bench-"))
    os.environ["INKLOOP_STATE_DIR"] = str(state)
    from labeling import devserver
    from webapp.devstack import celery_processes, free_port, service_environment

    if not keep:
        # At exit, and registered before the embedded PostgreSQL is imported: its own exit handler, which
        # runs first, still writes a lock file under the state directory.
        atexit.register(shutil.rmtree, state, ignore_errors=True)
    with ExitStack() as stack:
        served = service_environment(stack)  # embedded PostgreSQL and Redis, supervised
        served.update({"DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
                       "INKLOOP_DEVICE": "cpu", **(env or {})})
        served.setdefault("DB_CONN_MAX_AGE", "60")  # as compose runs it; DB_CONN_MAX_AGE=0 in the shell to compare
        if label_studio:
            server = stack.enter_context(devserver.label_studio_server(
                data_dir=devserver.fresh_data_dir(state / "label-studio")))
            served.update(LABEL_STUDIO_URL=server.url, LABEL_STUDIO_API_KEY=server.token)
            print(f"bench: Label Studio at {server.url} (started in {server.started_in_seconds:.1f} s)", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=served, cwd=REPO,
                       check=True)

        os.environ.update({name: value for name, value in served.items() if name not in LABEL_STUDIO_SETTINGS})
        import django

        django.setup()

        port = free_port()
        served["INKLOOP_PUBLIC_URL"] = url = f"http://127.0.0.1:{port}"
        celery = stack.enter_context(celery_processes(served))
        log = stack.enter_context(open(state / "gunicorn.log", "ab"))
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(web_workers), "--timeout", "120", "--backlog", "2048", "--log-level", "warning"],
            env=served, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(_stop, gunicorn)
        wait_until(lambda: gunicorn.poll() is None and _answers(f"{url}/api/health/"), timeout=300,
                   what=f"gunicorn to answer (see {state / 'gunicorn.log'})", interval=0.5)
        # Each worker imports the views on its first request: done here, not inside the measurement.
        for _ in range(web_workers * 3):
            _answers(f"{url}/api/health/")
        print(f"bench: gunicorn ({web_workers} workers) at {url}; state in {state}", flush=True)
        yield ServedStack(url=url, env=served, state=state, celery=celery, gunicorn=gunicorn,
                          web_workers=web_workers)
        from django.db import connections

        connections.close_all()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the state on: ppid is [1], utime [11] ... cstime [14]


def _tree_cpu(pid: int, children: dict[int, list[int]]) -> float:
    """CPU seconds of a process, of its children it reaped (PostgreSQL's backends that exited), and of
    its live descendants."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(_tree_cpu(child, children) for child in children.get(pid, []))


def cpu_seconds(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named group of process trees (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    used = {name: sum(_tree_cpu(pid, children) for pid in pids) for name, pids in roots.items()}
    times = os.times()
    used["load generator"] = times.user + times.system  # this process, its children apart
    return used


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (fraction 0.5, 0.95), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def machine() -> dict:
    """What the figures were measured on: cores, load, memory."""
    load = os.getloadavg()
    memory = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            if key in ("MemTotal", "MemAvailable"):
                memory[key] = round(int(value.split()[0]) / 1024**2, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(value, 2) for value in load],
            "mem_total_gib": memory.get("MemTotal"), "mem_available_gib": memory.get("MemAvailable")}
