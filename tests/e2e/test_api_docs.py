"""Swagger UI on a machine without internet access: its scripts and styles come from inkloop."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_swagger_ui_lists_the_operations_offline(page, live_server, log_in, screenshot):
    elsewhere: list[str] = []

    def only_inkloop(route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:  # the internet is not there
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_inkloop)
    log_in(page, get_user_model().objects.create_user(username="reader", password="x" * 12))
    page.goto("/api/docs/", wait_until="domcontentloaded")
    # The schema is generated on the first request for it: give that its time.
    expect(page.locator(".opblock-summary-path", has_text="/api/projects/{project_id}/pages/").first) \
        .to_be_visible(timeout=30_000)
    assert page.locator(".opblock").count() > 30  # every operation, not a few
    screenshot(page, "swagger-ui-offline")
    assert elsewhere == []
