"""Base-model benchmark: how well the shipped base models read handwriting they never saw.

    .venv/bin/python bench/base_models.py [--models ml/base_models] [--device cpu|cuda] [--threads 2]

Prints, and ends with one JSON line: the base recognizer's CER per corpus on the held-out
htr-base documents, the detector's F1@0.5 and end-to-end page CER on the same pages, and
both zero-shot on the CREMMA wills (CER on the ground-truth lines, detector F1, page CER),
plus recognition speed and peak memory. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])
# OpenMP threads that spin while waiting collapse throughput when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from ml.base_models import HERE  # noqa: E402
from ml.base_report import evaluate_base  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402


def recognition_speed(folder: Path, device: str) -> dict:
    from ml.data.lines import load_line_samples
    from ml.recognition import load_recognizer

    recognizer = load_recognizer(folder / "recognizer.pt", device=device)
    images = [sample.image for sample in load_line_samples([NEW_PROJECT])[:400]]
    speeds = {}
    for batch_size in (1, 16):
        start = time.perf_counter()
        recognizer.recognize(images, batch_size=batch_size)
        speeds[f"recognize_lines_per_s_batch{batch_size}"] = len(images) / (time.perf_counter() - start)
    return speeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=HERE, help="folder with recognizer.pt and detector.pt")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    report = evaluate_base(args.models, device=args.device)
    report.update(recognition_speed(args.models, args.device))
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["wall_s"] = time.perf_counter() - started
    report["machine"] = f"{platform.machine()} {platform.processor()}, {args.threads} threads, {args.device}"

    print(f"{'corpus':32s} {'lines':>6s} {'CER':>7s} {'pages':>6s} {'F1@0.5':>7s} {'page CER':>9s}")
    rows = [*report["per_corpus"].items(), ("all held-out", {**report["validation"]["recognizer"],
                                                              "pages": report["validation"].get("pages", {})}),
            ("CREMMA wills (zero-shot)", {**report["cremma"]["recognizer"],
                                          "pages": report["cremma"].get("pages", {})})]
    for name, row in rows:
        pages = row.get("pages", {})
        print(f"{name:32s} {row['lines']:6d} {100 * row['cer']:6.1f}% {pages.get('pages', 0):6d} "
              f"{pages.get('f1', 0):7.3f} {100 * pages.get('end_to_end_cer', 0):8.1f}%")
    for key in ("recognize_lines_per_s_batch1", "recognize_lines_per_s_batch16", "peak_rss_mb", "wall_s"):
        print(f"{key:32s} {report[key]:.1f}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
