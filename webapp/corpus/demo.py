"""The demo project `make run` creates, so a new user lands on pages with lines."""

from __future__ import annotations

import io
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ml.data.layout import pair_layouts_with_images
from ml.data.synthetic import render_page, sample_text_lines
from webapp.corpus.lines import LineData
from webapp.corpus.services import PageToStore, ingest_limits, pages_store
from webapp.corpus.transfer import layout_import
from webapp.ingest import ingest_image
from webapp.projects.models import Project
from webapp.projects.services import project_create

DEMO_PROJECT_NAME = "Demo"


def demo_project_seed(*, owner: AbstractBaseUser, data_dir: Path | None = None, synthetic_pages: int = 6) -> Project:
    """Create the demo project once; later calls return it untouched."""
    existing = Project.objects.filter(name=DEMO_PROJECT_NAME, memberships__user=owner).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        project = project_create(creator=owner, name=DEMO_PROJECT_NAME,
                                 description="Pages to try inkloop with.")
        if data_dir is not None:
            files = [(path.name, path.read_bytes()) for pair in pair_layouts_with_images(data_dir) for path in pair]
            layout_import(project=project, user=owner, files=files)
        else:
            pages_store(project=project, user=owner, pages=_synthetic_pages(synthetic_pages))
    return project


def _synthetic_pages(count: int) -> list[PageToStore]:
    pages = []
    for seed in range(count):
        image, layout = render_page(sample_text_lines(8, seed=seed), seed=seed)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        page_image = ingest_image(buffer.getvalue(), f"synthetic-{seed + 1:03d}.png", limits=ingest_limits())[0]
        lines = [LineData(bbox=line.bbox, text=line.text,
                          polygon=[list(point) for point in line.polygon] if line.polygon else None,
                          baseline=[list(point) for point in line.baseline] if line.baseline else None)
                 for line in layout.lines]
        pages.append(PageToStore(image=page_image, group=f"synthetic-{seed + 1:03d}", lines=lines))
    return pages
