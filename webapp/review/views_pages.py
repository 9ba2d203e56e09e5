"""The page grid (thumbnails, filters, sort, selection for bulk actions), page thumbnails and the search page.

Reads only: deleting, pre-annotating, sending to Label Studio, uploading and exporting go through the REST API
from pages.js and upload.js, so the browser and API clients share one write path and see the same validation
messages.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.http import parse_etags, urlencode
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from webapp.corpus.models import PageStatus, Split
from webapp.corpus.selectors import access_page, line_search
from webapp.projects.models import Role
from webapp.projects.selectors import access_project
from webapp.review import thumbnails
from webapp.review.selectors_pages import GRID_SORTS, page_grid, with_line_counts

GRID_PAGE_SIZE = 48  # cards per grid page; settings.INKLOOP_GRID_PAGE_SIZE overrides it
SEARCH_PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 200  # as the search API

# What a project lead reads on a card, for each stored status.
STATUS_BADGES = {
    PageStatus.NEW: "New",
    PageStatus.PREDICTED: "Pre-annotated",
    PageStatus.IN_PROGRESS: "Partly verified",
    PageStatus.DONE: "Verified",
}
EXPORT_FORMATS = [("alto", "ALTO"), ("page", "PAGE XML"), ("text", "text")]


class GridFilters(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any")] + [(k, v) for k, v in STATUS_BADGES.items()])
    split = forms.ChoiceField(required=False, choices=[("", "Any")] + list(Split.choices))
    group = forms.CharField(required=False, max_length=255, label="Document or writer")
    verified = forms.ChoiceField(required=False, label="Verified lines",
                                 choices=[("", "Any"), ("yes", "Some"), ("no", "None")])
    sort = forms.ChoiceField(required=False, choices=[(key, label) for key, (label, _) in GRID_SORTS.items()])


def _grid_roles(project) -> dict:
    rank = Role.rank(project.caller_role)
    # Sending to Label Studio is offered where this server has one (the API refuses it otherwise).
    return {"can_preannotate": rank >= Role.rank(Role.REVIEWER), "can_manage": rank >= Role.rank(Role.MANAGER),
            "can_send": rank >= Role.rank(Role.REVIEWER) and bool(settings.LABEL_STUDIO_URL)}


@login_required
@require_GET
@ensure_csrf_cookie  # its script writes through the API, which checks the CSRF header
def page_grid_view(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id)
    filters = GridFilters(request.GET)
    if filters.is_valid():
        wanted = filters.cleaned_data
        status_code = 200
    else:
        wanted, status_code = {}, 400
    verified = {"yes": True, "no": False}.get(wanted.get("verified") or "")
    pages = page_grid(project=project, status=wanted.get("status") or None, split=wanted.get("split") or None,
                      group=wanted.get("group") or None, has_verified_lines=verified,
                      sort=wanted.get("sort") or "name")
    size = getattr(settings, "INKLOOP_GRID_PAGE_SIZE", GRID_PAGE_SIZE)
    chunk = Paginator(pages, size).get_page(request.GET.get("page"))
    chunk.object_list = with_line_counts(list(chunk.object_list))
    for page in chunk:
        page.badge = STATUS_BADGES.get(page.status, page.status)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "review/pages.html", {
        "project": project, "filters": filters, "chunk": chunk, "query": query.urlencode(),
        "export_formats": EXPORT_FORMATS, **_grid_roles(project)}, status=status_code)


@login_required
@require_GET
def page_thumbnail(request, project_id: int, page_id: int):
    """A small JPEG of the page, never the full image; revalidated by ETag (the image's hash)."""
    project = access_project(user=request.user, project_id=project_id)
    page = access_page(project=project, page_id=page_id)
    etag = thumbnails.thumbnail_etag(page)
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        data, _ = thumbnails.thumbnail_jpeg(page)
        response = HttpResponse(data, content_type="image/jpeg")
    response["ETag"] = etag
    # A page's image never changes (its id and sha256 are fixed), so neither does its thumbnail.
    patch_cache_control(response, private=True, max_age=7 * 24 * 3600)
    return response


@login_required
@require_GET
def search(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id)
    query = request.GET.get("q", "").strip()
    error = None
    chunk = None
    if len(query) > SEARCH_MAX_LENGTH:
        error = f"The search text is over {SEARCH_MAX_LENGTH} characters."
    elif query:
        chunk = Paginator(line_search(project=project, query=query), SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "review/search.html", {
        "project": project, "query": query, "chunk": chunk, "error": error, "pager_query": urlencode({"q": query})},
        status=400 if error else 200)
