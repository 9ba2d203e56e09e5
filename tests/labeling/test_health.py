"""/api/health/ reports Label Studio as it is: the session's real server, then an address nobody answers."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from webapp.devstack import free_port

pytestmark = pytest.mark.django_db


def test_health_reports_label_studio_and_is_503_when_a_caller_needs_it_and_it_is_down(label_studio_process,
                                                                                      settings):
    settings.LABEL_STUDIO_URL = label_studio_process.url
    up = APIClient().get("/api/health/?needs=database,label_studio")
    assert up.status_code == 200, up.json()
    assert up.json()["checks"]["label_studio"]["ok"] is True

    settings.LABEL_STUDIO_URL = f"http://127.0.0.1:{free_port()}"  # a port nothing listens on: refused
    down = APIClient().get("/api/health/?needs=database,label_studio")
    assert down.status_code == 503 and down["Retry-After"] == "30"
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["label_studio"]["ok"] is False and down.json()["checks"]["label_studio"]["error"]
    # Reported, but not needed by default: the web app serves its own pages without Label Studio.
    default = APIClient().get("/api/health/")
    assert default.status_code == 200 and default.json()["checks"]["label_studio"]["ok"] is False
