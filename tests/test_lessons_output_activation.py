"""keras_init_lab.lessons.output_activation: softmax on binary and multi-label tasks."""

import keras
import pytest
from _tolerances import exp_rtol

from keras_init_lab.lessons import output_activation as out


def test_softmax_cannot_output_two_positives():
    r = out.multilabel_softmax_vs_sigmoid(epochs=8)
    assert 0.3 < r["multi_fraction"] < 0.7
    assert r["softmax"]["max_positives"] <= 1
    assert r["softmax"]["exact_match_multi"] == 0.0
    assert r["sigmoid"]["exact_match_multi"] > 0.8
    assert r["sigmoid"]["max_positives"] >= 2


def test_single_unit_softmax_is_constant_and_gets_no_gradient():
    r = out.single_unit_softmax(epochs=3)
    soft, sig = r["softmax"], r["sigmoid"]
    # 1 up to the float32 roundings of exp and of the sum (tests/_tolerances.py).
    one = pytest.approx(1.0, rel=0, abs=exp_rtol("float32"))
    assert soft["output_min"] == one and soft["output_max"] == one
    # Exactly 0, not a rounding: every output is above 1 - epsilon, where binary
    # cross-entropy's clip passes no gradient.
    assert soft["output_min"] > 1.0 - keras.config.epsilon()
    assert soft["gradient_norm"] == 0.0
    assert soft["accuracy"] == r["positive_fraction"]
    assert sig["accuracy"] > 0.9 and sig["gradient_norm"] > 0
    # Keras's BCE reads the logits cached on the softmax output: fit's loss falls anyway.
    assert soft["fit_last_loss"] < soft["fit_first_loss"]
    assert soft["loss_on_outputs"] > 10 * soft["fit_last_loss"]
