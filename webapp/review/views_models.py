"""The models page (every version, its verdict, roll back, download) and a training run's own page.

Both only read: rolling back and downloading go through the REST API (`model-version-promote`,
`model-version-download`), the same write path API clients use, so the API's objection to promoting a
version that did not win is what the browser shows before it asks for `force`.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from webapp.projects.models import Role
from webapp.projects.selectors import access_project
from webapp.review import charts, model_history, selectors
from webapp.training.selectors import access_training_run


def _is_manager(project) -> bool:
    return Role.rank(project.caller_role) >= Role.rank(Role.MANAGER)


@login_required
@require_GET
@ensure_csrf_cookie  # its script writes through the API, which checks the CSRF header
def models_page(request, project_id: int):
    project = access_project(user=request.user, project_id=project_id)
    points = selectors.learning_curve(project=project)
    return render(request, "review/models.html", {
        "project": project, "rows": model_history.model_history(project=project), "is_manager": _is_manager(project),
        "chart": charts.learning_curve_chart(points, axis="lines"),
        "chart_characters": charts.learning_curve_chart(points, axis="characters")})


@login_required
@require_GET
def run_page(request, project_id: int, run_id: int):
    project = access_project(user=request.user, project_id=project_id)
    run = access_training_run(project=project, run_id=run_id)
    return render(request, "review/run.html", {"project": project, "run": run, **_run_context(run)})


@login_required
@require_GET
def run_live(request, project_id: int, run_id: int):
    """The part of a run's page that changes while it trains; the page polls it."""
    project = access_project(user=request.user, project_id=project_id)
    run = access_training_run(project=project, run_id=run_id)
    response = render(request, "review/_run_live.html", {"project": project, "run": run, **_run_context(run)})
    patch_cache_control(response, no_store=True)
    return response


def _run_context(run) -> dict:
    progress = run.progress or {}
    total, step = progress.get("total_steps"), progress.get("step")
    fraction = step / total if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total else None
    return {"outcome": model_history.run_outcome(run), "fraction": fraction,
            "trigger": model_history.run_trigger(run),
            "train_seconds": model_history.training_seconds(run.model_version, run)}
