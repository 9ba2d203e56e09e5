"""Fixtures for the recognizer tests: tiny checkpoints built once per session, real pages."""

from __future__ import annotations

import os
from pathlib import Path

# Spinning OpenMP threads stall when the CPU is shared (set before torch loads OpenMP).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

REPO = Path(__file__).resolve().parents[2]
CREMMA = REPO.parent / "shared" / "data" / "cremma-testaments"


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    from ml.tiny import build_tiny_checkpoints

    return build_tiny_checkpoints(tmp_path_factory.mktemp("tiny-checkpoints"))


@pytest.fixture(scope="session")
def tiny_recognizer_path(tiny_checkpoints) -> Path:
    return tiny_checkpoints["recognizer"]


@pytest.fixture(scope="session")
def tiny_recognizer(tiny_recognizer_path):
    from ml.recognition import load_recognizer

    return load_recognizer(tiny_recognizer_path)


@pytest.fixture(scope="session")
def tiny_lines():
    from ml.recognition.tiny import tiny_line_samples

    return tiny_line_samples()


@pytest.fixture(scope="session")
def cremma_dir() -> Path:
    # The data is part of the test setup (CI lays shared/ beside the clone): missing is a failure, not a skip.
    assert CREMMA.is_dir(), f"CREMMA pages expected at {CREMMA}"
    return CREMMA
