"""Recognizer benchmark on the CREMMA wills: train with 10% of the wills held out, then measure.

    .venv/bin/python -m bench.recognizer --minutes 60

Prints val CER/WER on the held-out writers, training and recognition speed, model
size, peak memory and the calibration of the chosen line-confidence measure, as text
and as one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ would come first on the path and its modules could shadow the
# standard library (bench/queue.py shadows `queue`); the repository root is what we need.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

# Threads that spin while waiting for each other collapse throughput when other
# processes share the cores (10× slower steps measured); sleeping threads do not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# oneDNN keeps compiled kernels per input shape; a small cache keeps memory flat.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

import torch  # noqa: E402


from ml.data.lines import load_line_samples  # noqa: E402
from ml.data.splits import hold_out_groups, partition  # noqa: E402
from ml.evaluation import evaluate_arrays  # noqa: E402
from ml.models.recognizer import RecognizerConfig, count_parameters  # noqa: E402
from ml.recognition import load_recognizer  # noqa: E402
from ml.training.recognizer import TrainConfig, train_recognizer  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "cremma-testaments"


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
    return parser.parse_args(argv)


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
    print(f"{len(train)} training lines from {len(train_groups)} wills, {len(val)} val lines from {len(val_groups)} wills", flush=True)

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-recognizer-"))
    config = TrainConfig(model=RecognizerConfig(num_classes=0, height=args.height), batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, patience=10**6)
    result = train_recognizer(train, val, out_dir=out, config=config, epochs=args.epochs, device=args.device, seed=args.seed, max_minutes=args.minutes)

    recognizer = load_recognizer(result.best_path, device=args.device)
    evaluation = evaluate_arrays(recognizer, [recognizer.prepare(s.image) for s in val], [s.text for s in val])
    images = [s.image for s in val]
    calibration = evaluation.calibration
    report = {
        "device": args.device if args.device != "cpu" else f"cpu ({platform.processor() or platform.machine()}, {args.threads} threads)",
        "train_lines": len(train), "val_lines": len(val), "val_wills": len(val_groups),
        "minutes_budget": args.minutes, "stopped": result.stopped, "epochs": result.epochs_completed, "steps": result.steps,
        "val_cer": evaluation.cer, "val_wer": evaluation.wer,
        "train_lines_per_s": result.train_lines_per_second,
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
    }
    for key, value in report.items():
        if key != "calibration":
            print(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
