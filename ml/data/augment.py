"""Cheap on-the-fly distortions of normalised line arrays (ink high, paper 0).

Each distortion imitates something that differs between writers or scans: slant and
size (affine), wobbly strokes (elastic), pen width (erosion/dilation), focus (blur),
and paper grain (noise). All run on the small fixed-height array, so a line costs well
under a millisecond or two on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter


@dataclass
class AugmentConfig:
    probability: float = 0.8           # chance a line is distorted at all
    max_shear: float = 0.35            # horizontal shift per row, in rows (slant)
    width_scale: tuple[float, float] = (0.85, 1.15)
    height_scale: tuple[float, float] = (0.85, 1.05)
    max_rotation_deg: float = 1.5
    elastic_probability: float = 0.3
    elastic_strength: float = 1.5      # pixels of displacement
    morphology_probability: float = 0.25
    blur_probability: float = 0.2
    noise_probability: float = 0.3
    max_noise: float = 20.0            # std of added grey-level noise


def augment_line(array: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """(H, W) uint8 → (H, W') uint8, same height, width changed by the affine scale."""
    if rng.random() >= config.probability:
        return array
    image = _affine(Image.fromarray(array), rng, config)
    if rng.random() < config.morphology_probability:
        image = image.filter(ImageFilter.MaxFilter(3) if rng.random() < 0.5 else ImageFilter.MinFilter(3))
    if rng.random() < config.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.4, 1.0))))
    out = np.asarray(image, dtype=np.float32)
    if rng.random() < config.elastic_probability:
        out = _elastic(out, rng, config.elastic_strength)
    out *= rng.uniform(0.7, 1.0)                                  # fainter ink
    if rng.random() < config.noise_probability:
        out += rng.normal(0.0, rng.uniform(2.0, config.max_noise), out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _affine(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    """Slant, rotation and scaling about the line's centre, output height unchanged."""
    width, height = image.size
    sx = rng.uniform(*config.width_scale)
    sy = rng.uniform(*config.height_scale)
    shear = rng.uniform(-config.max_shear, config.max_shear)
    angle = np.deg2rad(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
    new_width = max(8, round(width * sx))
    # Forward map: scale, then shear, then rotate; PIL wants the inverse (output → input).
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    inverse = np.linalg.inv(forward)
    centre_in = np.array([width / 2, height / 2])
    centre_out = np.array([new_width / 2, height / 2])
    offset = centre_in - inverse @ centre_out
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return image.transform((new_width, height), Image.Transform.AFFINE, coefficients,
                           resample=Image.Resampling.BILINEAR, fillcolor=0)


def _elastic(array: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Smooth random displacement: coarse noise grid upsampled to the image, then resampled."""
    height, width = array.shape
    coarse = torch.from_numpy(rng.normal(0.0, 1.0, (1, 2, 3, max(2, width // 24))).astype(np.float32))
    displacement = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)[0]  # (2, H, W)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    grid = torch.stack((xs + displacement[0] * strength * 2 / width, ys + displacement[1] * strength * 2 / height),
                       dim=-1)
    warped = F.grid_sample(torch.from_numpy(array)[None, None], grid[None], mode="bilinear", align_corners=True)
    return warped[0, 0].numpy()
