"""Recognizer benchmark on the CREMMA wills: train with 10% of the wills held out, then measure.

    .venv/bin/python bench/recognizer.py --minutes 60 [--init scratch|base|CKPT] [--curve 0,5,15,30,60]

Prints val CER/WER on the held-out writers, training and recognition speed, model
size, peak memory and the calibration of the chosen line-confidence measure, as text
and as one JSON line at the end.

With `--init base` (or a checkpoint) the run fine-tunes that model, and a from-scratch
run of the same length follows (unless `--no-scratch`): both print their val CER at the
`--curve` minutes. Each point is the run's model at that moment (its last.pt, at most
`checkpoint_every` steps old), so the learning rate there is still on its way down to
the run's end; minute 0 is the initial model (the empty prediction from scratch).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(REPO)

# Threads that spin while waiting for each other collapse throughput when other
# processes share the cores (10× slower steps measured); sleeping threads do not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# oneDNN keeps compiled kernels per input shape; a small cache keeps memory flat.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

import torch  # noqa: E402


from ml.data.lines import load_line_samples  # noqa: E402
from ml.data.splits import hold_out_groups, partition  # noqa: E402
from ml.recognition.evaluate import evaluate_arrays  # noqa: E402
from ml.recognition.model import RecognizerConfig, count_parameters  # noqa: E402
from ml.recognition import load_recognizer  # noqa: E402
from ml.recognition.train import TrainConfig, train_recognizer  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

DEFAULT_DATA = NEW_PROJECT


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of wills held out")
    parser.add_argument("--epochs", type=int, default=1000, help="upper bound; the time budget usually ends training")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--height", type=int, default=48, help="line height (multiple of 16)")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: a temporary one)")
    parser.add_argument("--init", default="scratch", help="scratch, base (the shipped base recognizer) or a checkpoint")
    parser.add_argument("--curve", default="0,5,15,30,60", help="minutes at which to report val CER")
    parser.add_argument("--no-scratch", action="store_true", help="with --init: skip the from-scratch comparison")
    return parser.parse_args(argv)


class Snapshots:
    """A training callback that copies last.pt when the run passes each of the `minutes` marks."""

    def __init__(self, out: Path, minutes: list[float]):
        self.out, self.marks = out, sorted(m for m in minutes if m > 0)
        self.started = time.monotonic()
        self.taken: dict[float, Path] = {}

    def __call__(self, progress) -> None:
        elapsed = (time.monotonic() - self.started) / 60
        for mark in self.marks:
            if mark not in self.taken and elapsed >= mark and (self.out / "last.pt").exists():
                self.taken[mark] = self.out / f"minute-{mark:g}.pt"
                shutil.copyfile(self.out / "last.pt", self.taken[mark])

    def finish(self, best: Path) -> None:
        """Marks the run did not reach (it ended earlier) get its final model."""
        for mark in self.marks:
            self.taken.setdefault(mark, best)


def curve_cer(snapshots: Snapshots, init: Path | None, val) -> dict[str, float]:
    curve = {"0": 1.0}
    if init is not None:
        recognizer = load_recognizer(init)
        curve["0"] = evaluate_arrays(recognizer, [recognizer.prepare(s.image) for s in val], [s.text for s in val],
                                     with_calibration=False).cer
    for mark, path in sorted(snapshots.taken.items()):
        recognizer = load_recognizer(path)
        curve[f"{mark:g}"] = evaluate_arrays(recognizer, [recognizer.prepare(s.image) for s in val],
                                             [s.text for s in val], with_calibration=False).cer
    return curve


def init_checkpoint(value: str) -> Path | None:
    if value == "scratch":
        return None
    if value == "base":
        from ml.base_models import base_checkpoint

        return base_checkpoint("recognizer")
    return Path(value)


def recognition_speed(recognizer, images, batch_size: int) -> float:
    start = time.perf_counter()
    recognizer.recognize(images, batch_size=batch_size)
    return len(images) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")   # per-epoch val CER in the log
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    samples = load_line_samples([args.data])
    train_groups, val_groups = hold_out_groups([s.group for s in samples], args.val_fraction, seed=args.seed)
    train, val = partition(samples, lambda s: s.group, val_groups)
    print(f"{len(train)} training lines from {len(train_groups)} wills, "
          f"{len(val)} val lines from {len(val_groups)} wills", flush=True)

    marks = [float(m) for m in args.curve.split(",") if m.strip()]
    init = init_checkpoint(args.init)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-recognizer-"))
    config = TrainConfig(model=RecognizerConfig(num_classes=0, height=args.height), batch_size=args.batch_size,
                         lr=args.lr, warmup_steps=args.warmup_steps, patience=10**6, checkpoint_every=20)
    snapshots = Snapshots(out, marks)
    result = train_recognizer(train, val, out_dir=out, config=config, init=init, epochs=args.epochs, device=args.device,
                              seed=args.seed, max_minutes=args.minutes, callback=snapshots)
    snapshots.finish(result.best_path)
    curves = {args.init: curve_cer(snapshots, init, val)}
    if init is not None and not args.no_scratch:
        scratch_out = out / "scratch"
        scratch = Snapshots(scratch_out, marks)
        scratch_result = train_recognizer(train, val, out_dir=scratch_out, config=config, epochs=args.epochs,
                                          device=args.device, seed=args.seed, max_minutes=args.minutes,
                                          callback=scratch)
        scratch.finish(scratch_result.best_path)
        curves["scratch"] = curve_cer(scratch, None, val)

    recognizer = load_recognizer(result.best_path, device=args.device)
    evaluation = evaluate_arrays(recognizer, [recognizer.prepare(s.image) for s in val], [s.text for s in val])
    images = [s.image for s in val]
    calibration = evaluation.calibration
    report = {
        "device": (args.device if args.device != "cpu"
                   else f"cpu ({platform.processor() or platform.machine()}, {args.threads} threads)"),
        "train_lines": len(train), "val_lines": len(val), "val_wills": len(val_groups),
        "minutes_budget": args.minutes, "stopped": result.stopped, "epochs": result.epochs_completed,
        "steps": result.steps,
        "val_cer": evaluation.cer, "val_wer": evaluation.wer,
        "train_lines_per_s": result.samples_per_second,
        "recognize_lines_per_s_batch1": recognition_speed(recognizer, images, 1),
        "recognize_lines_per_s_batch16": recognition_speed(recognizer, images, 16),
        "parameters": count_parameters(recognizer.model),
        "confidence_measure": recognizer.measure, "temperature": recognizer.temperature,
        "ece": calibration.ece[recognizer.measure] if calibration else None,
        "auroc": calibration.auroc[recognizer.measure] if calibration else None,
        "calibration": calibration.as_dict() if calibration else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": time.perf_counter() - wall,
        "checkpoint": str(result.best_path),
        "init": args.init, "curves": curves,
    }
    for name, curve in curves.items():
        figures = "  ".join(f"{minute:>3s}: {100 * value:5.1f}%" for minute, value in curve.items())
        print(f"val CER by minute, {name:8s} " + figures)
    for key, value in report.items():
        if key not in ("calibration", "curves"):
            print(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
