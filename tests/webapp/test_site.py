"""What every browser asks of the site: its icon, and cookies of inkloop's own."""

from __future__ import annotations

import pytest
from django.test import Client


def test_the_site_has_an_icon():
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 200
    assert answer["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    assert b"".join(answer.streaming_content).startswith(b"\x00\x00\x01\x00")  # the ICO header


@pytest.mark.django_db
def test_inkloops_login_and_csrf_cookies_have_names_of_their_own(make_user):
    """Label Studio on the same host uses Django's default names (sessionid, csrftoken): sharing them, logging
    into one app logged out of the other. tests/labeling/test_browser.py shows it in a browser."""
    make_user("annotator")
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/accounts/login/")
    assert set(form.cookies) == {"inkloop_csrftoken"}
    logged_in = browser.post("/accounts/login/", {
        "username": "annotator", "password": "a-long-test-password",
        "csrfmiddlewaretoken": form.cookies["inkloop_csrftoken"].value})
    assert logged_in.status_code == 302
    assert set(logged_in.cookies) == {"inkloop_sessionid", "inkloop_csrftoken"}  # the token rotates at login
    assert browser.get("/").status_code == 200  # the session is the new cookie's
