"""Few-shot benchmark: how many lines of a new hand must be typed before the suggestions are good.

    .venv/bin/python bench/fewshot.py [--sizes 0,25,50,100,200,400,800] [--seeds 3] [--steps 300]
                                      [--init base|CKPT] [--plot artifacts/fewshot.png]

Splits the CREMMA wills by writer with the fixed split of `ml.data.splits.split_of`
(train / val / test wills, by a hash of the will's name), fine-tunes the base recognizer
on the first N lines of the train wills (in file order) for a fixed number of steps (no
early stopping: the test wills are never looked at during training), and reads the test
wills. Then it applies the product's promotion rule on the val wills, as a project's
first run is judged: the fine-tuned model is used only if its val CER beats the base's by
the default margin, and "in use" is the test CER of whichever model that leaves in use
(fine-tuning a few dozen lines for hundreds of steps can overfit them and read new hands
worse than the base did). Prints both against N, per seed and averaged, with the minutes
each fine-tuning took, saves the curves as a PNG and ends with one JSON line. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])
# OpenMP threads that spin while waiting collapse throughput when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

import torch  # noqa: E402

from ml.data.lines import load_line_samples  # noqa: E402
from ml.data.splits import split_of  # noqa: E402
from ml.recognition.evaluate import evaluate_arrays  # noqa: E402
from ml.recognition import load_recognizer  # noqa: E402
from ml.recognition.train import TrainConfig, train_recognizer  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

DEFAULT_DATA = NEW_PROJECT


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="0,25,50,100,200,400,800", help="training lines N")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps for every N")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3, help="the product's fine-tuning rate (training configs)")
    parser.add_argument("--warmup-steps", type=int, default=30)
    parser.add_argument("--freeze-cnn", action="store_true", help="fine-tune without changing the convolutional part")
    parser.add_argument("--no-augment", action="store_true", help="fine-tune without augmentation")
    parser.add_argument("--init", default="base", help="base (the shipped base recognizer) or a checkpoint")
    parser.add_argument("--test-lines", type=int, default=None, help="read only the first test lines (quick runs)")
    parser.add_argument("--val-lines", type=int, default=150, help="val-will lines the promotion rule reads")
    parser.add_argument("--margin", type=float, default=0.005, help="the promotion margin (the project default)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    # artifacts/ is git-ignored: a run from a clone leaves nothing to commit by mistake.
    parser.add_argument("--plot", type=Path, default=Path("artifacts/fewshot.png"))
    return parser.parse_args(argv)


def test_cer(checkpoint: Path, test) -> float:
    """CER of `checkpoint` on the lines `test` (the test wills, or the val wills for the promotion rule)."""
    recognizer = load_recognizer(checkpoint)
    return evaluate_arrays(recognizer, [recognizer.prepare(s.image) for s in test], [s.text for s in test],
                           with_calibration=False).cer


def plot(rows: list[dict], path: Path, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({row["lines"] for row in rows})
    means = [statistics.fmean(r["cer"] for r in rows if r["lines"] == n) for n in sizes]
    figure, axis = plt.subplots(figsize=(6, 4))
    in_use = [statistics.fmean(r["in_use_cer"] for r in rows if r["lines"] == n) for n in sizes]
    axis.plot(sizes, [100 * m for m in means], marker="o", label="fine-tuned, mean of seeds")
    axis.plot(sizes, [100 * m for m in in_use], marker="s", linestyle="--",
              label="in use after the promotion rule (val wills)")
    axis.scatter([r["lines"] for r in rows], [100 * r["cer"] for r in rows], s=10, alpha=0.5, label="each seed")
    axis.set_xscale("symlog", linthresh=25)
    axis.set_xlabel("lines of the new hands typed (N)")
    axis.set_ylabel("CER on the test wills (%)")
    axis.set_title(f"Fine-tuning the base recognizer ({machine})", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.init == "base":
        from ml.base_models import base_checkpoint

        init = base_checkpoint("recognizer")
    else:
        init = Path(args.init)
    samples = load_line_samples([args.data])
    train = [s for s in samples if split_of(s.group) == "train"]
    test = [s for s in samples if split_of(s.group) == "test"][: args.test_lines]
    val = [s for s in samples if split_of(s.group) == "val"][: args.val_lines]
    sizes = [int(n) for n in args.sizes.split(",")]
    print(f"{len(train)} train lines available, {len(test)} test lines from "
          f"{len({s.group for s in test})} test wills, {len(val)} val lines for the promotion rule", flush=True)
    rows = []
    zero, zero_val = test_cer(init, test), test_cer(init, val)
    for n in sizes:
        for seed in range(args.seeds if n else 1):
            if n == 0:
                rows.append({"lines": 0, "seed": 0, "cer": zero, "val_cer": zero_val, "promoted": False,
                             "in_use_cer": zero, "minutes": 0.0})
                continue
            out = Path(tempfile.mkdtemp(prefix=f"fewshot-{n}-{seed}-"))
            config = TrainConfig(epochs=10**6, max_steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                 warmup_steps=args.warmup_steps, patience=10**6, checkpoint_every=10**6,
                                 freeze_cnn=args.freeze_cnn)
            if args.no_augment:
                config.augment = None
            started = time.monotonic()
            result = train_recognizer(train[:n], [], out_dir=out, config=config, init=init, device=args.device,
                                      seed=seed, show_progress=False)
            minutes = (time.monotonic() - started) / 60
            cer, val_cer = test_cer(result.best_path, test), test_cer(result.best_path, val)
            promoted = val_cer < zero_val - args.margin
            rows.append({"lines": n, "seed": seed, "cer": cer, "val_cer": val_cer, "promoted": promoted,
                         "in_use_cer": cer if promoted else zero, "minutes": minutes, "steps": result.steps})
            print(f"N={n:4d} seed {seed}: test CER {100 * cer:5.1f}%  (val {100 * val_cer:.1f}% vs base "
                  f"{100 * zero_val:.1f}%: {'promoted' if promoted else 'base kept'}; {minutes:.1f} min)", flush=True)
    machine = f"{platform.machine()} {platform.processor()}, {args.threads} threads, {args.device}"
    summary = {}
    print(f"{'N':>5s} {'CER mean':>9s} {'min':>6s} {'max':>6s} {'in use':>7s} {'promoted':>9s} {'minutes':>8s}")
    for n in sizes:
        chosen = [r for r in rows if r["lines"] == n]
        cers = [r["cer"] for r in chosen]
        summary[n] = {"cer_mean": statistics.fmean(cers), "cer_min": min(cers), "cer_max": max(cers),
                      "in_use_cer_mean": statistics.fmean(r["in_use_cer"] for r in chosen),
                      "promoted": sum(r["promoted"] for r in chosen), "runs": len(chosen),
                      "minutes_mean": statistics.fmean(r["minutes"] for r in chosen)}
        print(f"{n:5d} {100 * summary[n]['cer_mean']:8.1f}% {100 * min(cers):5.1f}% {100 * max(cers):5.1f}% "
              f"{100 * summary[n]['in_use_cer_mean']:6.1f}% {summary[n]['promoted']:>5d} of {len(chosen)} "
              f"{summary[n]['minutes_mean']:8.1f}")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, args.plot, machine)
    print(f"curve saved to {args.plot}")
    print(json.dumps({"machine": machine, "steps": args.steps, "lr": args.lr, "warmup_steps": args.warmup_steps,
                      "val_lines": len(val), "margin": args.margin,
                      "freeze_cnn": args.freeze_cnn, "augment": not args.no_augment, "test_lines": len(test),
                      "summary": summary, "runs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
