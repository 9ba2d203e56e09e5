"""Label Studio's editor reads task images cross-origin: they answer its origin, and nothing else does.

The browser side (an image that loads in Label Studio's editor) is in test_browser.py; these
check the headers one by one, through Django's full middleware stack.
"""

from __future__ import annotations

import io
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from PIL import Image

from labeling.models import LabelStudioProject
from webapp.corpus.models import Page
from webapp.corpus.services import pages_upload
from webapp.corpus.signing import page_image_url
from webapp.projects.services import project_create

pytestmark = pytest.mark.django_db

LABEL_STUDIO = "http://127.0.0.1:8080"


@pytest.fixture
def task_image(settings, media_root) -> str:
    """The path of a page's task image, as Label Studio's tasks carry it."""
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_BROWSER_URL = LABEL_STUDIO, ""
    user = get_user_model().objects.create_user(username=f"u{uuid.uuid4().hex[:6]}", password="x" * 12)
    project = project_create(creator=user, name="Wills", use_base_models=False)
    buffer = io.BytesIO()
    Image.new("L", (40, 30), color=200).save(buffer, format="PNG")
    [stored] = pages_upload(project=project, user=user, files=[("page.png", buffer.getvalue())])
    link = LabelStudioProject.objects.create(project=project, ls_project_id=uuid.uuid4().int % 10**9)
    return f"/labeling/pages/{link.image_token}/{stored.page.pk}/image/"


def get(path: str, *, origin: str | None, method: str = "get", **headers):
    if origin is not None:
        headers["Origin"] = origin
    return getattr(Client(), method)(path, headers=headers)


def test_the_task_image_answers_label_studios_origin_and_its_loopback_twin_only(task_image):
    for origin in (LABEL_STUDIO, "http://localhost:8080"):
        answer = get(task_image, origin=origin)
        assert answer.status_code == 200 and b"".join(answer.streaming_content).startswith(b"\x89PNG")
        assert answer["Access-Control-Allow-Origin"] == origin
        assert "Access-Control-Allow-Credentials" not in answer
        assert "origin" in answer["Vary"].lower()
    for origin in ("http://evil.example", "http://127.0.0.1:8081", "https://127.0.0.1:8080", "null"):
        answer = get(task_image, origin=origin)
        assert answer.status_code == 200, origin  # the token is the credential; CORS decides which pages may read it
        assert "Access-Control-Allow-Origin" not in answer, origin
        assert "origin" in answer["Vary"].lower(), origin  # no cache may hand this answer to Label Studio


def test_a_preflight_is_answered_for_label_studio_only(task_image):
    preflight = {"Access-Control-Request-Method": "GET"}
    answer = get(task_image, origin=LABEL_STUDIO, method="options", **preflight)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == LABEL_STUDIO
    assert set(answer["Access-Control-Allow-Methods"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
    assert "Access-Control-Allow-Credentials" not in answer
    assert "Access-Control-Allow-Origin" not in get(task_image, origin="http://evil.example", method="options",
                                                     **preflight)


def test_the_origin_follows_where_browsers_open_label_studio(task_image, settings):
    # On a compose network inkloop's server reaches Label Studio by another name than browsers do.
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_BROWSER_URL = "http://label-studio:8080", "https://ls.example.org"
    assert get(task_image, origin="https://ls.example.org")["Access-Control-Allow-Origin"] == "https://ls.example.org"
    assert "Access-Control-Allow-Origin" not in get(task_image, origin="http://label-studio:8080")
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_BROWSER_URL = "", ""
    assert "Access-Control-Allow-Origin" not in get(task_image, origin=LABEL_STUDIO)


def test_no_other_route_answers_label_studios_origin(task_image):
    assert get(task_image, origin=LABEL_STUDIO)["Access-Control-Allow-Origin"] == LABEL_STUDIO
    page_id = int(task_image.rstrip("/").split("/")[-2])
    signed_image = page_image_url(Page.objects.get(pk=page_id))
    for path in ("/api/health/", "/api/projects/", signed_image, "/labeling/webhook/", "/ml/health"):
        answer = get(path, origin=LABEL_STUDIO)
        assert "Access-Control-Allow-Origin" not in answer, path
        preflight = get(path, origin=LABEL_STUDIO, method="options", **{"Access-Control-Request-Method": "POST"})
        assert "Access-Control-Allow-Origin" not in preflight, path
