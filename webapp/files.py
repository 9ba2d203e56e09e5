"""Files the web app and the workers share, always through Django's storage API.

Workers on other machines see the same page images and checkpoints only if nobody
reaches behind the storage (no `.path()`): this module reads and writes through it, and
keeps a local cache keyed by content hash for code (PyTorch, Pillow) that wants a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage


def cache_dir() -> Path:
    path = Path(getattr(settings, "INKLOOP_CACHE_DIR", "") or Path(tempfile.gettempdir()) / "inkloop-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def local_copy(name: str, sha256: str) -> Path:
    """A local file with the content of storage file `name`, downloaded once per content hash."""
    target = cache_dir() / sha256
    if target.exists():
        return target
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, default_storage.open(name, "rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise ValueError(f"{name} does not have the expected content (sha256 mismatch)")
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def upload_file(local_path: Path, name: str) -> str:
    """Store a local file under exactly `name` (replacing what was there); returns the name."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(local_path, "rb") as handle:
        return default_storage.save(name, File(handle, name=Path(name).name))


def download_file(name: str, local_path: Path) -> None:
    local_path.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(name, "rb") as source, open(local_path, "wb") as out:
        shutil.copyfileobj(source, out)
