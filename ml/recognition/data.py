"""Lines prepared once, then served in width-bucketed, optionally augmented batches.

Every crop is resized and normalised a single time and kept in memory (a few MB for
thousands of lines), so an epoch costs only the model. Batch order and augmentation
derive from (seed, epoch, batch number) alone: a resumed run sees the same batches
as an uninterrupted one, with no random-generator state to save.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ml.data.alphabet import Alphabet
from ml.data.augment import AugmentConfig, augment_line
from ml.data.lines import LineSample
from ml.data.preprocess import normalize_line, to_tensor_batch
from ml.recognition.model import WIDTH_REDUCTION


@dataclass
class EncodedLine:
    array: np.ndarray        # (H, W) uint8, ink high
    target: list[int]        # class indices, blank-free
    text: str


@dataclass
class Batch:
    images: torch.Tensor           # (N, 1, H, W_max)
    widths: torch.Tensor           # (N,)
    targets: torch.Tensor          # (ΣL,) concatenated labels, as CTCLoss takes them
    target_lengths: torch.Tensor   # (N,)


def frames_needed(target: Sequence[int]) -> int:
    """CTC needs a frame per label plus one blank between each pair of equal neighbours."""
    repeats = sum(1 for a, b in zip(target, target[1:]) if a == b)
    return len(target) + repeats


def min_width(target: Sequence[int]) -> int:
    return frames_needed(target) * WIDTH_REDUCTION


def encode_lines(samples: Sequence[LineSample], alphabet: Alphabet, height: int,
                 horizontal_scale: float = 1.0) -> list[EncodedLine]:
    """Normalise every crop once. Lines with no known character are skipped; lines too
    narrow for their text are stretched so CTC can align them."""
    encoded = []
    for sample in samples:
        target = alphabet.encode(sample.text)
        if not target:
            continue
        array = normalize_line(sample.image, height, horizontal_scale)
        needed = min_width(target)
        if array.shape[1] < needed:
            array = np.asarray(Image.fromarray(array).resize((needed, height), Image.Resampling.BILINEAR))
        encoded.append(EncodedLine(array, target, alphabet.decode(target)))
    return encoded


def epoch_batches(widths: Sequence[int], batch_size: int, *, seed: int, epoch: int,
                  max_columns: int | None = None) -> list[list[int]]:
    """Indices grouped with lines of similar width (jittered so batches change each
    epoch), batches in random order. Deterministic in (seed, epoch).

    A batch holds at most `batch_size` lines and, when given, at most `max_columns`
    padded columns (lines × widest line), so a few very long lines cannot blow up memory.
    """
    rng = np.random.default_rng([seed, epoch])
    jittered = np.asarray(widths, dtype=np.float64) * rng.uniform(0.85, 1.15, len(widths))
    order = np.argsort(jittered, kind="stable").tolist()
    batches: list[list[int]] = [[]]
    widest = 0
    for index in order:
        widest_with = max(widest, widths[index])
        too_wide = max_columns is not None and (len(batches[-1]) + 1) * widest_with > max_columns
        full = len(batches[-1]) >= batch_size or too_wide
        if full and batches[-1]:
            batches.append([])
            widest_with = widths[index]
        batches[-1].append(index)
        widest = widest_with
    return [batches[i] for i in rng.permutation(len(batches)).tolist()]


def make_batch(lines: Sequence[EncodedLine], indices: Sequence[int], *, augment: AugmentConfig | None,
               rng: np.random.Generator) -> Batch:
    arrays = []
    for i in indices:
        array = lines[i].array
        if augment is not None:
            distorted = augment_line(array, rng, augment)
            # A squeezed line may no longer have a frame per character; keep it as it was.
            array = distorted if distorted.shape[1] >= min_width(lines[i].target) else array
        arrays.append(array)
    images, widths = to_tensor_batch(arrays)
    targets = torch.tensor([label for i in indices for label in lines[i].target], dtype=torch.int64)
    lengths = torch.tensor([len(lines[i].target) for i in indices], dtype=torch.int64)
    return Batch(images, widths, targets, lengths)
