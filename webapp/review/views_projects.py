"""Project pages: create a project, its settings, its members and their progress.

Plain HTML forms, so they work without scripts. Every write goes through the REST API's own
serializers (webapp.api.serializers) and services (webapp.projects.services), so a form refuses
exactly what POST/PATCH /api/projects/... refuses, with the same messages, and roles are checked
the same way (access_project with the API's min_role).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import ValidationError as DrfValidationError

from webapp.api.json_types import FORM_INPUT
from webapp.api.serializers import InvitationOut, MembershipIn, MembershipRoleIn, ProjectIn
from webapp.projects import services
from webapp.projects.models import AlphabetPolicy, InviteeKind, Role, Strategy
from webapp.projects.selectors import access_project, invitation_list, membership_list
from webapp.review import selectors_projects

NEW_PROJECT_FIELDS = ["name", "description", "alphabet_policy", "alphabet"]
SETTINGS_FIELDS = ["name", "description", "alphabet_policy", "alphabet", "group_pattern", "val_percent",
                   "test_percent", "retrain_new_lines", "retrain_new_pages", "strategy", "promotion_margin"]


def _form_data(post, fields: list[str], checkboxes: list[str]) -> dict:
    # A plain dict, not the QueryDict: an unticked checkbox is then False, as in a JSON body.
    values = {name: post.get(name, "") for name in fields}
    values.update({name: name in post for name in checkboxes})
    return values


def _error_dict(error: Exception) -> dict[str, list[str]]:
    """The `errors` of the API's 400 answer (webapp.api.errors), for the same exception."""
    if isinstance(error, DrfValidationError):
        detail = error.detail if isinstance(error.detail, dict) else {"non_field_errors": error.detail}
        return {name: [str(message) for message in (messages_ if isinstance(messages_, list) else [messages_])]
                for name, messages_ in detail.items()}
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {"non_field_errors": error.messages}


def _choices() -> dict:
    return {"alphabet_policies": AlphabetPolicy.choices, "strategies": Strategy.choices, "roles": Role.choices}


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request):
    """Anyone signed in may create a project (as POST /api/projects/); they become its manager."""
    values = {"name": "", "description": "", "alphabet_policy": AlphabetPolicy.GROW, "alphabet": "",
              "use_base_models": True}
    errors: dict = {}
    if request.method == "POST":
        values = _form_data(request.POST, NEW_PROJECT_FIELDS, ["use_base_models"])
        try:
            data = ProjectIn(data=values, context=FORM_INPUT)
            data.is_valid(raise_exception=True)
            project = services.project_create(creator=request.user, **data.validated_data)
        except (DrfValidationError, DjangoValidationError) as error:
            errors = _error_dict(error)
        else:
            messages.success(request, f"Project “{project.name}” created. You are its manager.")
            return redirect("review:dashboard", project.pk)
    return render(request, "review/project_new.html", {"values": values, "errors": errors, **_choices()},
                  status=400 if errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_id: int):
    """Managers only, as PATCH /api/projects/<id>/; others get 403 (non-members 404)."""
    project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
    values = {name: getattr(project, name) for name in SETTINGS_FIELDS + ["retrain_auto"]}
    errors: dict = {}
    if request.method == "POST":
        values = _form_data(request.POST, SETTINGS_FIELDS, ["retrain_auto"])
        try:
            data = ProjectIn(project, data=values, partial=True, context=FORM_INPUT)
            data.is_valid(raise_exception=True)
            services.project_update(project=project, **data.validated_data)
        except (DrfValidationError, DjangoValidationError) as error:
            errors = _error_dict(error)
            project.refresh_from_db()  # full_clean may have failed after the values were set on it
        else:
            messages.success(request, "Settings saved.")
            return redirect("review:project-settings", project.pk)
    return render(request, "review/project_settings.html", {
        "project": project, "values": values, "errors": errors, **_choices()}, status=400 if errors else 200)


@login_required
@require_http_methods(["GET"])
def project_members(request, project_id: int):
    """Every member sees who is in the project and their progress (as GET .../members/);
    only managers get the controls and the invitations (as the API's manager-only endpoints)."""
    project = access_project(user=request.user, project_id=project_id)
    can_manage = project.caller_role == Role.MANAGER
    return render(request, "review/project_members.html", {
        "project": project, "can_manage": can_manage,
        "members": membership_list(project=project).order_by("user__username"),
        "invitations": invitation_list(project=project).filter(accepted_at__isnull=True) if can_manage else [],
        "progress": selectors_projects.verified_lines_per_member(project=project),
        "invitee_kinds": InviteeKind.choices, **_choices()})


@login_required
@require_POST
def member_invite(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
    kind = request.POST.get("kind", InviteeKind.USERNAME)
    body = {"role": request.POST.get("role", "")}
    if kind in InviteeKind.values:
        body[kind] = request.POST.get("invitee", "")
    try:
        data = MembershipIn(data=body)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(project=project, invited_by=request.user, **data.validated_data)
    except (DrfValidationError, DjangoValidationError) as error:
        messages.error(request, "Not invited: " + _sentence(error))
    else:
        # The API's answer, which is the same whether or not such a user exists.
        answer = InvitationOut(invitation).data
        who = f"username “{answer['username']}”" if answer["username"] else f"email “{answer['email']}”"
        messages.success(request, f"Invitation recorded for {who} as {answer['role']}: whoever has that "
                                  f"{kind} joins the project when they next log in.")
    return redirect("review:project-members", project.pk)


@login_required
@require_POST
def member_role(request, project_id: int, user_id: int):
    project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
    membership = get_object_or_404(membership_list(project=project), user_id=user_id)
    try:
        data = MembershipRoleIn(data={"role": request.POST.get("role", "")})
        data.is_valid(raise_exception=True)
        membership = services.membership_set(project=project, user=membership.user, role=data.validated_data["role"])
    except (DrfValidationError, DjangoValidationError) as error:
        messages.error(request, f"{membership.user.username}’s role was not changed: " + _sentence(error))
    else:
        messages.success(request, f"{membership.user.username} is now {membership.get_role_display().lower()}.")
    return redirect("review:project-members", project.pk)


@login_required
@require_POST
def member_remove(request, project_id: int, user_id: int):
    project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
    membership = get_object_or_404(membership_list(project=project), user_id=user_id)
    username = membership.user.username
    try:
        services.membership_remove(project=project, membership=membership)
    except DjangoValidationError as error:
        messages.error(request, f"{username} was not removed: " + _sentence(error))
        return redirect("review:project-members", project.pk)
    messages.success(request, f"{username} was removed from the project.")
    if username == request.user.get_username():
        return redirect("review:project-list")
    return redirect("review:project-members", project.pk)


@login_required
@require_POST
def invitation_revoke(request, project_id: int, invitation_id: int):
    project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
    invitation = get_object_or_404(invitation_list(project=project), pk=invitation_id)
    try:
        services.invitation_revoke(invitation=invitation)
    except DjangoValidationError as error:
        messages.error(request, "Not revoked: " + _sentence(error))
    else:
        messages.success(request, f"Invitation for {invitation.invitee} revoked.")
    return redirect("review:project-members", project.pk)


def _sentence(error: Exception) -> str:
    # Field names as the API's `detail` gives them (webapp.api.errors): "username: This field may not be blank."
    return " ".join(message if field in ("non_field_errors", "__all__") else f"{field}: {message}"
                    for field, messages_ in _error_dict(error).items() for message in messages_)
