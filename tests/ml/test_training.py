import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ml.checkpoints import CheckpointError, load_checkpoint
from ml.data.layout import group_of, pair_layouts_with_images
from ml.data.lines import load_page, samples_from_page
from ml.data.splits import hold_out_groups, partition, split_of
from ml.progress import TrainingCancelled
from ml.recognition import load_recognizer
from ml.recognition.train import TrainConfig, train_recognizer
from ml.recognition.tiny import TINY_MODEL, tiny_line_samples

REPO = Path(__file__).resolve().parents[2]
FAST = TrainConfig(model=TINY_MODEL, batch_size=2, lr=1e-2, warmup_steps=2, augment=None, checkpoint_every=1,
                   callback_every=1)


def cancel_at(step: int, seen: list[int]):
    def callback(progress):
        seen.append(progress.step)
        if progress.step >= step:
            raise TrainingCancelled
    return callback


def test_short_run_on_real_pages(tmp_path, cremma_dir):
    pairs = pair_layouts_with_images(cremma_dir)
    groups = sorted({group_of(image.name) for _, image in pairs})[:3]
    samples = []
    for xml_path, image_path in pairs:
        if group_of(image_path.name) in groups:
            image, page = load_page(xml_path, image_path)
            samples += samples_from_page(image, page, group=group_of(image_path.name))
    train, val = partition(samples, lambda s: s.group, {groups[0]})
    config = TrainConfig(model=TINY_MODEL, batch_size=8, warmup_steps=2)
    result = train_recognizer(train, val, out_dir=tmp_path, config=config, epochs=1, show_progress=False)
    assert result.stopped == "completed" and result.steps >= 3
    payload = load_checkpoint(result.best_path, expected_kind="recognizer")
    measures = ("mean_logprob", "min_char_prob", "mean_entropy", "temperature_scaled")
    assert payload["meta"]["confidence_measure"] in measures
    assert payload["meta"]["temperature"] > 0
    assert 0.0 <= payload["meta"]["val_cer"] <= 1.5
    assert "training" in load_checkpoint(result.last_path)
    assert len(load_recognizer(result.best_path).recognize([val[0].image])) == 1


def test_cancel_leaves_a_resumable_last_checkpoint(tmp_path):
    seen: list[int] = []
    result = train_recognizer(tiny_line_samples(), [], out_dir=tmp_path, config=FAST, epochs=50,
                              callback=cancel_at(3, seen), show_progress=False)
    assert result.stopped == "cancelled" and result.steps == 3
    assert load_checkpoint(result.last_path)["training"]["loop"]["step"] == 3


def test_time_budget_stops_training(tmp_path):
    result = train_recognizer(tiny_line_samples(), tiny_line_samples()[:1], out_dir=tmp_path, config=FAST,
                              epochs=10**4, max_minutes=0.02, show_progress=False)
    assert result.stopped == "time_budget" and result.best_path.exists()


KILLED_TRAINER = """
import sys, time
from ml.recognition.train import TrainConfig, train_recognizer
from ml.recognition.tiny import TINY_MODEL, tiny_line_samples
config = TrainConfig(model=TINY_MODEL, batch_size=2, lr=1e-2, warmup_steps=2, augment=None, checkpoint_every=1,
                     callback_every=1)
train_recognizer(tiny_line_samples(), [], out_dir=sys.argv[1], config=config, epochs=20,
                 callback=lambda p: time.sleep(0.2), show_progress=False)
"""


def test_resume_after_sigkill_continues_from_the_saved_step(tmp_path):
    killed_dir, straight_dir = tmp_path / "killed", tmp_path / "straight"
    process = subprocess.Popen([sys.executable, "-c", KILLED_TRAINER, str(killed_dir)], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        saved_step = wait_for_saved_step(killed_dir / "last.pt", at_least=3, process=process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    saved_step = load_checkpoint(killed_dir / "last.pt")["training"]["loop"]["step"]
    assert 3 <= saved_step < 12, "the kill must land mid-training"

    resumed_steps: list[int] = []
    resumed = train_recognizer(tiny_line_samples(), [], out_dir=killed_dir, config=FAST, epochs=20,
                               callback=cancel_at(12, resumed_steps), show_progress=False)
    assert resumed_steps[0] == saved_step + 1
    assert resumed.steps == 12

    # Same batches, same optimizer state: the interrupted run ends where an uninterrupted one does.
    straight = train_recognizer(tiny_line_samples(), [], out_dir=straight_dir, config=FAST, epochs=20,
                                callback=cancel_at(12, []), show_progress=False)
    a = load_checkpoint(resumed.last_path)["state_dict"]
    b = load_checkpoint(straight.last_path)["state_dict"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)


def wait_for_saved_step(path: Path, *, at_least: int, process: subprocess.Popen, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the trainer ended before it could be killed"
        if path.exists():
            step = load_checkpoint(path)["training"]["loop"]["step"]
            if step >= at_least:
                return step
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


def test_fine_tuning_on_new_characters_grows_the_alphabet(tmp_path, tiny_recognizer_path, tiny_recognizer):
    new_lines = tiny_line_samples(["Zoé 1916 œuvre"], seed=3)
    result = train_recognizer(new_lines, [], out_dir=tmp_path, config=FAST, init=tiny_recognizer_path, epochs=1,
                              show_progress=False)
    old = tiny_recognizer.alphabet.characters
    assert result.alphabet[: len(old)] == old
    assert {"Z", "œ"} <= set(result.alphabet[len(old):])
    grown = load_recognizer(result.best_path)
    assert grown.model.config.num_classes == len(result.alphabet) + 1


class Payload:
    """Any class instance: loading it would need pickle to run code."""


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"kind": "recognizer", "meta": Payload()}, path)
    with pytest.raises(CheckpointError):
        load_recognizer(path)


def test_splits_follow_groups_never_lines():
    groups = [f"will_{i}" for i in range(40)]
    train, held = hold_out_groups(groups, 0.1, seed=0)
    assert len(held) == 4 and not train & held and train | held == set(groups)
    assert hold_out_groups(groups, 0.1, seed=0) == (train, held)
    items = [(g, n) for g in groups for n in range(3)]
    kept, taken = partition(items, lambda item: item[0], held)
    assert {g for g, _ in taken} == held and not {g for g, _ in kept} & held
    assert split_of("will_1") == split_of("will_1")
    shares = [split_of(f"g{i}") for i in range(2000)]
    assert 0.07 < shares.count("val") / 2000 < 0.13
