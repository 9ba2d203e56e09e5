"""Reads for the page grid and the search page. Callers pass a project they already checked access to."""

from __future__ import annotations

from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery

from webapp.corpus.models import Line, Page
from webapp.corpus.selectors import page_filter
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
    """The project's pages, filtered and sorted in the database, without line counts: counting every page's
    lines to show 48 of them would make each grid page cost as much as the whole project
    (`with_line_counts` counts those of the pages shown)."""
    pages = page_filter(Page.objects.filter(project=project), status=status, split=split, group=group,
                        has_verified_lines=has_verified_lines)
    if sort == "edited":
        latest = Line.objects.filter(page=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
        pages = pages.annotate(last_edited=Subquery(latest))
    return pages.order_by(*GRID_SORTS[sort][1])


def with_line_counts(pages: list[Page]) -> list[Page]:
    """The pages with `line_count`, `verified_line_count` and `last_edited` set, in one query."""
    rows = (Line.objects.filter(page__in=pages).values("page_id")
            .annotate(total=Count("id"), verified=Count("id", filter=Q(verified_at__isnull=False)),
                      last=Max("updated_at")))
    counts = {row["page_id"]: row for row in rows}
    for page in pages:
        row = counts.get(page.pk, {})
        page.line_count, page.verified_line_count = row.get("total", 0), row.get("verified", 0)
        page.last_edited = row.get("last")
    return pages
