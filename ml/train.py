"""Command-line training.

    python -m ml.train recognizer --data DIR [DIR...] --out DIR [--init CKPT] [--epochs N] [--device cpu|cuda]
    python -m ml.train detector --data DIR [DIR...] --out DIR [--init CKPT] [--epochs N]
        [--device cpu|cuda] [--max-minutes M] [--seed S] [--fresh]

Both read ALTO/PAGE folders. The recognizer holds out a share of the groups (wills,
writers: file stem up to the last "-N") for validation and trains with
`ml.recognition.train.train_recognizer`; the detector splits pages by a hash of their group
and trains with `ml.detection.train.train_detector`. Running again with the same --out
resumes from its `last.pt`; `--max-minutes` counts across resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Spinning OpenMP threads collapse throughput when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# oneDNN keeps compiled kernels per input shape; a small cache keeps memory flat.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")


def recognizer_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.train recognizer", description="Train a CTC line recognizer.")
    parser.add_argument("--data", nargs="+", required=True, type=Path,
                        help="folders of ALTO/PAGE XML files with their images")
    parser.add_argument("--val-data", nargs="*", type=Path, default=None,
                        help="validation folders (default: hold out groups of --data)")
    parser.add_argument("--out", required=True, type=Path, help="folder for last.pt and best.pt")
    parser.add_argument("--init", type=Path, default=None,
                        help="checkpoint to fine-tune; new characters grow its output layer")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--height", type=int, default=48, help="line height in pixels (multiple of 16)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time")
    parser.add_argument("--patience", type=int, default=10, help="epochs without a better val CER before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of groups held out when --val-data is not given")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--no-polygons", action="store_true",
                        help="crop line boxes without masking outside the polygon")
    parser.add_argument("--synthetic-lines", type=int, default=0,
                        help="add this many rendered lines to the training set")
    return parser


def train_recognizer_cli(argv: list[str]) -> int:
    args = recognizer_parser().parse_args(argv)
    import torch

    from ml.data.lines import load_line_samples
    from ml.data.splits import hold_out_groups, partition
    from ml.recognition.model import RecognizerConfig
    from ml.recognition.train import TrainConfig, train_recognizer

    if args.threads:
        torch.set_num_threads(args.threads)
    samples = load_line_samples(args.data, use_polygons=not args.no_polygons)
    if args.val_data:
        train, val = samples, load_line_samples(args.val_data, use_polygons=not args.no_polygons)
    else:
        _, held = hold_out_groups([s.group for s in samples], args.val_fraction, seed=args.seed)
        train, val = partition(samples, lambda s: s.group, held)
    if args.synthetic_lines:
        from ml.data.synthetic_lines import synthetic_line_samples

        train = train + synthetic_line_samples(args.synthetic_lines, seed=args.seed)
    config = TrainConfig(model=RecognizerConfig(num_classes=0, height=args.height), batch_size=args.batch_size,
                         lr=args.lr, patience=args.patience)
    if args.no_augment:
        config.augment = None
    print(f"{len(train)} training lines, {len(val)} validation lines", file=sys.stderr)
    result = train_recognizer(
        train, val, out_dir=args.out, config=config, init=args.init, epochs=args.epochs,
        device=args.device, seed=args.seed, max_minutes=args.max_minutes,
    )
    print(json.dumps({
        "best": str(result.best_path), "last": str(result.last_path), "val_cer": result.best_metrics.get("cer"),
        "val_wer": result.best_metrics.get("wer"), "epochs": result.epochs_completed, "steps": result.steps,
        "stopped": result.stopped, "train_lines_per_s": result.samples_per_second,
    }))
    return 0


def detector_parser() -> argparse.ArgumentParser:
    from ml.detection.model import DetectorConfig
    from ml.detection.train import TrainConfig

    parser = argparse.ArgumentParser(
        prog="python -m ml.train detector",
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


def train_detector_cli(argv: list[str]) -> int:
    args = detector_parser().parse_args(argv)
    import torch

    from ml.detection.data import read_folder, split_pages
    from ml.detection.model import DetectorConfig
    from ml.detection.train import DetectorTrainingConfig, TrainConfig, train_detector

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("recognizer", "detector"):
        print("usage: python -m ml.train recognizer|detector [options]  (--help after the kind for options)",
              file=sys.stderr)
        return 2
    commands = {"recognizer": train_recognizer_cli, "detector": train_detector_cli}
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
