"""Transcribed pages as a labelling simulation sees them: a pool an oracle can reveal,
and validation and test lines from writers the pool never contains.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ml.data.layout import group_of, pair_layouts_with_images
from ml.data.lines import LineSample, load_page, samples_from_page
from ml.data.splits import hold_out_groups, partition

GroupRule = Callable[[str], str]


@dataclass
class LabelPool:
    pool: list[LineSample]     # lines whose transcription the oracle reveals on demand
    val: list[LineSample]      # held-out writers: checkpoint choice and the confidence temperature
    test: list[LineSample]     # other held-out writers: the CER every curve is drawn from


def group_rule(pattern: str | None) -> GroupRule:
    """How an image file name maps to its writer or document.

    None: the default rule (the file stem up to a trailing "-N"). Otherwise a regular
    expression searched in the file stem: its first group, or the whole match when it
    has none; a stem it does not match is its own group.
    """
    if pattern is None:
        return group_of
    compiled = re.compile(pattern)

    def rule(filename: str) -> str:
        stem = Path(filename).stem
        match = compiled.search(stem)
        if match is None:
            return stem
        return match.group(1) if compiled.groups else match.group(0)

    return rule


def load_lines(folder: str | os.PathLike, *, group: GroupRule = group_of, height: int | None = None,
               pages: int | None = None) -> list[LineSample]:
    """Every transcribed line of an ALTO/PAGE folder, with ids unique across pages.

    With `height`, crops are shrunk once to that height (aspect kept), so the many
    resizes of a simulation work on small images. `pages` keeps the first pages only.
    """
    lines: list[LineSample] = []
    for xml_path, image_path in pair_layouts_with_images(folder)[:pages]:
        image, page = load_page(xml_path, image_path)
        for number, sample in enumerate(samples_from_page(image, page, group=group(image_path.name))):
            # Line ids in XML files repeat across pages ("line_1"); the file stem makes them unique.
            lines.append(dataclasses.replace(sample, id=f"{xml_path.stem}#{number}",
                                             image=_at_height(sample.image, height)))
    return lines


def _at_height(image: Image.Image, height: int | None) -> Image.Image:
    if height is None or image.height <= height:
        return image
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def split_by_writer(lines: Sequence[LineSample], *, val_fraction: float, test_fraction: float,
                    seed: int = 0) -> LabelPool:
    """Pool, validation and test lines, never sharing a group (writer or document)."""
    remaining, test_groups = hold_out_groups([line.group for line in lines], test_fraction, seed=seed)
    share = val_fraction * len(set(line.group for line in lines)) / len(remaining)
    _, val_groups = hold_out_groups(remaining, share, seed=seed)
    rest, test = partition(list(lines), lambda line: line.group, test_groups)
    pool, val = partition(rest, lambda line: line.group, val_groups)
    return LabelPool(pool, val, test)


def subsample(lines: Sequence[LineSample], count: int | None, *, seed: int = 0) -> list[LineSample]:
    """At most `count` lines chosen at random, kept in their order; all of them for None."""
    if count is None or count >= len(lines):
        return list(lines)
    kept = np.sort(np.random.default_rng(seed).choice(len(lines), size=count, replace=False))
    return [lines[i] for i in kept.tolist()]
