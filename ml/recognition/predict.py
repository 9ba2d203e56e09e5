"""A trained recognizer ready for inference, and its checkpoint format.

Checkpoint (kind "recognizer"), tensors and builtins only so it loads with weights_only:
    {"kind": "recognizer", "format": 1,
     "config": RecognizerConfig.as_dict(), "alphabet": [characters of classes 1..],
     "state_dict": model weights,
     "meta": {"confidence_measure": str, "temperature": float, "val_cer": float,
              "calibration": {"line_calibrator": {...}, "char_calibrator": {...}, ...}, ...}}
A checkpoint with calibrators reports calibrated confidences (see `ml.recognition.confidence`); an
older one, the raw measure and characters at its temperature.
Training checkpoints (`last.pt`) add a "training" entry with optimizer, schedule and
loop state; inference ignores it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ml.checkpoints import load_checkpoint
from ml.data.alphabet import Alphabet
from ml.data.preprocess import normalize_line, to_tensor_batch
from ml.recognition.confidence import Calibrator, char_confidences, line_measures, log_softmax
from ml.recognition.decode import Decoded, beam_search, greedy_decode
from ml.recognition.model import LineRecognizer, RecognizerConfig

CHECKPOINT_KIND = "recognizer"
CHECKPOINT_FORMAT = 1


@dataclass
class Recognition:
    text: str
    confidence: float                      # P(line read exactly): the calibrated ranking measure
    char_confidences: list[float]          # one per character of `text`: P(character right)
    measures: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"text": self.text, "confidence": self.confidence, "char_confidences": self.char_confidences,
                "measures": self.measures}


def recognizer_payload(model: LineRecognizer, alphabet: Alphabet, meta: dict[str, Any]) -> dict[str, Any]:
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    return {
        "kind": CHECKPOINT_KIND,
        "format": CHECKPOINT_FORMAT,
        "config": model.config.as_dict(),
        "alphabet": list(alphabet.characters),
        "state_dict": state,
        "meta": dict(meta),
    }


def model_from_payload(payload: dict[str, Any]) -> tuple[LineRecognizer, Alphabet]:
    config = RecognizerConfig.from_dict(payload["config"])
    model = LineRecognizer(config)
    model.load_state_dict(payload["state_dict"])
    return model, Alphabet(payload["alphabet"])


class Recognizer:
    """Line images in, text and confidences out. Not thread-safe across devices; cheap to build."""

    def __init__(self, model: torch.nn.Module, alphabet: Alphabet, *, meta: dict[str, Any] | None = None,
                 device: str = "cpu", height: int | None = None, horizontal_scale: float | None = None) -> None:
        """`model` is a LineRecognizer or its TorchScript export (then give `height` and `horizontal_scale`)."""
        self.device = torch.device(device)
        self.height = height if height is not None else model.config.height
        scale = horizontal_scale if horizontal_scale is not None else model.config.horizontal_scale
        self.horizontal_scale = float(scale)
        self.model = model.to(self.device).eval()
        self.alphabet = alphabet
        self.meta = dict(meta or {})
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.measure = str(self.meta.get("confidence_measure", "temperature_scaled"))
        calibration = self.meta.get("calibration") or {}
        self.line_calibrator = (Calibrator.from_dict(calibration["line_calibrator"])
                                if calibration.get("line_calibrator") else None)
        self.char_calibrator = (Calibrator.from_dict(calibration["char_calibrator"])
                                if calibration.get("char_calibrator") else None)

    @classmethod
    def load(cls, source: str | os.PathLike | bytes, *, device: str = "cpu") -> "Recognizer":
        payload = load_checkpoint(source, expected_kind=CHECKPOINT_KIND)
        model, alphabet = model_from_payload(payload)
        return cls(model, alphabet, meta=payload.get("meta", {}), device=device)

    @torch.no_grad()
    def line_logits(self, arrays: Sequence[np.ndarray], *, batch_size: int = 16) -> list[np.ndarray]:
        """Normalised line arrays → per line logits (T_i, C), padding frames removed.

        Lines are batched by width so little time goes into padding; order is kept.
        """
        order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[1])
        results: list[np.ndarray | None] = [None] * len(arrays)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            images, widths = to_tensor_batch([arrays[i] for i in chunk])
            logits = self.model(images.to(self.device), widths).float().cpu()       # (N, T, C)
            lengths = LineRecognizer.output_lengths(widths).clamp(max=logits.shape[1])
            for row, i in enumerate(chunk):
                results[i] = logits[row, : int(lengths[row])].numpy()
        return results  # type: ignore[return-value]

    def recognize(self, images: Sequence[Image.Image], *, batch_size: int = 16,
                  beam_width: int = 0) -> list[Recognition]:
        """Line crops (any mode) → one Recognition each. beam_width 0 = greedy decoding."""
        arrays = [self.prepare(image) for image in images]
        return [self.read(logits, beam_width=beam_width) for logits in self.line_logits(arrays, batch_size=batch_size)]

    def prepare(self, image: Image.Image) -> np.ndarray:
        """A line crop as the model reads it: (height, W) uint8, ink high."""
        return normalize_line(image, self.height, self.horizontal_scale)

    def decode(self, logits: np.ndarray, *, beam_width: int = 0) -> Decoded:
        log_probs = log_softmax(logits)
        return beam_search(log_probs, beam_width) if beam_width > 1 else greedy_decode(log_probs)

    def read(self, logits: np.ndarray, *, beam_width: int = 0) -> Recognition:
        decoded = self.decode(logits, beam_width=beam_width)
        measures = line_measures(logits, decoded, self.temperature)
        confidence = measures[self.measure]
        if self.line_calibrator is not None:
            confidence = float(self.line_calibrator(confidence))
        if self.char_calibrator is not None:
            chars = self.char_calibrator(char_confidences(log_softmax(logits), decoded)).tolist()
        else:
            chars = char_confidences(log_softmax(logits, self.temperature), decoded)
        return Recognition(self.alphabet.decode(decoded.labels), confidence, chars, measures)


def load_recognizer(source: str | os.PathLike | bytes, *, device: str = "cpu") -> Recognizer:
    return Recognizer.load(source, device=device)
