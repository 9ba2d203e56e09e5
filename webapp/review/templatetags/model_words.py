"""Model versions and training runs in words (webapp.review.model_history), for the templates."""

from __future__ import annotations

from django import template

from webapp.review import model_history

register = template.Library()


@register.filter
def run_outcome(run) -> str:
    return model_history.run_outcome(run) or ""


@register.filter
def verdict(version) -> str:
    return model_history.version_verdict(version, run=getattr(version, "training_run", None))
