"""The learning curve as plain SVG geometry: no plotting library, nothing to load per request."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.review.selectors import CurvePoint

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36


@dataclass(frozen=True)
class PlotPoint:
    x: float
    y: float
    point: CurvePoint


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[PlotPoint]
    path: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int


def learning_curve_chart(points: list[CurvePoint]) -> Chart:
    """CER on the y axis from 0 to the worst value seen (at least 1 % headroom); verified lines on x."""
    max_x = max([point.verified_lines for point in points] + [1])
    max_y = max([point.cer for point in points] + [0.1]) * 1.05
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(value: float) -> float:
        return round(LEFT + inner_w * value / max_x, 1)

    def sy(value: float) -> float:
        return round(TOP + inner_h * (1 - value / max_y), 1)

    plotted = [PlotPoint(x=sx(point.verified_lines), y=sy(point.cer), point=point) for point in points]
    path = " ".join(f"{'M' if index == 0 else 'L'}{p.x},{p.y}" for index, p in enumerate(plotted))
    x_ticks = [Tick(position=sx(max_x * step / 4), label=f"{round(max_x * step / 4)}") for step in range(5)]
    y_ticks = [Tick(position=sy(max_y * step / 4), label=f"{max_y * step / 4:.0%}") for step in range(5)]
    return Chart(width=WIDTH, height=HEIGHT, points=plotted, path=path, x_ticks=x_ticks, y_ticks=y_ticks,
                 plot_left=LEFT, plot_right=WIDTH - RIGHT, plot_top=TOP, plot_bottom=HEIGHT - BOTTOM)
