"""Writes of projects and memberships."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from webapp.projects.models import Membership, Project, Role

EDITABLE_FIELDS = {
    "name", "description", "alphabet_policy", "alphabet", "group_pattern", "val_percent", "test_percent",
    "retrain_auto", "retrain_new_lines", "strategy", "promotion_margin", "use_base_models",
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
def membership_set(*, project: Project, username: str, role: str) -> Membership:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user named {username!r}."})
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
