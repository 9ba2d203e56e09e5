"""Base models: a recognizer and a line detector pre-trained on many hands.

Every new project starts from them, so its first pages are pre-annotated before anyone
trains, and its first training run fine-tunes instead of starting from nothing.

    python -m ml.base train [--data DIR] [--out DIR] [--minutes 150] [--device cpu|cuda]
                            [--only recognizer|detector] [--synthetic-lines N] [--threads N] [--init-dir DIR]
    python -m ml.base ship  [--out DIR] [--to ml/base_models]

`train` builds both models on htr-base (`../shared/data/htr-base`: 10 corpora of modern
handwriting) plus lines rendered in handwriting fonts, holding out whole documents for
validation; 11/15 of `--minutes` go to the recognizer, the rest to the detector. Its
state lives in `--out` (outside git); the same command after a kill resumes where the
last checkpoint left off, and the budget counts across resumes. `ship` copies the best
checkpoints, inference weights only, into the package with their model card.

The benchmarks' new project never goes into a base model: every page offered is checked
by `ml.data.shared.NewProjectGuard`, and a data folder that holds one is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ml.data.shared import BASE_DATA, NewProjectGuard

# Spinning OpenMP threads collapse throughput when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# oneDNN keeps compiled kernels per input shape; a small cache keeps memory flat.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = BASE_DATA
DEFAULT_OUT = REPO / "runs" / "base"
SHIPPED = REPO / "ml" / "base_models"
RECOGNIZER_SHARE = 11 / 15          # of --minutes: about 110 of 150 for the recognizer, 40 for the detector

# The same manuscript (BnF Ms-3160, Voltaire's Candide) under two corpora: one document.
DOCUMENT_ALIASES = {
    "cremma-mss-18/candide-ou-l-optismime-par-voltaire": "htromance-modern-fr/bnf-ms-3160",
}
# Corpora with fewer documents than this keep all of them for training: holding out
# one of two or three would take away most of that corpus's hand.
MIN_DOCUMENTS_TO_HOLD_OUT = 4
VAL_FRACTION = 0.1

# Superscript letters written as modifier characters in some corpora; CREMMA and the
# LECTAUREP corpora write them as "^" + letter, which is what a base model should emit.
SUPERSCRIPTS = {"ᵉ": "^e", "ʳ": "^r", "ˡ": "^l", "ˢ": "^s", "ᵗ": "^t", "ᵇ": "^b", "ᵈ": "^d", "ⁱ": "^i"}
# Lines standing for something else than their ink: signatures ("¥" in lectaurep-mariages).
SKIP_TEXTS = {"¥"}


@dataclass
class BasePage:
    corpus: str
    document: str                    # "corpus/document", aliases resolved: the unit of the split
    xml_path: Path
    image_path: Path


def harmonise(text: str) -> str:
    """One transcription convention across corpora (see SUPERSCRIPTS)."""
    return "".join(SUPERSCRIPTS.get(char, char) for char in text)


def base_pages(data: Path) -> list[BasePage]:
    """Every page of every corpus folder under `data`, sorted."""
    from ml.data.layout import group_of, pair_layouts_with_images

    guard = NewProjectGuard()
    pages = []
    folders = [data, *sorted(path for path in data.iterdir() if path.is_dir())]
    for folder in folders:
        for xml_path, image_path in pair_layouts_with_images(folder):
            guard.check(xml_path, image_path)
            if folder == data:
                continue  # pages lie in one folder per corpus; loose ones are only checked
            document = f"{folder.name}/{group_of(image_path.name)}"
            pages.append(BasePage(folder.name, DOCUMENT_ALIASES.get(document, document), xml_path, image_path))
    return pages


def validation_documents(pages: list[BasePage], *, seed: int = 0) -> set[str]:
    """About 10 % of each corpus's documents (at least one), for corpora with enough of them."""
    from ml.data.splits import hold_out_groups

    held: set[str] = set()
    for corpus in sorted({page.corpus for page in pages}):
        documents = sorted({page.document for page in pages if page.corpus == corpus})
        if len(documents) >= MIN_DOCUMENTS_TO_HOLD_OUT:
            held |= hold_out_groups(documents, VAL_FRACTION, seed=seed)[1]
    return held


def line_samples(pages: list[BasePage]):
    """Transcribed lines of `pages` as LineSamples, group = document, text harmonised."""
    from ml.data.lines import load_page, samples_from_page

    samples = []
    for page in pages:
        image, layout = load_page(page.xml_path, page.image_path)
        for sample in samples_from_page(image, layout, group=page.document):
            if sample.text in SKIP_TEXTS:
                continue
            sample.text = harmonise(sample.text)
            samples.append(sample)
    return samples


class _Budget:
    """Minutes spent per phase and call, kept in `out/budget.json` for the summary (each model's own
    budget counts across resumes in its `last.pt`)."""

    def __init__(self, out: Path) -> None:
        self.path = out / "budget.json"
        self.spent: dict[str, float] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def charge(self, phase: str, seconds: float) -> None:
        self.spent[phase] = self.spent.get(phase, 0.0) + seconds / 60
        self.path.write_text(json.dumps(self.spent, indent=1))


