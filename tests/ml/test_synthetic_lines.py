"""Lines rendered in handwriting fonts for base-model training."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from ml.data.synthetic_lines import handwriting_line_samples

# Fonts every install has (matplotlib's); Debian's handwriting fonts are only needed to build base models.
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
STIX = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "STIXGeneralItalic.ttf"
CMR = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "cmr10.ttf"     # ASCII letters only


def test_lines_are_rendered_with_their_text_and_are_reproducible():
    texts = ["Je lègue à mon frère, 1915.", "le 3 août 1914"]
    first = handwriting_line_samples(texts, 6, seed=3, fonts=[DEJAVU, STIX])
    again = handwriting_line_samples(texts, 6, seed=3, fonts=[DEJAVU, STIX])
    assert len(first) == 6 and {s.text for s in first} <= set(texts)
    assert [s.image.tobytes() for s in first] == [s.image.tobytes() for s in again]
    assert all(s.image.height == 64 and s.image.width > 64 and s.group == "synthetic" for s in first)


def test_a_text_goes_only_to_a_font_that_has_all_its_characters():
    samples = handwriting_line_samples(["frère", "plain"], 40, seed=0, fonts=[DEJAVU, CMR])
    fonts_of = {text: {s.id.rsplit("-", 1)[1] for s in samples if s.text == text} for text in ("frère", "plain")}
    assert fonts_of["frère"] == {"DejaVuSans"}           # cmr10 has no è
    assert fonts_of["plain"] == {"DejaVuSans", "cmr10"}
    assert handwriting_line_samples(["frère"], 3, seed=0, fonts=[CMR]) == []  # no font for it: not drawn
