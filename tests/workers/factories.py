"""Projects with real CREMMA pages, committed so the worker processes can read them."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model

from ml.data.layout import pair_layouts_with_images
from webapp.corpus.models import Page, Split
from webapp.corpus.transfer import layout_import
from webapp.projects.models import Membership, Project, Role, Strategy
from webapp.projects.services import project_create

CREMMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "cremma-testaments"


def cremma_project(*, name: str, pages: int, val_pages: int = 2, username: str | None = None,
                   use_base_models: bool = False) -> Project:
    """`pages` CREMMA pages with their verified lines; the first `val_pages` go to the validation split."""
    user = get_user_model().objects.create_user(username=username or f"lead-{name}", password="x" * 12)
    # Queues in the ranked order the tests check (new projects default to random).
    project = project_create(creator=user, name=name, use_base_models=use_base_models,
                             strategy=Strategy.LEAST_CONFIDENCE)
    pairs = pair_layouts_with_images(CREMMA)[:pages]
    files = [(path.name, path.read_bytes()) for pair in pairs for path in pair]
    layout_import(project=project, user=user, files=files)
    page_ids = list(Page.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    Page.objects.filter(pk__in=page_ids[:val_pages]).update(split=Split.VAL)
    Page.objects.filter(pk__in=page_ids[val_pages:]).update(split=Split.TRAIN)
    return project


def manager_of(project: Project):
    return Membership.objects.filter(project=project, role=Role.MANAGER).select_related("user").first().user
