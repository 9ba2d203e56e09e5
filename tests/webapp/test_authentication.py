"""Every route needs authentication, except an explicit allow-list; proven by walking the URL resolver."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

# Routes open to anonymous callers, and why.
ALLOW_LIST = {
    "health": "load balancer health check",
    "page-image": "signed media URL: the signature is the credential",
    "labeling-page-image": "Label Studio task image: the revocable per-project token in the URL is the credential",
    "auth-token": "exchanges a username and password for a token",
    "admin:login": "the login form itself",
    "admin:logout": "logging out needs no session",
    "admin:view_on_site": "Django's redirect helper; reveals nothing and 404s without objects",
    "login": "the review UI's login form",
    "logout": "logging out needs no session",
    "password_reset": "asks for a reset mail; answers the same whether the address exists or not",
    "password_reset_done": "a static 'mail sent' page",
    "password_reset_confirm": "the signed token in the URL is the credential",
    "password_reset_complete": "a static 'password changed' page",
}
ROOT_REDIRECT = ""  # "/" is the project list, which redirects anonymous callers to the login page


def all_routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            child_namespace = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from all_routes(entry, prefix + str(entry.pattern), child_namespace)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield name, prefix + str(entry.pattern)


def concrete_path(pattern: str) -> str:
    """Fill converters and regex groups with plausible values."""
    path = re.sub(r"<int:[^>]+>", "1", pattern)
    path = re.sub(r"<(str|slug|path|uuid):[^>]+>|<[^>]+>", "x", path)
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "x", path)
    return "/" + path.lstrip("^").rstrip("$").replace("\\", "")


def test_the_walk_finds_the_api():
    names = {name for name, _ in all_routes()}
    assert {"project-list", "page-list", "line-detail", "layout-import", "search", "schema"} <= names


@pytest.mark.django_db
def test_every_route_outside_the_allow_list_refuses_anonymous_callers():
    client = APIClient()
    unprotected = []
    for name, pattern in all_routes():
        if name in ALLOW_LIST or pattern == ROOT_REDIRECT:
            continue
        path = concrete_path(pattern)
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(path)
            login_redirect = response.status_code == 302 and "/login/" in response.get("Location", "")
            if response.status_code not in (401, 403) and not login_redirect:
                unprotected.append(f"{method.upper()} {path} ({name}) -> {response.status_code}")
    assert not unprotected, "routes open to anonymous callers:\n" + "\n".join(unprotected)


@pytest.mark.django_db
def test_allow_listed_routes_exist():
    names = {name for name, _ in all_routes()}
    assert set(ALLOW_LIST) <= names


@pytest.mark.django_db
def test_health_answers_without_credentials():
    response = APIClient().get("/api/health/")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.django_db
def test_token_authentication_works(manager):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=manager)
    client = APIClient()
    assert client.get("/api/projects/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/projects/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
