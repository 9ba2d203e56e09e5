import numpy as np
import pytest
from PIL import Image, ImageOps

from ml.recognition.confidence import (
    MEASURES, auroc, calibrate, expected_calibration_error, fit_temperature, line_measures,
)
from ml.recognition.decode import greedy_decode
from ml.metrics import cer


def logits_for(path: list[int], margin: float, classes: int = 5) -> np.ndarray:
    logits = np.zeros((len(path), classes))
    logits[np.arange(len(path)), path] = margin
    return logits


def test_every_measure_prefers_sharper_outputs():
    path = [1, 0, 2, 0, 3]
    sharp, flat = logits_for(path, 8.0), logits_for(path, 1.5)
    sharp_m = line_measures(sharp, greedy_decode(sharp))
    flat_m = line_measures(flat, greedy_decode(flat))
    for measure in MEASURES:
        assert 0.0 <= flat_m[measure] < sharp_m[measure] <= 1.0, measure


def test_min_char_prob_sees_one_weak_character():
    logits = logits_for([1, 0, 2, 0, 3], 8.0)
    logits[2, 2] = 1.0   # the "2" barely wins
    measures = line_measures(logits, greedy_decode(logits))
    assert measures["min_char_prob"] < 0.5 < measures["mean_logprob"]


def test_auroc_and_ece_on_known_values():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert expected_calibration_error([0.95, 0.95, 0.95, 0.95], [True, True, True, False]) == pytest.approx(0.2)
    assert expected_calibration_error([0.25, 0.75], [False, True]) == pytest.approx(0.25)


def test_fit_temperature_softens_an_overconfident_reader():
    rng = np.random.default_rng(0)
    logits, decoded, correct = [], [], []
    for i in range(60):
        path = list(rng.integers(1, 5, 6))
        z = logits_for([c for p in path for c in (p, 0)], 6.0)
        logits.append(z)
        decoded.append(greedy_decode(z))
        correct.append(i % 2 == 0)   # right only half the time despite ~0.99 per character
    assert fit_temperature(logits, decoded, correct) > 1.5


def test_calibrate_reports_every_measure():
    rng = np.random.default_rng(1)
    logits = [logits_for([1, 0, 2, 0], m) for m in rng.uniform(1, 8, 30)]
    decoded = [greedy_decode(z) for z in logits]
    correct = [z.max() > 4 for z in logits]
    report = calibrate(logits, decoded, correct)
    assert report.measure in MEASURES and set(report.auroc) == set(MEASURES)
    assert report.auroc[report.measure] == max(report.auroc.values()) == 1.0


def corrupted(image: Image.Image) -> Image.Image:
    """Mirrored writing: the same ink, unreadable, the kind of line a reviewer must see first."""
    return ImageOps.mirror(image)


def test_corrupted_lines_rank_below_clean_ones(tiny_recognizer, tiny_lines):
    clean = tiny_recognizer.recognize([line.image for line in tiny_lines])
    broken = tiny_recognizer.recognize([corrupted(line.image) for line in tiny_lines])
    assert cer([r.text for r in clean], [line.text for line in tiny_lines]) < 0.15
    for clean_line in clean:
        assert len(clean_line.char_confidences) == len(clean_line.text)
        assert all(0.0 <= c <= 1.0 for c in clean_line.char_confidences)
    # The queue ranks by the measure the checkpoint chose: it must tell broken lines from clean ones. Not
    # line by line: the tiny model misreads a character here and there, and how sure it is of those lines
    # depends on the float rounding of the CPU that trained it; over the set, clearly.
    scores = [r.confidence for r in clean] + [r.confidence for r in broken]
    assert auroc(scores, [True] * len(clean) + [False] * len(broken)) >= 0.8
    for measure in MEASURES:   # and every measure, on average
        mean_clean = sum(r.measures[measure] for r in clean) / len(clean)
        mean_broken = sum(r.measures[measure] for r in broken) / len(broken)
        assert mean_broken < mean_clean, measure


def test_measures_are_ranked_by_line_cer_when_no_line_is_read_right():
    logits = [logits_for([1, 0, 2, 0], m) for m in np.linspace(1, 8, 20)]
    decoded = [greedy_decode(z) for z in logits]
    line_cers = list(np.linspace(0.9, 0.1, 20))         # sharper outputs, fewer errors
    report = calibrate(logits, decoded, [False] * 20, line_cers)
    assert report.auroc[report.measure] == 1.0 and report.temperature == 1.0
