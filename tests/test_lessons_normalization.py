"""keras_init_lab.lessons.normalization: BatchNorm reference vs Keras, depth, LN/GN."""

import numpy as np
import pytest

from keras_init_lab.lessons import normalization as norm


def test_keras_defaults_are_read_not_assumed():
    assert norm.keras_batchnorm_defaults() == {"epsilon": 1e-3, "momentum": 0.99}
    assert norm.LECTURE_EPSILON == 1e-5


def test_reference_equals_keras_in_both_modes():
    r = norm.compare_with_keras()
    for key in ("train_output", "moving_mean", "moving_variance", "inference_output"):
        assert r[key] < 1e-10, key


def test_reference_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 30.0]])
    y, mean, var = norm.batchnorm_reference(
        x, [2.0, 1.0], [0.5, 0.0], [0.0, 0.0], [1.0, 1.0], training=True, momentum=0.9, epsilon=0.0
    )
    np.testing.assert_allclose(y, [[-1.5, -1.0], [2.5, 1.0]])
    np.testing.assert_allclose(mean, [0.2, 2.0])  # 0.9*0 + 0.1*[2, 20]
    np.testing.assert_allclose(var, [0.9 + 0.1 * 1.0, 0.9 + 0.1 * 100.0])  # biased variance
    y_inf, m2, v2 = norm.batchnorm_reference(
        x, [1.0, 1.0], [0.0, 0.0], mean, var, False, epsilon=0.0
    )
    np.testing.assert_allclose(y_inf, (x - mean) / np.sqrt(var))
    np.testing.assert_allclose(m2, mean)


def test_batchnorm_keeps_the_variance_of_a_badly_initialized_deep_net():
    r = norm.variance_through_depth(depth=10)
    assert r["none"]["variance"][-1] < 1e-20 < 1e-3 * r["none"]["variance"][0]
    assert "vanishes" in r["none"]["verdict"]
    for name in ("batch", "layer", "group"):
        v = r[name]["variance"]
        assert np.all((v > 0.2) & (v < 0.6)), (name, v)  # Var(tanh(N(0,1))) = 0.39
        assert "kept" in r[name]["verdict"]


def test_one_name_is_a_list_of_one():
    assert list(norm.variance_through_depth("batch", depth=2, width=8, samples=4)) == ["batch"]


def test_only_batchnorm_depends_on_the_batch():
    r = norm.batch_dependence()
    assert r["batch"] > 0.05
    assert r["layer"] < 1e-5 and r["group"] < 1e-5


def test_bad_values():
    with pytest.raises(ValueError, match="Did you mean: 'batch'"):
        norm.variance_through_depth(["bach"], depth=2)
    with pytest.raises(ValueError, match="width=12"):
        norm.variance_through_depth(["group"], depth=2, width=12)
    with pytest.raises(ValueError, match="momentum=1.5"):
        norm.batchnorm_reference([[0.0]], [1.0], [0.0], [0.0], [1.0], True, momentum=1.5)
