"""Results of an active-learning benchmark: the CSV, the learning-curve plot and the summary table.

The summary asks one question per strategy: how many labels does it need to reach the
CER that `random` reaches with its whole budget? Labels are counted in lines and in
characters, because a strategy that picks short lines types fewer characters per line
and would look better than it is if only lines were counted.
"""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")       # files only; no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CSV_COLUMNS = ("strategy", "seed", "round", "labelled_lines", "labelled_chars", "test_cer")
CONTROL = "random"


@dataclass
class CurvePoint:
    strategy: str
    seed: int
    round: int
    labelled_lines: int
    labelled_chars: int
    test_cer: float


@dataclass
class MeanCurve:
    """One strategy averaged over seeds, one entry per round."""
    strategy: str
    lines: np.ndarray
    chars: np.ndarray
    cer: np.ndarray
    cer_std: np.ndarray
    seeds: int


@dataclass
class SummaryRow:
    strategy: str
    seeds: int
    final_cer: float
    final_cer_std: float
    lines_to_target: float | None        # None: not at the control's final CER by the last round
    chars_to_target: float | None
    lines_ratio: float | None            # lines_to_target / the control's final labelled lines
    chars_ratio: float | None
    area_under_curve: float              # mean CER averaged over the labelled-lines range


def write_csv(points: Iterable[CurvePoint], path: str | os.PathLike) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for p in points:
            writer.writerow([p.strategy, p.seed, p.round, p.labelled_lines, p.labelled_chars, f"{p.test_cer:.6f}"])


def mean_curves(points: Iterable[CurvePoint]) -> dict[str, MeanCurve]:
    """Per strategy and round: mean labelled lines and characters, mean and std of test CER over seeds."""
    by_round: dict[str, dict[int, list[CurvePoint]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        by_round[p.strategy][p.round].append(p)
    curves = {}
    for strategy, rounds in by_round.items():
        ordered = [rounds[r] for r in sorted(rounds)]
        curves[strategy] = MeanCurve(
            strategy,
            lines=np.array([np.mean([p.labelled_lines for p in ps]) for ps in ordered]),
            chars=np.array([np.mean([p.labelled_chars for p in ps]) for ps in ordered]),
            cer=np.array([np.mean([p.test_cer for p in ps]) for ps in ordered]),
            cer_std=np.array([np.std([p.test_cer for p in ps]) for ps in ordered]),
            seeds=min(len(ps) for ps in ordered),
        )
    return curves


def labels_to_reach(labels: np.ndarray, cer: np.ndarray, target: float) -> float | None:
    """Labels from which the mean curve stays at or below `target`, interpolating linearly between rounds.

    "Stays", not "first touches": a noisy curve that dips below the target once and comes
    back up has not reached it. None when the last round is still above the target.
    """
    above = np.flatnonzero(np.asarray(cer) > target)
    if len(above) == 0:
        return float(labels[0])
    last = int(above[-1])
    if last == len(cer) - 1:
        return None
    fraction = (cer[last] - target) / (cer[last] - cer[last + 1])
    return float(labels[last] + fraction * (labels[last + 1] - labels[last]))


def area_under_curve(labels: np.ndarray, cer: np.ndarray) -> float:
    """Trapezoidal area under CER over labels, divided by the labels' range: a mean CER over the budget
    (lower is better)."""
    if len(labels) < 2 or labels[-1] == labels[0]:
        return float(cer[0]) if len(cer) else math.nan
    widths = np.diff(labels)
    return float(np.sum(widths * (cer[1:] + cer[:-1]) / 2) / (labels[-1] - labels[0]))


def summarize(points: Sequence[CurvePoint], control: str = CONTROL) -> list[SummaryRow]:
    """One row per strategy, the control first: labels to reach the control's final CER, ratios, area."""
    curves = mean_curves(points)
    if control not in curves:
        raise ValueError(f"the summary needs the control strategy {control!r} in the results")
    reference = curves[control]
    target = float(reference.cer[-1])
    rows = []
    for name in [control, *sorted(set(curves) - {control})]:
        curve = curves[name]
        lines = labels_to_reach(curve.lines, curve.cer, target)
        chars = labels_to_reach(curve.chars, curve.cer, target)
        rows.append(SummaryRow(
            strategy=name, seeds=curve.seeds, final_cer=float(curve.cer[-1]), final_cer_std=float(curve.cer_std[-1]),
            lines_to_target=lines, chars_to_target=chars,
            lines_ratio=None if lines is None else lines / float(reference.lines[-1]),
            chars_ratio=None if chars is None else chars / float(reference.chars[-1]),
            area_under_curve=area_under_curve(curve.lines, curve.cer),
        ))
    return rows


def format_summary(rows: Sequence[SummaryRow], control: str = CONTROL) -> str:
    """The summary as a Markdown table."""
    def number(value: float | None, pattern: str) -> str:
        return "not reached" if value is None else format(value, pattern)

    lines = [
        f"| strategy | seeds | final test CER | lines to reach {control}'s final CER | ratio to {control} (lines) "
        f"| characters to reach it | ratio to {control} (characters) | area under CER curve |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.strategy} | {row.seeds} | {row.final_cer:.4f} ± {row.final_cer_std:.4f} "
            f"| {number(row.lines_to_target, '.0f')} | {number(row.lines_ratio, '.2f')} "
            f"| {number(row.chars_to_target, '.0f')} | {number(row.chars_ratio, '.2f')} "
            f"| {row.area_under_curve:.4f} |"
        )
    return "\n".join(lines)


def write_summary_csv(rows: Sequence[SummaryRow], path: str | os.PathLike) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "seeds", "final_cer", "final_cer_std", "lines_to_target", "lines_ratio",
                         "chars_to_target", "chars_ratio", "area_under_curve"])
        for r in rows:
            writer.writerow([r.strategy, r.seeds, r.final_cer, r.final_cer_std, r.lines_to_target, r.lines_ratio,
                             r.chars_to_target, r.chars_ratio, r.area_under_curve])


