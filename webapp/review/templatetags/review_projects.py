"""Template tags of the project pages, usable on any project page without its view's help."""

from __future__ import annotations

from django import template

from webapp.review.selectors_projects import NextStep, project_next_step as next_step_of

register = template.Library()


@register.simple_tag
def project_next_step(project) -> NextStep:
    """`{% project_next_step project as next_step %}`: for a project the view already checked access to."""
    return next_step_of(project)
