"""What every detector returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DetectedLine:
    bbox: tuple[int, int, int, int]     # x0, y0, x1, y1 in page pixels; x1, y1 exclusive
    polygon: list[tuple[int, int]]      # outline in page pixels, clockwise from the top-left
    score: float                        # mean body probability; 1.0 for the scripted baseline
