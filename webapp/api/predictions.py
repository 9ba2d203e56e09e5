from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.pages import read_uploads
from webapp.api.schema import PAGE_PARAMETERS, StrictPageNumberPagination, ErrorOut, paginated
from webapp.api.serializers import FalseDetectionOut, LineOut, PageOut
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


class PreannotateApi(APIView):
    @extend_schema(request=None, responses={202: dict},
                   description="Pre-annotate the pages nobody verified yet with the promoted models.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        services.preannotation_request(project=project)
        return Response({"detail": "Pre-annotation queued."}, status=status.HTTP_202_ACCEPTED)


class FalseDetectionListApi(APIView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses=paginated(FalseDetectionOut),
                   description="Boxes people marked as not a text line (.../lines/{id}/not-a-line/), newest first.")
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        paginator = QueuePagination()
        chunk = paginator.paginate_queryset(selectors.false_detection_list(project=project), request, view=self)
        return paginator.get_paginated_response(FalseDetectionOut(chunk, many=True).data)
