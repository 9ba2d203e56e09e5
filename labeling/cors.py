"""Which browser origins may read Label Studio's task images from inkloop (CORS).

Label Studio's editor, and its task list for thumbnails, load each task image with an
XMLHttpRequest from Label Studio's own origin: without `Access-Control-Allow-Origin` naming
that origin the browser throws the image away ("There was an issue loading URL from $image
value"). The request carries no cookies and needs none, since the project's image token in
the URL is the credential.

django-cors-headers writes the headers, answers preflights and adds `Vary: Origin`, on the
task-image route only (settings.CORS_URLS_REGEX). This receiver of its
`check_request_enabled` signal says which origins: where annotators open Label Studio
(`LABEL_STUDIO_BROWSER_URL`, else `LABEL_STUDIO_URL`), read at each request, and that
origin's loopback twin (`localhost` for `127.0.0.1` and back), since a local Label Studio
is opened under either name. Never `*`, never with credentials.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings

from webapp.review.links import label_studio_browser_url

LOOPBACK_TWINS = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}


def label_studio_origins() -> set[str]:
    """The origins (scheme://host[:port]) annotators' browsers open Label Studio at."""
    url = label_studio_browser_url()
    if not url:
        return set()
    parts = urlsplit(url)
    origins = {f"{parts.scheme}://{parts.netloc}"}
    twin = LOOPBACK_TWINS.get(parts.hostname or "")
    if twin is not None:
        port = f":{parts.port}" if parts.port else ""
        origins.add(f"{parts.scheme}://{twin}{port}")
    return origins


def task_image_cors_allowed(sender, request, **kwargs) -> bool:
    """django-cors-headers asks this for every request: CORS for Label Studio's origins on task images only."""
    return (re.match(settings.CORS_URLS_REGEX, request.path_info) is not None
            and request.headers.get("Origin") in label_studio_origins())
