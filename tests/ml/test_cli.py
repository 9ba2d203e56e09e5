import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.data.layout import write_alto
from ml.data.synthetic import render_page, sample_text_lines
from ml.metrics import cer
from ml.recognition.tiny import TINY_TEXTS

REPO = Path(__file__).resolve().parents[2]


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def page_folder(tmp_path_factory) -> Path:
    """Two synthetic pages of two 'wills', as ALTO + PNG, like an export from eScriptorium."""
    folder = tmp_path_factory.mktemp("pages")
    for number, name in enumerate(["will_a-0", "will_b-0"]):
        image, page = render_page(sample_text_lines(4, seed=number), seed=number)
        page.image_filename = f"{name}.png"
        image.save(folder / page.image_filename)
        (folder / f"{name}.xml").write_bytes(write_alto(page))
    return folder


def test_recognize_prints_one_object_per_line_image(tmp_path, tiny_recognizer_path, tiny_lines):
    paths = []
    for i, line in enumerate(tiny_lines[:2]):
        paths.append(str(tmp_path / f"line{i}.png"))
        line.image.save(paths[-1])
    result = run_module("ml.recognize", "--recognizer", str(tiny_recognizer_path), *paths)
    assert result.returncode == 0, result.stderr
    objects = json_lines(result.stdout)
    assert cer([o["text"] for o in objects], TINY_TEXTS[:2]) < 0.2
    assert all(len(o["char_confidences"]) == len(o["text"]) and 0 <= o["confidence"] <= 1 for o in objects)


def test_predict_prints_one_object_per_page(tiny_checkpoints, page_folder):
    pages = sorted(str(p) for p in page_folder.glob("*.png"))
    result = run_module("ml.predict", "--detector", str(tiny_checkpoints["detector"]),
                        "--recognizer", str(tiny_checkpoints["recognizer"]), *pages)
    assert result.returncode == 0, result.stderr
    objects = json_lines(result.stdout)
    assert [o["image"] for o in objects] == pages
    for page in objects:
        for line in page["lines"]:
            assert {"bbox", "polygon", "text", "confidence", "char_confidences"} <= set(line)


def test_evaluate_prints_rates(tiny_checkpoints, page_folder):
    result = run_module("ml.evaluate", "--recognizer", str(tiny_checkpoints["recognizer"]),
                        "--detector", str(tiny_checkpoints["detector"]), "--data", str(page_folder))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lines"] == 8 and 0 <= report["cer"] and 0 <= report["wer"]
    assert {"f1", "precision", "recall"} <= set(report["detection"]) and report["end_to_end_cer"] >= 0


def test_train_recognizer_writes_checkpoints(tmp_path, page_folder):
    out = tmp_path / "run"
    result = run_module("ml.train", "recognizer", "--data", str(page_folder), "--out", str(out), "--epochs", "1",
                        "--height", "32", "--val-fraction", "0.5")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert Path(report["best"]).exists() and (out / "last.pt").exists() and report["epochs"] == 1


def test_train_without_a_kind_is_a_usage_error():
    assert run_module("ml.train").returncode == 2


def test_export_writes_torchscript(tmp_path, tiny_recognizer_path):
    out = tmp_path / "r.ts"
    result = run_module("ml.export", "--recognizer", str(tiny_recognizer_path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists()
