"""Characters ↔ CTC class indices. Class 0 is the blank; characters start at 1."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence


def normalize_text(text: str) -> str:
    """NFC, so 'é' typed as e + combining accent and 'é' precomposed are one character."""
    return unicodedata.normalize("NFC", text)


class Alphabet:
    BLANK = 0

    def __init__(self, characters: Sequence[str]) -> None:
        if len(set(characters)) != len(characters):
            raise ValueError("alphabet characters must be unique")
        self.characters: list[str] = list(characters)
        self._index = {char: i + 1 for i, char in enumerate(self.characters)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Alphabet":
        return cls(sorted({char for text in texts for char in normalize_text(text)}))

    def extended(self, texts: Iterable[str]) -> "Alphabet":
        """This alphabet plus unseen characters appended at the end: old indices never move."""
        seen = set(self.characters)
        new = sorted({char for text in texts for char in normalize_text(text)} - seen)
        return Alphabet(self.characters + new)

    @property
    def num_classes(self) -> int:
        return len(self.characters) + 1

    def __len__(self) -> int:
        return len(self.characters)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def encode(self, text: str) -> list[int]:
        """Unknown characters are dropped: a model cannot be asked to emit them."""
        return [self._index[char] for char in normalize_text(text) if char in self._index]

    def decode(self, indices: Iterable[int]) -> str:
        return "".join(self.characters[i - 1] for i in indices if i != self.BLANK)

    def char(self, index: int) -> str:
        return self.characters[index - 1]
