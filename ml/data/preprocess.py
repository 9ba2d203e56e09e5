"""Line crop → fixed-height array the recognizer reads (ink high, paper 0)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

# Wider lines are squeezed: a few page-wide crops would otherwise dominate batch padding.
MAX_WIDTH = 2400
# Batch widths are rounded up to this: oneDNN caches kernels per input shape, and
# thousands of distinct widths grow memory by hundreds of MB during training.
WIDTH_STEP = 32


def normalize_line(image: Image.Image, height: int, horizontal_scale: float = 1.0) -> np.ndarray:
    """(height, W) uint8, 255 = darkest ink, 0 = paper; contrast stretched.

    W = width × (height / crop height) × horizontal_scale: the aspect ratio is kept up
    to `horizontal_scale`.

    Contrast is stretched between the 2nd (ink) and 90th (paper) percentiles so faded
    ink and yellowed paper look alike across writers.
    """
    gray = image if image.mode == "L" else image.convert("L")
    width = max(8, min(MAX_WIDTH, round(gray.width * horizontal_scale * height / max(1, gray.height))))
    resized = np.asarray(gray.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    ink, paper = np.percentile(resized, [2, 90])
    span = max(paper - ink, 16.0)
    inked = np.clip((paper - resized) / span, 0.0, 1.0)
    return (inked * 255).astype(np.uint8)


def to_tensor_batch(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the widest (rounded up to WIDTH_STEP): images (N, 1, H, W) float in [0, 1], true widths (N,)
    int64."""
    height = arrays[0].shape[0]
    widths = [a.shape[1] for a in arrays]
    padded_width = -(-max(widths) // WIDTH_STEP) * WIDTH_STEP
    batch = np.zeros((len(arrays), 1, height, padded_width), dtype=np.float32)
    for i, array in enumerate(arrays):
        batch[i, 0, :, : array.shape[1]] = array
    return torch.from_numpy(batch).div_(255.0), torch.tensor(widths, dtype=torch.int64)
