"""keras_init_lab.lessons.regularization: L2 vs weight decay, dropout statistics."""

import inspect

import keras
import numpy as np
import pytest

from keras_init_lab.lessons import regularization as reg


def test_keras_weight_decay_semantics_are_the_ones_the_lesson_assumes():
    # variable <- variable - variable * weight_decay * learning_rate, before the gradient step.
    from keras.src.optimizers import base_optimizer

    source = inspect.getsource(base_optimizer.BaseOptimizer._apply_weight_decay)
    assert "variable - variable * wd * lr" in source.replace("\n", " ")


def test_l2_and_weight_decay_agree_under_sgd():
    r = reg.l2_vs_weight_decay("sgd", l2=0.01, steps=20)
    assert r["weight_decay"] == pytest.approx(0.02)
    # float64 rounding on Keras 3.15; Keras 3.3 rounds lr and weight decay to float32 (5e-10)
    np.testing.assert_allclose(r["weights_l2"], r["weights_decay"], rtol=1e-8, atol=1e-10)
    assert r["agree"] and "the same update" in r["verdict"]


def test_factor_two_matters_under_sgd():
    # weight_decay = l2 (forgetting the 2) does not reproduce L2(l2).
    r = reg.l2_vs_weight_decay("sgd", l2=0.05, steps=20, weight_decay=0.05)
    assert not r["agree"] and r["relative_difference"] > 1e-3
    assert "not 0.05*w" in r["verdict"]


def test_l2_and_adamw_differ_under_adam():
    r = reg.l2_vs_weight_decay("adam", l2=0.01, steps=20)
    assert not r["agree"]
    assert r["relative_difference"] > 1e-3
    assert "different updates" in r["verdict"]


def test_dropout_keeps_the_mean_and_raises_the_variance():
    r = reg.dropout_statistics(rate=0.5)
    assert r["train_mean"] == pytest.approx(r["input_mean"], rel=0.02)
    assert r["train_var"] == pytest.approx(r["predicted_train_var"], rel=0.03)
    assert r["train_var"] > 2 * r["input_var"]
    assert r["inference_mean"] == pytest.approx(r["input_mean"], rel=1e-6)
    assert r["inference_var"] == pytest.approx(r["input_var"], rel=1e-6)
    assert 0.2 < r["zero_fraction_added"] < 0.3  # 0.5 of the ~half nonzero


def test_bad_values():
    with pytest.raises(ValueError, match="Did you mean: 'adam'"):
        reg.l2_vs_weight_decay("adamm")
    with pytest.raises(ValueError, match="l2=-1"):
        reg.l2_vs_weight_decay("sgd", l2=-1)
    with pytest.raises(ValueError, match="rate=1.0"):
        reg.dropout_statistics(rate=1.0)
    assert float(keras.regularizers.L2(0.5)(np.ones(2))) == pytest.approx(1.0)  # l * sum(w^2)
