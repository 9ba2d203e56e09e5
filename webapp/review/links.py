"""Links from inkloop pages to their Label Studio tasks.

The webapp must not import `labeling` (the dependency arrow points the other way), yet only
`labeling` knows which Label Studio project mirrors an inkloop project. So `labeling` registers a
resolver here when it is ready (`register_ls_project_resolver` in its AppConfig.ready()); until
one is registered, or without LABEL_STUDIO_URL, no link is shown. Links point where browsers open
Label Studio (LABEL_STUDIO_BROWSER_URL), which need not be where inkloop's server reaches it.
"""

from __future__ import annotations

from typing import Callable

from django.conf import settings

from webapp.corpus.models import Page

_resolver: Callable[[int], int | None] | None = None


def register_ls_project_resolver(resolver: Callable[[int], int | None]) -> None:
    """`resolver(inkloop_project_id)` returns the Label Studio project id, or None if not provisioned."""
    global _resolver
    _resolver = resolver


def label_studio_browser_url() -> str:
    """Where annotators' browsers open Label Studio (read at each call: tests and deployments change it)."""
    return settings.LABEL_STUDIO_BROWSER_URL or settings.LABEL_STUDIO_URL


def label_studio_task_url(page: Page) -> str | None:
    base = label_studio_browser_url()
    if not base or page.ls_task_id is None or _resolver is None:
        return None
    ls_project_id = _resolver(page.project_id)
    if ls_project_id is None:
        return None
    return f"{base}/projects/{ls_project_id}/data?task={page.ls_task_id}"
