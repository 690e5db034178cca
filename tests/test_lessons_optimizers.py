"""keras_init_lab.lessons.optimizers: same start, five update rules, update-to-weight ratio."""

import keras
import numpy as np
import pytest

from keras_init_lab.lessons import optimizers as opt


def test_compare_optimizers_records_losses_and_ratios():
    runs = opt.compare_optimizers(steps=40)
    assert list(runs) == list(opt.OPTIMIZERS)
    first = {name: r["losses"][0] for name, r in runs.items()}
    assert len(set(np.round(list(first.values()), 6))) == 1  # same weights, same batch
    for name, r in runs.items():
        assert r["losses"].shape == r["update_ratios"].shape == (40,)
        assert np.all(r["update_ratios"] > 0)
        assert r["learning_rate"] == pytest.approx(opt.DEFAULT_LEARNING_RATES[name])
        assert r["final_loss"] < r["losses"][0], name
        assert ("within a decade" in r["verdict"]) == (1e-4 <= r["median_update_ratio"] <= 1e-2)


def test_update_ratio_tracks_the_learning_rate():
    runs = opt.compare_optimizers(["sgd"], learning_rates={"sgd": 2.0}, steps=5)
    assert runs["sgd"]["median_update_ratio"] > 1e-2
    assert "too high" in runs["sgd"]["verdict"]
    assert "too low" in opt.update_ratio_verdict(1e-6)


def test_accepts_optimizer_objects():
    runs = opt.compare_optimizers([keras.optimizers.Adagrad(0.01)], steps=3)
    assert list(runs) == ["adagrad"]


def test_bad_names_and_values():
    with pytest.raises(ValueError, match="Did you mean: 'adam'"):
        opt.make_optimizer("adma")
    with pytest.raises(ValueError, match="learning_rate=-0.01"):
        opt.make_optimizer("sgd", -0.01)
    with pytest.raises(ValueError, match="batch_size=0"):
        opt.compare_optimizers(["sgd"], batch_size=0, steps=1)
    with pytest.raises(ValueError, match="Did you mean: 'rmsprop'"):
        opt.compare_optimizers(["sgd"], learning_rates={"rmsprob": 0.1}, steps=1)
    assert opt.make_optimizer("momentum").momentum == opt.MOMENTUM
    assert opt.make_optimizer("adamw").weight_decay > 0
