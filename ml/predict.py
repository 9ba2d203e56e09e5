"""Page → lines with boxes, text and confidences, from a detector and a recognizer.

    python -m ml.predict --detector D.pt --recognizer R.pt PAGE_IMAGE...   # one JSON object per page

`Predictor.recognize_lines` is the recognizer-only path, also used with ground-truth
boxes (`recognize_regions`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import torch
from PIL import Image

from ml.data.lines import crop_line
from ml.recognition.predict import Recognition, Recognizer, load_recognizer

Box = tuple[int, int, int, int]
Point = tuple[int, int]


class LineDetector(Protocol):
    """What the Predictor needs from a detector (see `ml.detection.load_detector`)."""

    def detect(self, image: Image.Image) -> list[Any]: ...   # items with .bbox, .polygon, .score


@dataclass
class PredictedLine:
    bbox: Box                       # x0, y0, x1, y1 page pixels, x1/y1 exclusive
    polygon: list[Point] | None
    text: str
    confidence: float               # the recognizer checkpoint's chosen line measure
    char_confidences: list[float]   # one per character of `text`
    detection_score: float

    def as_dict(self) -> dict:
        data = asdict(self)
        data["bbox"] = list(self.bbox)
        data["polygon"] = [list(point) for point in self.polygon] if self.polygon else None
        return data


class Predictor:
    def __init__(self, detector: LineDetector | None, recognizer: Recognizer, *, batch_size: int = 16,
                 beam_width: int = 0) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.batch_size = batch_size
        self.beam_width = beam_width

    @classmethod
    def from_checkpoints(cls, detector: str | os.PathLike | bytes | None, recognizer: str | os.PathLike | bytes, *,
                         device: str = "cpu", **options: Any) -> "Predictor":
        loaded_detector = None
        if detector is not None:
            from ml.detection import load_detector   # only pages need a detector; lines alone do not

            loaded_detector = load_detector(detector, device=device)
        return cls(loaded_detector, load_recognizer(recognizer, device=device), **options)

    @torch.no_grad()
    def predict(self, image: Image.Image) -> list[PredictedLine]:
        """Detected lines in the detector's reading order, each recognised (crops batched)."""
        if self.detector is None:
            raise ValueError("this Predictor has no detector; use recognize_lines or recognize_regions")
        detected = self.detector.detect(image)
        polygons = [list(line.polygon) if line.polygon else None for line in detected]
        recognitions = self.recognize_regions(image, [tuple(line.bbox) for line in detected], polygons)
        return [
            PredictedLine(tuple(line.bbox), polygon, r.text, r.confidence, r.char_confidences, float(line.score))
            for line, polygon, r in zip(detected, polygons, recognitions)
        ]

    @torch.no_grad()
    def recognize_lines(self, images: Sequence[Image.Image]) -> list[Recognition]:
        """Line crops → recognitions, same order."""
        return self.recognizer.recognize(images, batch_size=self.batch_size, beam_width=self.beam_width)

    @torch.no_grad()
    def recognize_regions(self, page: Image.Image, boxes: Sequence[Box],
                          polygons: Sequence[Sequence[Point] | None] | None = None) -> list[Recognition]:
        """Lines given by boxes (and polygons) on a page, e.g. ground truth drawn by a person."""
        polygons = polygons if polygons is not None else [None] * len(boxes)
        gray = page.convert("L")
        return self.recognize_lines([crop_line(gray, box, polygon) for box, polygon in zip(boxes, polygons)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.predict",
                                     description="Detect and recognise text lines; one JSON object per page.")
    parser.add_argument("--detector", required=True)
    parser.add_argument("--recognizer", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--beam-width", type=int, default=0, help="0 = greedy decoding")
    parser.add_argument("pages", nargs="+", help="page images")
    args = parser.parse_args(argv)
    predictor = Predictor.from_checkpoints(args.detector, args.recognizer, device=args.device,
                                           beam_width=args.beam_width)
    for path in args.pages:
        with Image.open(path) as image:
            image.load()
            lines = predictor.predict(image)
            size = image.size
        print(json.dumps({"image": path, "width": size[0], "height": size[1],
                          "lines": [line.as_dict() for line in lines]}, ensure_ascii=False))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
