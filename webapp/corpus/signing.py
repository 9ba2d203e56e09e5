"""Signed, expiring URLs for page images: the signature is the credential.

Browsers (and later Label Studio) load page images with plain GETs that carry no API
token, so the URL itself says which image and until when.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from webapp.corpus.models import Page

SALT = "inkloop.page-image"


def page_image_token(page: Page) -> str:
    # The hash prefix ties the token to this image: a replaced image invalidates old URLs.
    return signing.TimestampSigner(salt=SALT).sign_object({"p": page.pk, "h": page.sha256[:16]})


def page_image_url(page: Page, request=None) -> str:
    path = reverse("page-image", kwargs={"token": page_image_token(page)})
    return request.build_absolute_uri(path) if request is not None else path


def page_from_token(token: str) -> Page | None:
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=settings.INKLOOP_SIGNED_URL_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return None
    page = Page.objects.filter(pk=payload.get("p")).first()
    if page is None or page.sha256[:16] != payload.get("h"):
        return None
    return page
