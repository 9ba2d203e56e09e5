"""inkloop's page view links a page to its Label Studio task, where annotators' browsers open Label Studio."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from PIL import Image

from labeling.models import LabelStudioProject
from webapp.corpus.services import pages_upload
from webapp.projects.services import project_create

pytestmark = pytest.mark.django_db


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (40, 30), color=shade).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_page_with_a_task_links_to_it_in_label_studio_and_one_without_does_not(settings, media_root):
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_BROWSER_URL = "http://127.0.0.1:8080", "http://localhost:8080"
    user = get_user_model().objects.create_user(username="lead", password="x" * 12)
    project = project_create(creator=user, name="Wills", use_base_models=False)
    with_task, without_task = (stored.page for stored in pages_upload(
        project=project, user=user, files=[("a.png", png(200)), ("b.png", png(120))]))
    with_task.ls_task_id = 4242
    with_task.save(update_fields=["ls_task_id"])
    LabelStudioProject.objects.create(project=project, ls_project_id=917)
    browser = Client()
    browser.force_login(user)

    page = browser.get(f"/projects/{project.pk}/pages/{with_task.pk}/").content.decode()
    assert 'href="http://localhost:8080/projects/917/data?task=4242"' in page
    other = browser.get(f"/projects/{project.pk}/pages/{without_task.pk}/").content.decode()
    assert "localhost:8080/projects/" not in other
