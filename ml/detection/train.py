"""Training the line detector: `train_detector` for workers, `main` for the command line.

    python -m ml.train detector --data DIR [DIR...] --out DIR [--init CKPT] [--epochs N]
        [--device cpu|cuda] [--max-minutes M] [--seed S] [--fresh]

`out_dir` receives `best.pt` (best validation F1@0.5) and `last.pt` (everything
needed to resume); running again on the same `out_dir` resumes unless told not to.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from ml.checkpoints import load_checkpoint
from ml.detection.data import PageSample, read_folder, split_pages
from ml.detection.detector import CHECKPOINT_KIND
from ml.detection.model import DetectorConfig
from ml.detection.train_config import DetectorTrainingConfig, TrainConfig
from ml.detection.training_run import TrainingRun, TrainResult
from ml.progress import ProgressCallback

__all__ = ["DetectorTrainingConfig", "TrainConfig", "TrainResult", "main", "train_detector"]


def train_detector(
    train_pages: Sequence[PageSample],
    val_pages: Sequence[PageSample],
    *,
    out_dir: str | os.PathLike,
    config: DetectorTrainingConfig | None = None,
    init: str | os.PathLike | bytes | None = None,
    epochs: int,
    device: str = "cpu",
    callback: ProgressCallback | None = None,
    seed: int = 0,
    max_minutes: float | None = None,
    resume: bool = True,
    show_progress: bool = True,
) -> TrainResult:
    """Train on `(PIL image, lines)` samples; lines are boxes, polygons, dicts or `LineAnnotation`s.

    `init` starts from another detector checkpoint (fine-tuning; its model
    config wins over `config.model`). With `resume`, an existing
    `out_dir/last.pt` is continued instead, optimizer and counters included.
    `max_minutes` bounds this call's wall time (the running epoch is cut short,
    then validated and saved). A callback raising `TrainingCancelled` stops
    training at the next report and leaves `last.pt`; the result then says
    `stopped="cancelled"`.
    """
    if not train_pages or not val_pages:
        raise ValueError("need at least one training page and one validation page")
    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path = out_dir / "last.pt"
    resuming = resume and last_path.exists()
    if resuming:
        start_from = load_checkpoint(last_path, expected_kind=CHECKPOINT_KIND)
    elif init is not None:
        start_from = load_checkpoint(init, expected_kind=CHECKPOINT_KIND)
    else:
        start_from = None
    run = TrainingRun(train_pages, val_pages, out_dir=out_dir, config=config or DetectorTrainingConfig(),
                      start_from=start_from, resuming=resuming, device=torch.device(device), seed=seed,
                      callback=callback, show_progress=show_progress)
    deadline = started + max_minutes * 60 if max_minutes is not None else math.inf
    stopped = run.run(epochs, deadline)
    state = run.state
    return TrainResult(run.best_path, run.last_path, state.best_metrics, state.epoch, state.step,
                       time.monotonic() - started, stopped, state.history)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.train detector",
                                     description="Train the line detector on folders of page images with ALTO/PAGE XML.")
    parser.add_argument("--data", nargs="+", action="extend", required=True, metavar="DIR",
                        help="folders of images and layout files; train/val by a hash of each will's name")
    parser.add_argument("--out", required=True, metavar="DIR", help="where best.pt and last.pt go")
    parser.add_argument("--init", metavar="CKPT", help="start from this detector checkpoint (fine-tuning)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--max-minutes", type=float, help="wall-time budget; the running epoch is cut short")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--input-long-side", type=int, default=DetectorConfig.input_long_side)
    parser.add_argument("--fresh", action="store_true", help="start over even if --out holds a last.pt")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda given but no CUDA device is available", file=sys.stderr)
        return 2
    splits = split_pages([page for folder in args.data for page in read_folder(folder)])
    if not splits["train"] or not splits["val"]:
        print(f"error: need pages in both the train and val splits, got {len(splits['train'])} and "
              f"{len(splits['val'])}", file=sys.stderr)
        return 2
    config = DetectorTrainingConfig(model=DetectorConfig(input_long_side=args.input_long_side),
                                    train=TrainConfig(batch_size=args.batch_size))
    result = train_detector([page.sample() for page in splits["train"]], [page.sample() for page in splits["val"]],
                            out_dir=args.out, config=config, init=args.init, epochs=args.epochs, device=args.device,
                            seed=args.seed, max_minutes=args.max_minutes, resume=not args.fresh)
    print(json.dumps({"best": str(result.best_path), "stopped": result.stopped, "epochs": result.epochs_completed,
                      "val": result.best_metrics, "seconds": round(result.wall_seconds, 1)}, indent=2))
    return 0
