"""The page editor: one page's image with its line boxes, to correct boxes, polygons, baselines, text and
reading order. Every edit its script makes goes through the REST API (webapp/api/lines.py) with the
version it read, so a stale edit is answered 409 there and shown here; this view only renders."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from webapp.api.serializers import LineOut
from webapp.corpus.selectors import access_page, line_list
from webapp.corpus.signing import page_image_url
from webapp.projects.selectors import access_project
from webapp.review import selectors
from webapp.review.links import label_studio_task_url


@login_required
@require_GET
@ensure_csrf_cookie  # its script writes through the API, which checks the CSRF header
def page_detail(request, project_id: int, page_id: int):
    project = access_project(user=request.user, project_id=project_id)
    page = access_page(project=project, page_id=page_id)
    previous, following = selectors.page_neighbours(project=project, page=page)
    editor = {
        "lines": LineOut(line_list(page=page).select_related("verified_by"), many=True).data,
        "width": page.width, "height": page.height,
        "lines_url": reverse("page-lines", args=[project.pk, page.pk]),
        "order_url": reverse("page-lines-order", args=[project.pk, page.pk]),
        "line_url": reverse("line-detail", args=[project.pk, 0]),  # the script puts each line's id in place of 0
    }
    return render(request, "review/page.html", {
        "project": project, "page": page, "editor": editor, "previous": previous, "next": following,
        "image_url": page_image_url(page), "ls_url": label_studio_task_url(page)})
