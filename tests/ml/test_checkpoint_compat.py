"""Checkpoints written before both models shared `ml.trainer` still load: for inference, as `init`
for fine-tuning and, for `last.pt`, to resume (fixtures/old_layout/README.md says how they were made)."""

import shutil
from pathlib import Path

import pytest

from ml.base_models import base_available, base_checkpoint
from ml.checkpoints import load_checkpoint
from ml.data.synthetic import render_page, sample_text_lines
from ml.detection import load_detector
from ml.detection.tiny import TINY_CONFIG
from ml.detection.train import train_detector
from ml.recognition import load_recognizer
from ml.recognition.tiny import TINY_MODEL, tiny_line_samples
from ml.recognition.train import TrainConfig, train_recognizer

OLD = Path(__file__).parent / "fixtures" / "old_layout"
FAST = TrainConfig(model=TINY_MODEL, batch_size=8, lr=1e-2, warmup_steps=2, augment=None, checkpoint_every=10**9)


@pytest.fixture(scope="module")
def pages():
    return [(image, page.lines) for image, page in (render_page(sample_text_lines(5, seed=20 + i), seed=i)
                                                    for i in range(2))]


def test_old_recognizer_checkpoints_load_for_inference():
    for name in ("recognizer_best.pt", "recognizer_last.pt"):
        recognizer = load_recognizer(OLD / name)
        assert len(recognizer.recognize([tiny_line_samples()[0].image])) == 1
    assert "temperature" in load_checkpoint(OLD / "recognizer_best.pt")["meta"]


def test_old_detector_checkpoints_load_for_inference(pages):
    for name in ("detector_best.pt", "detector_last.pt"):
        lines = load_detector(OLD / name).detect(pages[0][0])
        assert all(0.0 <= line.score <= 1.0 for line in lines)


def test_old_recognizer_fine_tunes_and_resumes(tmp_path):
    result = train_recognizer(tiny_line_samples(), tiny_line_samples(), out_dir=tmp_path / "tuned", config=FAST,
                              init=OLD / "recognizer_best.pt", epochs=1, show_progress=False)
    assert result.stopped == "completed" and result.best_path.exists()
    old = load_checkpoint(OLD / "recognizer_last.pt")["training"]["loop"]
    shutil.copy(OLD / "recognizer_last.pt", tmp_path / "last.pt")
    resumed = train_recognizer(tiny_line_samples(), tiny_line_samples(), out_dir=tmp_path, config=FAST,
                               epochs=old["epoch"] + 1, show_progress=False)
    assert resumed.epochs_completed == old["epoch"] + 1 and resumed.steps > old["step"]
    assert load_checkpoint(resumed.last_path)["training"]["loop"]["best_value"] is not None


def test_old_detector_fine_tunes_and_resumes(tmp_path, pages):
    result = train_detector(pages, pages[:1], out_dir=tmp_path / "tuned", config=TINY_CONFIG,
                            init=OLD / "detector_best.pt", epochs=1, show_progress=False)
    assert result.stopped == "completed" and "f1" in result.best_metrics
    old = load_checkpoint(OLD / "detector_last.pt")["training_state"]
    shutil.copy(OLD / "detector_last.pt", tmp_path / "last.pt")
    resumed = train_detector(pages, pages[:1], out_dir=tmp_path, config=TINY_CONFIG, epochs=old["epoch"] + 1,
                             show_progress=False)
    assert resumed.epochs_completed == old["epoch"] + 1 and resumed.steps > old["step"]
    assert [entry["epoch"] for entry in resumed.history] == list(range(1, old["epoch"] + 2))


@pytest.mark.skipif(not base_available(), reason="no base models shipped")
def test_shipped_base_models_fine_tune(tmp_path, pages):
    recognizer = train_recognizer(tiny_line_samples(), tiny_line_samples()[:1], out_dir=tmp_path / "recognizer",
                                  config=TrainConfig(batch_size=8, warmup_steps=2, augment=None, max_steps=1),
                                  init=base_checkpoint("recognizer"), show_progress=False)
    assert recognizer.stopped == "completed" and load_recognizer(recognizer.best_path)
    detector = train_detector(pages, pages[:1], out_dir=tmp_path / "detector", config=TINY_CONFIG,
                              init=base_checkpoint("detector"), epochs=1, show_progress=False)
    assert detector.stopped == "completed" and load_detector(detector.best_path)
