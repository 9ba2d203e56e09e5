"""Base models in a project's registry: the shipped recognizer and detector as its first versions.

Invariants:
- a base checkpoint is stored once, under a name derived from its sha256, and every
  project's base version points at that one file (so deleting a project never deletes it:
  model files are not removed with their project);
- a base version is number 1 of its kind, source "base", promoted when installed: the
  first training run fine-tunes from it and must beat it on the project's val split.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ml.base_models import KINDS, base_card, base_checkpoint
from webapp.projects.models import Project
from webapp.training.models import ModelVersion, PromotionVia
from webapp.training.services import promote

BASE_SOURCE = "base"


def base_models_folder() -> Path | None:
    """Where the shipped checkpoints are; None when the deployment turned base models off."""
    folder = getattr(settings, "INKLOOP_BASE_MODELS_DIR", None)
    if folder == "":
        return None
    return Path(folder) if folder else base_checkpoint("recognizer").parent


@lru_cache(maxsize=8)
def _checkpoint_digest(path: Path, size: int, mtime: float) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_checkpoint(kind: str, folder: Path) -> tuple[str, str]:
    """(storage name, sha256) of the base checkpoint of `kind`, storing it on first use."""
    path = base_checkpoint(kind, folder=folder)
    stat = path.stat()
    sha256 = _checkpoint_digest(path, stat.st_size, stat.st_mtime)
    name = f"models/base/{kind}-{sha256[:16]}.pt"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(path.read_bytes()))
        if saved != name:  # another process stored it at the same moment: keep theirs
            default_storage.delete(saved)
    return name, sha256


def _base_metrics(kind: str, folder: Path) -> dict:
    """What the dashboard and the API show about a base version: where it came from, how good it is."""
    card = base_card(folder)
    figures = card.get("evaluation", {})
    if kind == "recognizer":
        summary = {"val_cer": figures.get("validation", {}).get("recognizer", {}).get("cer"),
                   "zero_shot_cer_cremma": figures.get("cremma", {}).get("recognizer", {}).get("cer")}
    else:
        summary = {"val_f1": figures.get("validation", {}).get("pages", {}).get("f1"),
                   "zero_shot_f1_cremma": figures.get("cremma", {}).get("pages", {}).get("f1")}
    return {"base": {**summary, "corpora": card.get("data", {}).get("corpora", []),
                     "model_card": "ml/base_models/MODEL_CARD.md"}}


def base_versions_install(*, project: Project, user: AbstractBaseUser | None) -> list[ModelVersion]:
    """Give a project without models the base recognizer and detector, promoted. Idempotent."""
    folder = base_models_folder()
    if folder is None or not all(base_checkpoint(kind, folder=folder).is_file() for kind in KINDS):
        return []
    stored = {kind: _stored_checkpoint(kind, folder) for kind in KINDS}
    card = base_card(folder)
    installed = []
    with transaction.atomic():
        for kind in KINDS:
            if ModelVersion.objects.filter(project=project, kind=kind).exists():
                continue  # the registry already has a history; a base never goes on top of it
            name, sha256 = stored[kind]
            alphabet = card.get("recognizer", {}).get("alphabet", "") if kind == "recognizer" else ""
            version = ModelVersion(project=project, kind=kind, number=1, source=BASE_SOURCE, checkpoint_sha256=sha256,
                                   alphabet=alphabet, metrics=_base_metrics(kind, folder), created_by=user)
            version.checkpoint.name = name
            promote(version, via=PromotionVia.BASE, user=user, reason="the shipped base model")
            installed.append(version)
    return installed
