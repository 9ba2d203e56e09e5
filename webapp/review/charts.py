"""The learning curve as SVG geometry, drawn on the server: no plotting script in the browser, no CDN.

Ticks are "nice numbers" (steps of 1, 2, 2.5 or 5 times a power of ten), the ones a person would put on
an axis. A plotting library is not loaded for this: importing matplotlib costs the web process seconds at
start and tens of megabytes for what is a dozen lines of arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from webapp.review.selectors import CurvePoint

WIDTH, HEIGHT = 560, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 16, 52

# What the x axis counts: a CurvePoint attribute, the axis title, and the word after a tick value in a label.
AXES = {
    "lines": ("verified_lines", "Human-verified lines trained on", "verified lines"),
    "characters": ("verified_characters", "Characters of human-verified lines trained on", "characters"),
}
EMPTY_TEXT = "The curve appears after the first training run: validation CER against verified lines."
NICE_STEPS = [1, 2, 2.5, 5, 10]


@dataclass(frozen=True)
class PlotPoint:
    x: float
    y: float
    point: CurvePoint
    description: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    axis: str
    width: int
    height: int
    points: list[PlotPoint]
    path: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_title: str
    y_title: str
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    empty_text: str
    left_out: int  # versions with a CER but without this axis's count (older runs did not record characters)

    @property
    def is_empty(self) -> bool:
        return not self.points

    @property
    def empty_lines(self) -> list[str]:
        """The empty-state sentence on two lines (SVG text does not wrap); the first keeps its trailing
        space so the text read out of the SVG is the sentence as written."""
        head, tail = self.empty_text.split(": ", 1)
        return [f"{head}: ", tail]

    @property
    def center_x(self) -> float:
        return (self.plot_left + self.plot_right) / 2

    @property
    def center_y(self) -> float:
        return (self.plot_top + self.plot_bottom) / 2


def nice_ticks(highest: float, *, integer: bool, intervals: int = 5) -> list[float]:
    """Ticks from 0 to at least `highest`, at most `intervals` steps of 1, 2, 2.5 or 5 times a power of ten
    (Heckbert's "nice numbers", Graphics Gems, 1990); whole steps only on a count axis."""
    highest = max(highest, 1) if integer else (highest or 1)
    raw = highest / intervals
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(candidate * magnitude for candidate in NICE_STEPS
                if candidate * magnitude >= raw * (1 - 1e-9)
                and (not integer or (candidate * magnitude) == int(candidate * magnitude)))
    if integer:
        step = max(step, 1)
    count = math.ceil(highest / step - 1e-9)
    return [round(index * step, 10) for index in range(count + 1)]


def format_count(value: float) -> str:
    """1500 → '1,500', 12000 → '12k': tick labels stay short."""
    if value >= 10_000:
        thousands = value / 1000
        return f"{thousands:,.0f}k" if thousands == int(thousands) else f"{thousands:,.1f}k"
    return f"{value:,.0f}"


def format_percent(value: float) -> str:
    """A CER as a tick label: 0.25 → '25 %', 0.025 → '2.5 %'."""
    percent = round(value * 100, 6)
    return f"{percent:g} %"


def learning_curve_chart(points: list[CurvePoint], *, axis: str = "lines") -> Chart:
    """Validation CER (y, in %) of each version against what it was trained on (x: lines or characters)."""
    attribute, x_title, unit = AXES[axis]
    usable = [point for point in points if getattr(point, attribute) is not None]
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_ticks = nice_ticks(max([getattr(point, attribute) for point in usable] + [0]), integer=True)
    y_ticks = nice_ticks(max([point.cer for point in usable] + [0]), integer=False)
    max_x, max_y = x_ticks[-1], y_ticks[-1]

    def sx(value: float) -> float:
        return round(LEFT + inner_w * value / max_x, 1)

    def sy(value: float) -> float:
        return round(TOP + inner_h * (1 - value / max_y), 1)

    plotted = [PlotPoint(x=sx(getattr(point, attribute)), y=sy(point.cer), point=point,
                         description=f"{point.label} ({point.status}): validation CER {format_percent(point.cer)} "
                                     f"after {format_count(getattr(point, attribute))} {unit}")
               for point in sorted(usable, key=lambda point: (getattr(point, attribute), point.number))]
    # The line joins the versions judged good enough to use; a rejected one stays a point off the line.
    kept = [p for p in plotted if p.point.status not in ("rejected", "failed")]
    path = " ".join(f"{'M' if index == 0 else 'L'}{p.x},{p.y}" for index, p in enumerate(kept))
    return Chart(axis=axis, width=WIDTH, height=HEIGHT, points=plotted, path=path,
                 x_ticks=[Tick(position=sx(tick), label=format_count(tick)) for tick in x_ticks],
                 y_ticks=[Tick(position=sy(tick), label=format_percent(tick)) for tick in y_ticks],
                 x_title=x_title, y_title="Validation CER (lower is better)",
                 plot_left=LEFT, plot_right=WIDTH - RIGHT, plot_top=TOP, plot_bottom=HEIGHT - BOTTOM,
                 empty_text=EMPTY_TEXT, left_out=len(points) - len(usable))
