"""Reads of pages and lines. Callers pass a project they already checked access to."""

from __future__ import annotations

from django.contrib.postgres.search import TrigramWordSimilarity
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from PIL import Image

from webapp.corpus.models import Line, LineRevision, Page
from webapp.files import local_copy
from webapp.projects.models import Project

SEARCH_MIN_SIMILARITY = 0.4


def page_list(*, project: Project, status: str | None = None, split: str | None = None, group: str | None = None,
              has_verified_lines: bool | None = None) -> QuerySet[Page]:
    pages = page_filter(Page.objects.filter(project=project), status=status, split=split, group=group,
                        has_verified_lines=has_verified_lines)
    return pages.annotate(
        line_count=Count("lines"), verified_line_count=Count("lines", filter=Q(lines__verified_at__isnull=False))
    ).order_by("id")


def page_filter(pages: QuerySet[Page], *, status: str | None = None, split: str | None = None,
                group: str | None = None, has_verified_lines: bool | None = None) -> QuerySet[Page]:
    """`pages` narrowed by the page filters the API and the page grid share."""
    if status:
        pages = pages.filter(status=status)
    if split:
        pages = pages.filter(split=split)
    if group:
        pages = pages.filter(group=group)
    if has_verified_lines is not None:
        verified = Exists(Line.objects.filter(page=OuterRef("pk"), verified_at__isnull=False))
        pages = pages.filter(verified if has_verified_lines else ~verified)
    return pages


def access_page(*, project: Project, page_id: int) -> Page:
    page = Page.objects.filter(project=project, pk=page_id).first()
    if page is None:
        raise Http404("No such page in this project.")
    return page


def access_pages(*, project: Project, page_ids: list[int], field: str = "page_ids") -> list[Page]:
    """The pages of `project` with these ids, in id order. An id that is no page of the project (unknown, or
    another project's: the two are not told apart) is refused with a 400 naming it, never skipped."""
    pages = list(Page.objects.filter(project=project, pk__in=page_ids).order_by("id"))
    missing = sorted(set(page_ids) - {page.pk for page in pages})
    if missing:
        shown = ", ".join(str(page_id) for page_id in missing[:20]) + (", ..." if len(missing) > 20 else "")
        raise ValidationError({field: f"No such pages in this project: {shown}."})
    return pages


def access_line(*, project: Project, line_id: int) -> Line:
    line = Line.objects.select_related("page").filter(page__project=project, pk=line_id).first()
    if line is None:
        raise Http404("No such line in this project.")
    return line


def line_list(*, page: Page) -> QuerySet[Line]:
    return page.lines.order_by("order", "id")


def line_revisions(*, line_ref: int, project: Project) -> QuerySet[LineRevision]:
    return LineRevision.objects.filter(line_ref=line_ref, page__project=project).select_related("user")


def line_search(*, project: Project, query: str) -> QuerySet[Line]:
    """Lines containing `query`, or with a word close to it (trigram word similarity), best first.

    Both conditions use the trigram GIN index on Line.text.
    """
    lines = Line.objects.filter(page__project=project).select_related("page")
    return (lines.annotate(similarity=TrigramWordSimilarity(query, "text"))
            .filter(Q(text__icontains=query) | Q(similarity__gte=SEARCH_MIN_SIMILARITY))
            .order_by("-similarity", "page_id", "order"))


def page_image(page: Page) -> Image.Image:
    """The page's image in grayscale, read through the local cache of the shared storage."""
    with Image.open(local_copy(page.image.name, page.sha256)) as image:
        return image.convert("L")
