"""Label Studio accounts of inkloop users, matched by email, so an annotation names its author."""

from __future__ import annotations

import functools
import logging
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction

from labeling.client import label_studio_call
from labeling.locks import project_lock
from labeling.models import LabelStudioAccount
from labeling.selectors import user_by_email, user_by_ls_id
from webapp.projects.models import Project

logger = logging.getLogger(__name__)


def accounts_provision(*, project: Project) -> list[LabelStudioAccount]:
    """A Label Studio account for every member with an email; existing accounts (same email) are reused.

    Under the project's lock, so two runs for one project do not both create a member's account."""
    with project_lock(project.pk):
        return _accounts(project=project)


def _accounts(*, project: Project) -> list[LabelStudioAccount]:
    members = [membership.user for membership in project.memberships.select_related("user") if membership.user.email]
    with label_studio_call("list Label Studio users") as ls:
        by_email = {(user.email or "").lower(): user.id for user in ls.users.list()}
    accounts = []
    for user in members:
        ls_user_id = by_email.get(user.email.lower())
        if ls_user_id is None:
            ls_user_id = _account_create(user=user)
        accounts.append(_link(user=user, ls_user_id=ls_user_id))
    return accounts


def _account_create(*, user) -> int:
    # The password is random: people set their own through Label Studio (or sign in as its admin invites them).
    with label_studio_call(f"create a Label Studio account for {user.email}") as ls:
        created = ls.users.create(username=user.get_username(), email=user.email, first_name=user.first_name,
                                  last_name=user.last_name, password=secrets.token_urlsafe(24))
    logger.info("created Label Studio user %s for %s", created.id, user.email)
    return created.id


def _link(*, user, ls_user_id: int) -> LabelStudioAccount:
    try:
        with transaction.atomic():
            account, _ = LabelStudioAccount.objects.update_or_create(user=user, defaults={"ls_user_id": ls_user_id})
    except IntegrityError:  # that Label Studio account was linked to someone else whose email changed since
        LabelStudioAccount.objects.filter(ls_user_id=ls_user_id).delete()
        account, _ = LabelStudioAccount.objects.update_or_create(user=user, defaults={"ls_user_id": ls_user_id})
    return account


def author_id(annotation: dict) -> int | None:
    """Who made this version of the annotation: whoever updated it last, else whoever created it."""
    for key in ("updated_by", "completed_by"):
        value = annotation.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, int):
            return value
    return None


def annotator_of(annotation: dict):
    """The inkloop user behind the annotation's author, asking Label Studio for an unknown account's email."""
    ls_user_id = author_id(annotation)
    user = user_by_ls_id(ls_user_id=ls_user_id)
    if user is not None or ls_user_id is None:
        return user
    with label_studio_call("look up the annotator") as ls:
        email = ls.users.get(id=ls_user_id).email or ""
    user = user_by_email(email=email)
    if user is not None:
        _link(user=user, ls_user_id=ls_user_id)
    return user


def is_service_account(annotation: dict) -> bool:
    """Annotations written by inkloop itself (with its API key) carry nothing a person typed there."""
    return author_id(annotation) == service_account_id()


def service_account_id() -> int:
    return _service_account_id(settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY)


@functools.cache
def _service_account_id(url: str, api_key: str) -> int:
    with label_studio_call("identify inkloop's Label Studio account") as ls:
        return ls.users.whoami().id
