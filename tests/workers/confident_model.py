"""A small recognizer whose confidence tells the lines it knows from a garbled one, built in seconds.

Pre-annotation with no promoted detector finds lines with the scripted baseline, whose
boxes hug the ink; a recognizer trained on loosely cropped lines reads even familiar text
unsurely on such crops, and its confidence then ranks nothing. So this one is trained on
exactly the crops pre-annotation will cut: pages of a few known lines, the same detector
run over each page, every detected box paired with the line drawn under it.

Then, as training does for the model it keeps, it is calibrated on validation pages: the
known lines on pages it has not seen, plus one line of words it was never taught per page,
so that some validation lines are read wrongly and the stored confidence measure and
temperature are the ones that best tell those apart (a model that read every validation
line right would only get the uncalibrated default).

    path = build_confident_recognizer(tmp_dir)        # best.pt, about 25 s on one CPU thread
    image, layout = known_page(7, extra=[garbled(KNOWN_LINES[2], seed=7)])
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ml.checkpoints import load_checkpoint, save_checkpoint
from ml.data.layout import LineAnnotation, PageAnnotation
from ml.data.lines import LineSample, crop_line
from ml.data.synthetic import sample_text_lines
from ml.detection import ScriptedBaseline, match_boxes
from ml.recognition.evaluate import evaluate_arrays
from ml.recognition import CHECKPOINT_KIND, Recognizer
from ml.recognition.train import TrainConfig, train_recognizer
from ml.recognition.tiny import TINY_MODEL

KNOWN_LINES = ("le 12 mars 1915", "mon frère Louis", "à Paris, église", "quinze enfants", "je lègue ma maison",
               "signé le jour")
TRAINING_PAGES = 20          # each draws every known line once, in its own order, indent and ink
VALIDATION_PAGES = 3
EPOCHS = 60                  # fewer leave the known lines read right but not surely enough to rank
TRAINING_SEED = 1000         # page seeds; tests draw their own pages from seeds below these
VALIDATION_SEED = 5000

# One plain font: the model must learn the lines, not typography, in a few seconds.
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
PAGE_WIDTH, LINE_PITCH, FONT_SIZE = 900, 64, 32
# Lines start this far from the left edge: the scripted baseline's horizontal closing erodes ink
# within about 55 px of the page edge, and a known line cut short is rightly an unsure one.
INDENT = (80, 140)


def known_page(seed: int, *, extra: list[str] = ()) -> tuple[Image.Image, PageAnnotation]:
    """A page of every known line (and `extra` lines) in an order drawn from `seed`."""
    texts = list(KNOWN_LINES) + list(extra)
    random.Random(seed).shuffle(texts)
    return draw_page(texts, seed=seed)


def draw_page(texts: list[str], *, seed: int) -> tuple[Image.Image, PageAnnotation]:
    """`texts` on grainy paper, each line with its own indent, height jitter and ink tone; boxes hug the ink."""
    rng = np.random.default_rng(seed)
    font = ImageFont.truetype(str(FONT), FONT_SIZE, layout_engine=ImageFont.Layout.BASIC)
    height = (len(texts) + 2) * LINE_PITCH
    paper = rng.uniform(215, 240) + rng.normal(0, 4, size=(height, PAGE_WIDTH))
    page = np.clip(paper, 0, 255)
    lines = []
    for index, text in enumerate(texts):
        mask = Image.new("L", (PAGE_WIDTH, height), 0)
        origin = (int(rng.integers(*INDENT)), (index + 1) * LINE_PITCH + int(rng.integers(-4, 5)) + FONT_SIZE)
        ImageDraw.Draw(mask).text(origin, text, fill=255, font=font, anchor="ls")
        alpha = np.asarray(mask, dtype=np.float64) / 255
        page = page * (1 - alpha) + rng.uniform(20, 70) * alpha
        rows, columns = np.nonzero(alpha >= 0.2)
        box = (int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1)
        x0, y0, x1, y1 = box
        lines.append(LineAnnotation(bbox=box, text=text, polygon=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
                                    id=f"line_{index + 1}"))
    image = Image.fromarray(page.astype(np.uint8))
    return image, PageAnnotation(image_filename=f"known_{seed}.png", width=PAGE_WIDTH, height=height, lines=lines)


def garbled(text: str, *, seed: int) -> str:
    """The same characters in a shuffled order: the same ink, but no line the model was taught."""
    characters = list(text)
    random.Random(seed).shuffle(characters)
    return "".join(characters)


def detected_samples(image: Image.Image, layout: PageAnnotation, *, group: str) -> list[LineSample]:
    """The crops pre-annotation will read, each paired with the text drawn in it (unmatched boxes dropped)."""
    detected = ScriptedBaseline().detect(image)
    drawn = layout.lines
    gray = image.convert("L")
    pairs = match_boxes([tuple(line.bbox) for line in detected], [tuple(line.bbox) for line in drawn])
    return [LineSample(crop_line(gray, detected[d].bbox, detected[d].polygon), drawn[t].text, group=group,
                       id=f"{group}-{t}") for d, t in pairs]


def training_samples() -> list[LineSample]:
    return [sample for page in range(TRAINING_PAGES)
            for sample in detected_samples(*known_page(TRAINING_SEED + page), group=f"train-{page}")]


def validation_samples() -> list[LineSample]:
    """Known lines on unseen pages, plus one untaught line per page for the calibration to learn from."""
    samples = []
    for page in range(VALIDATION_PAGES):
        seed = VALIDATION_SEED + page
        untaught = [" ".join(sample_text_lines(1, seed=seed)[0].split()[:3])]
        samples += detected_samples(*known_page(seed, extra=untaught), group=f"val-{page}")
    return samples


def build_confident_recognizer(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Train on detector crops of the known lines, calibrate on the validation pages; returns `best.pt`."""
    config = TrainConfig(model=TINY_MODEL, batch_size=8, lr=1e-2, warmup_steps=10, patience=EPOCHS, augment=None,
                         checkpoint_every=10**9)
    threads = torch.get_num_threads()
    # One thread: layers this small gain nothing from more, and the weights are the same on every run.
    torch.set_num_threads(1)
    try:
        # Without validation lines, best.pt is the final model. Validated during training, best.pt would
        # be the epoch with the fewest errors on the untaught lines, which says nothing about the known
        # ones and is usually an early, unsure model.
        result = train_recognizer(training_samples(), [], out_dir=out_dir, config=config, epochs=EPOCHS, seed=seed,
                                  resume=False, show_progress=False)
        calibrate_checkpoint(result.best_path, validation_samples())
    finally:
        torch.set_num_threads(threads)
    return result.best_path


def calibrate_checkpoint(path: Path, lines: list[LineSample]) -> None:
    """Store the validation figures, confidence measure and temperature in the checkpoint's metadata,
    under the keys training writes when it keeps a best model."""
    payload = load_checkpoint(path, expected_kind=CHECKPOINT_KIND)
    recognizer = Recognizer.load(path)
    evaluation = evaluate_arrays(recognizer, [recognizer.prepare(line.image) for line in lines],
                                 [line.text for line in lines])
    payload["meta"].update(val_cer=evaluation.cer, val_wer=evaluation.wer, val_lines=len(lines),
                           confidence_measure=evaluation.calibration.measure,
                           temperature=evaluation.calibration.temperature,
                           calibration=evaluation.calibration.as_dict())
    save_checkpoint(payload, path)
