"""How good the base models are, and shipping them with a model card that says so.

The figures come from one place, `evaluate_base`, used by `python -m ml.base ship` (for
the card) and by `bench/base_models.py`:
- the recognizer's CER per corpus on the held-out htr-base documents;
- the detector's F1 at IoU 0.5 per corpus on the same pages;
- both zero-shot on the benchmarks' new project (`ml.data.shared.NEW_PROJECT`, which no base
  model has seen; `NewProjectGuard` refuses its pages as training data): CER on the
  ground-truth lines, detector F1, and the end-to-end page CER (detected lines, read,
  matched to the truth by box IoU).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ml.base import DEFAULT_DATA, BasePage, base_pages, line_samples, validation_documents
from ml.base_models import CARD_FILE, KINDS
from ml.data.shared import NEW_PROJECT

# Each source's credit line, as its CC BY 4.0 licence asks (see htr-base's README), from the
# repositories' htr-united.yml and CITATION.cff (none has a LICENSE file).
CREDITS = {
    "lectaurep-repertoires": ("HTR-United/lectaurep-repertoires", "Notaires de Paris - Répertoires",
                              "LECTAUREP (Archives nationales, Inria ALMAnaCH, EPHE): Aurélia Rostaing, Marc Durand, "
                              "Alix Chagué", "CC BY 4.0"),
    "copiste-d-un-jour": ("banq-dcn/Copiste-d-un-jour", "Copiste d'un jour",
                          "Bibliothèque et Archives nationales du Québec (BAnQ) and its 267 volunteers", "CC BY 4.0"),
    "timeus": ("HTR-United/timeuscorpus", "TIMEUS Corpus",
               "Alix Chagué, Kévin Champougny, Nina Meissel, Jean-Damien Genero, Eden Skilbeck-Gaborit, "
               "Laurie Vanneau, "
               "Laura Bey, Victoria Le Fourner, Anaïs Albert, Charles Riondet, Manuela Martini (ANR project TIME US; "
               "Inria ALMAnaCH, Université de Paris, CNRS LARHRA)", "CC BY 4.0"),
    "cremma-mss-19": ("HTR-United/CREMMA-MSS-19", "CREMMA Manuscrits du 19e", "Thibault Clérice, Alix Chagué (CREMMA)",
                      "CC BY 4.0"),
    "cremma-mss-20": ("HTR-United/CREMMA-MSS-20", "CREMMA Manuscrits du 20e", "Thibault Clérice, Alix Chagué (CREMMA)",
                      "CC BY 4.0"),
    "htromance-modern-fr": ("HTRomance-Project/modern-roman-languages", "HTRomance, Modern language corpus",
                            "Jade Norindr, Anna Mikhalchuk, Thibault Clérice, Alix Chagué (Inria ALMAnaCH; funded by "
                            "the BnF Datalab)", "CC BY 4.0"),
    "cremma-mss-18": ("HTR-United/CREMMA-MSS-18", "CREMMA Manuscrits du 18e",
                      "Elsa Van Kote, Margaux Faure, Jade Norindr, Thibault Clérice, Alix Chagué", "CC BY 4.0"),
    "fondue-fr-mss-18": ("FoNDUE-HTR/FONDUE-FR-MSS-18", "FoNDUE-FR-MSS-18",
                         "Simon Gabay, Peter Nahon, Marco Cicchini, Yvan Jaureguy (FoNDUE; Université de Genève, CNRS)",
                         "CC BY 4.0 (annotations; see the note below)"),
    "lectaurep-bronod": ("HTR-United/lectaurep-bronod", "Notaires de Paris - Bronod",
                         "LECTAUREP: Marie-Françoise Limon-Bonnet, Alix Chagué, Aurélia Rostaing", "CC BY 4.0"),
    "lectaurep-mariages-et-divorces": ("HTR-United/lectaurep-mariages-et-divorces",
                                       "Notaires de Paris - Mariages et Divorces",
                                       "LECTAUREP: Aurélia Rostaing, Nathalie Denis, Alix Chagué", "CC BY 4.0"),
}
LICENCE_NOTES = (
    "FoNDUE-FR-MSS-18 has no LICENSE file; its htr-united.yml says CC BY 4.0, its README says "
    "\"Annotation is CC-BY. Images belong to the digital libraries.\" (with a CC BY 2.0 badge).",
    "Copiste d'un jour: the form each volunteer wrote on carries a printed consent text saying the manuscript "
    "may be shared \"sous licence CC-BY pour être utilisé librement à des fins non commerciales\"; the repository "
    "itself states CC BY 4.0. The copied texts are French Wikipedia summaries (Wikipedia text is CC BY-SA).",
)


def evaluate_recognizer(recognizer, samples) -> dict[str, Any]:
    from ml.recognition.evaluate import evaluate_samples

    if not samples:
        return {"lines": 0, "cer": None, "wer": None}
    evaluation = evaluate_samples(recognizer, samples, with_calibration=False)
    return {"lines": len(samples), "cer": evaluation.cer, "wer": evaluation.wer}


def evaluate_pages(predictor, pages: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Detector P/R/F1 at IoU 0.5 and end-to-end page CER over (xml, image) pairs."""
    from ml.detection.evaluate import end_to_end_pages

    result, page_cer = end_to_end_pages(predictor, pages)
    return {"pages": len(pages), "f1": result["f1"], "precision": result["precision"], "recall": result["recall"],
            "end_to_end_cer": page_cer}


