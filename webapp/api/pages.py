from __future__ import annotations

import mimetypes
import tempfile

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.json_types import QueryParams, StrictJsonTypes
from webapp.api.schema import PAGE_PARAMETERS, ErrorOut, StrictPageNumberPagination, paginated
from webapp.api.serializers import ImportOut, PageOut, PageUploadIn, PageUploadOut, SearchHitOut
from webapp.corpus import selectors, services, transfer
from webapp.corpus.models import Page, PageStatus, Split
from webapp.corpus.signing import page_from_token
from webapp.ingest import UploadRejected
from webapp.projects.models import Role
from webapp.projects.selectors import access_project


class PagePagination(StrictPageNumberPagination):
    """Pages and search hits: REST_FRAMEWORK's PAGE_SIZE a page, up to 500 with ?page_size=."""


def read_uploads(request, *, field: str = "files") -> list[tuple[str, bytes]]:
    """The uploaded files as (name, bytes), refusing oversize files before reading them."""
    limit = services.ingest_limits().max_upload_bytes
    uploads = request.FILES.getlist(field)
    if not uploads:
        raise ValidationError({field: "Attach one or more files in the multipart field 'files'."})
    files = []
    for upload in uploads:
        if upload.size > limit:
            raise UploadRejected(f"{upload.name} is {upload.size} bytes; the limit is {limit} bytes.")
        files.append((upload.name, upload.read()))
    return files


class GroupIn(serializers.Serializer):
    group = serializers.CharField(max_length=255, required=False, allow_blank=True)  # refuses NUL characters too


def upload_group(request) -> str | None:
    """The optional `group` form field of an upload or import, validated before anything is stored."""
    group = GroupIn(data={"group": request.data["group"]} if "group" in request.data else {})
    group.is_valid(raise_exception=True)
    return group.validated_data.get("group") or None


class PageListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class FilterIn(QueryParams):
        status = serializers.ChoiceField(choices=PageStatus.choices, required=False)
        split = serializers.ChoiceField(choices=Split.choices, required=False)
        group = serializers.CharField(required=False)
        # Not nullable: DRF reads an empty `?has_verified_lines=` as null, which would mean "no filter".
        has_verified_lines = serializers.BooleanField(required=False)

    @extend_schema(operation_id="api_projects_pages_list", parameters=[FilterIn, *PAGE_PARAMETERS],
                   responses=paginated(PageOut))
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        filters = self.FilterIn(data=request.query_params)
        filters.is_valid(raise_exception=True)
        pages = selectors.page_list(project=project, **filters.validated_data)
        paginator = PagePagination()
        chunk = paginator.paginate_queryset(pages, request, view=self)
        return paginator.get_paginated_response(PageOut(chunk, many=True, context={"request": request}).data)

    @extend_schema(request=PageUploadIn, responses={201: PageUploadOut(many=True), 200: PageUploadOut(many=True)},
                   description="Upload images (JPEG/PNG/TIFF), multi-page TIFFs, PDFs or zips of them. "
                               "An image already in the project returns the existing page (created=false); 201 when at "
                               "least one page was new, 200 when all were there already.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        stored = services.pages_upload(project=project, user=request.user, files=read_uploads(request),
                                       group=upload_group(request))
        pages = []
        for item in stored:
            item.page.created = item.created
            pages.append(item.page)
        any_created = any(item.created for item in stored)
        return Response(PageUploadOut(pages, many=True, context={"request": request}).data,
                        status=status.HTTP_201_CREATED if any_created else status.HTTP_200_OK)


