"""A real Label Studio for `make run` and the tests, from PyPI in its own virtualenv.

    python -m labeling.devserver venv                  # .devstack/label-studio-venv, a migrated template (idempotent)
    python -m labeling.devserver run --port 8080       # serve until interrupted, print URL and login
    python -m labeling.devserver run --env-file F      # ... and write LABEL_STUDIO_URL/_API_KEY/_BROWSER_URL to F

`run` exits (code 1) when its Label Studio dies, so that whoever started it can start it again:
webapp/devstack.py supervises it for `make run`. Started again, it serves the same data directory
on the same port, with the same admin password and token (kept beside the data).

Label Studio pins its own Django and DRF, which clash with ours, so it never shares our
virtualenv. It is configured only through its own environment settings and API:

- USE_DEFAULT_BANNED_SUBNETS=false lets it call inkloop's webhook and ML backend on
  loopback or a private network; USER_ADDITIONAL_BANNED_SUBNETS keeps what it must still
  never reach (cloud metadata at least);
- LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN create the admin
  and its token on first start, and LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN lets that token
  authenticate (1.23 disables legacy tokens by default). They go in the environment, never
  on the command line, which anyone on the machine can read with `ps`;
- SENTRY_DSN and FRONTEND_SENTRY_DSN empty, COLLECT_ANALYTICS and LATEST_VERSION_CHECK off:
  neither the server nor the annotators' browsers report to Label Studio's makers.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import requests

from webapp.devstack import free_port, state_dir

LABEL_STUDIO_VERSION = "1.23.2"
BANNED_SUBNETS = "169.254.0.0/16"  # cloud metadata endpoints: never reachable, whatever else is allowed
# inkloop's own account (the API token's owner). People never sign in with it: Label Studio
# annotations saved by this account are inkloop's write-backs, not anyone's work.
ADMIN_EMAIL = "inkloop-service@inkloop.local"
TEMPLATE_FORMAT = 2  # bumped when what the template holds changes
START_TIMEOUT_SECONDS = float(os.environ.get("LABEL_STUDIO_START_TIMEOUT", 240))
HTTP_TIMEOUT_SECONDS = 10
# inkloop's own settings, which Label Studio's Django would otherwise pick up as its own.
FOREIGN_SETTINGS = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "MEDIA_ROOT",
                    "REDIS_URL"}


@dataclass(frozen=True)
class RunningLabelStudio:
    url: str
    token: str
    email: str
    password: str
    started_in_seconds: float
    process: subprocess.Popen = field(repr=False, compare=False)  # the server, leader of its process group

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def browser_url(self) -> str:
        """The address people open: the README's `localhost`. The server listens on 127.0.0.1 only, where
        localhost leads, and `url` (what inkloop's server calls) stays the literal address."""
        return self.url.replace("//127.0.0.1:", "//localhost:", 1)


def tools_dir() -> Path:
    """Where the installed Label Studio and its migrated template live: installed once per checkout,
    not per state directory (a benchmark's throw-away stack reuses them)."""
    return Path(os.environ.get("INKLOOP_TOOLS_DIR", Path(__file__).resolve().parents[1] / ".devstack"))


def venv_dir() -> Path:
    return tools_dir() / "label-studio-venv"


def label_studio_executable() -> Path:
    return venv_dir() / "bin" / "label-studio"


def ensure_venv(*, python: str = "python3.11") -> Path:
    """Create the virtualenv and install Label Studio once; the stamp file marks a finished install."""
    directory = venv_dir()
    stamp = directory / f".installed-label-studio-{LABEL_STUDIO_VERSION}"
    if stamp.exists() and label_studio_executable().exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    if not (directory / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(directory)], check=True)
    subprocess.run([str(directory / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    f"label-studio=={LABEL_STUDIO_VERSION}"], check=True)
    stamp.touch()
    return directory


def template_dir() -> Path:
    return tools_dir() / "label-studio-template"


def ensure_template() -> Path:
    """A data directory migrated once, with its admin: copying it makes a fresh server start in seconds.

    Label Studio's first start spends most of its time migrating an empty SQLite database; a
    copy of this template skips that. Rebuilt when the Label Studio version changes.
    """
    template = template_dir()
    stamp = template / f".migrated-{LABEL_STUDIO_VERSION}-{TEMPLATE_FORMAT}"
    if stamp.exists():
        return template
    shutil.rmtree(template, ignore_errors=True)
    with label_studio_server(data_dir=template):
        pass
    stamp.touch()
    return template


def fresh_data_dir(target: Path) -> Path:
    """A new data directory for one session (tests): a copy of the template, so nothing is left from before."""
    shutil.copytree(ensure_template(), target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("label-studio.log", ".migrated-*"))
    return target


def generated_secret(path: Path, length: int = 24) -> str:
    """A value made once and kept beside the data (mode 600), so a restart logs in with it again."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(length))
        path.chmod(0o600)
    return path.read_text().strip()


def server_environment(*, data_dir: Path, password: str, token: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in FOREIGN_SETTINGS}
    return dict(
        env,
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=ADMIN_EMAIL,
        LABEL_STUDIO_PASSWORD=password,
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        USE_DEFAULT_BANNED_SUBNETS="false",
        USER_ADDITIONAL_BANNED_SUBNETS=BANNED_SUBNETS,
        DJANGO_DB="sqlite",  # its own SQLite in data_dir; inkloop's data is always in Postgres
        # No error reports or usage analytics to Label Studio's makers, from the server or from the browser.
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        LATEST_VERSION_CHECK="false",
        WEBHOOK_TIMEOUT="10",  # the default 1 s drops deliveries while inkloop is busy; it never retries
        # Registering the ML backend fails for good when inkloop's /ml/health takes over the default 1 s (3 s for
        # /ml/setup), as it does on a busy machine.
        ML_TIMEOUT_HEALTH="10",
        ML_TIMEOUT_SETUP="10",
        # "Start training" calls the ML backend's /webhook with START_TRAINING (a Label Studio feature flag).
        ff_back_dev_1417_start_training_mlbackend_webhooks_250122_long="true",
    )


@contextmanager
def label_studio_server(*, data_dir: Path, port: int | None = None, log_path: Path | None = None,
                        timeout: float = START_TIMEOUT_SECONDS) -> Iterator[RunningLabelStudio]:
    """Start Label Studio on `port` (a free one if None), wait until it answers with its token, stop it on exit."""
    executable = label_studio_executable()
    if not executable.exists():
        raise RuntimeError(f"{executable} is missing: run `python -m labeling.devserver venv` first")
    data_dir.mkdir(parents=True, exist_ok=True)
    write_ahead_log(data_dir)
    password = generated_secret(data_dir / "inkloop-admin-password", 12)
    token = generated_secret(data_dir / "inkloop-admin-token", 20)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path or data_dir / "label-studio.log", "ab")
    started = time.monotonic()
    # The admin's password and token travel in the environment (server_environment), not in the arguments.
    process = subprocess.Popen(
        [str(executable), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1",
         "--data-dir", str(data_dir), "--enable-legacy-api-token"],
        env=server_environment(data_dir=data_dir, password=password, token=token), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(url=url, token=token, process=process, timeout=timeout)
        yield RunningLabelStudio(url=url, token=token, email=ADMIN_EMAIL, password=password,
                                 started_in_seconds=time.monotonic() - started, process=process)
    finally:
        stop(process)
        log.close()


def write_ahead_log(data_dir: Path) -> None:
    """Put Label Studio's SQLite database in WAL mode (a setting kept in the file itself).

    In its default rollback-journal mode a reader blocks writers, and concurrent writes (the
    workers provisioning two projects while an annotator saves) fail with "database is
    locked" after SQLite's 5 s busy timeout. With WAL, readers never block the writer.
    """
    database = data_dir / "label_studio.sqlite3"
    if database.exists():
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


def wait_until_ready(*, url: str, token: str, process: subprocess.Popen, timeout: float) -> None:
    """Ready means the API accepts the admin's token, not merely that /health answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"label-studio exited with code {process.returncode} before it was ready")
        try:
            healthy = requests.get(f"{url}/health", timeout=HTTP_TIMEOUT_SECONDS).ok
            if healthy and requests.get(f"{url}/api/current-user/whoami", timeout=HTTP_TIMEOUT_SECONDS,
                                        headers={"Authorization": f"Token {token}"}).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"label-studio did not accept its admin token at {url} within {timeout:.0f} s")