def evaluate_base(folder: Path, *, data: Path = DEFAULT_DATA, new_project: Path = NEW_PROJECT, seed: int = 0,
                  device: str = "cpu", with_pages: bool = True) -> dict[str, Any]:
    """Per-corpus validation figures, and zero-shot figures on the new project (read, never trained on), of the
    checkpoints in `folder`."""
    from ml.data.layout import pair_layouts_with_images
    from ml.data.lines import load_line_samples
    from ml.predict import Predictor
    from ml.recognition import load_recognizer

    recognizer = load_recognizer(folder / "recognizer.pt", device=device)
    pages = base_pages(data)
    held = validation_documents(pages, seed=seed)
    val_pages = [page for page in pages if page.document in held]
    by_corpus: dict[str, list[BasePage]] = defaultdict(list)
    for page in val_pages:
        by_corpus[page.corpus].append(page)
    report: dict[str, Any] = {"per_corpus": {}, "validation": {}, "cremma": {}}
    all_val = []
    for corpus, chosen in sorted(by_corpus.items()):
        samples = line_samples(chosen)
        all_val += samples
        report["per_corpus"][corpus] = {"documents": len({p.document for p in chosen}),
                                        **evaluate_recognizer(recognizer, samples)}
    report["validation"]["recognizer"] = evaluate_recognizer(recognizer, all_val)
    report["cremma"]["recognizer"] = evaluate_recognizer(recognizer, load_line_samples([new_project]))
    if with_pages and (folder / "detector.pt").is_file():
        predictor = Predictor.from_checkpoints(folder / "detector.pt", folder / "recognizer.pt", device=device)
        for corpus, chosen in sorted(by_corpus.items()):
            pairs = [(p.xml_path, p.image_path) for p in chosen]
            report["per_corpus"][corpus]["pages"] = evaluate_pages(predictor, pairs)
        report["validation"]["pages"] = evaluate_pages(predictor, [(p.xml_path, p.image_path) for p in val_pages])
        report["cremma"]["pages"] = evaluate_pages(predictor, pair_layouts_with_images(new_project))
    return report


def _inference_payload(source: Path, kind: str) -> dict[str, Any]:
    """best.pt without what only training needs, so the shipped file is small."""
    from ml.checkpoints import load_checkpoint

    payload = load_checkpoint(source, expected_kind=kind)
    for key in ("training", "optimizer", "scheduler", "scaler", "training_state"):
        payload.pop(key, None)
    return payload


