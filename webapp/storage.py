"""A file-system storage that behaves like a remote one: no `path()` for callers.

The test settings use it (see the Makefile's `test` target), for the web app and the
real workers alike, so any code that reaches behind the storage API to a local path
fails in the tests instead of failing later on S3.
"""

from __future__ import annotations

import contextvars
import functools

from django.core.files.storage import FileSystemStorage

_INSIDE_STORAGE = contextvars.ContextVar("inside_storage", default=False)


def _may_use_paths(method):
    """FileSystemStorage's own methods work through path(); only outside callers are refused."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        token = _INSIDE_STORAGE.set(True)
        try:
            return method(self, *args, **kwargs)
        finally:
            _INSIDE_STORAGE.reset(token)
    return wrapper


class NoLocalPathStorage(FileSystemStorage):
    def path(self, name: str) -> str:
        if not _INSIDE_STORAGE.get():
            raise NotImplementedError(
                "This storage has no local paths (as on S3): read and write through open()/save().")
        return super().path(name)

    _open = _may_use_paths(FileSystemStorage._open)
    _save = _may_use_paths(FileSystemStorage._save)
    delete = _may_use_paths(FileSystemStorage.delete)
    exists = _may_use_paths(FileSystemStorage.exists)
    listdir = _may_use_paths(FileSystemStorage.listdir)
    size = _may_use_paths(FileSystemStorage.size)
    get_available_name = _may_use_paths(FileSystemStorage.get_available_name)
    get_accessed_time = _may_use_paths(FileSystemStorage.get_accessed_time)
    get_created_time = _may_use_paths(FileSystemStorage.get_created_time)
    get_modified_time = _may_use_paths(FileSystemStorage.get_modified_time)
