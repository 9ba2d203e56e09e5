"""TorchScript export of the detector, its configs inside the file, for serving without this code's model class."""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch

from ml.detection.model import DetectorConfig
from ml.detection.postprocess import PostprocessConfig
from ml.detection.predict import Detector, load_detector

EXPORT_CONFIG_FILE = "inkloop_detector.json"


def export_detector(ckpt_path: str | os.PathLike | bytes, out_path: str | os.PathLike) -> Path:
    """Write the network as TorchScript with its configs inside, for serving without this code's model class."""
    detector = load_detector(ckpt_path)
    configs = {"model": detector.config.to_dict(), "postprocess": detector.postprocess.to_dict()}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream but remains the format that loads without Python source.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(detector.network.cpu().eval())
        torch.jit.save(scripted, buffer, _extra_files={EXPORT_CONFIG_FILE: json.dumps(configs)})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.tmp")
    tmp_path.write_bytes(buffer.getvalue())
    os.replace(tmp_path, out_path)
    return out_path


def load_exported_detector(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Detector:
    """A detector from `export_detector`'s TorchScript file (only load exports you trust)."""
    extra = {EXPORT_CONFIG_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        network = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    configs = json.loads(extra[EXPORT_CONFIG_FILE])
    return Detector(network, DetectorConfig.from_dict(configs["model"]),
                    PostprocessConfig.from_dict(configs["postprocess"]), device=device)
