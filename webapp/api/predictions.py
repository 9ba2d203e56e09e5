from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.json_types import StrictJsonTypes
from webapp.api.pages import read_uploads
from webapp.api.schema import PAGE_PARAMETERS, StrictPageNumberPagination, ErrorOut, paginated
from webapp.api.serializers import FalseDetectionOut, LineOut, PageOut
from webapp.corpus import selectors as corpus_selectors
from webapp.corpus.services import ingest_limits
from webapp.ingest import ingest_upload, open_checked_image
from webapp.predictions import selectors, services
from webapp.predictions.models import PredictionJob
from webapp.projects.models import Role
from webapp.projects.selectors import access_project


class QueuePagination(StrictPageNumberPagination):
    page_size = 50


class QueueLineOut(LineOut):
    page_name = serializers.CharField(source="page.original_name")

    class Meta(LineOut.Meta):
        fields = LineOut.Meta.fields + ["page_name", "model_version"]


class PredictedLineOut(serializers.Serializer):
    bbox = serializers.ListField(child=serializers.IntegerField())
    polygon = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), allow_null=True)
    text = serializers.CharField()
    confidence = serializers.FloatField()
    char_confidences = serializers.ListField(child=serializers.FloatField())
    detection_score = serializers.FloatField()


class PredictOut(serializers.Serializer):
    model_versions = serializers.DictField(child=serializers.CharField(allow_null=True))
    lines = PredictedLineOut(many=True)


class PredictIn(serializers.Serializer):
    image = serializers.FileField(allow_empty_file=True)


class PredictionJobOut(serializers.ModelSerializer):
    pages = serializers.SerializerMethodField()

    class Meta:
        model = PredictionJob
        fields = ["id", "status", "pages", "pages_done", "model_label", "results", "error", "created_at",
                  "finished_at"]

    def get_pages(self, job) -> int:
        return len(job.inputs)


def no_model_as_409(call):
    try:
        return call()
    except services.NoModelYet as missing:
        return Response({"detail": str(missing)}, status=status.HTTP_409_CONFLICT)


class QueueApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("level", str, enum=["line", "page"], default="line"), *PAGE_PARAMETERS],
                   responses=paginated(QueueLineOut, name="PaginatedQueueList", results=PolymorphicProxySerializer(
                       component_name="QueueItem", resource_type_field_name=None, many=True,
                       serializers=[QueueLineOut, PageOut])),
                   description="Lines (level=line) or pages (level=page) to review next, least certain first (or "
                               "shuffled, for the random control strategy), without anything a person already "
                               "verified.")
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        level = request.query_params.get("level", "line")
        if level not in ("line", "page"):
            raise ValidationError({"level": "level is 'line' or 'page'."})
        paginator = QueuePagination()
        if level == "line":
            chunk = paginator.paginate_queryset(
                selectors.line_queue(project=project).select_related("page", "verified_by"), request, view=self)
            return paginator.get_paginated_response(QueueLineOut(chunk, many=True).data)
        chunk = paginator.paginate_queryset(selectors.page_queue(project=project), request, view=self)
        return paginator.get_paginated_response(PageOut(chunk, many=True, context={"request": request}).data)


class PredictApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=PredictIn, responses={200: PredictOut, 409: ErrorOut},
                   description="Lines of one page image from the project's promoted models.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        name, data = read_uploads(request, field="image")[0]
        image = open_checked_image(data, name, limits=ingest_limits())
        return no_model_as_409(lambda: self._predict(project, image))

    @staticmethod
    def _predict(project, image):
        lines, models = services.predict_image(project=project, image=image)
        body = {"model_versions": {"detector": models.detector.label if models.detector else "baseline",
                                   "recognizer": models.recognizer.label},
                "lines": [line.as_dict() for line in lines]}
        return Response(PredictOut(body).data)


class PredictionJobListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=PredictIn, responses={202: PredictionJobOut, 409: ErrorOut},
                   description="Many pages (images, PDFs, TIFFs, zips in the multipart field 'files'), predicted "
                               "on the gpu queue. Poll the job for the results.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        limits = ingest_limits()
        pages = [page for name, data in read_uploads(request) for page in ingest_upload(data, name, limits=limits)]
        job = no_model_as_409(lambda: services.prediction_job_create(
            project=project, user=request.user, images=[(page.name, page.data) for page in pages]))
        if isinstance(job, Response):
            return job
        return Response(PredictionJobOut(job).data, status=status.HTTP_202_ACCEPTED)


class PredictionJobDetailApi(APIView):
    @extend_schema(responses=PredictionJobOut)
    def get(self, request, project_id: int, job_id: int):
        project = access_project(user=request.user, project_id=project_id)
        job = PredictionJob.objects.filter(project=project, pk=job_id).first()
        if job is None:
            return Response({"detail": "No such prediction job in this project."}, status=status.HTTP_404_NOT_FOUND)
        return Response(PredictionJobOut(job).data)


class SkippedPageOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField()


class PreannotateOut(serializers.Serializer):
    detail = serializers.CharField(help_text="What was queued, or why nothing was, in words.")
    pages_queued = serializers.IntegerField(required=False, help_text="Pages the models may write to.")
    page_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True, required=False,
                                     help_text="Those pages, for a selection; null for every page nobody verified.")
    skipped = SkippedPageOut(many=True, required=False,
                             help_text="Selected pages left as they are, each with the reason.")


def skipped_out(skipped) -> list[dict]:
    return [{"id": page.pk, "name": page.original_name, "reason": reason} for page, reason in skipped]


class PreannotateApi(APIView):
    class PreannotateIn(StrictJsonTypes, serializers.Serializer):
        page_ids = serializers.ListField(
            child=serializers.IntegerField(), required=False, allow_empty=False, max_length=10_000,
            help_text="Only these pages of the project (a selection); without it, every page nobody verified.")

    @extend_schema(request=PreannotateIn, responses={202: PreannotateOut, 409: PreannotateOut},
                   description="Pre-annotate with the promoted models the pages nobody verified yet, or the "
                               "selected `page_ids` (all pages of this project: an unknown id is a 400). Pages "
                               "holding a line a person verified are never pre-annotated: a selected one is named "
                               "in `skipped`. 409 when the project has no promoted recognizer, or when every "
                               "selected page was skipped.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        data = self.PreannotateIn(data=request.data)
        data.is_valid(raise_exception=True)
        page_ids = data.validated_data.get("page_ids")
        pages = corpus_selectors.access_pages(project=project, page_ids=page_ids) if page_ids is not None else None
        try:
            queued = services.preannotation_request(project=project, pages=pages)
        except services.NoModelYet as missing:
            return Response({"detail": str(missing)}, status=status.HTTP_409_CONFLICT)
        except services.NothingToPreannotate as nothing:
            return Response(PreannotateOut({"detail": str(nothing), "pages_queued": 0, "page_ids": [],
                                            "skipped": skipped_out(nothing.skipped)}).data,
                            status=status.HTTP_409_CONFLICT)
        count = f"{queued.pages_queued} page{'' if queued.pages_queued == 1 else 's'}"
        detail = (f"Pre-annotation queued for {count}." if pages is not None
                  else f"Pre-annotation queued for the pages nobody verified ({count} now).")
        if queued.skipped:
            detail += " Skipped: " + "; ".join(f"{page.original_name} ({reason})" for page, reason in queued.skipped)
            detail += "."
        return Response(PreannotateOut({"detail": detail, "pages_queued": queued.pages_queued,
                                        "page_ids": queued.page_ids, "skipped": skipped_out(queued.skipped)}).data,
                        status=status.HTTP_202_ACCEPTED)


class FalseDetectionListApi(APIView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses=paginated(FalseDetectionOut),
                   description="Boxes people marked as not a text line (.../lines/{id}/not-a-line/), newest first.")
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        paginator = QueuePagination()
        chunk = paginator.paginate_queryset(selectors.false_detection_list(project=project), request, view=self)
        return paginator.get_paginated_response(FalseDetectionOut(chunk, many=True).data)
