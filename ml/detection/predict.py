"""Inference: a trained network plus post-processing, behind `detect(image)`."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from ml.checkpoints import load_checkpoint
from ml.detection.geometry import to_gray_array
from ml.detection.model import NETWORK_STRIDE, DetectorConfig, LineBodyNet
from ml.detection.postprocess import PostprocessConfig, lines_from_probability
from ml.detection.types import DetectedLine

CHECKPOINT_KIND = "detector"


class Detector:
    """Finds text lines on a page; works with an eager network or its TorchScript export."""

    def __init__(self, network: nn.Module, config: DetectorConfig, postprocess: PostprocessConfig | None = None,
                 *, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.config = config
        self.postprocess = postprocess or PostprocessConfig()

    @torch.no_grad()
    def probability_map(self, image: Image.Image) -> tuple[np.ndarray, float]:
        """`(h, w)` line-body probabilities and the page pixels per map pixel."""
        gray, scale = to_gray_array(image, self.config.input_long_side)
        height, width = gray.shape
        pages = torch.from_numpy(gray)[None, None].to(self.device)
        # Pad with white paper up to the network stride; the padding is cut off the output.
        pad_bottom = -height % NETWORK_STRIDE
        pad_right = -width % NETWORK_STRIDE
        pages = F.pad(pages, (0, pad_right, 0, pad_bottom), value=1.0)
        logits = self.network(pages)
        stride = self.config.output_stride
        rows, cols = -(-height // stride), -(-width // stride)
        probability = torch.sigmoid(logits.float())[0, 0, :rows, :cols]
        return probability.cpu().numpy(), scale * stride

    def detect(self, image: Image.Image) -> list[DetectedLine]:
        """Lines in page pixels, in reading order."""
        probability, scale = self.probability_map(image)
        return lines_from_probability(probability, scale=scale, page_size=image.size,
                                      body_shrink=self.config.body_shrink, config=self.postprocess)


def detector_from_payload(payload: dict[str, Any], *, device: str | torch.device = "cpu") -> Detector:
    config = DetectorConfig.from_dict(payload["config"]["model"])
    postprocess = PostprocessConfig.from_dict(payload["config"].get("postprocess", {}))
    network = LineBodyNet(config)
    network.load_state_dict(payload["state_dict"])
    return Detector(network, config, postprocess, device=device)


def load_detector(source: str | os.PathLike | bytes, *, device: str | torch.device = "cpu") -> Detector:
    """A detector from a checkpoint file or its bytes (loaded with `weights_only=True`)."""
    return detector_from_payload(load_checkpoint(source, expected_kind=CHECKPOINT_KIND), device=device)
