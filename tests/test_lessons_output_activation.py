"""keras_init_lab.lessons.output_activation: softmax on binary and multi-label tasks."""

import keras
import numpy as np
import pytest

from keras_init_lab.lessons import output_activation as out

#: float32 machine epsilon (2^-23): a one-unit softmax exp(z)/exp(z) is 1 up to the CPU's
#: vector exp and division, which may round it to 1 - 2^-24 (0.99999994 seen on some CPUs).
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def test_multilabel_data_labels_are_independent_linear_rules():
    x, y = out.multilabel_data(samples=2000, labels=3)
    assert x.shape == (2000, 8) and y.shape == (2000, 3)
    assert set(np.unique(y)) == {0.0, 1.0}
    # each label is [x . w_k > 0] for a direction w_k: about half positive, and a linear
    # classifier separates it exactly (least squares on +-1 targets has every sign right)
    assert np.all(np.abs(y.mean(axis=0) - 0.5) < 0.1)
    for k in range(3):
        w, *_ = np.linalg.lstsq(x, 2 * y[:, k] - 1, rcond=None)
        assert np.mean((x @ w > 0) == (y[:, k] > 0.5)) > 0.95


def test_softmax_cannot_output_two_positives():
    r = out.multilabel_softmax_vs_sigmoid(epochs=8)
    # three independent labels each true about half the time: P(>= 2 true) = 1/2
    assert 0.3 < r["multi_fraction"] < 0.7
    assert r["softmax"]["max_positives"] <= 1
    assert r["softmax"]["exact_match_multi"] == 0.0  # a count of 0, not a float computation
    assert r["sigmoid"]["exact_match_multi"] > 0.8
    assert r["sigmoid"]["max_positives"] >= 2
    assert r["sigmoid"]["exact_match"] <= r["sigmoid"]["label_accuracy"]
    assert f"{r['multi_fraction']:.0%}" in r["verdict"]


def test_single_unit_softmax_is_constant_and_gets_no_gradient():
    r = out.single_unit_softmax(epochs=3)
    soft, sig = r["softmax"], r["sigmoid"]
    assert abs(soft["output_min"] - 1.0) <= 2 * FLOAT32_EPS
    assert abs(soft["output_max"] - 1.0) <= 2 * FLOAT32_EPS
    # Every output is above 1 - epsilon, where binary cross-entropy's clip passes no gradient.
    assert soft["output_min"] > 1.0 - keras.config.epsilon()
    # Predicting ~1 for every sample clips at 1 - eps (Keras's epsilon 1e-7, in float32
    # 1 - 1.19e-7), so the BCE of the outputs is the negatives' share times -log of the gap.
    gap = np.float32(1.0) - (np.float32(1.0) - np.float32(keras.config.epsilon()))
    closed_form = (1.0 - r["positive_fraction"]) * -np.log(float(gap))
    assert soft["loss_on_outputs"] == pytest.approx(closed_form, rel=1e-5)
    # No gradient: the outputs sit at or above the clip's upper end, where clip_by_value
    # passes none (and a one-unit softmax's own Jacobian p (1 - p) is below 1e-7 anyway).
    assert soft["gradient_norm"] < 1e-6
    assert soft["accuracy"] == pytest.approx(r["positive_fraction"], abs=1e-12)
    assert sig["accuracy"] > 0.9 and sig["gradient_norm"] > 1e-3
    # Keras's BCE reads the logits cached on the softmax output: fit's loss falls anyway.
    assert soft["fit_last_loss"] < soft["fit_first_loss"]
    assert soft["loss_on_outputs"] > 10 * soft["fit_last_loss"]
