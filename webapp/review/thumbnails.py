"""Page thumbnails for the page grid: made once per page image, on first request, kept in Django storage.

The storage name is derived from the image's sha256, which never changes for a page, so a stored
thumbnail never goes stale and its ETag is that hash. They are deleted with their page
(`corpus.services.pages_delete`).
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from webapp.corpus.models import Page, page_thumbnail_path
from webapp.files import local_copy

# Wide enough for a sharp card on a high-density screen, small enough to fetch 48 at once.
THUMBNAIL_WIDTH = 320
THUMBNAIL_MAX_HEIGHT = 480


def thumbnail_etag(page: Page) -> str:
    return f'"{page.sha256[:32]}-{THUMBNAIL_WIDTH}"'


def thumbnail_jpeg(page: Page) -> tuple[bytes, bool]:
    """The page's thumbnail as JPEG bytes, and whether it was made by this call (else read from storage)."""
    name = page_thumbnail_path(page)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read(), False
    data = _render(page)
    stored = default_storage.save(name, ContentFile(data))
    if stored != name:  # made meanwhile by another request: keep one copy
        default_storage.delete(stored)
    return data, True


def _render(page: Page) -> bytes:
    with Image.open(local_copy(page.image.name, page.sha256)) as image:
        image.draft("RGB", (THUMBNAIL_WIDTH * 2, THUMBNAIL_MAX_HEIGHT * 2))  # JPEG: decode at a reduced scale
        image = image.convert("RGB")
        image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_MAX_HEIGHT), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()
