"""keras_init_lab.lessons.regularization: L2 vs weight decay, dropout statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_init_lab.lessons import regularization as reg


def _one_step(optimizer, w0, data_gradient, l2=0.0):
    """One ``apply_gradients`` on a float64 variable; loss ``a . w + l2 * sum(w^2)``."""
    w = keras.Variable(w0, dtype="float64")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(data_gradient * w) + l2 * tf.reduce_sum(w**2)
    optimizer.apply_gradients([(tape.gradient(loss, w), w)])
    return keras.ops.convert_to_numpy(w)


W0 = np.array([1.0, -2.0, 0.5])
DATA_GRADIENT = tf.constant([0.3, 0.1, -0.2], dtype=tf.float64)
#: Keras holds the learning rate in float32: 0.1 is 0.10000000149, a 1.5e-8 relative error.
FLOAT32_LR_RTOL = 1e-7


def test_sgd_weight_decay_for_l2_is_the_step_of_the_penalized_loss():
    lr, l2 = 0.1, 0.05
    penalized = _one_step(keras.optimizers.SGD(lr), W0, DATA_GRADIENT, l2=l2)
    decay = reg.weight_decay_for_l2(l2)
    decayed = _one_step(keras.optimizers.SGD(lr, weight_decay=decay), W0, DATA_GRADIENT)
    # the closed form of the penalized step: w - lr (a + 2 l2 w)
    expected = W0 - lr * (DATA_GRADIENT.numpy() + 2 * l2 * W0)
    np.testing.assert_allclose(penalized, expected, rtol=FLOAT32_LR_RTOL)
    np.testing.assert_allclose(decayed, expected, rtol=FLOAT32_LR_RTOL)
    forgot_the_two = _one_step(keras.optimizers.SGD(lr, weight_decay=l2), W0, DATA_GRADIENT)
    assert np.max(np.abs(forgot_the_two - expected)) > 1e-3


def test_adamw_decays_the_weights_while_adam_adapts_the_l2_gradient():
    lr, l2 = 0.01, 0.05
    zero = tf.zeros(3, dtype=tf.float64)
    # AdamW with no data gradient: m = v = 0, so only the decoupled decay moves the weights.
    decayed = _one_step(
        keras.optimizers.AdamW(lr, weight_decay=reg.weight_decay_for_l2(l2)), W0, zero
    )
    np.testing.assert_allclose(decayed, W0 * (1 - lr * 2 * l2), rtol=FLOAT32_LR_RTOL)
    # Adam on the L2 penalty: the first step is m_hat / sqrt(v_hat) = g / |g| = sign(w), a
    # step of size lr whatever |w| (eps 1e-7 against |g| >= 0.05 changes it by < 1e-5).
    adapted = _one_step(keras.optimizers.Adam(lr), W0, zero, l2=l2)
    np.testing.assert_allclose(adapted, W0 - lr * np.sign(W0), rtol=1e-5)


def test_the_lesson_measures_the_decay_difference_linearly_in_weight_decay():
    # One SGD step from the same weights: w_l2 - w_decay = lr (wd - 2 l2) w0, so the
    # difference with wd = 0 is twice the one with wd = l2, and zero with wd = 2 l2.
    runs = {
        wd: reg.l2_vs_weight_decay("sgd", l2=0.05, steps=1, weight_decay=wd)
        for wd in (0.0, 0.05, 0.1)
    }
    gap = {wd: r["weights_l2"] - r["weights_decay"] for wd, r in runs.items()}
    np.testing.assert_allclose(gap[0.0], 2 * gap[0.05], rtol=1e-6)
    # Keras 3.3 rounds the learning rate and the decay to float32 (agreement ~5e-10)
    assert np.max(np.abs(gap[0.1])) < 1e-8
    assert np.max(np.abs(gap[0.05])) > 1e-4


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
    assert "different updates" in r["verdict"] and "Adam rescales" in r["verdict"]


def test_without_penalty_and_decay_both_adam_runs_are_plain_adam():
    # AdamW with weight_decay = 0 is Adam (Loshchilov & Hutter 2019, Algorithm 2 with
    # lambda = 0): the run with the penalty must be plain Adam, not AdamW with Keras's
    # default decay 0.004, so with l2 = 0 the two runs take the same steps.
    r = reg.l2_vs_weight_decay("adam", l2=0.0, steps=5)
    assert r["weight_decay"] == 0.0
    np.testing.assert_allclose(r["weights_l2"], r["weights_decay"], rtol=1e-12, atol=1e-15)
    assert r["agree"]


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