def ship(out: Path, to: Path) -> int:
    """Copy out/{recognizer,detector}/best.pt into `to` with base.json and MODEL_CARD.md."""
    import torch

    from ml.checkpoints import save_checkpoint

    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    to.mkdir(parents=True, exist_ok=True)
    staged = to / ".staging"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    for kind in KINDS:
        best = out / kind / "best.pt"
        if not best.is_file():
            print(f"error: {best} is missing; run `python -m ml.base train --out {out}` first", file=sys.stderr)
            return 2
        payload = _inference_payload(best, kind)
        payload.setdefault("meta", {})["base"] = True
        save_checkpoint(payload, staged / f"{kind}.pt")
    started = time.monotonic()
    figures = evaluate_base(staged, data=Path(summary.get("data", DEFAULT_DATA)))
    card = {
        "built": {"command": f"python -m ml.base train --minutes {summary.get('minutes')} "
                             f"--device {summary.get('device')}",
                  "calls": summary.get("calls", []),
                  "minutes_spent": summary.get("minutes_spent"), "device": summary.get("device"),
                  "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                  "torch": torch.__version__, "torch_threads": summary.get("torch_threads")},
        "data": {"corpora": sorted(CREDITS), "validation_documents": summary.get("validation_documents", []),
                 "recognizer": {k: v for k, v in summary.get("recognizer", {}).items() if k.endswith("lines")},
                 "detector": {k: v for k, v in summary.get("detector", {}).items() if k.endswith("pages")}},
        "training": {"recognizer": summary.get("recognizer"), "detector": summary.get("detector")},
        "evaluation": figures,
        "evaluation_seconds": round(time.monotonic() - started, 1),
    }
    for kind in KINDS:
        payload = torch.load(staged / f"{kind}.pt", map_location="cpu", weights_only=True)
        card[kind] = {"config": payload["config"],
                      "sha256": hashlib.sha256((staged / f"{kind}.pt").read_bytes()).hexdigest(),
                      "bytes": (staged / f"{kind}.pt").stat().st_size}
        if kind == "recognizer":
            card[kind]["alphabet"] = "".join(payload["alphabet"])
    (staged / CARD_FILE).write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (staged / "MODEL_CARD.md").write_text(model_card_markdown(card), encoding="utf-8")
    for name in ("recognizer.pt", "detector.pt", CARD_FILE, "MODEL_CARD.md"):
        (staged / name).replace(to / name)
    staged.rmdir()
    print(json.dumps(figures, indent=1))
    return 0


# What was measured to choose the recipe (2-core AMD EPYC, torch 2.13 CPU). Forward and backward
# of one batch of 16 lines 640 px wide (48 px high unless said), one thread, best of 4.
RECIPE = """\
| option | ms per batch | lines/s per thread | parameters | kept? |
| --- | ---: | ---: | ---: | --- |
| CNN (16, 32, 48, 64) + 2 × BiLSTM 160, height 48 (the default) | 966 | 16.6 | 1.19 M | yes |
| same, sequence layers as 6 gated depthwise 1-D conv blocks (width 192) | 1,001 | 16.0 | 0.56 M | no: not faster |
| 8 gated conv blocks, width 256 | 1,244 | 12.9 | 1.20 M | no |
| 8 gated conv blocks, width 256, CNN (24, 48, 64, 96) | 1,746 | 9.2 | 1.27 M | no |
| BiLSTM, input height 64 | 1,660 | 9.6 | 1.20 M | no: 1.7× slower |
| bf16 autocast on the CPU (CNN part, 2 threads) | 3,336 vs 1,101 | | | no: 3× slower |
| channels-last CNN (2 threads) | 1,080 vs 1,101 | | | no: no gain |

Of the default's 966 ms, the CNN and projection take 566 and the LSTM 413: the LSTM is not
the bottleneck on this CPU, so convolutional sequence layers do not pay.

Fine-tuning the base on the first 200 lines of the CREMMA train wills for 300 steps of 16
lines (`bench/fewshot.py --sizes 200 --seeds 1 --threads 1`, two runs side by side), test
CER on 199 lines of 10 test wills (zero-shot: 37.4 %):

| fine-tuning option | test CER | minutes | kept? |
| --- | ---: | ---: | --- |
| learning rate 5e-4, warm-up 30 | 36.6 % | 2.4 | no |
| learning rate 1e-3, warm-up 30 | 36.1 % | 2.4 | yes (`FINE_TUNING`) |
| learning rate 2e-3, warm-up 30 | 36.1 % | 2.1 | no: no better |
| 1e-3, warm-up 100 | 36.4 % | 2.2 | no |
| 1e-3, no augmentation | 36.7 % | 2.0 | no |
| 1e-3, convolutional part frozen | 37.1 % | 1.7 | no (an option: `freeze_cnn`) |

One seed each: differences under a point are within noise; what the table shows is that no
rate, warm-up or freezing turns 200 lines into a large gain at this model size. Not yet
measured: `torch.compile`, augmentation strength, batch size and bucketing.

How many lines of a new hand must be typed (`bench/fewshot.py`, the defaults: 300 steps at
1e-3, 3 seeds; test CER on 199 lines of 10 test wills; "in use" applies the promotion rule on
150 lines of the val wills, as a project's first run is judged):

| lines typed | fine-tuned | in use | promoted | minutes |
| ---: | ---: | ---: | ---: | ---: |
| 0 | | 37.4 % | | |
| 25 | 43.7 % | 37.4 % | 0 of 3 | 2.4 |
| 50 | 41.4 % | 37.4 % | 0 of 3 | 2.3 |
| 100 | 39.7 % | 37.4 % | 0 of 3 | 2.6 |
| 200 | 36.1 % | 36.1 % | 3 of 3 | 2.6 |
| 400 | 36.2 % | 36.2 % | 3 of 3 | 2.5 |
| 800 | 34.2 % | 34.2 % | 3 of 3 | 2.4 |

Below 200 lines, 300 steps overfit the lines typed and read new hands worse than the base;
the promotion rule then keeps the base in use.
"""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def model_card_markdown(card: dict[str, Any]) -> str:
    figures = card["evaluation"]
    lines = ["# inkloop base models", "",
             "A line recognizer (CTC) and a line detector pre-trained on ten public corpora of modern handwriting, "
             "mostly French (16th–21st c.). Every new inkloop project starts from them (unless it opts out); its "
             "first training run fine-tunes them on the project's own lines.", "",
             "## Figures", "",
             "| corpus | held-out documents | lines | recognizer CER | pages | detector F1@0.5 | page CER |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for corpus, row in figures["per_corpus"].items():
        pages = row.get("pages", {})
        lines.append(f"| {corpus} | {row['documents']} | {row['lines']} | {_pct(row['cer'])} | "
                     f"{pages.get('pages', '—')} | "
                     f"{pages.get('f1', 0):.3f} | {_pct(pages.get('end_to_end_cer'))} |")
    val, cremma = figures["validation"], figures["cremma"]
    lines.append(f"| **all held-out** | {len(card['data']['validation_documents'])} | {val['recognizer']['lines']} | "
                 f"{_pct(val['recognizer']['cer'])} | {val.get('pages', {}).get('pages', '—')} | "
                 f"{val.get('pages', {}).get('f1', 0):.3f} | {_pct(val.get('pages', {}).get('end_to_end_cer'))} |")
    lines.append(f"| **CREMMA wills, zero-shot** | all 173 pages | {cremma['recognizer']['lines']} | "
                 f"{_pct(cremma['recognizer']['cer'])} | {cremma.get('pages', {}).get('pages', '—')} | "
                 f"{cremma.get('pages', {}).get('f1', 0):.3f} | "
                 f"{_pct(cremma.get('pages', {}).get('end_to_end_cer'))} |")
    lines += ["", "Corpora with fewer than four documents (timeus, cremma-mss-20, lectaurep-bronod, "
              "lectaurep-mariages-et-divorces) keep all of them for training and have no held-out row. The CREMMA "
              "wills (`cremma-testaments`) never go into a base model: they are the new project of every "
              "benchmark.", ""]
    built, training = card["built"], card["training"]
    recognizer = training.get("recognizer") or {}
    detector = training.get("detector") or {}
    lines += ["## How they were built", "",
              f"- Command: `{built['command']}` (then `python -m ml.base ship`); `make base-models` runs both.",
              *([f"- Built in {len(built['calls'])} sittings, resuming from the run's folder: "
                 + "; ".join(f"`{call}`" for call in built["calls"]) + "."] if len(built.get("calls", [])) > 1 else []),
              f"- Time spent (minutes, per phase): {json.dumps(built.get('minutes_spent'))}; "
              f"device {built.get('device')}, "
              f"{built.get('machine')}, torch {built.get('torch')}, {built.get('torch_threads')} threads.",
              f"- Recognizer: {recognizer.get('train_lines')} training lines "
              f"({recognizer.get('synthetic_lines')} of them "
              f"rendered in Debian's handwriting fonts), {recognizer.get('val_lines')} validation lines; "
              f"{recognizer.get('steps')} steps, {recognizer.get('epochs')} full epochs, "
              f"stopped: {recognizer.get('stopped')}, "
              f"{(recognizer.get('train_lines_per_s') or 0):.1f} lines/s.",
              f"- Detector: {detector.get('train_pages')} training pages, "
              f"{detector.get('val_pages')} validation pages; "
              f"{detector.get('steps')} steps, {detector.get('epochs')} epochs, stopped: {detector.get('stopped')}.",
              f"- Recognizer configuration: `{json.dumps(card['recognizer']['config'])}`.",
              f"- Detector configuration: `{json.dumps(card['detector']['config'].get('model'))}`.",
              f"- Alphabet ({len(card['recognizer']['alphabet'])} characters): `{card['recognizer']['alphabet']}`",
              "- Transcriptions are harmonised: superscript letters written as modifier characters (ᵉ, ʳ, …) become "
              "`^` + letter, as in CREMMA and LECTAUREP; signature lines (`¥`) are left out.", "",
              "## Recipe", "", RECIPE,
              "## Data and credits", "",
              "Trained on `htr-base`: grayscale, downscaled copies of these repositories' pages, with every coordinate "
              "rescaled accordingly (the transcriptions are unchanged). Each is credited as its licence requires:", ""]
    for corpus, (repository, title, authors, licence) in sorted(CREDITS.items()):
        lines.append(f"- **{corpus}**: *{title}*, [{repository}](https://github.com/{repository}), by {authors}; "
                     f"licence {licence}.")
    lines += ["", "Licence notes carried over from the data:", ""] + [f"- {note}" for note in LICENCE_NOTES] + [""]
    return "\n".join(lines)
