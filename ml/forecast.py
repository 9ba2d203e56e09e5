"""How many more lines must people verify to reach a CER: a forecast from a project's own learning curve.

A learning curve is validation CER against the verified lines each model learned from. Its
usual shape is a power law that levels off,

    cer(n) = floor + scale · (n + 1) ^ (−rate)          floor ≥ 0, scale > 0, rate > 0

(n + 1 so that the base model, which saw none of the project's lines, is a point at n = 0).
Three points fix the three parameters, so no forecast is made from fewer. The uncertainty
comes from the points themselves: each validation CER is a mean over its validation lines,
so it is redrawn from a normal law with the standard error of that mean (at most
sqrt(cer · (1 − cer) / lines): a line's CER lies in [0, 1]), the curve refitted, and the
lines needed read off again; the 10th and 90th percentiles of those make the interval.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS = 3
RESAMPLES = 100
INTERVAL = (10, 90)                 # percentiles of the resampled forecasts
HORIZON = 1_000_000                 # lines: beyond this the target counts as out of reach


@dataclass(frozen=True)
class CurvePoint:
    lines: int                       # verified training lines the model learned from
    cer: float                       # its validation CER
    val_lines: int                   # how many validation lines that CER is the mean of


@dataclass(frozen=True)
class CurveFit:
    floor: float
    scale: float
    rate: float

    def cer(self, lines: float | np.ndarray) -> float | np.ndarray:
        return self.floor + self.scale * np.power(np.asarray(lines, dtype=np.float64) + 1.0, -self.rate)

    def lines_for(self, target: float) -> float:
        """Lines at which the curve reaches `target`; infinity when it levels off above it."""
        if target <= self.floor:
            return math.inf
        if target >= self.floor + self.scale:
            return 0.0
        return float(((target - self.floor) / self.scale) ** (-1.0 / self.rate) - 1.0)


@dataclass(frozen=True)
class Forecast:
    target: float                    # the CER asked about
    lines_now: int                   # verified lines the latest point learned from
    more_lines: float                # lines still to verify, from the curve fitted to the points (inf: out of reach)
    more_lines_low: float            # the interval (INTERVAL percentiles)
    more_lines_high: float
    reachable_share: float           # of the resampled curves, the share that reach the target at all
    floor: float                     # where the fitted curve levels off
    fit: CurveFit
    points: int

    @property
    def reachable(self) -> bool:
        return math.isfinite(self.more_lines)


def _model(n: np.ndarray, floor: float, scale: float, rate: float) -> np.ndarray:
    return floor + scale * np.power(n + 1.0, -rate)


def fit_curve(lines: Sequence[float], cers: Sequence[float], *, start: CurveFit | None = None) -> CurveFit | None:
    """Least-squares fit of the levelling power law (from `start` if given); None when it does not converge."""
    n = np.asarray(lines, dtype=np.float64)
    y = np.asarray(cers, dtype=np.float64)
    if len(n) < MIN_POINTS or len(set(n.tolist())) < MIN_POINTS:
        return None
    guess = ((start.floor, start.scale, start.rate) if start is not None
             else (max(float(y.min()) * 0.5, 0.0), max(float(y.max() - y.min()), 1e-3) * 2, 0.5))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(_model, n, y, p0=guess, bounds=([0.0, 1e-9, 1e-3], [1.0, 10.0, 5.0]),
                                  maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    return CurveFit(*(float(value) for value in params))


def forecast(points: Sequence[CurvePoint], target: float, *, seed: int = 0) -> Forecast | None:
    """Lines still to verify for validation CER to reach `target`, with an interval; None with too few points."""
    points = sorted(points, key=lambda point: point.lines)
    fit = fit_curve([p.lines for p in points], [p.cer for p in points])
    if fit is None:
        return None
    lines_now = points[-1].lines
    errors = np.array([math.sqrt(max(p.cer * (1 - p.cer), 1e-6) / max(p.val_lines, 1)) for p in points])
    rng = np.random.default_rng(seed)
    needed = []
    for _ in range(RESAMPLES):
        redrawn = np.clip(np.array([p.cer for p in points]) + rng.normal(0.0, errors), 0.0, 1.0)
        again = fit_curve([p.lines for p in points], redrawn.tolist(), start=fit)
        if again is not None:
            needed.append(max(again.lines_for(target) - lines_now, 0.0))
    needed_array = np.array(needed) if needed else np.array([max(fit.lines_for(target) - lines_now, 0.0)])
    # Percentiles of values some of which are out of reach: clip at the horizon, then read it back as infinity.
    low, high = np.percentile(np.minimum(needed_array, 2 * HORIZON), INTERVAL)
    return Forecast(target=target, lines_now=lines_now, more_lines=_finite(max(fit.lines_for(target) - lines_now, 0.0)),
                    more_lines_low=_finite(float(low)), more_lines_high=_finite(float(high)),
                    reachable_share=float((needed_array <= HORIZON).mean()), floor=fit.floor, fit=fit,
                    points=len(points))


def _finite(value: float) -> float:
    return value if value <= HORIZON else math.inf
