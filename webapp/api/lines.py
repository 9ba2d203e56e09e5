from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.json_types import QueryParams, StrictJsonTypes
from webapp.api.schema import ConflictOut
from webapp.api.serializers import FalseDetectionOut, LineIn, LineOut, LineUpdateIn, PageLinesIn, RevisionOut
from webapp.corpus import selectors, services
from webapp.corpus.lines import LineData
from webapp.predictions import services as predictions
from webapp.projects.selectors import access_project


def conflict_response(line) -> Response:
    return Response({"detail": f"This line changed since you read it (it is now at version {line.version}). "
                               "Reload it and apply your edit again.", "current": LineOut(line).data},
                    status=status.HTTP_409_CONFLICT)


class PageLinesApi(APIView):
    @extend_schema(responses=LineOut(many=True))
    def get(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id)
        page = selectors.access_page(project=project, page_id=page_id)
        return Response(LineOut(selectors.line_list(page=page).select_related("verified_by"), many=True).data)

    @extend_schema(request=LineIn, responses={201: LineOut})
    def post(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id)
        page = selectors.access_page(project=project, page_id=page_id)
        data = LineIn(data=request.data)
        data.is_valid(raise_exception=True)
        line = services.line_create(page=page, user=request.user, data=LineData(**data.validated_data))
        return Response(LineOut(line).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PageLinesIn, responses={200: LineOut(many=True), 409: ConflictOut},
                   description="Replace the page's lines in one transaction. Lines with an id (and the version "
                               "they were read at) are updated in place; lines without one are created; the "
                               "page's other lines are deleted. A stale version answers 409 with the current lines.")
    def put(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id)
        page = selectors.access_page(project=project, page_id=page_id)
        data = PageLinesIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            lines = services.page_lines_replace(
                page=page, user=request.user, lines=[LineData(**line) for line in data.validated_data["lines"]],
                require_text=True)
        except services.PageLinesConflict as conflict:
            return Response({"detail": f"Lines {conflict.stale_ids} changed since you read them; reload the page.",
                             "stale_ids": conflict.stale_ids, "current": LineOut(conflict.lines, many=True).data},
                            status=status.HTTP_409_CONFLICT)
        return Response(LineOut(lines, many=True).data)


