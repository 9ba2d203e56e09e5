import numpy as np
import pytest
from PIL import Image, ImageOps

from ml.recognition.confidence import (
    CALIBRATION_METHODS, FITTERS, MEASURES, Calibrator, auroc, calibrate, char_correctness,
    expected_calibration_error, fit_calibrator, fit_temperature, line_measures, ranking_target,
)
from ml.recognition.predict import Recognizer
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


def overconfident_reader(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores that rank lines well but claim too much: a line with score s is right with probability s²."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, n)
    return scores, rng.uniform(0, 1, n) < scores ** 2


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_each_calibrator_fixes_an_overconfident_score_on_lines_it_never_saw(method):
    scores, right = overconfident_reader(seed=1)
    calibrator = FITTERS[method](scores, right)
    fresh_scores, fresh_right = overconfident_reader(seed=2)
    before = expected_calibration_error(fresh_scores.tolist(), fresh_right.tolist())
    after = expected_calibration_error(calibrator(fresh_scores).tolist(), fresh_right.tolist())
    assert before > 0.12 and after < 0.06


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_a_calibrator_keeps_the_ranking_and_survives_the_checkpoint(method):
    scores, right = overconfident_reader()
    calibrator = Calibrator.from_dict(FITTERS[method](scores, right).as_dict())
    grid = np.linspace(0, 1, 501)
    assert np.all(np.diff(calibrator(grid)) > 0)       # strictly increasing: ties never reorder the queue
    assert len(calibrator.xs) <= 64


def test_the_calibrator_with_the_lower_cross_validated_ece_is_chosen():
    scores, right = overconfident_reader()
    calibrator, eces = fit_calibrator(scores, right)
    assert set(eces) == set(CALIBRATION_METHODS)
    assert calibrator.method == min(eces, key=eces.get)
    # A step no smooth map can follow: isotonic regression wins.
    steps = np.repeat(np.linspace(0.05, 0.95, 10), 40)
    step_right = np.random.default_rng(3).uniform(0, 1, 400) < np.where(steps > 0.5, 0.9, 0.05)
    assert fit_calibrator(steps, step_right)[0].method == "isotonic"


def test_characters_are_right_unless_substituted_or_superfluous():
    assert char_correctness("testament", "testament") == [True] * 9
    assert char_correctness("tostamentx", "testament") == [True, False] + [True] * 7 + [False]
    assert char_correctness("", "abc") == []


def test_calibrate_fits_line_and_character_calibrators_from_what_was_read():
    rng = np.random.default_rng(4)
    logits = [logits_for([1, 0, 2, 0, 3, 0], m) for m in rng.uniform(1, 8, 60)]
    decoded = [greedy_decode(z) for z in logits]
    predictions = ["abc"] * 60
    references = ["abc" if z.max() > 5 else "abd" for z in logits]
    report = calibrate(logits, decoded, [p == r for p, r in zip(predictions, references)],
                       predictions=predictions, references=references)
    assert report.line_calibrator is not None and report.char_calibrator is not None
    assert report.characters == 180
    figures = report.as_dict()
    assert figures["confidence_ece"] == report.calibrated_ece[report.line_calibrator.method]
    assert figures["confidence_auroc"] == report.auroc[report.measure]


def test_a_checkpoint_with_calibrators_reports_calibrated_confidences(tiny_recognizer, tiny_lines):
    raw = tiny_recognizer.recognize([line.image for line in tiny_lines])
    squash = Calibrator("temperature", temperature=1.0, bias=20.0)    # maps everything far below 0.5
    calibrated = Recognizer(tiny_recognizer.model, tiny_recognizer.alphabet, meta={
        **tiny_recognizer.meta, "calibration": {"line_calibrator": squash.as_dict(),
                                                 "char_calibrator": squash.as_dict()}})
    read = calibrated.recognize([line.image for line in tiny_lines])
    assert [r.text for r in read] == [r.text for r in raw]
    assert all(r.confidence < 0.5 for r in read) and any(r.confidence > 0.5 for r in raw)
    assert all(c < 0.5 for r in read for c in r.char_confidences)
    order = lambda results: list(np.argsort([r.confidence for r in results], kind="stable"))  # noqa: E731
    assert order(read) == order(raw)


def test_a_few_exact_lines_do_not_choose_the_ranking_measure():
    cers = [0.0] + [0.1 * i for i in range(1, 30)]                   # one line exact, the rest ever worse
    assert ranking_target([c == 0 for c in cers], cers) == [c > np.median(cers) for c in cers]
    cers = [0.0] * 12 + [0.2] * 18                                    # enough of each: errors themselves
    assert ranking_target([c == 0 for c in cers], cers) == [c > 0 for c in cers]
    assert ranking_target([True, False], None) == [False, True]      # no CERs to fall back on
