"""Text line detection: a learned line-body network with post-processing, and a scripted baseline.

    detector = load_detector("best.pt")          # or bytes of a checkpoint
    for line in detector.detect(page_image):     # DetectedLine(bbox, polygon, score), reading order
        ...

Checkpoints are `{"kind": "detector", "config": {"model", "postprocess", "train"},
"state_dict", "meta"}` (plus `optimizer` and `training_state` in `last.pt`),
readable with `torch.load(..., weights_only=True)`.
"""

from ml.detection.baseline import BaselineConfig, ScriptedBaseline
from ml.detection.detector import Detector, export_detector, load_detector, load_exported_detector
from ml.detection.metrics import detection_prf, match_boxes, sum_prf
from ml.detection.model import DetectorConfig, LineBodyNet
from ml.detection.postprocess import PostprocessConfig
from ml.detection.types import DetectedLine

__all__ = [
    "BaselineConfig",
    "DetectedLine",
    "Detector",
    "DetectorConfig",
    "LineBodyNet",
    "PostprocessConfig",
    "ScriptedBaseline",
    "detection_prf",
    "export_detector",
    "load_detector",
    "load_exported_detector",
    "match_boxes",
    "sum_prf",
]
