"""Reads for the page grid and the search page. Callers pass a project they already checked access to."""

from __future__ import annotations

from django.db.models import F, Max, QuerySet

from webapp.corpus.models import Page
from webapp.corpus.selectors import page_list
from webapp.projects.models import Project

# Sort keys of the grid: every order ends with the id, so pages with equal keys keep their places between
# grid pages.
GRID_SORTS = {
    "name": ("Name", [F("original_name").asc(), F("id").asc()]),
    "confidence": ("Least confident first", [F("confidence").asc(nulls_last=True), F("id").asc()]),
    "-confidence": ("Most confident first", [F("confidence").desc(nulls_last=True), F("id").asc()]),
    "edited": ("Last edited", [F("last_edited").desc(nulls_last=True), F("id").desc()]),
}


def page_grid(*, project: Project, status: str | None = None, split: str | None = None, group: str | None = None,
              has_verified_lines: bool | None = None, sort: str = "name") -> QuerySet[Page]:
    """The project's pages with their line counts and when a line of theirs last changed, filtered and sorted
    in the database (one query per grid page, whatever the project's size)."""
    pages = page_list(project=project, status=status, split=split, group=group,
                      has_verified_lines=has_verified_lines)
    return pages.annotate(last_edited=Max("lines__updated_at")).order_by(*GRID_SORTS[sort][1])
