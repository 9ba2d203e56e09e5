"""Models that come from outside: uploaded checkpoints, validated before they are stored."""

from __future__ import annotations

import hashlib
import io
import zipfile

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max

from ml.checkpoints import CheckpointError, load_checkpoint
from webapp.projects.models import Project
from webapp.training.models import ModelKind, ModelStatus, ModelVersion, PromotionVia
from webapp.training.services import TrainingRefused, enqueue_on_commit_after_promotion, json_safe
from webapp.training.services import promote as promote_version

MAX_CHECKPOINT_BYTES = 500 * 1024 * 1024


def checkpoint_from_upload(data: bytes) -> bytes:
    """The checkpoint bytes of an upload: a bare .pt file, or the zip that /download/ gives."""
    if data[:4] != b"PK\x03\x04":
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("checkpoint.pt")
            if info.file_size > MAX_CHECKPOINT_BYTES:
                raise TrainingRefused("checkpoint.pt in the zip is too large.")
            return archive.read(info)
    except KeyError:
        return data  # a .pt file is itself a zip; torch.load decides below
    except zipfile.BadZipFile as error:
        raise TrainingRefused(f"The upload is a damaged zip: {error}") from error


def validated_payload(data: bytes) -> dict:
    """Load with weights_only=True (a pickled object is refused), then build the model to prove it fits."""
    try:
        payload = load_checkpoint(data)
    except CheckpointError as error:
        raise TrainingRefused(f"This is not a checkpoint inkloop can load safely: {error}") from error
    kind = payload.get("kind")
    try:
        if kind == ModelKind.RECOGNIZER:
            from ml.recognition.predict import model_from_payload

            model_from_payload(payload)
        elif kind == ModelKind.DETECTOR:
            from ml.detection.predict import detector_from_payload

            detector_from_payload(payload)
        else:
            raise TrainingRefused(f"Unknown model kind {kind!r}; expected detector or recognizer.")
    except TrainingRefused:
        raise
    except Exception as error:  # a state dict that does not fit its config, missing keys...
        raise TrainingRefused(f"The {kind} checkpoint does not build a model: {error}") from error
    return payload


def model_version_upload(*, project: Project, user: AbstractBaseUser, data: bytes, promote: bool) -> ModelVersion:
    checkpoint = checkpoint_from_upload(data)
    payload = validated_payload(checkpoint)
    kind = payload["kind"]
    with transaction.atomic():
        number = (ModelVersion.objects.select_for_update().filter(project=project, kind=kind)
                  .aggregate(highest=Max("number"))["highest"] or 0) + 1
        version = ModelVersion(project=project, kind=kind, number=number, source="uploaded",
                               checkpoint_sha256=hashlib.sha256(checkpoint).hexdigest(),
                               alphabet="".join(payload.get("alphabet", [])),
                               metrics={"uploaded_meta": json_safe(_plain(payload.get("meta", {})))},
                               status=ModelStatus.READY, created_by=user)
        version.checkpoint.save(f"{kind}.pt", ContentFile(checkpoint), save=False)
        if promote:
            # Never judged on this project, so nothing can object; the record says who chose it.
            promote_version(version, via=PromotionVia.UPLOAD, user=user, reason="uploaded with promote")
            enqueue_on_commit_after_promotion(version)
        else:
            version.save()
    return version


def _plain(value):
    """JSON-safe copy of checkpoint metadata (tensors become their shape)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)[:200]