def train_base_recognizer(pages: list[BasePage], held: set[str], out: Path, *, minutes: float, device: str,
                          synthetic_lines: int, seed: int, init: Path | None = None) -> dict:
    from ml.data.synthetic_lines import handwriting_line_samples
    from ml.recognition.train import TrainConfig, train_recognizer

    train = line_samples([page for page in pages if page.document not in held])
    val = line_samples([page for page in pages if page.document in held])
    texts = [sample.text for sample in train]
    if synthetic_lines:
        train += handwriting_line_samples(texts, synthetic_lines, seed=seed)
    print(f"recognizer: {len(train)} training lines ({synthetic_lines} rendered), {len(val)} validation lines "
          f"from {len(held)} held-out documents", file=sys.stderr)
    # Many epochs: the time budget, not the epoch count, ends the run, and the learning
    # rate anneals to that budget. Patience is moot on 25k lines (an epoch is ~1,500 steps).
    config = TrainConfig(epochs=1000, patience=1000, checkpoint_every=300)
    result = train_recognizer(train, val, out_dir=out / "recognizer", config=config, device=device, seed=seed,
                              max_minutes=minutes, init=init)
    return {"val_cer": result.best_metrics.get("cer"), "val_wer": result.best_metrics.get("wer"),
            "epochs": result.epochs_completed, "steps": result.steps, "stopped": result.stopped,
            "train_lines_per_s": result.samples_per_second,
            "train_lines": len(train), "synthetic_lines": synthetic_lines, "val_lines": len(val)}


def train_base_detector(pages: list[BasePage], held: set[str], out: Path, *, minutes: float, device: str,
                        seed: int, init: Path | None = None) -> dict:
    from ml.data.lines import load_page
    from ml.detection.train import DetectorTrainingConfig, TrainConfig, train_detector

    def samples(chosen: list[BasePage]):
        return [(image, layout.lines) for image, layout in (load_page(p.xml_path, p.image_path) for p in chosen)]

    train = samples([page for page in pages if page.document not in held])
    val = samples([page for page in pages if page.document in held])
    print(f"detector: {len(train)} training pages, {len(val)} validation pages", file=sys.stderr)
    # Four crops of every page per epoch: with ~650 pages an epoch is then long enough that
    # validating at its end costs little, and short enough to checkpoint often.
    config = DetectorTrainingConfig(train=TrainConfig(crops_per_page=4))
    result = train_detector(train, val, out_dir=out / "detector", config=config, epochs=1000, device=device,
                            seed=seed, max_minutes=minutes, init=init)
    return {"val": result.best_metrics, "epochs": result.epochs_completed, "steps": result.steps,
            "stopped": result.stopped, "train_pages": len(train), "val_pages": len(val)}


def train_command(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda given but no CUDA device is available", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    pages = base_pages(args.data)
    held = validation_documents(pages, seed=args.seed)
    budget = _Budget(out)
    # Continuing from shipped models (e.g. on a machine without this --out): a last.pt still wins.
    init = {kind: args.init_dir / f"{kind}.pt" for kind in ("recognizer", "detector")} if args.init_dir else {}
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary.update(minutes=args.minutes, device=args.device, data=str(args.data),
                   init_dir=str(args.init_dir) if args.init_dir else None,
                   validation_documents=sorted(held), torch_threads=torch.get_num_threads())
    # A base model may take several sittings (killed, resumed, given more minutes): the card lists them all.
    summary.setdefault("calls", []).append(" ".join(["python -m ml.base", *sys.argv[1:]]))
    if args.only in (None, "recognizer"):
        started = time.monotonic()
        summary["recognizer"] = train_base_recognizer(pages, held, out, minutes=args.minutes * RECOGNIZER_SHARE,
                                                      device=args.device, synthetic_lines=args.synthetic_lines,
                                                      seed=args.seed, init=init.get("recognizer"))
        budget.charge("recognizer_call", time.monotonic() - started)
        summary_path.write_text(json.dumps(summary, indent=1))
    if args.only in (None, "detector"):
        started = time.monotonic()
        summary["detector"] = train_base_detector(pages, held, out, minutes=args.minutes * (1 - RECOGNIZER_SHARE),
                                                  device=args.device, seed=args.seed, init=init.get("detector"))
        budget.charge("detector", time.monotonic() - started)
        summary_path.write_text(json.dumps(summary, indent=1))
    summary["minutes_spent"] = budget.spent
    summary_path.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.base", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train (or resume) the base recognizer and detector")
    train.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the htr-base folder (one folder per corpus)")
    train.add_argument("--out", type=Path, default=DEFAULT_OUT, help="state and checkpoints; the same --out resumes")
    train.add_argument("--minutes", type=float, default=150.0, help="total wall-clock budget for both models")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    train.add_argument("--only", choices=("recognizer", "detector"), default=None)
    train.add_argument("--synthetic-lines", type=int, default=4000, help="lines rendered in handwriting fonts")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--init-dir", type=Path, default=None,
                       help="start from the recognizer.pt and detector.pt in this folder (e.g. ml/base_models) "
                            "instead of from scratch; a last.pt in --out still resumes first")
    ship = commands.add_parser("ship", help="copy the best checkpoints and their model card into the package")
    ship.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ship.add_argument("--to", type=Path, default=SHIPPED)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "train":
        return train_command(args)
    from ml.base_report import ship

    return ship(args.out, args.to)


if __name__ == "__main__":
    raise SystemExit(main())
