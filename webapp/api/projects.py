from __future__ import annotations

from django.db import connection
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.serializers import (InvitationOut, MembershipIn, MembershipOut, MembershipRoleIn, ProjectIn,
                                    ProjectOut)
from webapp.projects import services
from webapp.projects.models import Role
from webapp.projects.selectors import access_project, invitation_list, membership_list, project_list


class HealthApi(APIView):
    """Liveness and database reachability, for load balancers (no authentication)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: dict})
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok"})


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
