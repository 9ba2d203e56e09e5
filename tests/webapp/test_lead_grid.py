"""The page grid, its thumbnails, the search page and the export of a selection (server side; the browser
tests are in tests/e2e/test_lead_grid.py)."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from tests.webapp.conftest import png_bytes, upload
from webapp.corpus.models import Line, LineSource, Page, PageStatus, Split, page_thumbnail_path
from webapp.projects.models import Role
from webapp.projects.services import project_create

pytestmark = pytest.mark.django_db


def add_pages(project, start: int, count: int, *, lines_per_page: int = 2) -> None:
    """Pages and lines straight into PostgreSQL (no image files: the grid and dashboard never read them)."""
    statuses = [PageStatus.NEW, PageStatus.PREDICTED, PageStatus.IN_PROGRESS, PageStatus.DONE]
    pages = Page.objects.bulk_create([
        Page(project=project, image=f"projects/{project.pk}/pages/fake/{n}.png", original_name=f"page-{n:05d}.png",
             extension=".png", sha256=hashlib.sha256(f"{project.pk}-{n}".encode()).hexdigest(), width=1000,
             height=1500, group=f"doc-{n // 10}", split=[Split.TRAIN, Split.VAL, Split.TEST][n % 3],
             status=statuses[n % 4], confidence=(n % 97) / 97)
        for n in range(start, start + count)])
    Line.objects.bulk_create([
        Line(page=page, project=project, x0=10, y0=10 + 40 * k, x1=900, y1=40 + 40 * k, order=k,
             text=f"ligne {k} du testament {page.pk}", source=LineSource.MODEL, confidence=0.5)
        for page in pages for k in range(lines_per_page)], batch_size=5000)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


def test_dashboard_and_grid_take_the_same_queries_at_50_and_5000_pages(project, manager):
    client = logged_in(manager)
    urls = [f"/projects/{project.pk}/", f"/projects/{project.pk}/pages/",
            f"/projects/{project.pk}/pages/?sort=edited&page=3",
            f"/projects/{project.pk}/pages/?status=predicted&split=train&verified=no&page=2"]
    add_pages(project, 0, 50)
    small = {url: queries(client, url) for url in urls}
    add_pages(project, 50, 4950, lines_per_page=1)
    large = {url: queries(client, url) for url in urls}
    assert large == small

    grid = client.get(f"/projects/{project.pk}/pages/?page=2").content.decode()
    assert grid.count('class="page-card"') == 48
    assert "5000 pages, 49–96 shown" in grid
    assert "Page 2 of 105" in grid
    dashboard = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Open the page grid" in dashboard and "page-00001.png" not in dashboard  # no list of every page


def test_grid_filters_and_sorts_in_the_database(project, manager):
    add_pages(project, 0, 12)
    client = logged_in(manager)
    body = client.get(f"/projects/{project.pk}/pages/?status=predicted&split=val").content.decode()
    names = re.findall(r'class="name">([^<]+)<', body)
    assert names == [f"page-{n:05d}.png" for n in range(12) if n % 4 == 1 and n % 3 == 1]
    assert 'data-status="predicted"' in body and "Pre-annotated" in body
    body = client.get(f"/projects/{project.pk}/pages/?sort=confidence").content.decode()
    names = re.findall(r'class="name">([^<]+)<', body)
    assert names[0] == "page-00000.png" and names[-1] == "page-00011.png"
    refused = client.get(f"/projects/{project.pk}/pages/?status=shredded")
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()


def test_the_grid_shows_bulk_actions_by_role(project, member):
    add_pages(project, 0, 3)
    annotator = logged_in(member(Role.ANNOTATOR)).get(f"/projects/{project.pk}/pages/").content.decode()
    assert 'class="page-card"' in annotator and "Delete selected" not in annotator and "Export ALTO" not in annotator
    reviewer = logged_in(member(Role.REVIEWER)).get(f"/projects/{project.pk}/pages/").content.decode()
    assert "Pre-annotate" in reviewer and "Delete selected" not in reviewer
    other = project_create(creator=member(Role.MANAGER, "outsider"), name="other", use_base_models=False)
    assert logged_in(member(Role.ANNOTATOR, "a2")).get(f"/projects/{other.pk}/pages/").status_code == 404


def test_a_thumbnail_is_made_once_stored_revalidated_and_deleted_with_its_page(project, manager, manager_client,
                                                                               make_user,
                                                                               django_capture_on_commit_callbacks):
    stored = upload(manager_client, project.pk, ("big.png", png_bytes(1200, 1800)))
    page = Page.objects.get(pk=stored.data[0]["id"])
    url = f"/projects/{project.pk}/pages/{page.pk}/thumbnail.jpg"
    client = logged_in(manager)
    first = client.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/jpeg"
    assert "private" in first["Cache-Control"] and first["ETag"]
    with Image.open(io.BytesIO(first.content)) as thumb:
        assert thumb.size == (320, 480)  # never the full image
    assert default_storage.exists(page_thumbnail_path(page))
    again = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304 and not again.content
    assert client.get(url).content == first.content  # read back from storage
    assert logged_in(make_user("stranger")).get(url).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        assert manager_client.delete(f"/api/projects/{project.pk}/pages/{page.pk}/").status_code == 204
    assert not default_storage.exists(page_thumbnail_path(page))


def test_search_page_counts_every_hit_and_links_each_to_its_line(project, manager):
    add_pages(project, 0, 40)  # 80 lines, all with "testament"
    client = logged_in(manager)
    assert client.get(f"/projects/{project.pk}/?q=testament").url == f"/projects/{project.pk}/search/?q=testament"
    body = client.get(f"/projects/{project.pk}/search/?q=testament").content.decode()
    assert "80 lines found; 1–50 shown." in body
    line = Line.objects.filter(project=project).order_by("page_id", "order").first()
    assert f'href="/projects/{project.pk}/pages/{line.page_id}/#line-{line.pk}"' in body
    second = client.get(f"/projects/{project.pk}/search/?q=testament&page=2").content.decode()
    assert "51–80 shown" in second and second.count("<li><a href") == 30
    assert client.get(f"/projects/{project.pk}/search/?q=" + "x" * 201).status_code == 400


def test_export_of_a_selection(project, manager_client, member, client_for):
    stored = upload(manager_client, project.pk, ("a.png", png_bytes(shade=100)), ("b.png", png_bytes(shade=150)))
    first, second = (item["id"] for item in stored.data)
    answer = manager_client.get(f"/api/projects/{project.pk}/export/?format=text&pages={second}")
    assert answer.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(answer.getvalue())).namelist()
    assert any(name.startswith("b") for name in names) and not any(name.startswith("a") for name in names)
    everything = zipfile.ZipFile(io.BytesIO(manager_client.get(f"/api/projects/{project.pk}/export/?format=text")
                                            .getvalue())).namelist()
    assert any(name.startswith("a") for name in everything) and any(name.startswith("b") for name in everything)
    bad = manager_client.get(f"/api/projects/{project.pk}/export/?pages=1,x")
    assert bad.status_code == 400 and "page ids" in bad.data["detail"]
    missing = manager_client.get(f"/api/projects/{project.pk}/export/?pages={first},999999")
    assert missing.status_code == 400 and "999999" in missing.data["detail"]
    annotator = client_for(member(Role.ANNOTATOR))
    assert annotator.get(f"/api/projects/{project.pk}/export/?pages={first}").status_code == 403