class LineDetailApi(APIView):
    class DeleteIn(QueryParams):
        version = serializers.IntegerField(min_value=1, help_text="The version the deletion is based on.")

    @extend_schema(responses=LineOut)
    def get(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        return Response(LineOut(selectors.access_line(project=project, line_id=line_id)).data)

    @extend_schema(request=LineUpdateIn, responses={200: LineOut, 409: ConflictOut},
                   description="Edit the line; every write verifies it. Verifying a model's line with empty "
                               "text, or emptying a line's text, is refused (400): a box that holds no text is "
                               "marked with .../not-a-line/ instead.")
    def patch(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        line = selectors.access_line(project=project, line_id=line_id)
        data = LineUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            line = services.line_update(
                line_id=line.pk, page=line.page, user=request.user, expected_version=fields["version"],
                text=fields.get("text"), bbox=fields.get("bbox"), polygon=fields.get("polygon"),
                baseline=fields.get("baseline"), set_polygon="polygon" in fields, set_baseline="baseline" in fields,
                require_text=True)
        except services.LineConflict as conflict:
            return conflict_response(conflict.line)
        return Response(LineOut(line).data)

    @extend_schema(parameters=[OpenApiParameter("version", int, required=True)],
                   responses={204: None, 409: ConflictOut})
    def delete(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        line = selectors.access_line(project=project, line_id=line_id)
        data = self.DeleteIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        try:
            services.line_delete(line_id=line.pk, page=line.page, user=request.user,
                                 expected_version=data.validated_data["version"])
        except services.LineConflict as conflict:
            return conflict_response(conflict.line)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LineNotTextApi(APIView):
    class NotTextIn(StrictJsonTypes, serializers.Serializer):
        version = serializers.IntegerField(min_value=1, help_text="The version the reviewer saw.")

    @extend_schema(request=NotTextIn, responses={201: FalseDetectionOut, 409: ConflictOut},
                   description="The box holds no text (a stamp, a border, a signature): delete this model line "
                               "with its history and record the box as a false detection. Refused (400) for a "
                               "line a person made or verified: delete that one instead, which keeps its history.")
    def post(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        line = selectors.access_line(project=project, line_id=line_id)
        data = self.NotTextIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            detection = predictions.line_not_text(line_id=line.pk, page=line.page, user=request.user,
                                                  expected_version=data.validated_data["version"])
        except services.LineConflict as conflict:
            return conflict_response(conflict.line)
        return Response(FalseDetectionOut(detection).data, status=status.HTTP_201_CREATED)


class LineRevisionsApi(APIView):
    @extend_schema(responses=RevisionOut(many=True))
    def get(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        revisions = selectors.line_revisions(line_ref=line_id, project=project)
        if not revisions.exists():
            selectors.access_line(project=project, line_id=line_id)  # 404 for lines of other projects
        return Response(RevisionOut(revisions, many=True).data)


class LineVersionIn(StrictJsonTypes, serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(min_value=1, help_text="The version the line was read at.")


class PageLinesOrderApi(APIView):
    class OrderIn(StrictJsonTypes, serializers.Serializer):
        lines = LineVersionIn(many=True, allow_empty=False,
                              help_text="Every line of the page, once, in the new reading order.")

    @extend_schema(request=OrderIn, responses={200: LineOut(many=True), 409: ConflictOut},
                   description="Change the page's reading order. Name every line of the page once, with the "
                               "version it was read at; lines whose place changes get a new version (their "
                               "text, box and verification stay). A stale version answers 409 with the current "
                               "lines and changes nothing.")
    def post(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id)
        page = selectors.access_page(project=project, page_id=page_id)
        data = self.OrderIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            lines = services.page_lines_reorder(page=page, user=request.user, lines=[
                (line["id"], line["version"]) for line in data.validated_data["lines"]])
        except services.PageLinesConflict as conflict:
            return Response({"detail": f"Lines {conflict.stale_ids} changed since you read them; nothing was "
                                       "moved. Reload the lines and move them again.",
                             "stale_ids": conflict.stale_ids, "current": LineOut(conflict.lines, many=True).data},
                            status=status.HTTP_409_CONFLICT)
        return Response(LineOut(lines, many=True).data)


class LineMergeApi(APIView):
    class MergeIn(StrictJsonTypes, serializers.Serializer):
        version = serializers.IntegerField(min_value=1, help_text="The version of this line the merge is based on.")
        other = LineVersionIn(help_text="The line of the same page to merge with, and its version.")

    @extend_schema(request=MergeIn, responses={200: LineOut, 409: ConflictOut},
                   description="Merge two lines of a page into the one first in reading order (boxes, texts "
                               "and baselines joined); the other is deleted, its history kept. A stale version "
                               "of either answers 409 with that line as it is now.")
    def post(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        line = selectors.access_line(project=project, line_id=line_id)
        data = self.MergeIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            merged = services.line_merge(page=line.page, user=request.user, line_id=line.pk,
                                         expected_version=fields["version"], other_id=fields["other"]["id"],
                                         other_expected_version=fields["other"]["version"])
        except services.LineConflict as conflict:
            return conflict_response(conflict.line)
        return Response(LineOut(merged).data)


class LineSplitApi(APIView):
    class SplitIn(StrictJsonTypes, serializers.Serializer):
        version = serializers.IntegerField(min_value=1, help_text="The version the split is based on.")
        x = serializers.IntegerField(help_text="The page column to cut the box at.")
        text_before = serializers.CharField(trim_whitespace=False, help_text="The left part's text.")
        text_after = serializers.CharField(trim_whitespace=False, help_text="The right part's text.")

    @extend_schema(request=SplitIn, responses={200: LineOut(many=True), 409: ConflictOut},
                   description="Split the line at column x into itself (left) and a new line right after it "
                               "in reading order (right). Answers the page's lines in their new order; a stale "
                               "version answers 409 with the line as it is now.")
    def post(self, request, project_id: int, line_id: int):
        project = access_project(user=request.user, project_id=project_id)
        line = selectors.access_line(project=project, line_id=line_id)
        data = self.SplitIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            lines = services.line_split(page=line.page, user=request.user, line_id=line.pk,
                                        expected_version=fields["version"], x=fields["x"],
                                        text_before=fields["text_before"], text_after=fields["text_after"])
        except services.LineConflict as conflict:
            return conflict_response(conflict.line)
        return Response(LineOut(lines, many=True).data)
