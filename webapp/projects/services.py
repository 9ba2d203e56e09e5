"""Writes of projects and memberships."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.projects.models import Invitation, InviteeKind, Membership, Project, Role

EDITABLE_FIELDS = {
    "name", "description", "alphabet_policy", "alphabet", "group_pattern", "val_percent", "test_percent",
    "retrain_auto", "retrain_new_lines", "retrain_new_pages", "strategy", "promotion_margin", "use_base_models",
}


@transaction.atomic
def project_create(*, creator: AbstractBaseUser, name: str, **fields: Any) -> Project:
    """The creator becomes the project's first manager; the registry starts with the base models
    unless the project opts out (`use_base_models=False`)."""
    from webapp.training.base import base_versions_install

    project = Project(name=name, created_by=creator, **_only_editable(fields))
    project.full_clean()
    with transaction.atomic():
        project.save()
        Membership.objects.create(project=project, user=creator, role=Role.MANAGER)
        if project.use_base_models:
            base_versions_install(project=project, user=creator)
    return project


def project_update(*, project: Project, **fields: Any) -> Project:
    if "use_base_models" in fields and fields["use_base_models"] != project.use_base_models:
        raise ValidationError({"use_base_models": "Chosen when the project is created: the base models are then its "
                                                  "first versions. To drop them, roll back or train from scratch."})
    for name, value in _only_editable(fields).items():
        setattr(project, name, value)
    project.full_clean()
    project.save()
    return project


def project_delete(*, project: Project) -> None:
    # Page files are removed by page deletion; see webapp.corpus.services.pages_delete.
    from webapp.corpus.services import pages_delete

    with transaction.atomic():
        pages_delete(pages=list(project.pages.all()))
        project.delete()


@transaction.atomic
def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    """Makes `user` a member with `role`, or changes their role. For people the caller already knows
    (an existing member, the project's creator); anyone else joins through `invitation_create`."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; one of {', '.join(Role.values)}."})
    membership, created = Membership.objects.select_for_update().get_or_create(
        project=project, user=user, defaults={"role": role})
    if not created and membership.role != role:
        _refuse_removing_last_manager(project=project, membership=membership, new_role=role)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def invitation_create(*, project: Project, invited_by: AbstractBaseUser, kind: str, invitee: str,
                      role: str) -> Invitation:
    """Records that whoever has this username or email is to join with `role`.

    Nothing here looks at the users: the answer, the rows written and the time taken are the same
    whether or not such a user exists, so inviting cannot tell anyone who has an account. Inviting
    the same person again while the invitation is open changes its role. The invitee joins when
    they next log in (`invitations_accept`); a current member keeps their role (PATCH changes it).
    """
    if kind not in InviteeKind.values:
        raise ValidationError({"kind": f"Invite by one of {', '.join(InviteeKind.values)}."})
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; one of {', '.join(Role.values)}."})
    invitee = invitee.strip().lower() if kind == InviteeKind.EMAIL else invitee.strip()
    if not invitee:
        raise ValidationError({kind: "May not be blank."})
    invitation, created = Invitation.objects.select_for_update().get_or_create(
        project=project, kind=kind, invitee=invitee, accepted_at__isnull=True,
        defaults={"role": role, "invited_by": invited_by})
    if not created and (invitation.role, invitation.invited_by_id) != (role, invited_by.pk):
        invitation.role, invitation.invited_by = role, invited_by
        invitation.save(update_fields=["role", "invited_by"])
    return invitation


def invitation_revoke(*, invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise ValidationError({"invitation": "Already accepted: remove the member instead."})
    invitation.delete()


@transaction.atomic
def invitations_accept(*, user: AbstractBaseUser) -> list[Membership]:
    """Fulfils the open invitations addressed to `user`'s username or email; called when they log in.

    Each invitation is used once. A user who is a member already keeps their membership and role.
    Returns the memberships made."""
    wanted = Q(kind=InviteeKind.USERNAME, invitee=user.get_username())
    if user.email:
        wanted |= Q(kind=InviteeKind.EMAIL, invitee=user.email.strip().lower())
    made = []
    for invitation in Invitation.objects.select_for_update().filter(wanted, accepted_at__isnull=True).order_by("id"):
        membership, created = Membership.objects.get_or_create(project_id=invitation.project_id, user=user,
                                                               defaults={"role": invitation.role})
        if created:
            made.append(membership)
        invitation.accepted_by, invitation.accepted_at = user, timezone.now()
        invitation.save(update_fields=["accepted_by", "accepted_at"])
    return made


@transaction.atomic
def membership_remove(*, project: Project, membership: Membership) -> None:
    _refuse_removing_last_manager(project=project, membership=membership, new_role=None)
    membership.delete()


def _refuse_removing_last_manager(*, project: Project, membership: Membership, new_role: str | None) -> None:
    # A project without a manager could never be configured or deleted again.
    if membership.role == Role.MANAGER and new_role != Role.MANAGER:
        managers = Membership.objects.select_for_update().filter(project=project, role=Role.MANAGER)
        if managers.count() <= 1:
            raise ValidationError({"role": "A project keeps at least one manager."})


def _only_editable(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "Not an editable project field." for name in sorted(unknown)})
    return fields
