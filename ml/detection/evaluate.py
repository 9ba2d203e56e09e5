"""Detector quality: precision, recall and F1 of line boxes at IoU 0.5, and the end-to-end page CER.

`detector_scores` judges a checkpoint on pages (`ml.detection.data.PageSample`: an image and its
lines); `end_to_end` runs a page `Predictor` over ALTO/PAGE folders (`python -m ml.evaluate`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ml.data.layout import pair_layouts_with_images
from ml.data.lines import line_boxes, load_page
from ml.detection.data import PageSample
from ml.detection.geometry import BBox, as_line_geometry
from ml.detection.metrics import detection_prf, sum_prf
from ml.detection.predict import Detector, load_detector
from ml.metrics import ErrorCounts, page_char_errors


@dataclass
class ValPage:
    image: Any                      # PIL image at page resolution
    boxes: list[BBox]


def evaluate(detector: Detector, pages: Sequence[ValPage], iou: float = 0.5) -> dict[str, Any]:
    """Micro-averaged detection P/R/F1 at `iou` over the pages."""
    was_training = detector.network.training
    detector.network.eval()
    results = [detection_prf([line.bbox for line in detector.detect(page.image)], page.boxes, iou) for page in pages]
    detector.network.train(was_training)
    return sum_prf(results)


def page_boxes(pages: Sequence[PageSample]) -> list[ValPage]:
    return [ValPage(image, [as_line_geometry(line).bbox for line in lines]) for image, lines in pages]


def detector_scores(checkpoint: str | os.PathLike | bytes, pages: Sequence[PageSample], *,
                    device: str = "cpu") -> dict:
    return {**evaluate(load_detector(checkpoint, device=device), page_boxes(pages)), "pages": len(pages)}


def empty_detection_scores(pages: Sequence[PageSample]) -> dict:
    """What detecting nothing scores: the bar the first model must clear."""
    return {**sum_prf(detection_prf([], page.boxes) for page in page_boxes(pages)), "pages": len(pages)}


def end_to_end_pages(predictor, pairs: Sequence[tuple[Path, Path]]) -> tuple[dict, float]:
    """Detection P/R/F1 and the page CER of detected, recognised lines matched to the truth by box IoU,
    over (layout file, image) pairs; `predictor` is an `ml.predict.Predictor`."""
    detection_pages = []
    counts = ErrorCounts()
    for xml_path, image_path in pairs:
        image, page = load_page(xml_path, image_path)
        truth = line_boxes(page)
        predicted = predictor.predict(image)
        detection_pages.append(detection_prf([p.bbox for p in predicted], [t.bbox for t in truth]))
        counts += page_char_errors([(p.bbox, p.text) for p in predicted], [(t.bbox, t.text) for t in truth])
    return sum_prf(detection_pages), counts.rate


def end_to_end(predictor, folders: Sequence[Path]) -> dict:
    """`end_to_end_pages` over every page of ALTO/PAGE folders, as `python -m ml.evaluate` prints it."""
    pairs = [pair for folder in folders for pair in pair_layouts_with_images(folder)]
    detection, page_cer = end_to_end_pages(predictor, pairs)
    return {"detection": detection, "end_to_end_cer": page_cer}
