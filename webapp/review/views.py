"""Server-rendered pages of the review UI, plus the few JSON reads their scripts need.

Line edits and training requests go through the REST API (webapp/api), so the browser and
API clients share one write path; the only write here is undoing an accept.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from webapp.corpus.models import Line
from webapp.corpus.selectors import access_line
from webapp.corpus.services import LineConflict
from webapp.projects.models import Role
from webapp.projects.selectors import access_project
from webapp.review import charts, crops, selectors, services
from webapp.review.links import label_studio_task_url


def _roles(project) -> dict:
    rank = Role.rank(project.caller_role)
    return {"can_train": rank >= Role.rank(Role.REVIEWER), "can_upload": rank >= Role.rank(Role.MANAGER)}


@login_required
@require_GET
def project_list(request):
    return render(request, "review/project_list.html", {"projects": selectors.project_cards(user=request.user)})


@login_required
@require_GET
@ensure_csrf_cookie  # its script writes through the API, which checks the CSRF header
def dashboard(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id)
    if request.GET.get("q"):  # the search has its own, paginated page (views_pages.search)
        return redirect(f"{reverse('review:search', args=[project.pk])}?{request.GET.urlencode()}")
    return render(request, "review/dashboard.html", {
        "project": project, "overview": selectors.project_overview(project=project),
        **_roles(project), **_training_context(project)})


@login_required
@require_GET
def training_live(request, project_id: int):
    """The part of the dashboard that changes while a model trains; the dashboard polls it."""
    project = access_project(user=request.user, project_id=project_id)
    response = render(request, "review/_training_live.html", {"project": project, **_training_context(project)})
    patch_cache_control(response, no_store=True)
    return response


def _forecast_sentence(project) -> str:
    forecast = selectors.labelling_forecast(project=project)
    return forecast.sentence() if forecast is not None else selectors.NO_FORECAST


def _training_context(project) -> dict:
    active = selectors.active_runs(project=project)
    return {"active_runs": active, "runs": selectors.latest_runs(project=project),
            "versions": selectors.model_versions(project=project),
            "chart": charts.learning_curve_chart(selectors.learning_curve(project=project)),
            "forecast": _forecast_sentence(project),
            "active_recognizer": active.get("recognizer"), "active_detector": active.get("detector")}


@login_required
@require_GET
@ensure_csrf_cookie  # its script writes through the API, which checks the CSRF header
def review_queue(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id)
    return render(request, "review/queue.html", {
        "project": project, "char_threshold": settings.INKLOOP_REVIEW_CHAR_THRESHOLD,
        "waiting": selectors.project_overview(project=project).waiting_lines})


@login_required
@require_GET
def queue_lines(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id)
    try:
        after = int(request.GET["after"]) if request.GET.get("after") else None
    except ValueError:
        return JsonResponse({"detail": "after is a line id."}, status=400)
    lines = selectors.queue_batch(project=project, after_line_id=after)
    ls_urls: dict[int, str | None] = {}
    for line in lines:
        if line.page_id not in ls_urls:
            ls_urls[line.page_id] = label_studio_task_url(line.page)
    response = JsonResponse({"lines": [_queue_item(project, line, ls_urls[line.page_id]) for line in lines]})
    patch_cache_control(response, no_store=True)
    return response


def _queue_item(project, line: Line, ls_url: str | None) -> dict:
    return {
        "id": line.pk, "version": line.version, "text": line.text, "confidence": line.confidence,
        "char_confidences": line.char_confidences or [], "page_id": line.page_id,
        "page_name": line.page.original_name, "order": line.order,
        "crop_url": reverse("review:line-crop", args=[project.pk, line.pk]) + f"?g={crops.geometry_key(line)}",
        "page_url": reverse("review:page", args=[project.pk, line.page_id]) + f"#line-{line.pk}",
        "api_url": reverse("line-detail", args=[project.pk, line.pk]),
        "undo_url": reverse("review:line-undo", args=[project.pk, line.pk]),
        "not_a_line_url": reverse("line-not-a-line", args=[project.pk, line.pk]),
        "ls_url": ls_url,
    }


@login_required
@require_GET
def line_crop(request, project_id: int, line_id: int):
    project = access_project(user=request.user, project_id=project_id)
    line = access_line(project=project, line_id=line_id)
    response = HttpResponse(crops.line_crop_png(line), content_type="image/png")
    if request.GET.get("g") == crops.geometry_key(line):
        # The URL names this exact geometry, so the bytes behind it never change.
        patch_cache_control(response, private=True, max_age=7 * 24 * 3600, immutable=True)
    else:
        patch_cache_control(response, private=True, no_cache=True)
    return response


@login_required
@require_POST
def line_undo(request, project_id: int, line_id: int):
    project = access_project(user=request.user, project_id=project_id)
    line = access_line(project=project, line_id=line_id)
    try:
        version = int(json.loads(request.body or b"{}").get("version"))
    except (TypeError, ValueError, AttributeError):
        return JsonResponse({"detail": "Send the line's version: {\"version\": n}."}, status=400)
    try:
        line = services.line_revert_last_accept(line_id=line.pk, page=line.page, user=request.user,
                                                expected_version=version)
    except LineConflict as conflict:
        return JsonResponse({"detail": "Someone changed this line since you accepted it.",
                             "line": _line_state(conflict.line)}, status=409)
    except ValidationError as error:
        return JsonResponse({"detail": " ".join(error.messages)}, status=400)
    return JsonResponse({"line": _line_state(line)})


def _line_state(line: Line) -> dict:
    return {"id": line.pk, "version": line.version, "text": line.text, "verified": line.is_verified}


@login_required
@require_GET
@ensure_csrf_cookie  # its script writes through the API, which checks the CSRF header
def upload(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id, min_role=Role.MANAGER)
    return render(request, "review/upload.html", {"project": project})
