from __future__ import annotations

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.serializers import (InvitationOut, MembershipIn, MembershipOut, MembershipRoleIn, ProjectIn,
                                    ProjectOut)
from webapp import health, outages
from webapp.projects import services
from webapp.projects.models import Role
from webapp.projects.selectors import access_project, invitation_list, membership_list, project_list


class HealthApi(APIView):
    """Each dependency's state, for load balancers and operators (no authentication)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class CheckOut(serializers.Serializer):
        ok = serializers.BooleanField()
        ms = serializers.FloatField(help_text="How long the check took.")
        error = serializers.CharField(help_text="What failed; empty when ok.")

    class HealthOut(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "unavailable"],
                                         help_text="unavailable: a dependency in `needs` failed (HTTP 503).")
        needs = serializers.ListField(child=serializers.CharField())
        checks = serializers.DictField(child=serializers.DictField(), help_text="Per dependency: ok, ms, error.")

    @extend_schema(parameters=[OpenApiParameter(
        "needs", str, description=f"Comma-separated dependencies the caller needs, of {', '.join(health.CHECKS)} "
                                  f"(default: {','.join(health.DEFAULT_NEEDS)}); any of them down answers 503.")],
        responses={200: HealthOut, 503: HealthOut})
    def get(self, request):
        asked = request.query_params.get("needs", ",".join(health.DEFAULT_NEEDS))
        needs = [name.strip() for name in asked.split(",") if name.strip()]
        unknown = [name for name in needs if name not in health.CHECKS]
        if unknown:
            raise ValidationError({"needs": f"Unknown dependencies {unknown}; known: {', '.join(health.CHECKS)}."})
        names = list(dict.fromkeys([*health.configured_checks(), *needs]))
        checks = health.dependency_checks(names)
        down = [name for name in needs if not checks[name].ok]
        response = Response({"status": "unavailable" if down else "ok", "needs": needs,
                             "checks": {name: asdict(check) for name, check in checks.items()}},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE if down else status.HTTP_200_OK)
        if down:
            response["Retry-After"] = str(outages.RETRY_AFTER_SECONDS)
        return response


class NotFoundApi(APIView):
    """Any path under /api/ that no route matches, whatever the method (after authentication, like every route)."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound("No API route at this path; the routes are listed at /api/docs/.")


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOut(many=True))
    def get(self, request):
        projects = project_list(user=request.user).order_by("id")
        return Response(ProjectOut(projects, many=True).data)

    @extend_schema(request=ProjectIn, responses={201: ProjectOut})
    def post(self, request):
        data = ProjectIn(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(creator=request.user, **data.validated_data)
        project.caller_role = Role.MANAGER
        return Response(ProjectOut(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOut)
    def get(self, request, project_id: int):
        return Response(ProjectOut(access_project(user=request.user, project_id=project_id)).data)

    @extend_schema(request=ProjectIn, responses=ProjectOut)
    def patch(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        data = ProjectIn(project, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(project=project, **data.validated_data)
        return Response(ProjectOut(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        services.project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListApi(APIView):
    @extend_schema(responses=MembershipOut(many=True))
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        return Response(MembershipOut(membership_list(project=project), many=True).data)

    @extend_schema(request=MembershipIn, responses={202: InvitationOut})
    def post(self, request, project_id: int):
        """Invites by username or email: 202 and the invitation, alike whether or not the user exists."""
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        data = MembershipIn(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(project=project, invited_by=request.user, **data.validated_data)
        return Response(InvitationOut(invitation).data, status=status.HTTP_202_ACCEPTED)


class MemberDetailApi(APIView):
    @extend_schema(request=MembershipRoleIn, responses=MembershipOut)
    def patch(self, request, project_id: int, user_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        membership = get_object_or_404(membership_list(project=project), user_id=user_id)
        data = MembershipRoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(project=project, user=membership.user, role=data.validated_data["role"])
        return Response(MembershipOut(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        membership = get_object_or_404(membership_list(project=project), user_id=user_id)
        services.membership_remove(project=project, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(APIView):
    @extend_schema(responses=InvitationOut(many=True))
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        return Response(InvitationOut(invitation_list(project=project), many=True).data)


class InvitationDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, invitation_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        invitation = get_object_or_404(invitation_list(project=project), pk=invitation_id)
        services.invitation_revoke(invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)
