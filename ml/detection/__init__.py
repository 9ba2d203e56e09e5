"""Text line detection: a learned line-body network with post-processing, and a scripted baseline.

The same layout as `ml.recognition`: model.py (LineBodyNet), data.py (page samples, folders),
train.py (train_detector), postprocess.py, baseline.py, predict.py (Detector and its checkpoints),
evaluate.py (F1@IoU, end-to-end page CER), export.py (TorchScript), tiny.py (a test checkpoint).

    detector = load_detector("best.pt")          # or bytes of a checkpoint
    for line in detector.detect(page_image):     # DetectedLine(bbox, polygon, score), reading order
        ...

Checkpoints are `{"kind": "detector", "config": {"model", "postprocess", "train"},
"state_dict", "meta"}` (plus `training` in `last.pt`, see `ml.trainer`), readable with
`torch.load(..., weights_only=True)`.
"""

from ml.detection.baseline import BaselineConfig, ScriptedBaseline
from ml.detection.export import export_detector, load_exported_detector
from ml.detection.metrics import detection_prf, match_boxes, sum_prf
from ml.detection.model import DetectorConfig, LineBodyNet
from ml.detection.postprocess import PostprocessConfig
from ml.detection.predict import Detector, load_detector
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
