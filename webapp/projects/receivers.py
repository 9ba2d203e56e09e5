"""Signal receivers of the projects app: thin, they call services."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in

from webapp.projects.services import invitations_accept


def logged_in(sender, request, user, **kwargs) -> None:
    # Invitations are fulfilled here, by the invitee's own login (the login page, the admin, or
    # /api/auth/token/), never when they are made: the inviter must not learn who has an account.
    invitations_accept(user=user)


def connect() -> None:
    user_logged_in.connect(logged_in, dispatch_uid="inkloop-invitations-accept")
