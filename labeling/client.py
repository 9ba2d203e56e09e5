"""The one way inkloop talks to Label Studio: label-studio-sdk 2.x with a timeout on every call.

Every failure to reach Label Studio (down, slow, refusing our token) surfaces as
LabelStudioUnavailable with a message a person can act on; callers retry later.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

import httpx
from django.conf import settings
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError


class LabelStudioUnavailable(Exception):
    """Label Studio could not be reached or refused the request; try again later."""


class LabelStudioNotConfigured(LabelStudioUnavailable):
    pass


@functools.cache
def _client(base_url: str, api_key: str, timeout: float) -> LabelStudio:
    return LabelStudio(base_url=base_url, api_key=api_key, timeout=timeout)


def label_studio() -> LabelStudio:
    if not settings.LABEL_STUDIO_URL or not settings.LABEL_STUDIO_API_KEY:
        raise LabelStudioNotConfigured("Label Studio is not configured: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY.")
    return _client(settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY, settings.LABEL_STUDIO_TIMEOUT)


@contextmanager
def label_studio_call(what: str) -> Iterator[LabelStudio]:
    """`with label_studio_call("create the project") as ls: ls.projects.create(...)`."""
    client = label_studio()
    try:
        yield client
    except httpx.HTTPError as error:
        raise LabelStudioUnavailable(
            f"Could not {what}: Label Studio at {settings.LABEL_STUDIO_URL} did not answer ({error!r}).") from error
    except ApiError as error:
        if error.status_code is not None and error.status_code >= 500 or error.status_code in (401, 403):
            raise LabelStudioUnavailable(
                f"Could not {what}: Label Studio answered {error.status_code}: {str(error.body)[:300]}") from error
        raise


def is_not_found(error: Exception) -> bool:
    return isinstance(error, ApiError) and error.status_code == 404


def raw_request(method: str, path: str, *, what: str, **kwargs) -> httpx.Response:
    """For the few endpoints the SDK does not cover; same client, same timeout, same errors."""
    with label_studio_call(what) as client:
        response = client._client_wrapper.httpx_client.request(path, method=method, **kwargs)
        if response.status_code >= 400:
            raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=response.text)
        return response
