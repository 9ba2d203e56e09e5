"""The project pages refuse what the API refuses, with the API's messages, and check roles as the API does."""

from __future__ import annotations

import html

import pytest
from django.utils.html import strip_tags

from webapp.projects.models import Invitation, Project, Strategy

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def test_creating_a_project_shows_the_apis_messages(client, manager, manager_client):
    client.force_login(manager)
    bad = {"name": "", "alphabet_policy": "sometimes"}
    api_errors = manager_client.post("/api/projects/", bad, format="json").json()["errors"]

    response = client.post("/projects/new/", bad)

    assert response.status_code == 400
    for field, messages in api_errors.items():
        for message in messages:
            assert f"{field}: {message}" in page_text(response)
    before = Project.objects.count()
    response = client.post("/projects/new/", {"name": "Letters", "alphabet_policy": "grow"})
    assert response.status_code == 302
    created = Project.objects.get(name="Letters")
    assert Project.objects.count() == before + 1 and created.use_base_models is False  # unticked: opted out
    assert response["Location"] == f"/projects/{created.pk}/"


def test_settings_refuse_what_patch_refuses_and_store_nothing(client, manager, manager_client, project):
    client.force_login(manager)
    api = manager_client.patch(f"/api/projects/{project.pk}/", {"val_percent": 60, "test_percent": 50},
                               format="json").json()
    fields = {"name": project.name, "alphabet_policy": "grow", "strategy": "random", "val_percent": "60",
              "test_percent": "50", "retrain_new_lines": "10", "retrain_new_pages": "5", "promotion_margin": "0.01",
              "group_pattern": project.group_pattern}

    response = client.post(f"/projects/{project.pk}/settings/", fields)

    assert response.status_code == 400
    assert api["detail"] in page_text(response)
    project.refresh_from_db()
    assert (project.val_percent, project.strategy, project.retrain_new_lines) == (10, "least_confidence", 200)

    response = client.post(f"/projects/{project.pk}/settings/", {**fields, "val_percent": "10", "test_percent": "10",
                                                                    "group_pattern": "(unclosed"})
    assert "group_pattern: Not a valid regular expression" in page_text(response)


def test_roles_as_the_api_checks_them(client, member, project, make_user):
    reviewer = member("reviewer")
    client.force_login(reviewer)
    assert client.get(f"/projects/{project.pk}/settings/").status_code == 403
    assert client.get(f"/projects/{project.pk}/members/").status_code == 200
    assert client.post(f"/projects/{project.pk}/members/invite/",
                       {"kind": "email", "invitee": "x@example.org", "role": "manager"}).status_code == 403
    assert not Invitation.objects.exists()

    client.force_login(make_user("stranger"))
    for path in (f"/projects/{project.pk}/settings/", f"/projects/{project.pk}/members/"):
        assert client.get(path).status_code == 404, path


def test_a_manager_revokes_an_open_invitation(client, manager, project):
    client.force_login(manager)
    client.post(f"/projects/{project.pk}/members/invite/", {"kind": "email", "invitee": "Ada@Example.org",
                                                            "role": "reviewer"})
    invitation = Invitation.objects.get(project=project)
    assert (invitation.invitee, invitation.role) == ("ada@example.org", "reviewer")
    assert "ada@example.org" in page_text(client.get(f"/projects/{project.pk}/members/"))

    response = client.post(f"/projects/{project.pk}/invitations/{invitation.pk}/revoke/", follow=True)

    assert "Invitation for ada@example.org revoked." in page_text(response)
    assert not Invitation.objects.exists()


def test_the_review_page_says_in_which_order_lines_come(client, manager, project):
    client.force_login(manager)
    assert "Least certain lines first." in page_text(client.get(f"/projects/{project.pk}/review/"))

    project.strategy = Strategy.RANDOM
    project.save(update_fields=["strategy"])

    text = page_text(client.get(f"/projects/{project.pk}/review/"))
    assert "Lines in random order (the project's setting)." in text and "Least certain" not in text
