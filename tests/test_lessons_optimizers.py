"""keras_init_lab.lessons.optimizers: same start, five update rules, update-to-weight ratio."""

import keras
import numpy as np
import pytest

from keras_init_lab.lessons import optimizers as opt

#: What each lesson name means, written here from Keras's own classes (not read from the
#: package): the class, and the arguments that differ from that class's defaults. Momentum
#: 0.9 is the usual coefficient (Sutskever et al. 2013; CS231n).
KERAS_EQUIVALENT = {
    "sgd": (keras.optimizers.SGD, {}),
    "momentum": (keras.optimizers.SGD, {"momentum": 0.9}),
    "rmsprop": (keras.optimizers.RMSprop, {}),
    "adam": (keras.optimizers.Adam, {}),
    "adamw": (keras.optimizers.AdamW, {}),
}


def _config(optimizer) -> dict:
    config = optimizer.get_config()
    config.pop("name")
    return config


def test_the_lesson_names_are_keras_optimizers_with_keras_defaults():
    assert set(KERAS_EQUIVALENT) == set(opt.OPTIMIZERS)
    for name, (cls, arguments) in KERAS_EQUIVALENT.items():
        made = opt.make_optimizer(name)
        assert type(made) is cls, name
        # every hyper-parameter, the learning rate included, is Keras's out-of-the-box value
        assert _config(made) == _config(cls(**arguments)), name
        keras_rate = float(keras.ops.convert_to_numpy(cls().learning_rate))
        assert opt.DEFAULT_LEARNING_RATES[name] == pytest.approx(keras_rate, rel=1e-6), name


def test_an_explicit_learning_rate_is_used():
    made = opt.make_optimizer("adam", 0.05)
    assert float(keras.ops.convert_to_numpy(made.learning_rate)) == pytest.approx(0.05, rel=1e-6)


def test_compare_optimizers_records_losses_and_ratios():
    runs = opt.compare_optimizers(steps=40)
    assert list(runs) == list(opt.OPTIMIZERS)
    first = {name: r["losses"][0] for name, r in runs.items()}
    # same weights, same first batch: the loss before any update is the same float32 number
    assert max(first.values()) - min(first.values()) < 1e-6
    for name, r in runs.items():
        cls, _ = KERAS_EQUIVALENT[name]
        keras_rate = float(keras.ops.convert_to_numpy(cls().learning_rate))
        assert r["learning_rate"] == pytest.approx(keras_rate, rel=1e-6), name
        assert r["losses"].shape == r["update_ratios"].shape == (40,)
        assert np.all(r["update_ratios"] > 0)
        assert r["median_update_ratio"] == pytest.approx(np.median(r["update_ratios"]))
        assert r["final_loss"] == pytest.approx(np.mean(r["losses"][-10:]))
        assert r["final_loss"] < r["losses"][0], name
        assert ("within a decade" in r["verdict"]) == (1e-4 <= r["median_update_ratio"] <= 1e-2)


class Shrink(keras.optimizers.Optimizer):
    """Multiplies every weight by ``factor`` at each step, whatever the gradient.

    The update of step t is ``(factor - 1) w_t``, so ``||w_{t+1} - w_t|| / ||w_t||`` is
    ``|factor - 1|`` at every step, while the distance from the *initial* weights,
    ``1 - factor^t``, grows with t.
    """

    def __init__(self, factor, **kwargs):
        super().__init__(learning_rate=0.0, **kwargs)
        self.factor = factor

    def update_step(self, gradient, variable, learning_rate):
        self.assign(variable, variable * self.factor)


def test_update_ratio_is_measured_from_the_previous_step():
    runs = opt.compare_optimizers([Shrink(0.99)], steps=6)
    ratios = runs["shrink"]["update_ratios"]
    # float32 weights: each product rounds by <= 2^-24 relative, so the ratio is 0.01 to ~1e-5
    np.testing.assert_allclose(ratios, np.full(6, 0.01), rtol=1e-4)
    assert "within a decade" in runs["shrink"]["verdict"]


def test_update_ratio_tracks_the_learning_rate():
    runs = opt.compare_optimizers(["sgd"], learning_rates={"sgd": 2.0}, steps=5)
    assert runs["sgd"]["median_update_ratio"] > 1e-2
    assert "too high" in runs["sgd"]["verdict"]
    assert runs["sgd"]["learning_rate"] == pytest.approx(2.0)
    assert "too low" in opt.update_ratio_verdict(1e-6)


def test_verdict_band_is_a_decade_either_side_of_1e_3():
    # CS231n: "somewhere around 1e-3"; the band is [1e-4, 1e-2]
    assert "within a decade" in opt.update_ratio_verdict(1e-3)
    assert "within a decade" in opt.update_ratio_verdict(1.01e-4)
    assert "within a decade" in opt.update_ratio_verdict(0.99e-2)
    assert "too high" in opt.update_ratio_verdict(1.01e-2)
    assert "too low" in opt.update_ratio_verdict(0.99e-4)
    assert "1.0e-03" in opt.update_ratio_verdict(1e-3)  # the number beside the verdict


def test_accepts_optimizer_objects():
    runs = opt.compare_optimizers([keras.optimizers.Adagrad(0.01)], steps=3)
    assert list(runs) == ["adagrad"]
    assert runs["adagrad"]["learning_rate"] == pytest.approx(0.01)


def test_bad_names_and_values():
    with pytest.raises(ValueError, match="Did you mean: 'adam'"):
        opt.make_optimizer("adma")
    with pytest.raises(ValueError, match="learning_rate=-0.01"):
        opt.make_optimizer("sgd", -0.01)
    with pytest.raises(ValueError, match="batch_size=0"):
        opt.compare_optimizers(["sgd"], batch_size=0, steps=1)
    with pytest.raises(ValueError, match="Did you mean: 'rmsprop'"):
        opt.compare_optimizers(["sgd"], learning_rates={"rmsprob": 0.1}, steps=1)
    with pytest.raises(TypeError, match="optimizers=3"):
        opt.compare_optimizers([3], steps=1)


def test_one_name_is_a_list_of_one():
    # "sgd" names one optimizer; its letters are not three unknown ones
    assert list(opt.compare_optimizers("sgd", steps=1, batch_size=4, samples=8)) == ["sgd"]
