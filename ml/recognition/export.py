"""TorchScript export of the recognizer, for serving without this repository's model classes.

The exported module's forward is `(images (N,1,H,W), widths (N,)) → logits (N, T, C)`; the
alphabet, height and confidence settings travel inside the same file (`inkloop_recognizer.json`),
and `load_exported_recognizer` returns a `Recognizer` that decodes exactly as the checkpoint does.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from ml.checkpoints import load_checkpoint
from ml.data.alphabet import Alphabet
from ml.recognition.predict import CHECKPOINT_KIND, Recognizer, model_from_payload

EXPORT_CONFIG_FILE = "inkloop_recognizer.json"


def export_recognizer(checkpoint: str | os.PathLike | bytes, out_path: str | os.PathLike) -> Path:
    payload = load_checkpoint(checkpoint, expected_kind=CHECKPOINT_KIND)
    model, alphabet = model_from_payload(payload)
    model.eval()
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream but still loads without Python source.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    settings = {"config": model.config.as_dict(), "alphabet": alphabet.characters,
                "meta": _json_safe(payload.get("meta", {}))}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(scripted, str(out_path),
                   _extra_files={EXPORT_CONFIG_FILE: json.dumps(settings, ensure_ascii=False)})
    return out_path


def load_exported_recognizer(path: str | os.PathLike, *, device: str = "cpu") -> Recognizer:
    extra = {EXPORT_CONFIG_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    settings = json.loads(extra[EXPORT_CONFIG_FILE])
    return Recognizer(module, Alphabet(settings["alphabet"]), meta=settings["meta"], device=device,
                      height=settings["config"]["height"],
                      horizontal_scale=settings["config"].get("horizontal_scale", 1.0))


def _json_safe(value):
    """Meta may hold floats like inf; JSON gets them as null."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
