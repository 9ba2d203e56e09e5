"""Line detection benchmark: the learned detector against the scripted baseline on held-out wills.

    python bench/detector.py [--data DIR] [--minutes 18] [--device cpu|cuda] [--checkpoint CKPT]

Trains on the wills of the `train` split (early stopping on `val`), then reports
F1@0.5, precision, recall and the false positives that overlap no annotated line
on the `test` wills, which neither training nor model selection saw; pages/s
count detection only (the image is already decoded). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

# OpenMP threads that spin while waiting run several times slower when other
# processes share the cores (0.7 s against 3.4 s a step measured here); sleeping ones do not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


from ml.detection import ScriptedBaseline, load_detector  # noqa: E402
from ml.detection.data import FolderPage, default_data_dir, read_folder, split_pages  # noqa: E402
from ml.detection.geometry import as_line_geometry  # noqa: E402
from ml.detection.metrics import detection_prf, sum_prf  # noqa: E402
from ml.detection.model import parameter_count  # noqa: E402
from ml.detection.train import train_detector  # noqa: E402


def score(detect: Callable, pages: Sequence[FolderPage]) -> dict[str, Any]:
    samples = [page.sample() for page in pages]
    results, seconds = [], 0.0
    for image, lines in samples:
        started = time.perf_counter()
        found = detect(image)
        seconds += time.perf_counter() - started
        results.append(detection_prf([line.bbox for line in found], [as_line_geometry(line).bbox for line in lines]))
    return {**sum_prf(results), "pages": len(samples), "pages_per_second": len(samples) / seconds}


def row(name: str, figures: dict[str, Any]) -> str:
    return (f"{name:<22} F1 {figures['f1']:.3f}  P {figures['precision']:.3f}  R {figures['recall']:.3f}  "
            f"tp {figures['tp']:>4} fp {figures['fp']:>4} (on unannotated {figures['fp_unannotated']:>3}) "
            f"fn {figures['fn']:>4}  P-annotated {figures['precision_annotated']:.3f}  "
            f"{figures['pages_per_second']:.2f} pages/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--minutes", type=float, default=18.0, help="training wall-time budget")
    parser.add_argument("--epochs", type=int, default=200, help="upper bound; the budget usually ends training first")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="training folder (default: a temporary one)")
    parser.add_argument("--checkpoint", type=Path, help="skip training and evaluate this detector checkpoint")
    args = parser.parse_args()

    splits = split_pages(read_folder(args.data))
    print(f"pages: train {len(splits['train'])}, val {len(splits['val'])}, test {len(splits['test'])} "
          f"(split by will, ml.data.splits.split_of)")
    out = args.out or Path(tempfile.mkdtemp(prefix="detector-bench-"))
    training: dict[str, Any] = {}
    checkpoint = args.checkpoint
    if checkpoint is None:
        result = train_detector([p.sample() for p in splits["train"]], [p.sample() for p in splits["val"]],
                                out_dir=out, epochs=args.epochs, device=args.device, seed=args.seed,
                                max_minutes=args.minutes, resume=False)
        checkpoint = result.best_path
        training = {"wall_seconds": round(result.wall_seconds, 1), "epochs": result.epochs_completed,
                    "steps": result.steps, "stopped": result.stopped, "best_val_f1": result.best_metrics.get("f1")}
        print(f"trained in {result.wall_seconds / 60:.1f} min: {result.epochs_completed} epochs, "
              f"{result.steps} steps, stopped by {result.stopped}; best val F1 {result.best_metrics.get('f1'):.3f}")

    detector = load_detector(checkpoint, device=args.device)
    baseline = ScriptedBaseline()
    figures = {
        "learned_test": score(detector.detect, splits["test"]),
        "baseline_test": score(baseline.detect, splits["test"]),
        "learned_val": score(detector.detect, splits["val"]),
        "baseline_val": score(baseline.detect, splits["val"]),
    }
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(f"device: {args.device} ({device_name}, {torch.get_num_threads()} threads); "
          f"learned detector: {parameter_count(detector.network):,} parameters; checkpoint {checkpoint}")
    for name, values in figures.items():
        print(row(name, values))
    print(json.dumps({"training": training, "parameters": parameter_count(detector.network),
                      "device": args.device, **figures}, indent=2))


if __name__ == "__main__":
    main()
