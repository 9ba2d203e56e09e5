"""The labelling-budget forecast: a levelling power law fitted to a learning curve."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.forecast import CurveFit, CurvePoint, fit_curve, forecast

TRUTH = CurveFit(floor=0.06, scale=0.40, rate=0.45)


def curve(lines: list[int], *, noise: float = 0.0, seed: int = 0, val_lines: int = 300) -> list[CurvePoint]:
    rng = np.random.default_rng(seed)
    return [CurvePoint(n, float(TRUTH.cer(n) + rng.normal(0, noise)), val_lines) for n in lines]


def test_three_points_fix_the_curve_and_two_do_not():
    assert forecast(curve([0, 200]), 0.15) is None
    fit = fit_curve([0, 200, 600], [float(TRUTH.cer(n)) for n in (0, 200, 600)])
    assert fit is not None and fit.floor == pytest.approx(TRUTH.floor, abs=1e-3)


def test_the_lines_still_needed_are_read_off_the_fitted_curve():
    result = forecast(curve([0, 100, 300, 600]), 0.075)
    assert result is not None and result.reachable and result.lines_now == 600
    assert result.more_lines == pytest.approx(TRUTH.lines_for(0.075) - 600, rel=0.01) and result.more_lines > 500
    assert result.more_lines_low <= result.more_lines <= result.more_lines_high


def test_a_target_below_where_the_curve_levels_off_is_out_of_reach():
    result = forecast(curve([0, 100, 300, 600]), 0.03)
    assert result is not None and not result.reachable and math.isinf(result.more_lines)
    assert result.floor == pytest.approx(TRUTH.floor, abs=0.01)


def test_a_target_already_reached_needs_no_more_lines():
    result = forecast(curve([0, 100, 300, 600]), 0.5)
    assert result.more_lines == 0 and result.more_lines_high == 0


@pytest.mark.parametrize("seed", range(5))
def test_from_the_first_half_of_a_noisy_curve_the_interval_holds_what_the_second_half_shows(seed):
    points = curve([0, 150, 300, 450, 600, 900, 1200, 1600], noise=0.004, seed=seed)
    target = float(TRUTH.cer(1600))
    result = forecast(points[:4], target, seed=seed)
    assert result is not None
    truth = TRUTH.lines_for(target) - 450
    assert result.more_lines_low <= truth <= result.more_lines_high
