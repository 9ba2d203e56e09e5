"""Skips for missing services: a skip locally, a failure in CI (INKLOOP_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("INKLOOP_REQUIRE_SERVICES") == "1"
SERVICE_SKIP_PREFIX = "needs service:"


def skip_without_service(name: str, why: str) -> None:
    """Skip locally when a service is missing; tests/conftest.py turns this into a failure in CI."""
    pytest.skip(f"{SERVICE_SKIP_PREFIX} {name} ({why})")
