"""The shipped base models and the recipe that builds them (no test trains a base model)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from ml.base import base_pages, harmonise, validation_documents
from ml.base_models import KINDS, base_card, base_checkpoint
from ml.data.lines import load_page, samples_from_page
from ml.metrics import cer

REPO = Path(__file__).resolve().parents[2]
HTR_BASE = REPO.parent / "shared" / "data" / "htr-base"
CREMMA = REPO.parent / "shared" / "data" / "cremma-testaments"
# The first transcribed lines of these wills; the base has never seen any CREMMA will.
CREMMA_PAGES = ("TestamentsDePoilus_will_AD78_0002-0", "TestamentsDePoilus_will_AD78_0003-0")
# The shipped base reads these 12 lines at 37.3 % CER (47.7 % over all the wills, see the model
# card); an untrained or broken model reads nothing (100 %). Lower it as the base improves.
CER_BOUND = 0.50


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_checkpoints_load_safely_and_match_their_card(kind):
    path = base_checkpoint(kind)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    card = base_card()
    assert payload["kind"] == kind
    assert "training" not in payload and "optimizer" not in payload  # inference weights only
    assert path.stat().st_size <= 25 * 1024 * 1024
    assert card[kind]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card[kind]["config"] == payload["config"]
    if kind == "recognizer":
        assert card[kind]["alphabet"] == "".join(payload["alphabet"])


def test_the_card_credits_every_corpus_and_reports_its_figures():
    card = base_card()
    corpora = sorted(path.name for path in HTR_BASE.iterdir() if path.is_dir())
    assert card["data"]["corpora"] == corpora
    text = (base_checkpoint("recognizer").parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    for corpus in corpora:
        assert f"**{corpus}**" in text
    assert "cremma-testaments" not in " ".join(card["data"]["validation_documents"])
    for key in ("validation", "cremma"):
        assert 0 <= card["evaluation"][key]["recognizer"]["cer"] <= 1
        assert 0 <= card["evaluation"][key]["pages"]["f1"] <= 1


def test_the_base_recognizer_reads_real_cremma_lines():
    from ml.recognition import load_recognizer

    recognizer = load_recognizer(base_checkpoint("recognizer"))
    samples = []
    for stem in CREMMA_PAGES:
        image, layout = load_page(CREMMA / f"{stem}.xml", CREMMA / f"{stem}.jpg")
        samples += samples_from_page(image, layout, group=stem)[:6]
    texts = [recognition.text for recognition in recognizer.recognize([s.image for s in samples])]
    again = [recognition.text for recognition in recognizer.recognize([s.image for s in samples], batch_size=1)]
    assert texts == again  # deterministic, and independent of the batch
    assert cer(texts, [s.text for s in samples]) < CER_BOUND


def test_the_base_detector_finds_the_lines_of_a_cremma_page():
    from ml.detection import load_detector
    from ml.detection.metrics import detection_prf

    detector = load_detector(base_checkpoint("detector"))
    image, layout = load_page(CREMMA / f"{CREMMA_PAGES[0]}.xml", CREMMA / f"{CREMMA_PAGES[0]}.jpg")
    found = detector.detect(image)
    result = detection_prf([line.bbox for line in found], [line.bbox for line in layout.lines if line.text.strip()])
    assert result["f1"] > 0.5


def test_validation_holds_out_whole_documents_of_every_corpus_with_enough_of_them():
    pages = base_pages(HTR_BASE)
    held = validation_documents(pages)
    assert held == validation_documents(pages)  # the same split every time
    for corpus in {page.corpus for page in pages}:
        documents = {page.document for page in pages if page.corpus == corpus}
        chosen = documents & held
        assert (len(chosen) >= 1) == (len(documents) >= 4), corpus
        assert len(chosen) <= max(1, round(0.1 * len(documents)))
    # Voltaire's Candide is one manuscript filed under two corpora: one document, one side of the split.
    candide = {page.document for page in pages
               if "candide" in page.xml_path.name or "bnf-ms-3160" in page.xml_path.name}
    assert candide == {"htromance-modern-fr/bnf-ms-3160"}


def test_the_cremma_wills_can_never_be_base_data():
    with pytest.raises(ValueError, match="never go into a base model"):
        base_pages(CREMMA)


def test_superscripts_are_written_as_in_cremma():
    assert harmonise("Mʳ Dupont le 3ᵉ jour") == "M^r Dupont le 3^e jour"


def test_wills_copied_under_another_folder_name_are_refused_too(tmp_path):
    (tmp_path / "letters").mkdir()
    for suffix in (".xml", ".jpg"):
        source = CREMMA / f"{CREMMA_PAGES[0]}{suffix}"
        (tmp_path / "letters" / source.name).write_bytes(source.read_bytes())
    with pytest.raises(ValueError, match="never go into a base model"):
        base_pages(tmp_path)


def test_a_will_renamed_into_a_corpus_folder_is_refused_by_its_image(tmp_path):
    (tmp_path / "letters").mkdir()
    stem = CREMMA_PAGES[0]
    xml = (CREMMA / f"{stem}.xml").read_text(encoding="utf-8").replace(stem, "letter-0001")
    (tmp_path / "letters" / "letter-0001.xml").write_text(xml, encoding="utf-8")
    (tmp_path / "letters" / "letter-0001.jpg").write_bytes((CREMMA / f"{stem}.jpg").read_bytes())
    with pytest.raises(ValueError, match="never go into a base model"):
        base_pages(tmp_path)