def plot_curves(points: Sequence[CurvePoint], path: str | os.PathLike, *, title: str = "",
                control: str = CONTROL) -> None:
    """Test CER against labelled lines (left) and labelled characters (right), mean ± std over seeds.

    The dotted line is the control's final CER: where a curve crosses it is the
    summary's "labels to reach".
    """
    curves = mean_curves(points)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    names = [control, *sorted(set(curves) - {control})] if control in curves else sorted(curves)
    for index, name in enumerate(names):
        curve = curves[name]
        style = {"color": "black", "linewidth": 2.2} if name == control else {"color": f"C{index}", "linewidth": 1.5}
        for axis, x in zip(axes, (curve.lines, curve.chars)):
            axis.plot(x, curve.cer, marker="o", markersize=3, label=f"{name} (n={curve.seeds})", **style)
            axis.fill_between(x, curve.cer - curve.cer_std, curve.cer + curve.cer_std, color=style["color"],
                              alpha=0.15, linewidth=0)
    if control in curves:
        for axis in axes:
            axis.axhline(float(curves[control].cer[-1]), color="black", linestyle=":", linewidth=1)
    axes[0].set_xlabel("labelled lines")
    axes[1].set_xlabel("labelled characters")
    axes[0].set_ylabel("test CER (held-out writers)")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(Path(path), dpi=120)
    plt.close(figure)


@dataclass
class ForecastCheck:
    """The labelling-budget forecast (`ml.forecast`) made from the first half of one run, against its second half."""
    strategy: str
    seed: int
    points_used: int
    final_lines: int                     # what the run had labelled at its end
    final_cer: float                     # and the CER it then reached
    forecast_lines: float                # lines the forecast said reach final_cer (inf: out of reach)
    forecast_cer: float                  # the CER the fitted curve gives at final_lines

    @property
    def lines_error(self) -> float:
        """|forecast − actual| / actual lines to reach the final CER (inf when the forecast said never)."""
        return abs(self.forecast_lines - self.final_lines) / self.final_lines

    @property
    def cer_error(self) -> float:
        return abs(self.forecast_cer - self.final_cer)


def forecast_backtest(points: Sequence[CurvePoint], *, val_lines: int) -> list[ForecastCheck]:
    """For every run (strategy, seed) of at least six rounds: fit on its first half, read off the second."""
    from ml.forecast import CurvePoint as ForecastPoint
    from ml.forecast import fit_curve, forecast

    runs: dict[tuple[str, int], list[CurvePoint]] = defaultdict(list)
    for p in points:
        runs[(p.strategy, p.seed)].append(p)
    checks = []
    for (strategy, seed), run in sorted(runs.items()):
        run = sorted(run, key=lambda p: p.round)
        half = run[: math.ceil(len(run) / 2)]
        if len(half) < 3:
            continue
        final = run[-1]
        curve = [ForecastPoint(p.labelled_lines, p.test_cer, val_lines) for p in half]
        result = forecast(curve, final.test_cer, seed=seed)
        fit = fit_curve([p.lines for p in curve], [p.cer for p in curve])
        if result is None or fit is None:
            continue
        checks.append(ForecastCheck(strategy, seed, len(half), final.labelled_lines, final.test_cer,
                                    forecast_lines=result.lines_now + result.more_lines,
                                    forecast_cer=float(fit.cer(final.labelled_lines))))
    return checks


def format_forecast_checks(checks: Sequence[ForecastCheck]) -> str:
    """The backtest as Markdown: each run, then the medians."""
    if not checks:
        return "No run had the six rounds a forecast backtest needs."
    lines = ["| strategy | seed | rounds used | labelled at the end | final CER | forecast lines to reach it "
             "| error (lines) | forecast CER at the end | error (CER points) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in checks:
        forecast_lines = "never" if math.isinf(c.forecast_lines) else f"{c.forecast_lines:.0f}"
        lines.append(f"| {c.strategy} | {c.seed} | {c.points_used} | {c.final_lines} | {c.final_cer:.4f} "
                     f"| {forecast_lines} | {c.lines_error:.0%} | {c.forecast_cer:.4f} | {100 * c.cer_error:.2f} |")
    median_lines = float(np.median([c.lines_error for c in checks]))
    median_cer = float(np.median([c.cer_error for c in checks]))
    lines.append(f"\nMedian error of the forecast from the first half of each run: {median_lines:.0%} of the lines "
                 f"(lines to reach the run's final CER), {100 * median_cer:.2f} CER points (CER at the run's end).")
    return "\n".join(lines)