def sign_up(*, url: str, admin_token: str, email: str, password: str) -> str:
    """What a person does: follow the organisation's invite link, sign up, copy their API token."""
    invite = requests.get(f"{url}/api/invite", headers={"Authorization": f"Token {admin_token}"},
                          timeout=HTTP_TIMEOUT_SECONDS)
    invite.raise_for_status()
    browser = requests.Session()
    signup = f"{url}/user/signup/?token={invite.json()['token']}"
    browser.get(signup, timeout=HTTP_TIMEOUT_SECONDS)
    browser.post(signup, data={"email": email, "password": password,
                               "csrfmiddlewaretoken": browser.cookies.get("csrftoken")},
                 headers={"Referer": signup}, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)
    token = browser.get(f"{url}/api/current-user/token", timeout=HTTP_TIMEOUT_SECONDS)
    token.raise_for_status()  # 401 here: the email exists already with another password
    return token.json()["token"]


def person_login(*, server: RunningLabelStudio, data_dir: Path, email: str) -> str:
    """The login a person uses (matched by email to their inkloop account); made once, its password kept."""
    password = generated_secret(data_dir / "inkloop-person-password", 12)
    made = data_dir / "inkloop-person-email"
    if not made.exists() or made.read_text().strip() != email:
        sign_up(url=server.url, admin_token=server.token, email=email, password=password)
        made.write_text(email)
    return password


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["venv", "run"])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--env-file", type=Path, default=None,
                        help="once ready, write LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY and LABEL_STUDIO_BROWSER_URL "
                             "here (mode 600); "
                             "removed on exit")
    parser.add_argument("--login", default=f"{os.environ.get('INKLOOP_ADMIN_USER', 'admin')}@localhost",
                        help="the person's login; the same email as their inkloop account (seed_demo's admin)")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C does, so Label Studio is stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ensure_venv()
    if args.mode == "venv":
        ensure_template()
        return 0
    data_dir = args.data_dir or state_dir() / "label-studio"
    if not (data_dir / "label_studio.sqlite3").exists():
        fresh_data_dir(data_dir)  # a first start from the migrated template takes seconds, not a minute
    with label_studio_server(data_dir=data_dir, port=args.port) as server:
        password = person_login(server=server, data_dir=data_dir, email=args.login)
        print(f"Label Studio: {server.browser_url}  login {args.login} / {password}  "
              f"(started in {server.started_in_seconds:.1f} s)", flush=True)
        if args.env_file:
            write_env_file(args.env_file, {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.token,
                                           "LABEL_STUDIO_BROWSER_URL": server.browser_url})
        try:
            # Until the server dies, or SIGTERM or Ctrl-C unwinds (which stops it).
            code = server.process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            if args.env_file:
                args.env_file.unlink(missing_ok=True)
    # Exiting is how a dead server is noticed: the dev stack's Supervisor starts this command again, on the
    # same port and data.
    print(f"Label Studio exited with code {code}", flush=True)
    return 1


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Written whole under another name, then renamed: a reader never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    partial.chmod(0o600)
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
