"""Shared fixtures. Services are real: `make test` starts them (webapp/devstack.py).

INKLOOP_REQUIRE_SERVICES=1 (set by .ci/run) turns every skip of a test that needs a
real service into a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import os

import pytest

from tests.services import REQUIRE_SERVICES, SERVICE_SKIP_PREFIX, skip_without_service  # noqa: F401

# Fixtures shared by every test folder (one worker cluster, one browser per session), imported to register them.
from tests.browser import browser, screenshot  # noqa: E402,F401
from tests.workers.cluster import celery_cluster, worker_media_root, workers  # noqa: E402,F401


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and SERVICE_SKIP_PREFIX in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"INKLOOP_REQUIRE_SERVICES=1 and a required service is missing: {report.longrepr}"


@pytest.fixture(autouse=True)
def _require_database_for_db_tests(request):
    """Tests marked django_db need PostgreSQL; say so clearly when it is not there."""
    if request.node.get_closest_marker("django_db") is None:
        return
    if not os.environ.get("DATABASE_URL"):
        skip_without_service("postgres", "DATABASE_URL is unset; run `make test`")


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """The production hasher costs most of a second per user; tests create many users.
    (Without the Django plugin, as for `pytest -p no:django tests/ml`, there is nothing to speed up.)"""
    if request.config.pluginmanager.hasplugin("django"):
        request.getfixturevalue("settings").PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
