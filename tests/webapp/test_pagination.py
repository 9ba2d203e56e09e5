"""A page size the client cannot have is a 400, not a silently different page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("route", ["pages/", "queue/", "false-detections/", "search/?q=x&"])
def test_a_bad_page_size_is_refused_and_a_good_one_is_used(manager_client, project, route):
    base = f"/api/projects/{project.pk}/{route}" + ("" if route.endswith("&") else "?")
    for bad in ("null", "0", "501", "-1", "2.5"):
        response = manager_client.get(f"{base}page_size={bad}")
        assert response.status_code == 400, (bad, response.status_code)
        assert response.json()["detail"] == "page_size: A whole number from 1 to 500."
    assert manager_client.get(f"{base}page_size=500").status_code == 200
