"""The scripted baseline and the learned detector on a few real CREMMA pages.

One tiny detector is trained per module (a few seconds) and shared by the
tests that need a checkpoint.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.checkpoints import load_checkpoint
from ml.detection import ScriptedBaseline, export_detector, load_detector, load_exported_detector
from ml.detection.data import default_data_dir, read_folder, split_pages
from ml.detection.geometry import as_line_geometry, sort_reading_order
from ml.detection.metrics import detection_prf, sum_prf
from ml.detection.tiny import TINY_CONFIG, build_tiny_detector
from ml.train import train_detector_cli as train_main
from ml.detection.train import train_detector
from ml.progress import Progress, TrainingCancelled

DATA = default_data_dir()
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"CREMMA pages not found at {DATA}")


@pytest.fixture(scope="module")
def splits():
    return split_pages(read_folder(DATA))


@pytest.fixture(scope="module")
def train_samples(splits):
    return [page.sample() for page in splits["train"][:4]]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, train_samples) -> Path:
    out = tmp_path_factory.mktemp("tiny-detector")
    build_tiny_detector(out, train_samples, epochs=2)
    return out


def test_baseline_finds_most_lines_on_real_pages(splits):
    baseline = ScriptedBaseline()
    results = []
    for page in splits["val"][:4]:
        image, lines = page.sample()
        found = baseline.detect(image)
        results.append(detection_prf([line.bbox for line in found], [as_line_geometry(line).bbox for line in lines]))
    # The baseline scores F1 ~0.45 over the val wills; 0.3 catches a broken binarisation or scaling.
    assert sum_prf(results)["f1"] > 0.3


def test_training_writes_checkpoints_that_load_with_weights_only(tiny_run):
    for name in ("best.pt", "last.pt"):
        payload = torch.load(tiny_run / name, map_location="cpu", weights_only=True)
        assert payload["kind"] == "detector"
        assert payload["config"]["model"]["input_long_side"] == TINY_CONFIG.model.input_long_side
        assert "f1" in payload["meta"]["val"]
    last = load_checkpoint(tiny_run / "last.pt", expected_kind="detector")["training"]
    assert last["loop"]["epoch"] == 2 and last["loop"]["step"] > 0
    assert "state" in last["optimizer"]


def test_resume_continues_from_last_checkpoint(tiny_run, tmp_path, train_samples):
    shutil.copytree(tiny_run, tmp_path, dirs_exist_ok=True)
    before = load_checkpoint(tmp_path / "last.pt")["training"]["loop"]
    result = train_detector(train_samples, train_samples[:2], out_dir=tmp_path, config=TINY_CONFIG, epochs=3,
                            show_progress=False)
    assert result.epochs_completed == 3 and result.stopped == "completed"
    assert result.steps == before["step"] + before["step"] // before["epoch"]
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]


def test_cancelling_from_the_callback_stops_cleanly_and_leaves_last(tmp_path, train_samples):
    seen: list[Progress] = []

    def cancel_at_once(progress: Progress) -> None:
        seen.append(progress)
        raise TrainingCancelled

    config = TINY_CONFIG
    config = type(config)(model=config.model, postprocess=config.postprocess,
                          train=type(config.train)(**{**vars(config.train), "progress_every": 1}))
    result = train_detector(train_samples, train_samples[:1], out_dir=tmp_path, config=config, epochs=5,
                            callback=cancel_at_once, show_progress=False)
    assert result.cancelled and len(seen) == 1 and seen[0].step == 1
    assert load_checkpoint(tmp_path / "last.pt")["training"]["loop"]["step"] == 1
    assert (tmp_path / "best.pt").exists()


def test_detect_returns_boxes_inside_the_image_in_reading_order(tiny_run, train_samples):
    detector = load_detector((tiny_run / "best.pt").read_bytes())
    image = train_samples[0][0]
    lines = detector.detect(image)
    assert lines, "even a tiny detector marks some lines on a training page"
    for line in lines:
        x0, y0, x1, y1 = line.bbox
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
        assert 0.0 <= line.score <= 1.0 and len(line.polygon) >= 4
    boxes = [line.bbox for line in lines]
    assert sort_reading_order(boxes) == list(range(len(boxes)))


def test_torchscript_export_gives_the_same_lines(tiny_run, tmp_path, train_samples):
    exported_path = export_detector(tiny_run / "best.pt", tmp_path / "detector.ts")
    eager = load_detector(tiny_run / "best.pt")
    exported = load_exported_detector(exported_path)
    image = train_samples[1][0]
    eager_map, _ = eager.probability_map(image)
    exported_map, _ = exported.probability_map(image)
    np.testing.assert_allclose(eager_map, exported_map, atol=1e-5)
    assert [line.bbox for line in eager.detect(image)] == [line.bbox for line in exported.detect(image)]


def test_command_line_trains_on_a_folder(tmp_path, splits):
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in splits["train"][:2] + splits["val"][:1]:
        for path in (page.image_path, page.image_path.with_suffix(".xml")):
            os.symlink(path, folder / path.name)
    code = train_main(["--data", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1",
                       "--input-long-side", "256", "--seed", "3"])
    assert code == 0
    assert load_checkpoint(tmp_path / "run" / "best.pt", expected_kind="detector")["meta"]["seed"] == 3
