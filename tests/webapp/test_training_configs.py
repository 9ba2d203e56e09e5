"""Training configurations: a run from a model fine-tunes gently, whatever the from-scratch settings say."""

from __future__ import annotations

from webapp.training import configs


def test_a_run_from_a_model_fine_tunes_at_the_measured_rate(settings):
    settings.INKLOOP_TRAINING = {"recognizer": {"lr": 5e-3, "warmup_steps": 5, "batch_size": 8}}
    scratch, fine = configs.recognizer_config(), configs.recognizer_config(fine_tuning=True)
    assert (scratch.lr, scratch.warmup_steps) == (5e-3, 5)
    assert (fine.lr, fine.warmup_steps) == (configs.FINE_TUNING["lr"], configs.FINE_TUNING["warmup_steps"])
    assert fine.batch_size == scratch.batch_size == 8              # the rest of the settings apply to both


def test_the_fine_tuning_rate_can_be_set(settings):
    settings.INKLOOP_TRAINING = {"recognizer_fine_tuning": {"lr": 2e-4}}
    assert configs.recognizer_config(fine_tuning=True).lr == 2e-4
    assert configs.recognizer_config().lr == configs.RecognizerTrainConfig().lr
