"""Adding a member records an invitation: the inviter learns nothing about who has an account.

The invitation is answered 202 alike whether or not the user exists, carries only what the
manager typed, and is fulfilled when the invitee next logs in (the login page, the admin, or
/api/auth/token/).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from webapp.projects.models import Invitation, Membership, Role

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"  # tests/webapp/conftest.py's make_user


def invite(client, project, **who):
    return client.post(f"/api/projects/{project.pk}/members/", {"role": "reviewer", **who}, format="json")


def without_ids(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in ("id", "created_at")}


def test_inviting_answers_the_same_whether_or_not_the_user_exists(manager_client, project, make_user):
    alice = make_user("alice")

    answers = {"existing username": invite(manager_client, project, username="alice"),
               "unknown username": invite(manager_client, project, username="ghost"),
               "existing email": invite(manager_client, project, email=alice.email),
               "unknown email": invite(manager_client, project, email="ghost@example.org")}

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 202)
    assert without_ids(answers["existing username"].data) == without_ids(answers["unknown username"].data) | {
        "username": "alice"}
    assert without_ids(answers["existing email"].data) == without_ids(answers["unknown email"].data) | {
        "email": alice.email}
    assert without_ids(answers["unknown username"].data) == {"username": "ghost", "email": None, "role": "reviewer",
                                                            "accepted": False, "accepted_at": None}
    # Nothing of Alice's account comes back, and she is not a member until she logs in.
    assert alice.email not in str(answers["existing username"].data)
    assert str(alice.pk) not in str(without_ids(answers["existing email"].data))
    assert not Membership.objects.filter(project=project, user=alice).exists()
    assert Invitation.objects.filter(project=project, accepted_at__isnull=True).count() == 4


def test_the_invitee_joins_when_logging_in_on_the_page_or_for_a_token(manager_client, project, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    invite(manager_client, project, username="alice")
    invite(manager_client, project, email=bob.email.upper())  # emails match whatever their case

    page = APIClient().post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    token = APIClient().post("/api/auth/token/", {"username": "bob", "password": PASSWORD})

    assert page.status_code == 302 and token.status_code == 200
    assert Membership.objects.get(project=project, user=alice).role == Role.REVIEWER
    assert Membership.objects.get(project=project, user=bob).role == Role.REVIEWER
    # Each invitation is used once; the managers see it as accepted, not by whom.
    listed = manager_client.get(f"/api/projects/{project.pk}/invitations/").data
    assert [(item["username"], item["email"], item["accepted"]) for item in listed] == [
        ("alice", None, True), (None, "bob@example.org", True)]
    assert "bob" not in str([item["username"] for item in listed])


def test_a_user_made_after_the_invitation_joins_at_first_login(manager_client, project):
    invite(manager_client, project, email="newcomer@example.org")
    get_user_model().objects.create_user(username="newcomer", email="newcomer@example.org", password=PASSWORD)

    assert APIClient().post("/api/auth/token/", {"username": "newcomer", "password": PASSWORD}).status_code == 200

    assert Membership.objects.get(project=project, user__username="newcomer").role == Role.REVIEWER


def test_a_failed_login_or_a_revoked_invitation_joins_nobody(manager_client, project, make_user):
    make_user("alice"), make_user("bob")
    invite(manager_client, project, username="alice")
    revoked = invite(manager_client, project, username="bob").data["id"]

    assert manager_client.delete(f"/api/projects/{project.pk}/invitations/{revoked}/").status_code == 204
    assert APIClient().post("/api/auth/token/", {"username": "alice", "password": "wrong"}).status_code == 400
    assert APIClient().post("/api/auth/token/", {"username": "bob", "password": PASSWORD}).status_code == 200

    assert list(project.memberships.values_list("user__username", flat=True)) == ["manager"]


def test_a_member_invited_again_keeps_their_role(manager_client, project, member):
    annotator = member(Role.ANNOTATOR)
    assert invite(manager_client, project, username=annotator.username).status_code == 202

    APIClient().post("/accounts/login/", {"username": annotator.username, "password": PASSWORD})

    assert Membership.objects.get(project=project, user=annotator).role == Role.ANNOTATOR


def test_inviting_again_while_open_changes_the_role_of_one_invitation(manager_client, project):
    first = invite(manager_client, project, username="ghost")
    again = manager_client.post(f"/api/projects/{project.pk}/members/", {"username": "ghost", "role": "manager"},
                                format="json")

    assert (again.status_code, again.data["id"], again.data["role"]) == (202, first.data["id"], "manager")
    assert Invitation.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("payload, reason", [
    ({"role": "annotator"}, "Give a username or an email: one of the two."),
    ({"username": "alice", "email": "alice@example.org", "role": "annotator"},
     "Give a username or an email: one of the two."),
    ({"email": "not an address", "role": "annotator"}, "email: Enter a valid email address."),
    ({"username": "alice", "role": "owner"}, 'role: "owner" is not a valid choice.'),
])
def test_bad_invitations_are_refused_with_the_reason(manager_client, project, payload, reason):
    response = manager_client.post(f"/api/projects/{project.pk}/members/", payload, format="json")

    assert (response.status_code, response.data["detail"]) == (400, reason)
    assert not Invitation.objects.exists()


def test_only_managers_see_or_revoke_invitations_and_nobody_sees_member_emails(manager_client, project, member,
                                                                               client_for):
    reviewer = member(Role.REVIEWER)
    open_one = invite(manager_client, project, email="someone@example.org").data["id"]

    assert client_for(reviewer).get(f"/api/projects/{project.pk}/invitations/").status_code == 403
    assert client_for(reviewer).delete(f"/api/projects/{project.pk}/invitations/{open_one}/").status_code == 403
    assert client_for(reviewer).post(f"/api/projects/{project.pk}/members/", {"username": "x", "role": "annotator"},
                                     format="json").status_code == 403
    assert Invitation.objects.filter(pk=open_one).exists()
    for client in (manager_client, client_for(reviewer)):
        members = client.get(f"/api/projects/{project.pk}/members/").data
        assert [set(item) for item in members] == [{"user_id", "username", "role"}] * 2
