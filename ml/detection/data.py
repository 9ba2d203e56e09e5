"""Pages with their annotated lines, read from folders of ALTO/PAGE files and images.

A page sample is `(PIL image, lines)`: lines are anything `as_line_geometry`
accepts, so the web worker can build samples from its database rows and the
command line from a folder. Every line of such a page is annotated, so whatever is
not a line is background. A page people have only partly checked is a `PartialPage`:
it teaches only where it is known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from ml.data.layout import group_of, pair_layouts_with_images, read_layout
from ml.data.shared import NEW_PROJECT
from ml.data.splits import split_of

PageSample = tuple[Image.Image, Sequence[Any]]


@dataclass
class PartialPage:
    """A page only partly checked by people: its loss counts only where the truth is known.

    `lines` are the lines people verified (drawn, moved or read: they are lines). `not_lines`
    are boxes people marked as holding no text line (a stamp, a border, a signature): known
    background. `unchecked` are boxes of lines nobody has checked yet: whatever is there,
    the page does not say, so training never calls it background. Around each verified line
    the page is known too (a margin of the line's height: where its neighbours are not).
    """

    image: Image.Image
    lines: Sequence[Any]
    not_lines: Sequence[Any] = ()
    unchecked: Sequence[Any] = ()


TrainingPage = PageSample | PartialPage


@dataclass
class FolderPage:
    image_path: Path
    lines: list[Any]        # LineAnnotation objects
    group: str              # the will or writer: the unit of the train/val/test split

    def sample(self) -> PageSample:
        with Image.open(self.image_path) as image:
            return image.convert("L"), self.lines


def read_folder(folder: str | os.PathLike) -> list[FolderPage]:
    """Every (layout, image) pair of the folder, sorted by layout file name."""
    pages = []
    for xml_path, image_path in pair_layouts_with_images(folder):
        layout = read_layout(xml_path)
        pages.append(FolderPage(image_path, layout.lines, group_of(image_path.name)))
    return pages


def split_pages(pages: Sequence[FolderPage]) -> dict[str, list[FolderPage]]:
    """Pages by 'train'/'val'/'test', from a stable hash of their group (`ml.data.splits.split_of`)."""
    splits: dict[str, list[FolderPage]] = {"train": [], "val": [], "test": []}
    for page in pages:
        splits[split_of(page.group)].append(page)
    return splits


def default_data_dir() -> Path:
    """Where the CREMMA pages lie beside a clone (the benchmarks' new project)."""
    return NEW_PROJECT
