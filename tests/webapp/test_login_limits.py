"""Guessing passwords is answered 429 with Retry-After, on the login page and for API tokens.

Every test calls from its own address (the limits count per address), so what one leaves in
the shared cache never reaches another.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.test import RequestFactory
from rest_framework.test import APIClient

from webapp.login_limits import client_address

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"  # tests/webapp/conftest.py's make_user
LIMIT = 5  # INKLOOP_LOGIN_FAILURE_LIMIT's default
COOLOFF = 15 * 60  # INKLOOP_LOGIN_COOLOFF_MINUTES's default, in seconds


def from_address(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def login_page(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def token(client, username: str, password: str):
    return client.post("/api/auth/token/", {"username": username, "password": password})


@pytest.mark.parametrize("attempt, failed, succeeded", [(login_page, 200, 302), (token, 400, 200)])
def test_repeated_failures_for_one_username_and_address_are_answered_429(make_user, attempt, failed, succeeded):
    make_user("alice"), make_user("bob")
    client = from_address("203.0.113.10")

    answers = [attempt(client, "alice", "wrong guess").status_code for _ in range(LIMIT - 1)]
    last = attempt(client, "alice", "wrong guess")
    locked = attempt(client, "alice", PASSWORD)  # even the right password, until the cool-off ends

    assert answers == [failed] * (LIMIT - 1)
    for refused in (last, locked):
        assert refused.status_code == 429 and refused["Retry-After"] == str(COOLOFF)
        assert "Too many failed logins" in refused.content.decode()
    # The lock is on that username from that address: Bob there, and Alice elsewhere, still log in.
    assert attempt(client, "bob", PASSWORD).status_code == succeeded
    assert attempt(from_address("203.0.113.11"), "alice", PASSWORD).status_code == succeeded


def test_a_success_before_the_limit_starts_the_count_again(make_user):
    make_user("alice")
    client = from_address("203.0.113.20")

    for _ in range(LIMIT - 1):
        assert token(client, "alice", "wrong guess").status_code == 400
    assert token(client, "alice", PASSWORD).status_code == 200

    assert [token(client, "alice", "wrong guess").status_code for _ in range(LIMIT - 1)] == [400] * (LIMIT - 1)
    assert token(client, "alice", PASSWORD).status_code == 200
    # Counted from zero again each time: the limit's worth of failures in a row still locks.
    assert [token(client, "alice", "wrong guess").status_code for _ in range(LIMIT)] == [400] * (LIMIT - 1) + [429]


def test_token_requests_from_one_address_are_throttled_in_the_shared_cache(db):
    client = from_address("203.0.113.30")
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_token"].split("/")[0])

    # Each username only once, so no lockout: only the rate of requests from the address counts.
    answers = [token(client, f"nobody-{number}", "guess").status_code for number in range(rate)]
    throttled = token(client, "nobody-else", "guess")

    assert answers == [400] * rate
    assert throttled.status_code == 429 and 0 < int(throttled["Retry-After"]) <= 60
    # Counted in Redis, where every web process counts, not in this process's memory.
    shared = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert shared.keys("inkloop:*throttle_auth_token_203.0.113.30")
    assert token(from_address("203.0.113.31"), "nobody-0", "guess").status_code == 400


def test_the_client_address_behind_a_proxy_is_the_one_the_proxy_saw(settings):
    request = RequestFactory().post("/api/auth/token/", REMOTE_ADDR="10.0.0.2",
                                    HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.40")
    settings.INKLOOP_TRUSTED_PROXIES = 0
    assert client_address(request) == "10.0.0.2"
    settings.INKLOOP_TRUSTED_PROXIES = 1  # what the client wrote (198.51.100.1) is never believed
    assert client_address(request) == "203.0.113.40"
