"""Train/val/test splits by document or writer group, never by line or page.

Lines of one writer share a hand; letting them fall on both sides of a split makes
validation figures optimistic. A group's split depends only on its name, so it stays
fixed as pages are added.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def split_of(group: str, *, val_fraction: float = 0.1, test_fraction: float = 0.1, salt: str = "") -> str:
    """'train', 'val' or 'test' from a stable hash of the group name."""
    digest = hashlib.sha256(f"{salt}{group}".encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64          # uniform in [0, 1)
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction:
        return "val"
    return "train"


def hold_out_groups(groups: Iterable[str], fraction: float, *, seed: int = 0) -> tuple[set[str], set[str]]:
    """Exactly round(fraction × #groups) groups (at least one) for validation; the rest train."""
    ordered = sorted(set(groups))
    if len(ordered) < 2:
        raise ValueError("need at least two groups to hold one out")
    count = min(len(ordered) - 1, max(1, round(fraction * len(ordered))))
    held = set(random.Random(seed).sample(ordered, count))
    return set(ordered) - held, held


def partition(items: Sequence[T], group_of: Callable[[T], str], held: set[str]) -> tuple[list[T], list[T]]:
    """(items whose group is not held, items whose group is held), order kept."""
    kept = [item for item in items if group_of(item) not in held]
    taken = [item for item in items if group_of(item) in held]
    return kept, taken
