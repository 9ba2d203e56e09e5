from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from PIL import Image
from rest_framework.test import APIClient

from webapp.projects.models import Membership, Strategy
from webapp.projects.services import project_create

REPO_ROOT = Path(__file__).resolve().parents[2]
CREMMA = REPO_ROOT.parent / "shared" / "data" / "cremma-testaments"


@pytest.fixture(autouse=True)
def _isolated_media(media_root):
    """Every web test writes page images to its own folder."""


@pytest.fixture
def make_user(db):
    def make(username: str):
        return get_user_model().objects.create_user(username=username, email=f"{username}@example.org",
                                                    password="a-long-test-password")
    return make


@pytest.fixture
def manager(make_user):
    return make_user("manager")


@pytest.fixture
def project(manager):
    # The queue tests check the ranked order; the random default has tests of its own.
    return project_create(creator=manager, name="Wills", use_base_models=False, strategy=Strategy.LEAST_CONFIDENCE)


@pytest.fixture
def member(make_user, project):
    """A user of `project` with a given role."""
    def make(role: str, username: str | None = None):
        user = make_user(username or role)
        Membership.objects.create(project=project, user=user, role=role)
        return user
    return make


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client
    return make


@pytest.fixture
def manager_client(client_for, manager):
    return client_for(manager)


def png_bytes(width: int = 120, height: int = 80, shade: int = 200) -> bytes:
    image = Image.new("L", (width, height), color=shade)
    for x in range(10, width - 10):
        image.putpixel((x, height // 2), 0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client, project_id: int, *files: tuple[str, bytes], **data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = {"files": [SimpleUploadedFile(name, content) for name, content in files], **data}
    return client.post(f"/api/projects/{project_id}/pages/", payload, format="multipart")


@pytest.fixture
def cremma_dir() -> Path:
    if not CREMMA.is_dir():
        pytest.fail(f"The CREMMA data is missing at {CREMMA} (shared/ lies beside the repository).")
    return CREMMA
