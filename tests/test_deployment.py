"""The production path: docker-compose.yml is valid and names only what exists; Django's deploy checks pass."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The Compose Specification's JSON schema (Apache-2.0), as shipped in docker-compose 1.29.2.
COMPOSE_SCHEMA = REPO / "tests" / "fixtures" / "compose_spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification(compose):
    errors = sorted(compose_validator().iter_errors(compose), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(error.path)}: {error.message}" for error in errors)


def test_the_schema_check_catches_a_mistake(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["restart_policy"] = "always"  # not a service key
    assert not compose_validator().is_valid(broken)


def compose_validator() -> jsonschema.Draft201909Validator:
    return jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))


def test_compose_has_the_production_services(compose):
    assert {"postgres", "redis", "web", "worker", "worker-gpu", "beat", "label-studio",
            "minio"} <= set(compose["services"])
    gpu = compose["services"]["worker-gpu"]
    assert gpu["runtime"] == "nvidia"
    assert gpu["command"][gpu["command"].index("-c") + 1] == "1"
    assert gpu["command"][gpu["command"].index("--prefetch-multiplier") + 1] == "1"
    ls_env = compose["services"]["label-studio"]["environment"]
    assert ls_env["USE_DEFAULT_BANNED_SUBNETS"] == "false"
    assert "169.254.0.0/16" in ls_env["USER_ADDITIONAL_BANNED_SUBNETS"]


def test_compose_label_studio_reports_to_no_one_and_browsers_know_where_it_is(compose):
    ls_env = compose["services"]["label-studio"]["environment"]
    assert (ls_env["SENTRY_DSN"], ls_env["FRONTEND_SENTRY_DSN"]) == ("", "")
    assert ls_env["COLLECT_ANALYTICS"] == ls_env["LATEST_VERSION_CHECK"] == "false"
    # inkloop reaches it on the compose network; task images answer the origin browsers open it at.
    web_env = compose["services"]["web"]["environment"]
    assert web_env["LABEL_STUDIO_URL"] == "http://label-studio:8080"
    assert web_env["LABEL_STUDIO_BROWSER_URL"] == "${LABEL_STUDIO_BROWSER_URL:-http://localhost:8080}"
    assert "8080:8080" in compose["services"]["label-studio"]["ports"]


def test_every_build_context_dockerfile_and_mounted_file_exists(compose):
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert context.is_dir(), f"{name}: build context {context} is missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: Dockerfile missing"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: mounted {source} is missing"


def test_every_command_names_code_that_exists(compose):
    for name, service in compose["services"].items():
        command = service.get("command")
        if not command or "build" not in service:
            continue  # third-party images run their own commands
        words = " ".join(command).replace("&&", " ").split()
        for index, word in enumerate(words):
            if word == "manage.py":
                assert (REPO / "manage.py").is_file()
            if word == "-A":
                module = words[index + 1]
                assert _module_file(module).exists(), f"{name}: celery app {module} is missing"
            if ":application" in word:
                module = word.split(":")[0]
                assert _module_file(module).exists(), f"{name}: {module} is missing"


def _module_file(module: str) -> Path:
    path = REPO / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_django_deploy_checks_pass_under_production_settings():
    # Production has none of the local overrides; DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests only.
    env = {key: value for key, value in os.environ.items()
           if key not in {"DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                          "SECURE_HSTS_SECONDS", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="inkloop.example.org",
               DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://inkloop@localhost/inkloop")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_an_s3_bucket_setting_switches_storage_to_s3():
    code = ("import django; django.setup(); from django.core.files.storage import default_storage; "
            "print(type(default_storage._wrapped if hasattr(default_storage, '_wrapped') else default_storage)"
            ".__name__ if default_storage._setup() is None else '')")
    env = dict(os.environ, AWS_STORAGE_BUCKET_NAME="inkloop", AWS_S3_ENDPOINT_URL="http://minio:9000",
               AWS_ACCESS_KEY_ID="key", AWS_SECRET_ACCESS_KEY="secret", DJANGO_SETTINGS_MODULE="webapp.settings",
               SECRET_KEY="x" * 50, DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://u@localhost/db")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "S3Storage"