class PageDetailApi(APIView):
    @extend_schema(responses=PageOut)
    def get(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id)
        page = selectors.page_list(project=project).filter(pk=page_id).first()
        if page is None:
            raise Http404("No such page in this project.")
        return Response(PageOut(page, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        services.pages_delete(pages=[selectors.access_page(project=project, page_id=page_id)])
        return Response(status=status.HTTP_204_NO_CONTENT)


class LayoutImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=PageUploadIn, responses={201: ImportOut, 200: ImportOut, 409: ImportOut},
                   description="ALTO (v2-v4) or PAGE XML (2013, 2019) files with their images, loose or zipped "
                               "(a zip is read from disk one file at a time, up to INKLOOP_MAX_IMPORT_BYTES). "
                               "`files` says per file what was created, clipped, skipped and why. 201: something "
                               "was stored; 200: everything was there already; 409: nothing was stored because "
                               "the images are already pages with other lines.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        uploads = request.FILES.getlist("files")
        if not uploads:
            raise ValidationError({"files": "Attach one or more files in the multipart field 'files'."})
        # The uploaded files as they are (Django spools large ones to disk): never read whole here.
        result = transfer.layout_import(project=project, user=request.user,
                                        files=[(upload.name, upload) for upload in uploads],
                                        group=upload_group(request))
        if result.stored_anything:
            code = status.HTTP_201_CREATED
        elif result.files_not_imported:
            code = status.HTTP_409_CONFLICT
        else:
            code = status.HTTP_200_OK
        return Response(ImportOut(import_body(result), context={"request": request}).data, status=code)


def import_body(result: transfer.ImportResult) -> dict:
    pages = []
    for page, created in result.pages:
        page.created = created
        pages.append(page)
    return {"detail": result.summary(), "pages_created": result.pages_created,
            "pages_existing": result.pages_existing, "pages_merged": result.pages_merged,
            "lines_created": result.lines_created, "lines_clipped": result.lines_clipped,
            "lines_skipped": result.lines_skipped, "files_skipped": result.files_skipped,
            "files_not_imported": result.files_not_imported, "pages": pages,
            "skipped_lines": result.skipped_lines, "files": result.files}


EXPORT_PARAMETER = OpenApiParameter("format", str, enum=list(transfer.EXPORT_FORMATS), default="alto")


def export_response(pages, *, fmt: str, filename: str) -> FileResponse:
    if fmt not in transfer.EXPORT_FORMATS:
        raise ValidationError({"format": f"Unknown format {fmt!r}; one of {', '.join(transfer.EXPORT_FORMATS)}."})
    # Built in a temporary file on disk (removed once closed), streamed from there: a project's export
    # can be larger than the web process's memory.
    archive = tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        transfer.pages_export(pages=pages, fmt=fmt, out=archive)
        archive.seek(0)
    except BaseException:
        archive.close()
        raise
    return FileResponse(archive, as_attachment=True, filename=f"{filename}-{fmt}.zip", content_type="application/zip")


PAGES_PARAMETER = OpenApiParameter("pages", str, required=False,
                                   description="Only these pages: their ids, comma-separated (a selection).")


def selected_page_ids(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ValidationError({"pages": "Give page ids separated by commas, e.g. ?pages=3,7,12."}) from None
    if not ids or len(ids) > 10_000:
        raise ValidationError({"pages": "Give between 1 and 10,000 page ids."})
    return ids


class ProjectExportApi(APIView):
    @extend_schema(parameters=[EXPORT_PARAMETER, PAGES_PARAMETER],
                   responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        ids = selected_page_ids(request.query_params.get("pages"))
        pages = (list(selectors.page_list(project=project)) if ids is None
                 else selectors.access_pages(project=project, page_ids=ids, field="pages"))
        return export_response(pages, fmt=request.query_params.get("format", "alto"), filename=f"project-{project.pk}")


class PageIdsIn(StrictJsonTypes, serializers.Serializer):
    page_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=10_000,
                                     help_text="Pages of this project (a selection); an unknown id is a 400.")


class SentPageOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    ls_task_id = serializers.IntegerField(allow_null=True, help_text="Its Label Studio task when sent, if any.")
    action = serializers.ChoiceField(choices=["create", "check"], help_text=(
        "create: the page has no task yet; check: its task is re-created if it is gone from Label Studio, and "
        "its image link, lines and latest pre-annotation are brought up to date there."))


class LabelStudioSendOut(serializers.Serializer):
    detail = serializers.CharField(help_text="What was sent, in words.")
    pages = SentPageOut(many=True)


class LabelStudioSendApi(APIView):
    @extend_schema(request=PageIdsIn, responses={202: LabelStudioSendOut, 409: ErrorOut},
                   description="Send the selected pages to Label Studio: a worker creates the task of each page "
                               "that has none, re-creates one deleted there, and brings its image link, lines and "
                               "latest pre-annotation up to date (retrying while Label Studio is down). 409 when "
                               "this server has no Label Studio.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        data = PageIdsIn(data=request.data)
        data.is_valid(raise_exception=True)
        pages = selectors.access_pages(project=project, page_ids=data.validated_data["page_ids"])
        try:
            services.pages_label_studio_send(project=project, pages=pages)
        except services.LabelStudioOff as off:
            return Response({"detail": str(off)}, status=status.HTTP_409_CONFLICT)
        sent = [{"id": page.pk, "name": page.original_name, "ls_task_id": page.ls_task_id,
                 "action": "check" if page.ls_task_id else "create"} for page in pages]
        new = sum(item["action"] == "create" for item in sent)
        checked = len(sent) - new
        detail = (f"Sent {len(sent)} page{'' if len(sent) == 1 else 's'} to Label Studio: "
                  f"{new} {'gets' if new == 1 else 'get'} a new task, "
                  f"{checked} {'has its' if checked == 1 else 'have their'} task checked and repaired where needed. "
                  "Reload to see their “In Label Studio” badges.")
        return Response(LabelStudioSendOut({"detail": detail, "pages": sent}).data, status=status.HTTP_202_ACCEPTED)


class PageExportApi(APIView):
    @extend_schema(parameters=[EXPORT_PARAMETER], responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, project_id: int, page_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        page = selectors.access_page(project=project, page_id=page_id)
        return export_response([page], fmt=request.query_params.get("format", "alto"), filename=f"page-{page.pk}")


class SearchApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("q", str, required=True), *PAGE_PARAMETERS],
                   responses=paginated(SearchHitOut))
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        query = request.query_params.get("q", "").strip()
        if not query:
            raise ValidationError({"q": "Give the text to search for in ?q=."})
        if len(query) > 200:
            raise ValidationError({"q": "The search text is over 200 characters."})
        paginator = PagePagination()
        chunk = paginator.paginate_queryset(selectors.line_search(project=project, query=query), request, view=self)
        return paginator.get_paginated_response(SearchHitOut(chunk, many=True).data)


class PageImageApi(APIView):
    """A page image whose URL is its own credential, so no login is needed: here a signed, expiring
    token (webapp.corpus.signing). labeling.views serves Label Studio's task images with this same
    view, finding the page by its project's revocable image token instead (`page_from_url`)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    refusal = "This image link is invalid or has expired."

    def page_from_url(self, *, token: str) -> Page | None:
        return page_from_token(token)

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY})
    def get(self, request, **url):
        page = self.page_from_url(**url)
        if page is None:
            return Response({"detail": self.refusal}, status=status.HTTP_403_FORBIDDEN)
        content_type = mimetypes.types_map.get(page.extension, "application/octet-stream")
        response = FileResponse(page.image.open("rb"), content_type=content_type)
        response["Cache-Control"] = "private, max-age=3600"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
