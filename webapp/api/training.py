from __future__ import annotations

import io
import json
import math
import zipfile

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.files import read_bytes
from webapp.projects.models import Role
from webapp.projects.selectors import access_project
from webapp.api.json_types import QueryParams, StrictJsonTypes
from webapp.api.schema import ErrorOut
from webapp.review import selectors as review_selectors
from webapp.training import registry, selectors, services
from webapp.training.models import ModelKind, ModelPromotion, ModelStatus, ModelVersion, TrainingRun


class TrainingRunOut(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()
    outcome = serializers.ChoiceField(choices=["promoted", "rejected"], allow_null=True, read_only=True,
                                      help_text="Set once the run succeeded: was its model promoted or rejected?")
    parent = serializers.CharField(source="parent.label", default=None, allow_null=True)
    triggered_by = serializers.CharField(source="triggered_by.username", default=None, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "kind", "status", "outcome", "verdict", "from_scratch", "epochs", "max_minutes", "parent",
                  "model_version", "promoted", "progress", "heartbeat_at", "attempts", "cancel_requested",
                  "retrain_after", "retrain_options", "error", "figures", "trigger", "triggered_by", "created_at",
                  "started_at", "finished_at"]
        extra_kwargs = {"retrain_options": {"help_text": "The follow-up run asked for while this one was active: "
                                                         "from_scratch, epochs, max_minutes, user_id."},
                        "verdict": {"help_text": 'How the run\'s model was judged, e.g. "rejected: val CER 1.000 vs '
                                                 '1.000 of the empty prediction (it must be lower by 0.005)".'}}

    def get_model_version(self, run) -> dict | None:
        version = run.model_version
        return None if version is None else {"id": version.pk, "label": version.label, "status": version.status}


class TrainingRunIn(StrictJsonTypes, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices)
    from_scratch = serializers.BooleanField(default=False)
    epochs = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    max_minutes = serializers.FloatField(min_value=0.1, max_value=24 * 60, required=False)


class ModelPromotionOut(serializers.ModelSerializer):
    replaced = serializers.CharField(source="replaced.label", default=None, allow_null=True)
    promoted_by = serializers.CharField(source="promoted_by.username", default=None, allow_null=True)

    class Meta:
        model = ModelPromotion
        fields = ["created_at", "via", "promoted_by", "forced", "reason", "replaced"]
        extra_kwargs = {"forced": {"help_text": "Promoted by hand although its figures said it did not beat the "
                                                "version it replaced; `reason` says how."}}


class ModelVersionOut(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent.label", default=None, allow_null=True)
    promotions = ModelPromotionOut(many=True, read_only=True, help_text="Each time it was promoted, newest first.")

    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "number", "label", "status", "parent", "checkpoint_sha256", "alphabet", "metrics",
                  "watermark_revision", "trained_on_lines", "trained_on_pages", "source", "created_at", "promoted_at",
                  "promotions"]


class ModelPromoteIn(StrictJsonTypes, serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Promote even though its recorded figures say it did "
                                                              "not beat the promoted version (recorded as forced).")


class ModelUploadIn(serializers.Serializer):
    checkpoint = serializers.FileField(help_text="A .pt checkpoint as downloaded (or the zip from /download/).")
    promote = serializers.BooleanField(default=False)


def with_problem_as_400(call):
    try:
        return call()
    except services.TrainingRefused as refused:
        raise ValidationError({"detail": str(refused)}) from refused


class TrainingRunListApi(APIView):
    @extend_schema(responses=TrainingRunOut(many=True))
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        return Response(TrainingRunOut(selectors.training_run_list(project=project)[:100], many=True).data)

    @extend_schema(request=TrainingRunIn, responses={201: TrainingRunOut, 200: TrainingRunOut},
                   description="Start a run. While one is active for this kind, answers 200 with it and marks "
                               "the project to train once more when it ends.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        data = TrainingRunIn(data=request.data)
        data.is_valid(raise_exception=True)
        run, created = with_problem_as_400(lambda: services.training_request(
            project=project, user=request.user, **data.validated_data))
        return Response(TrainingRunOut(run).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunOut)
    def get(self, request, project_id: int, run_id: int):
        project = access_project(user=request.user, project_id=project_id)
        return Response(TrainingRunOut(selectors.access_training_run(project=project, run_id=run_id)).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(request=None, responses=TrainingRunOut)
    def post(self, request, project_id: int, run_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        run = services.training_cancel(run=selectors.access_training_run(project=project, run_id=run_id))
        return Response(TrainingRunOut(run).data)


class ModelVersionListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class FilterIn(QueryParams):
        kind = serializers.ChoiceField(choices=ModelKind.choices, required=False)

    @extend_schema(parameters=[FilterIn], responses=ModelVersionOut(many=True))
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        filters = self.FilterIn(data=request.query_params)
        filters.is_valid(raise_exception=True)
        versions = selectors.model_version_list(project=project, kind=filters.validated_data.get("kind"))
        return Response(ModelVersionOut(versions, many=True).data)

    @extend_schema(request=ModelUploadIn, responses={201: ModelVersionOut},
                   description="Upload a checkpoint; it is loaded with weights_only=True and checked before it "
                               "is stored.")
    def post(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        data = ModelUploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["checkpoint"]
        if upload.size > registry.MAX_CHECKPOINT_BYTES:
            raise ValidationError({"checkpoint": f"The file is over {registry.MAX_CHECKPOINT_BYTES} bytes."})
        version = with_problem_as_400(lambda: registry.model_version_upload(
            project=project, user=request.user, data=upload.read(), promote=data.validated_data["promote"]))
        return Response(ModelVersionOut(version).data, status=status.HTTP_201_CREATED)


class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionOut)
    def get(self, request, project_id: int, version_id: int):
        project = access_project(user=request.user, project_id=project_id)
        return Response(ModelVersionOut(selectors.access_model_version(project=project, version_id=version_id)).data)


class ModelVersionPromoteApi(APIView):
    @extend_schema(request=ModelPromoteIn, responses={200: ModelVersionOut, 409: ErrorOut},
                   description="Roll back (or forward) to this version. When its recorded validation figures say "
                               "it did not beat the promoted version, answers 409 with the reason unless `force` "
                               "is true; a forced promotion is recorded in `promotions` with who and when.")
    def post(self, request, project_id: int, version_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        version = selectors.access_model_version(project=project, version_id=version_id)
        data = ModelPromoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = services.model_version_promote(version=version, user=request.user,
                                                     force=data.validated_data["force"])
        except services.PromotionNeedsForce as objection:
            return Response({"detail": str(objection)}, status=status.HTTP_409_CONFLICT)
        except services.TrainingRefused as refused:
            raise ValidationError({"detail": str(refused)}) from refused
        return Response(ModelVersionOut(selectors.access_model_version(project=project, version_id=version.pk)).data)


class ModelVersionDownloadApi(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, project_id: int, version_id: int):
        project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
        version = selectors.access_model_version(project=project, version_id=version_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("checkpoint.pt", read_bytes(version.checkpoint.name))
            archive.writestr("metadata.json", json.dumps(ModelVersionOut(version).data, indent=2, default=str))
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{project.pk}-{version.label}.zip"'
        return response


class ForecastOut(serializers.Serializer):
    available = serializers.BooleanField(help_text="False before enough recognizer versions are on the learning "
                                                   "curve; `message` then says how many it needs.")
    message = serializers.CharField(help_text="The forecast in words, as the dashboard says it.")
    versions = serializers.IntegerField(help_text="Recognizer versions on the learning curve.")
    target = serializers.FloatField(allow_null=True, help_text="The validation CER asked about (0–1).")
    lines_now = serializers.IntegerField(allow_null=True, help_text="Verified lines the latest version learned from.")
    reachable = serializers.BooleanField(allow_null=True, help_text="False when the fitted curve levels off above "
                                                                    "the target.")
    more_lines = serializers.IntegerField(allow_null=True, help_text="More verified lines to reach the target "
                                                                     "(null when out of reach).")
    more_lines_low = serializers.IntegerField(allow_null=True, help_text="The interval's low end (10th percentile).")
    more_lines_high = serializers.IntegerField(allow_null=True, help_text="Its high end (90th percentile); null "
                                                                          "when some fits never reach the target.")
    more_characters = serializers.IntegerField(allow_null=True, help_text="The same in characters, at the mean "
                                                                          "length of the lines learned from so far.")
    floor = serializers.FloatField(allow_null=True, help_text="The CER where the fitted curve levels off.")


class ForecastApi(APIView):
    class FilterIn(QueryParams):
        target = serializers.FloatField(min_value=0.001, max_value=0.999, required=False,
                                        help_text="Validation CER to reach, 0–1 (default: the next of 50, 30, 20, "
                                                  "15, 10, 5, 2, 1 % below the best so far).")

    @extend_schema(parameters=[FilterIn], responses=ForecastOut,
                   description="How many more verified lines the project's own learning curve (validation CER of "
                               "each recognizer version against the verified lines it learned from) says reach a "
                               "CER, with an interval. Fitted once three versions are on the curve.")
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        filters = self.FilterIn(data=request.query_params)
        filters.is_valid(raise_exception=True)
        forecast = review_selectors.labelling_forecast(project=project, target=filters.validated_data.get("target"))
        if forecast is None:
            versions = sum(point.status != ModelStatus.REJECTED for point in review_selectors.learning_curve(
                project=project))
            return Response(ForecastOut({"available": False, "message": review_selectors.NO_FORECAST,
                                         "versions": versions, "target": None, "lines_now": None, "reachable": None,
                                         "more_lines": None, "more_lines_low": None, "more_lines_high": None,
                                         "more_characters": None, "floor": None}).data)

        def whole(value: float) -> int | None:
            return round(value) if math.isfinite(value) else None

        characters = forecast.characters(forecast.more_lines) if forecast.reachable else None
        return Response(ForecastOut({
            "available": True, "message": forecast.sentence(), "versions": forecast.versions,
            "target": forecast.target, "lines_now": forecast.lines_now, "reachable": forecast.reachable,
            "more_lines": whole(forecast.more_lines), "more_lines_low": whole(forecast.more_lines_low),
            "more_lines_high": whole(forecast.more_lines_high),
            "more_characters": whole(characters) if characters is not None else None,
            "floor": forecast.floor}).data)
