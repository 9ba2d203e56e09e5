"""Random page crops with cheap distortions, made in one `grid_sample` per batch.

Scale and rotation jitter imitate scans at other resolutions and slightly
skewed pages; brightness, contrast and noise imitate paper and scanners. The
target is warped with the same grid, so it stays aligned with the ink.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F


@dataclass
class PageAugmentConfig:
    scale_range: tuple[float, float] = (0.85, 1.15)
    max_rotation_deg: float = 2.0
    contrast_range: tuple[float, float] = (0.7, 1.3)
    max_brightness: float = 0.1
    max_noise: float = 0.04

    def to_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


NO_AUGMENTATION = PageAugmentConfig((1.0, 1.0), 0.0, (1.0, 1.0), 0.0, 0.0)


def sample_crops(
    grays: Sequence[np.ndarray],
    bodies: Sequence[np.ndarray],
    crop: int,
    output_stride: int,
    rng: np.random.Generator,
    config: PageAugmentConfig,
    weights: Sequence[np.ndarray | None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pages `(H, W)` gray and body masks -> `(N, 1, crop, crop)` gray crops and `(N, 2, crop/s, crop/s)`
    targets: channel 0 the soft line-body target, channel 1 where the loss counts (`weights`: a page's
    `(H, W)` known-region mask, or None for a page annotated everywhere, which counts in full, outside
    the page too: blank paper is background)."""
    images, targets = [], []
    for index, (gray, body) in enumerate(zip(grays, bodies)):
        grid = crop_grid(gray.shape, crop, rng, config)
        # Sample ink (1 - gray) so that outside the page reads as blank paper.
        ink = F.grid_sample(torch.from_numpy(1.0 - gray)[None, None], grid, align_corners=False)
        mask = F.grid_sample(torch.from_numpy(body)[None, None], grid, align_corners=False)
        weight = weights[index] if weights is not None else None
        known = (torch.ones_like(mask) if weight is None
                 else F.grid_sample(torch.from_numpy(weight)[None, None], grid, align_corners=False))
        images.append(jitter_photometry(1.0 - ink, rng, config))
        targets.append(torch.cat([F.avg_pool2d(mask, output_stride), F.avg_pool2d(known, output_stride)], dim=1))
    return torch.cat(images), torch.cat(targets)


def crop_grid(shape: tuple[int, int], crop: int, rng: np.random.Generator, config: PageAugmentConfig) -> torch.Tensor:
    """`(1, crop, crop, 2)` sampling grid of a randomly placed, scaled and rotated square window."""
    height, width = shape
    zoom = rng.uniform(*config.scale_range)
    angle = math.radians(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
    half = crop / 2 / zoom
    centre_x = rng.uniform(half, width - half) if width > 2 * half else width / 2
    centre_y = rng.uniform(half, height - half) if height > 2 * half else height / 2
    offsets = (np.arange(crop, dtype=np.float32) + 0.5 - crop / 2) / zoom
    dx, dy = np.meshgrid(offsets, offsets)
    cos, sin = math.cos(angle), math.sin(angle)
    source_x = centre_x + cos * dx - sin * dy
    source_y = centre_y + sin * dx + cos * dy
    grid = np.stack([2 * source_x / width - 1, 2 * source_y / height - 1], axis=-1)
    return torch.from_numpy(grid.astype(np.float32))[None]


def jitter_photometry(gray: torch.Tensor, rng: np.random.Generator, config: PageAugmentConfig) -> torch.Tensor:
    contrast = rng.uniform(*config.contrast_range)
    brightness = rng.uniform(-config.max_brightness, config.max_brightness)
    noise = rng.uniform(0, config.max_noise)
    jittered = (gray - 0.5) * contrast + 0.5 + brightness
    if noise > 0:
        jittered = jittered + noise * torch.from_numpy(rng.standard_normal(gray.shape).astype(np.float32))
    return jittered.clamp(0.0, 1.0)
