"""Active-learning benchmark: do CTC-confidence strategies save labels over random picks?

    .venv/bin/python bench/active_learning.py --budget small          # ~60 min on a 2-core CPU
    .venv/bin/python bench/active_learning.py --budget full --device cuda

Replays labelling on transcribed pages (default: the CREMMA wills beside the
repository, which the base models never saw): validation and test writers are held out,
a random seed set is labelled, then each round a strategy picks lines, their
transcriptions are revealed, the recognizer is retrained with the same number of steps
for every strategy, and test CER is measured. The small and full budgets start from the
shipped base recognizer, as a new project does (`--init scratch` for the old from-scratch
runs), and label a fixed number of characters per round, since characters are what people
type. Writes to --out: results.csv (one row per strategy, seed and round), picks.jsonl (the
ids picked each round), learning_curves.png and summary.md (labels needed to reach random's
final CER, in lines and characters, the area under the CER curve, and how well the
labelling-budget forecast, fitted to the first half of each run, foresaw its second half).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import os  # noqa: E402

# Threads that spin while waiting stall when the CPU is shared; a small oneDNN cache keeps memory flat.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import torch  # noqa: E402

from ml.active_learning.pool import group_rule, load_lines, split_by_writer, subsample  # noqa: E402
from ml.active_learning.report import (CurvePoint, forecast_backtest, format_forecast_checks, format_summary,  # noqa: E402
                                       plot_curves, summarize, write_csv, write_summary_csv)
from ml.active_learning.simulation import RoundRecord, SimulationConfig, run_benchmark  # noqa: E402
from ml.active_learning.strategies import strategy_names  # noqa: E402
from ml.data.augment import AugmentConfig  # noqa: E402
from ml.recognition import Recognizer  # noqa: E402
from ml.recognition.model import RecognizerConfig  # noqa: E402
from ml.recognition.train import TrainConfig  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = NEW_PROJECT


@dataclass
class Budget:
    simulation: SimulationConfig
    strategies: list[str]
    seeds: int
    pages: int | None = None             # first pages of the folder only
    val_lines: int | None = None         # a fixed random subset of the validation writers' lines
    test_lines: int | None = None        # the same for the test writers
    init: str = "scratch"                # "base": seed models fine-tune the shipped base recognizer


SMALL_MODEL = RecognizerConfig(num_classes=0, height=32, horizontal_scale=0.6, channels=(16, 32, 48, 64),
                               projection=128, lstm_hidden=128, lstm_layers=2, dropout=0.2)
TINY_MODEL = RecognizerConfig(num_classes=0, height=32, horizontal_scale=0.6, channels=(8, 16, 16, 16), projection=32,
                              lstm_hidden=32, lstm_layers=1, dropout=0.0)

BUDGETS: dict[str, Budget] = {
    # CI: seconds, to show the machinery works end to end; the figures mean nothing.
    "tiny": Budget(
        SimulationConfig(TrainConfig(model=TINY_MODEL, batch_size=8, lr=3e-3, warmup_steps=2, augment=None),
                         seed_lines=16, batch_lines=8, rounds=2, seed_steps=6, round_steps=3),
        strategies=["random", "least_mean_logprob", "least_min_char_prob", "least_mean_entropy", "least_calibrated",
                    "diverse_mean_logprob"],
        seeds=2, pages=8, val_lines=12, test_lines=24,
    ),
    # A 2-core CPU in about an hour, from the base recognizer as a new project starts: random, the
    # CTC-confidence measure that ranks this project's lines best (mean_logprob: AUROC 0.81-0.88 for the
    # worse half of the wills' lines, zero-shot and fine-tuned, against 0.64-0.72 for min_char_prob and
    # 0.67-0.83 for mean_entropy) and the same mixed with diversity. Each round labels 2,000 characters
    # (about 50 lines). The product's fine-tuning recipe (webapp.training.configs.FINE_TUNING): no plateau
    # to climb out of, so a short warm-up.
    "small": Budget(
        SimulationConfig(TrainConfig(model=RecognizerConfig(num_classes=0), batch_size=16, lr=1e-3, warmup_steps=30,
                                     augment=AugmentConfig()),
                         seed_lines=50, batch_lines=50, batch_chars=2000, rounds=6, seed_steps=200, round_steps=150,
                         candidates=400),
        strategies=["random", "least_mean_logprob", "diverse_mean_logprob"], seeds=3,
        val_lines=100, test_lines=300, init="base",
    ),
    # A GPU: every strategy, the default model, the whole pool scored every round.
    "full": Budget(
        SimulationConfig(TrainConfig(model=RecognizerConfig(num_classes=0), batch_size=32, lr=2e-3, warmup_steps=100,
                                     augment=AugmentConfig()),
                         seed_lines=150, batch_lines=100, batch_chars=4000, rounds=10, seed_steps=3000,
                         round_steps=1000),
        strategies=strategy_names(), seeds=3, init="base",
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="small")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of ALTO or PAGE XML files with their images")
    parser.add_argument("--group-by", default=None, metavar="REGEX",
                        help="writer/document of a page: the regex's first group (or match) in the image file stem; "
                             "default: the stem up to a trailing -N")
    parser.add_argument("--strategies", default=None,
                        help=f"comma-separated, from: {', '.join(strategy_names())} (default: the budget's)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the budget's)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "active-learning")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=None,
                        help="simulations run side by side (default: CPU cores on CPU, 1 on a GPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per simulation")
    parser.add_argument("--init", default=None,
                        help="base (the shipped base recognizer), scratch, or a checkpoint (default: the budget's)")
    return parser.parse_args(argv)


def init_checkpoint(name: str) -> Path | None:
    if name == "scratch":
        return None
    if name == "base":
        from ml.base_models import base_checkpoint

        return base_checkpoint("recognizer")
    return Path(name)


def machine(device: str, jobs: int, threads: int) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(device)}"
    return (f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{jobs} simulations × {threads} thread(s)")


def write_picks(records: list[RoundRecord], path: Path) -> None:
    with open(path, "w") as handle:
        for r in records:
            handle.write(json.dumps({"strategy": r.strategy, "seed": r.seed, "round": r.round, "picked": r.picked,
                                     "seconds": round(r.seconds, 2)}) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    budget = BUDGETS[args.budget]
    strategies = args.strategies.split(",") if args.strategies else budget.strategies
    seeds = list(range(args.seeds if args.seeds is not None else budget.seeds))
    jobs = args.jobs or (1 if args.device.startswith("cuda") else os.cpu_count() or 1)
    init = init_checkpoint(args.init or budget.init)
    config = dataclasses.replace(budget.simulation, device=args.device, threads=args.threads, init=init)
    torch.set_num_threads(args.threads)
    # A fine-tuned model reads lines at its own height: crops are shrunk once to that.
    height = config.train.model.height if init is None else Recognizer.load(init).height

    lines = load_lines(args.data, group=group_rule(args.group_by), height=height, pages=budget.pages)
    data = split_by_writer(lines, val_fraction=0.1, test_fraction=0.15)
    data.val, data.test = subsample(data.val, budget.val_lines), subsample(data.test, budget.test_lines)
    writers = len({line.group for line in lines})
    print(f"{len(lines)} lines of {writers} writers/documents: pool {len(data.pool)}, val {len(data.val)}, "
          f"test {len(data.test)}; {len(strategies)} strategies × {len(seeds)} seeds", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    records = run_benchmark(data, strategies, seeds, config, args.out, jobs=jobs)
    points = [CurvePoint(r.strategy, r.seed, r.round, r.labelled_lines, r.labelled_chars, r.test_cer) for r in records]
    write_csv(points, args.out / "results.csv")
    write_picks(records, args.out / "picks.jsonl")
    wall = time.monotonic() - started
    where = machine(args.device, jobs, args.threads)
    plot_curves(points, args.out / "learning_curves.png",
                title=f"{args.data.name}, budget {args.budget}: test CER, mean ± std over {len(seeds)} seed(s)")
    rows = summarize(points)
    write_summary_csv(rows, args.out / "summary.csv")
    table = format_summary(rows)
    checks = forecast_backtest(points, val_lines=len(data.test))
    backtest = format_forecast_checks(checks)
    s = config
    per_round = f"{s.batch_chars} characters" if s.batch_chars else f"{s.batch_lines} lines"
    settings = (f"from {'the base recognizer ' + str(init) if init else 'scratch'}: "
                f"seed set {s.seed_lines} lines ({s.seed_steps} steps), "
                f"then {s.rounds} rounds of {per_round} ({s.round_steps} steps of {s.train.batch_size} lines "
                f"each, learning rate {s.train.lr:g}), candidates scored per round: {s.candidates or 'all'}")
    (args.out / "summary.md").write_text(f"# Active learning, budget {args.budget}\n\n{table}\n\n{settings}\n\n"
                                         f"## The labelling-budget forecast, from the first half of each run\n\n"
                                         f"{backtest}\n\n"
                                         f"Data: {args.data} ({len(data.pool)} pool, {len(data.val)} val, "
                                         f"{len(data.test)} test lines).\n"
                                         f"Machine: {where}. Wall time: {wall / 60:.1f} min.\n")
    print(table)
    print(settings)
    print(backtest)
    print(f"machine: {where}; wall time {wall / 60:.1f} min; results in {args.out}")
    print(json.dumps({"budget": args.budget, "init": str(init) if init else "scratch", "machine": where,
                      "wall_minutes": round(wall / 60, 1),
                      "summary": [dataclasses.asdict(row) for row in rows],
                      "forecast_backtest": [{**dataclasses.asdict(c), "lines_error": c.lines_error,
                                             "cer_error": c.cer_error} for c in checks]}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
