"""A user of project A learns nothing about project B: every URL of B answers 404, and ids of
B's rows used under A's URLs answer 404 too. Nothing of B changes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.webapp.conftest import png_bytes, upload
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, Page
from webapp.projects.models import Invitation, Membership
from webapp.projects.services import invitation_create, project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_projects(make_user, client_for):
    """Alice manages A, Bob manages B; each project has one page with one line."""
    alice, bob = make_user("alice"), make_user("bob")
    projects = {}
    for key, owner, shade in (("a", alice, 200), ("b", bob, 120)):
        project = project_create(creator=owner, name=f"Project {key.upper()}")
        files = [(f"{key}.png", png_bytes(shade=shade))]
        page = services.pages_upload(project=project, user=owner, files=files)[0].page
        line = services.line_create(page=page, user=owner, data=LineData(bbox=(10, 10, 100, 40), text=f"secret {key}"))
        invitation = invitation_create(project=project, invited_by=owner, kind="email", invitee=f"{key}@example.org",
                                       role="annotator")
        projects[key] = {"project": project, "page": page, "line": line, "invitation": invitation}
    return {"alice": client_for(alice), "bob": client_for(bob), **projects}


def _b_state():
    return sorted(Line.objects.filter(page__project__name="Project B").values_list("id", "text", "version")), \
        Page.objects.filter(project__name="Project B").count(), LineRevision.objects.count()


def _requests(w):
    """(method, url, payload, format) of every endpoint of B, as Alice would call it."""
    b, page, line = w["b"]["project"].pk, w["b"]["page"].pk, w["b"]["line"]
    return [
        ("get", f"/api/projects/{b}/", None),
        ("patch", f"/api/projects/{b}/", {"name": "pwned"}),
        ("delete", f"/api/projects/{b}/", None),
        ("get", f"/api/projects/{b}/members/", None),
        ("post", f"/api/projects/{b}/members/", {"username": "alice", "role": "manager"}),
        ("delete", f"/api/projects/{b}/members/{line.page.project.created_by_id}/", None),
        ("get", f"/api/projects/{b}/invitations/", None),
        ("delete", f"/api/projects/{b}/invitations/{w['b']['invitation'].pk}/", None),
        ("get", f"/api/projects/{b}/pages/", None),
        ("get", f"/api/projects/{b}/pages/{page}/", None),
        ("delete", f"/api/projects/{b}/pages/{page}/", None),
        ("get", f"/api/projects/{b}/pages/{page}/lines/", None),
        ("post", f"/api/projects/{b}/pages/{page}/lines/", {"bbox": [1, 1, 20, 20], "text": "injected"}),
        ("put", f"/api/projects/{b}/pages/{page}/lines/", {"lines": []}),
        ("get", f"/api/projects/{b}/pages/{page}/export/", None),
        ("get", f"/api/projects/{b}/lines/{line.pk}/", None),
        ("patch", f"/api/projects/{b}/lines/{line.pk}/", {"version": line.version, "text": "overwritten"}),
        ("delete", f"/api/projects/{b}/lines/{line.pk}/?version={line.version}", None),
        ("get", f"/api/projects/{b}/lines/{line.pk}/revisions/", None),
        ("post", f"/api/projects/{b}/lines/{line.pk}/not-a-line/", {"version": line.version}),
        ("get", f"/api/projects/{b}/false-detections/", None),
        ("get", f"/api/projects/{b}/models/", None),
        ("get", f"/api/projects/{b}/search/?q=secret", None),
        ("get", f"/api/projects/{b}/export/?format=alto", None),
        ("post", f"/api/projects/{b}/preannotate/", {"page_ids": [page]}),
        ("post", f"/api/projects/{b}/send-to-label-studio/", {"page_ids": [page]}),
    ]


def test_every_endpoint_of_another_project_is_404(two_projects):
    client = two_projects["alice"]
    before = _b_state()

    for method, url, payload in _requests(two_projects):
        response = getattr(client, method)(url, payload, format="json") if payload is not None \
            else getattr(client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "secret b" not in response.content.decode(errors="replace")

    assert _b_state() == before
    assert not Membership.objects.filter(project=two_projects["b"]["project"], user__username="alice").exists()
    assert Invitation.objects.filter(project=two_projects["b"]["project"]).count() == 1


def test_upload_and_import_into_another_project_are_404(two_projects, settings):
    from pathlib import Path

    client, b = two_projects["alice"], two_projects["b"]["project"].pk
    files_before = sorted(Path(settings.MEDIA_ROOT).rglob("*"))

    uploaded = upload(client, b, ("intruder.png", png_bytes(shade=30)))
    imported = client.post(f"/api/projects/{b}/import/", {"files": [SimpleUploadedFile("intruder.png",
                                                                                        png_bytes(shade=31))]},
                           format="multipart")

    assert uploaded.status_code == 404 and imported.status_code == 404
    assert Page.objects.filter(project_id=b).count() == 1
    assert sorted(Path(settings.MEDIA_ROOT).rglob("*")) == files_before


def test_ids_of_another_project_under_my_project_url_are_404(two_projects):
    client = two_projects["alice"]
    a = two_projects["a"]["project"].pk
    b_page, b_line = two_projects["b"]["page"].pk, two_projects["b"]["line"]
    before = _b_state()

    for method, url, payload in [
        ("get", f"/api/projects/{a}/pages/{b_page}/", None),
        ("delete", f"/api/projects/{a}/pages/{b_page}/", None),
        ("get", f"/api/projects/{a}/pages/{b_page}/lines/", None),
        ("post", f"/api/projects/{a}/pages/{b_page}/lines/", {"bbox": [1, 1, 20, 20], "text": "injected"}),
        ("put", f"/api/projects/{a}/pages/{b_page}/lines/", {"lines": []}),
        ("get", f"/api/projects/{a}/pages/{b_page}/export/", None),
        ("get", f"/api/projects/{a}/lines/{b_line.pk}/", None),
        ("patch", f"/api/projects/{a}/lines/{b_line.pk}/", {"version": b_line.version, "text": "overwritten"}),
        ("delete", f"/api/projects/{a}/lines/{b_line.pk}/?version={b_line.version}", None),
        ("get", f"/api/projects/{a}/lines/{b_line.pk}/revisions/", None),
        ("post", f"/api/projects/{a}/lines/{b_line.pk}/not-a-line/", {"version": b_line.version}),
    ]:
        response = getattr(client, method)(url, payload, format="json") if payload is not None \
            else getattr(client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "secret b" not in response.content.decode(errors="replace")

    assert _b_state() == before


def test_revisions_of_a_deleted_line_of_another_project_stay_hidden(two_projects):
    b = two_projects["b"]
    services.line_delete(line_id=b["line"].pk, page=b["page"], user=b["project"].created_by,
                         expected_version=b["line"].version)
    a = two_projects["a"]["project"].pk

    mine = two_projects["alice"].get(f"/api/projects/{a}/lines/{b['line'].pk}/revisions/")
    theirs = two_projects["bob"].get(f"/api/projects/{b['project'].pk}/lines/{b['line'].pk}/revisions/")

    assert mine.status_code == 404
    assert theirs.status_code == 200 and [r["action"] for r in theirs.data] == ["create", "delete"]


def test_bulk_replace_with_a_line_of_another_project_is_refused(two_projects):
    a, b = two_projects["a"], two_projects["b"]
    before = _b_state()

    response = two_projects["alice"].put(
        f"/api/projects/{a['project'].pk}/pages/{a['page'].pk}/lines/",
        {"lines": [{"id": b["line"].pk, "version": b["line"].version, "bbox": [10, 10, 100, 40], "text": "stolen"}]},
        format="json")

    assert response.status_code in (400, 404)
    assert "secret b" not in response.content.decode()
    assert _b_state() == before
    assert list(Line.objects.filter(page=a["page"]).values_list("text", flat=True)) == ["secret a"]


def test_lists_and_search_hold_only_my_project(two_projects):
    client, a = two_projects["alice"], two_projects["a"]

    pages = client.get(f"/api/projects/{a['project'].pk}/pages/").data["results"]
    hits = client.get(f"/api/projects/{a['project'].pk}/search/?q=secret").data["results"]
    projects = client.get("/api/projects/").data

    assert [p["id"] for p in pages] == [a["page"].pk]
    assert [h["text"] for h in hits] == ["secret a"]
    assert [p["name"] for p in projects] == ["Project A"]


def test_the_same_image_in_two_projects_gives_two_pages(two_projects):
    """sha256 is unique per project only: B's copy must not be returned to A (no cross-project dedup)."""
    a = two_projects["a"]["project"].pk
    response = upload(two_projects["alice"], a, ("copy.png", png_bytes(shade=120)))

    assert response.status_code == 201
    assert response.data[0]["created"] is True
    assert response.data[0]["id"] != two_projects["b"]["page"].pk
    assert Page.objects.get(pk=response.data[0]["id"]).project_id == a
