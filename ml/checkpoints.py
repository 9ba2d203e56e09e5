"""Checkpoint files that survive a kill and never execute code on load.

A checkpoint is a plain dict of tensors and builtin values (str, int, float,
bool, None, list, tuple, dict), so `torch.load(..., weights_only=True)` can read
it: a file carrying a pickled object is refused instead of run.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """The file is not a checkpoint this code can load safely."""


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            torch.save(payload, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def load_checkpoint(source: str | os.PathLike | bytes, *, expected_kind: str | None = None) -> dict[str, Any]:
    """Load with `weights_only=True`; `expected_kind` guards against a detector given as a recognizer."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        payload = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(f"not a loadable checkpoint: {error}") from error
    if not isinstance(payload, dict) or "kind" not in payload:
        raise CheckpointError("not an inkloop checkpoint: expected a dict with a 'kind' entry")
    if expected_kind is not None and payload["kind"] != expected_kind:
        raise CheckpointError(f"expected a {expected_kind} checkpoint, got a {payload['kind']} checkpoint")
    return payload


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; harmless where directories cannot be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
