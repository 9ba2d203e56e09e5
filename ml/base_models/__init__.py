"""The shipped base models: `recognizer.pt`, `detector.pt` and their model card.

    from ml.base_models import base_checkpoint, base_card
    base_checkpoint("recognizer")   # Path of the checkpoint (loads with weights_only=True)
    base_card()                     # the card's figures: data, configuration, validation, timing

Built by `make base-models` (`python -m ml.base train`, then `ship`); see MODEL_CARD.md.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("recognizer", "detector")
CARD_FILE = "base.json"


def base_checkpoint(kind: str, *, folder: Path = HERE) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    return folder / f"{kind}.pt"


def base_available(*, folder: Path = HERE) -> bool:
    return all(base_checkpoint(kind, folder=folder).is_file() for kind in KINDS)


@lru_cache(maxsize=4)
def base_card(folder: Path = HERE) -> dict:
    """The machine-readable half of the model card ({} when no base models are shipped)."""
    path = folder / CARD_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
