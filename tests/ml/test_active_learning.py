"""Active learning: the strategies pick what they promise, and the benchmark runs end to end."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ml.active_learning.embeddings import classifier_inputs, mean_over_frames
from ml.active_learning.pool import group_rule, split_by_writer
from ml.active_learning.report import (
    CurvePoint, area_under_curve, forecast_backtest, format_forecast_checks, format_summary, labels_to_reach, summarize,
)
from ml.active_learning.scoring import score_lines
from ml.active_learning.simulation import SimulationConfig, exact_steps, pick
from ml.forecast import CurveFit
from ml.recognition.train import TrainConfig
from ml.active_learning.strategies import (
    MEASURE_BY_NAME, CandidateScores, get_strategy, k_center_greedy, least_confidence, random_batch, strategy_names,
    uncertain_k_center,
)
from ml.recognition.confidence import MEASURES
from ml.data.alphabet import Alphabet
from ml.data.lines import LineSample
from ml.recognition.model import LineRecognizer
from ml.recognition import Recognizer
from ml.recognition.tiny import TINY_MODEL, TINY_TEXTS, tiny_line_samples

REPO = Path(__file__).resolve().parents[2]
IDS = [f"line-{i}" for i in range(10)]


def scores_of(confidence: list[float], embeddings: np.ndarray | None = None) -> CandidateScores:
    return CandidateScores({measure: np.asarray(confidence) for measure in MEASURES}, embeddings)


# ----------------------------------------------------------------------------- strategies


def test_random_is_seeded_and_draws_without_replacement():
    first = random_batch(IDS, None, 5, np.random.default_rng(3))
    assert first == random_batch(IDS, None, 5, np.random.default_rng(3))
    assert first != random_batch(IDS, None, 5, np.random.default_rng(4))
    assert len(set(first)) == 5 and set(first) <= set(IDS)
    assert sorted(random_batch(IDS, None, 50, np.random.default_rng(0))) == sorted(IDS)


def test_least_confidence_picks_exactly_the_lowest_scored_least_first():
    confidence = [0.9, 0.2, 0.8, 0.05, 0.6, 0.3, 0.95, 0.1, 0.7, 0.4]
    picked = least_confidence(IDS, scores_of(confidence), 3, np.random.default_rng(0), measure="mean_logprob")
    assert picked == ["line-3", "line-7", "line-1"]


def test_least_confidence_reads_the_measure_it_is_given():
    scores = CandidateScores({measure: np.linspace(0, 1, 10) for measure in MEASURES}, None)
    scores.measures["mean_entropy"] = np.linspace(1, 0, 10)
    assert least_confidence(IDS, scores, 2, np.random.default_rng(0), measure="mean_entropy") == ["line-9", "line-8"]
    assert get_strategy("least_calibrated")(IDS, scores, 1, np.random.default_rng(0)) == ["line-0"]


def test_ties_are_broken_at_random_not_by_pool_order():
    tied = scores_of([0.0] * 10)
    picks = {tuple(least_confidence(IDS, tied, 3, np.random.default_rng(seed), measure="mean_logprob"))
             for seed in range(5)}
    assert len(picks) > 1


def test_k_center_takes_one_point_per_cluster():
    rng = np.random.default_rng(0)
    directions = np.eye(3) * 10
    points = np.concatenate([direction + rng.normal(0, 0.1, (5, 3)) for direction in directions])
    chosen = k_center_greedy(points, 3)
    assert sorted(index // 5 for index in chosen) == [0, 1, 2]


def test_k_center_avoids_what_is_already_labelled():
    points = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    chosen = k_center_greedy(points, 2, centers=np.array([[1.0, 0.05]]))
    assert sorted(chosen) == [2, 3]


def test_diverse_strategy_spreads_its_batch_over_the_uncertain_lines_only():
    # Lines 0-3: least confident, near-duplicates. 4-7: a little more confident, another look.
    # 8-9: confident and far away from everything: diversity alone would take them.
    embeddings = np.array([[1, 0, 0]] * 4 + [[0, 1, 0]] * 4 + [[0, 0, 1]] * 2, dtype=float)
    embeddings += np.random.default_rng(0).normal(0, 0.01, embeddings.shape)
    confidence = [0.1, 0.11, 0.12, 0.13, 0.3, 0.31, 0.32, 0.33, 0.9, 0.95]
    scores = scores_of(confidence, embeddings)
    assert least_confidence(IDS, scores, 2, np.random.default_rng(0), measure="mean_logprob") == ["line-0", "line-1"]
    picked = uncertain_k_center(IDS, scores, 2, np.random.default_rng(0), measure="mean_logprob", shortlist_factor=4)
    assert picked[0] == "line-0"                                  # the least confident line starts the walk
    assert picked[1] in {"line-4", "line-5", "line-6", "line-7"}  # then the farthest uncertain one, not line 8/9


def test_strategy_names_resolve_and_unknown_names_are_refused():
    assert strategy_names()[0] == "random"
    # a least-confidence strategy per measure of the ML core
    assert set(MEASURE_BY_NAME.values()) == set(MEASURES)
    for name in strategy_names():
        assert callable(get_strategy(name))
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("least_loudness")


# ------------------------------------------------------------------- embeddings and scoring


def test_mean_over_frames_ignores_padding():
    features = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_over_frames(features, torch.tensor([2])).tolist() == [[2.0, 3.0]]


@pytest.fixture
def untrained_recognizer() -> Recognizer:
    # Scoring does not care how good the model is; an untrained one is built in milliseconds.
    torch.manual_seed(0)
    alphabet = Alphabet.from_texts(TINY_TEXTS)
    return Recognizer(LineRecognizer(dataclasses.replace(TINY_MODEL, num_classes=alphabet.num_classes)), alphabet)


def test_scoring_gives_every_measure_and_batch_independent_embeddings(untrained_recognizer):
    recognizer = untrained_recognizer
    images = [line.image for line in tiny_line_samples()]
    arrays = [recognizer.prepare(image) for image in images]
    together = score_lines(recognizer, arrays, batch_size=4)
    alone = score_lines(recognizer, arrays[:1], batch_size=1)
    assert together.embeddings.shape == (len(arrays), recognizer.model.classifier.in_features)
    # Not bit-identical: the CNN's padding reaches a line's last columns. Averaging the
    # padding frames in would move the embedding far more than this.
    np.testing.assert_allclose(together.embeddings[0], alone.embeddings[0], atol=1e-2)
    for measure in MEASURES:
        assert together.measures[measure].shape == (len(arrays),)
        assert np.all((together.measures[measure] >= 0) & (together.measures[measure] <= 1))
    assert together.predictions == [r.text for r in recognizer.recognize(images)]
    with classifier_inputs(recognizer.model) as captured:
        pass
    recognizer.line_logits(arrays[:1])
    assert captured == []                                         # the hook is gone after the block


# ------------------------------------------------------------------- simulation helpers


def test_exact_steps_gives_equal_compute_whatever_the_labelled_set():
    tiny_lines = tiny_line_samples()
    batch = exact_steps(tiny_lines, steps=5, batch_size=3, rng=np.random.default_rng(0))
    assert len(batch) == 15
    counts = [sum(line is sample for line in batch) for sample in tiny_lines]
    assert max(counts) - min(counts) <= 1                         # whole passes first: no line favoured


def test_split_keeps_every_writer_on_one_side():
    image = tiny_line_samples()[0].image
    lines = [LineSample(image, "texte", group=f"will_{i % 20}", id=f"l{i}") for i in range(200)]
    data = split_by_writer(lines, val_fraction=0.1, test_fraction=0.15)
    sides = [{line.group for line in side} for side in (data.pool, data.val, data.test)]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sum(map(len, (data.pool, data.val, data.test))) == 200
    assert len(sides[2]) == 3 and len(sides[1]) == 2                 # 15 % and 10 % of 20 writers


def test_group_rule_default_and_regex():
    assert group_rule(None)("TestamentsDePoilus_will_AD78_0003-1.jpg") == "TestamentsDePoilus_will_AD78_0003"
    assert group_rule(r"^(\w+?)_p\d+")("register12_p034.tif") == "register12"
    assert group_rule(r"^[a-z]+")("book_9.png") == "book"
    assert group_rule(r"^nomatch")("page.png") == "page"


# ----------------------------------------------------------------------------- report


def test_labels_to_reach_interpolates_between_rounds():
    labels, cer = np.array([100, 200, 300]), np.array([0.8, 0.6, 0.4])
    assert labels_to_reach(labels, cer, 0.5) == pytest.approx(250)
    assert labels_to_reach(labels, cer, 0.9) == 100
    assert labels_to_reach(labels, cer, 0.3) is None
    # A dip below the target that does not last does not count.
    reached = labels_to_reach(np.array([100, 200, 300, 400]), np.array([0.8, 0.5, 0.7, 0.4]), 0.6)
    assert reached == pytest.approx(100 * (3 + 1 / 3))
    assert area_under_curve(labels, cer) == pytest.approx(0.6)


def test_summary_counts_labels_against_the_control():
    points = []
    for seed in range(2):
        for round_number, (random_cer, smart_cer) in enumerate([(0.8, 0.8), (0.6, 0.5), (0.5, 0.4)]):
            lines = 100 * (round_number + 1)
            points.append(CurvePoint("random", seed, round_number, lines, 30 * lines, random_cer))
            points.append(CurvePoint("least_mean_logprob", seed, round_number, lines, 45 * lines, smart_cer))
    rows = {row.strategy: row for row in summarize(points)}
    assert rows["random"].lines_ratio == pytest.approx(1.0)
    assert rows["least_mean_logprob"].lines_to_target == pytest.approx(200)
    assert rows["least_mean_logprob"].lines_ratio == pytest.approx(200 / 300)
    # Its lines are longer: in characters it needs as much as random does.
    assert rows["least_mean_logprob"].chars_ratio == pytest.approx(1.0)
    assert "least_mean_logprob" in format_summary(list(rows.values()))


def test_a_character_budget_takes_the_strategys_lines_in_its_order_until_the_characters_are_spent():
    by_id = {line_id: LineSample(image=None, text="x" * (10 * (i + 1)), id=line_id) for i, line_id in enumerate(IDS)}
    config = SimulationConfig(TrainConfig(), batch_lines=2, batch_chars=100)
    confidence = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 0.95]
    least = get_strategy("least_mean_logprob")
    picked = pick(least, IDS, scores_of(confidence), config, np.random.default_rng(0), by_id)
    # least sure first: line-1 (20 chars), line-3 (40), line-5 (60): 120 ≥ 100
    assert picked == ["line-1", "line-3", "line-5"]
    lines_budget = dataclasses.replace(config, batch_chars=None)
    by_lines = pick(least, IDS, scores_of(confidence), lines_budget, np.random.default_rng(0), by_id)
    assert by_lines == ["line-1", "line-3"]
    randomly = pick(random_batch, IDS, None, config, np.random.default_rng(0), by_id)
    spent = [len(by_id[i].text) for i in randomly]
    assert sum(spent) >= 100 and sum(spent[:-1]) < 100


def test_the_forecast_backtest_fits_each_runs_first_half_and_reads_its_second():
    truth = CurveFit(floor=0.1, scale=0.5, rate=0.5)
    points = [CurvePoint("random", seed, r, 50 * (r + 1), 2000 * (r + 1), float(truth.cer(50 * (r + 1))))
              for seed in (0, 1) for r in range(7)]
    points += [CurvePoint("short", 0, r, 50 * (r + 1), 0, 0.5) for r in range(4)]       # too few rounds: skipped
    checks = forecast_backtest(points, val_lines=300)
    assert [(c.strategy, c.seed, c.points_used, c.final_lines) for c in checks] == [
        ("random", 0, 4, 350), ("random", 1, 4, 350)]
    assert all(c.lines_error < 0.02 and c.cer_error < 1e-3 for c in checks)       # a true power law: exact
    assert "Median error" in format_forecast_checks(checks)


# -------------------------------------------------------------------- the benchmark, tiny


def test_tiny_benchmark_writes_a_well_formed_csv_plot_and_summary(tmp_path, cremma_dir):
    out = tmp_path / "al"
    command = [sys.executable, str(REPO / "bench" / "active_learning.py"), "--budget", "tiny",
               "--data", str(cremma_dir), "--out", str(out), "--jobs", "1"]
    subprocess.run(command, check=True, cwd=tmp_path, capture_output=True, timeout=300)

    with open(out / "results.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == ("strategy", "seed", "round", "labelled_lines", "labelled_chars", "test_cer")
        rows = list(reader)
    strategies = {row["strategy"] for row in rows}
    assert "random" in strategies and len(strategies) >= 3
    assert len(rows) == len(strategies) * 2 * 3                   # 2 seeds × (seed round + 2 rounds)
    for row in rows:
        assert 0.0 <= float(row["test_cer"]) <= 2.0
    for strategy in strategies:
        for seed in ("0", "1"):
            curve = sorted((int(r["round"]), int(r["labelled_lines"]), int(r["labelled_chars"]))
                           for r in rows if r["strategy"] == strategy and r["seed"] == seed)
            assert [lines for _, lines, _ in curve] == [16, 24, 32]
            assert all(b[2] > a[2] for a, b in zip(curve, curve[1:]))

    image = plt.imread(out / "learning_curves.png")
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 200

    picks: dict[tuple[str, int], set[str]] = {}
    for line in (out / "picks.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["round"] > 0:
            picks.setdefault((record["strategy"], record["seed"]), set()).update(record["picked"])
    for (strategy, seed), picked in picks.items():
        assert len(picked) == 16
        if strategy != "random":
            assert picked != picks[("random", seed)], f"{strategy} picked what random picked"

    summary = (out / "summary.md").read_text()
    assert "| random |" in summary and "Machine:" in summary
