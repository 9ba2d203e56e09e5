"""What each dependency says right now: the database, the broker, the stored files, Label Studio.

Each check is bounded by a short timeout, so a dead dependency makes the health answer slow by
at most that long, never hang. A check never raises: it reports what failed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

import urllib.request

import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from webapp.queueing import redis_url

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    ok: bool
    ms: float
    error: str = ""


def _database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()  # a broken connection must not be reused by the next request
        raise


def _broker() -> None:
    client = redis.Redis.from_url(redis_url(), socket_timeout=CHECK_TIMEOUT_SECONDS,
                                  socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.ping()
    finally:
        client.close()


def _storage() -> None:
    # Uploads need to write: a probe file is written and removed (this also creates a fresh MEDIA_ROOT).
    name = default_storage.save(f"health/probe-{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


def _label_studio() -> None:
    # The configured URL is the operator's, not user-supplied; an HTTP error status raises too.
    with urllib.request.urlopen(f"{settings.LABEL_STUDIO_URL}/health", timeout=CHECK_TIMEOUT_SECONDS):  # noqa: S310
        pass


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database, "broker": _broker, "storage": _storage, "label_studio": _label_studio}
# What the web process cannot serve a request without; the broker and Label Studio are reported
# (work is queued in PostgreSQL while the broker is away), and a caller that needs them says so.
DEFAULT_NEEDS = ("database", "storage")


def configured_checks() -> list[str]:
    return [name for name in CHECKS if name != "label_studio" or settings.LABEL_STUDIO_URL]


def dependency_checks(names: list[str]) -> dict[str, Check]:
    results = {}
    for name in names:
        started = time.monotonic()
        try:
            CHECKS[name]()
        except Exception as error:  # whatever failed is what the check reports
            results[name] = Check(ok=False, ms=_ms(started), error=f"{type(error).__name__}: {error}"[:300])
        else:
            results[name] = Check(ok=True, ms=_ms(started))
    return results


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
