"""Reads of projects and memberships, always limited to the caller's projects."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404

from webapp.projects.models import Invitation, Membership, Project, Role


def project_list(*, user: AbstractBaseUser) -> QuerySet[Project]:
    # The annotation reuses the filter's join, so it is the caller's own role (one membership per user).
    return Project.objects.filter(memberships__user=user).annotate(caller_role=F("memberships__role"))


def access_project(*, user: AbstractBaseUser, project_id: int, min_role: str = Role.ANNOTATOR) -> Project:
    """The project if `user` belongs to it with at least `min_role`.

    A user who is not a member gets 404, not 403: they must not learn that the project exists.
    A member whose role is too low gets 403 with the role needed.
    """
    membership = (Membership.objects.select_related("project")
                  .filter(project_id=project_id, user=user).first())
    if membership is None or not user.is_authenticated:
        raise Http404("No such project.")
    if Role.rank(membership.role) < Role.rank(min_role):
        raise PermissionDenied(f"This needs the {min_role} role in the project; you are {membership.role}.")
    project = membership.project
    project.caller_role = membership.role
    return project


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user")


def invitation_list(*, project: Project) -> QuerySet[Invitation]:
    """The project's invitations, open and accepted: only what its managers typed (see Invitation)."""
    return Invitation.objects.filter(project=project).order_by("id")
