"""The fixed probe batch and the feature model (``keras_init_lab.callbacks._probe``)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_init_lab.callbacks._probe import FeatureProbe, linear_part, prepare_probe
from keras_init_lab.callbacks.activation_stats import activation_statistics

# Runs under every KERAS_BACKEND (tests/conftest.py, .ci/run's JAX step).
pytestmark = pytest.mark.backend_agnostic


def _gaussian(n, *shape, seed=1234):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _small_mlp():
    inputs = keras.Input((10,))
    h = keras.layers.Dense(16, activation="relu", name="hidden_relu")(inputs)
    h = keras.layers.Dense(16, activation="tanh", name="hidden_tanh")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inputs, outputs)


def test_probe_selection_rules():
    x = np.arange(1000, dtype="float32").reshape(1000, 1)
    # Evenly spaced, deterministic, first and last sample included, no repeats.
    probe = prepare_probe((x, np.zeros(1000)), 10)
    np.testing.assert_array_equal(probe[:, 0], np.round(np.linspace(0, 999, 10)))
    np.testing.assert_array_equal(prepare_probe(x, 10), probe)
    assert prepare_probe(x[:7], 256).shape == (7, 1)
    # A dataset gives its first samples, whatever the batch size.
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(3).repeat()
    np.testing.assert_array_equal(prepare_probe(dataset, 8)[:, 0], np.arange(8))
    # Multi-input: a dict or a list of arrays is x.
    both = prepare_probe({"a": x, "b": x * 2}, 4)
    np.testing.assert_array_equal(both["b"], 2 * both["a"])


def test_nested_pre_activation_is_the_inner_layer_input():
    inner_in = keras.Input((5,))
    inner = keras.Model(inner_in, keras.layers.Activation("tanh", name="t")(inner_in), name="inner")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, inner(keras.layers.Dense(5, name="d")(inputs)))
    x = _gaussian(40, 5)
    record = activation_statistics(model, x)
    layer = model.get_layer("d")
    z = x @ layer.kernel.numpy() + layer.bias.numpy()
    assert record["layers"] == ["inner/t"]
    np.testing.assert_allclose(record["pre_std"][0], z.std(), rtol=1e-5)
    np.testing.assert_allclose(record["std"][0], np.tanh(z).std(), rtol=1e-5)


def test_model_without_nonlinearity_is_an_error():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="no layer that applies a nonlinearity"):
        activation_statistics(model, np.zeros((4, 4), "float32"))


def test_subclassed_model_is_a_clear_error():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2, activation="relu")

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match="subclassed"):
        activation_statistics(net, np.zeros((4, 3), "float32"))


def test_probe_that_does_not_fit_the_model():
    model = _small_mlp()
    unbatched = tf.data.Dataset.from_tensor_slices(_gaussian(20, 10))  # yields (10,) vectors
    with pytest.raises(ValueError, match=r"sample shape \(\)"):
        activation_statistics(model, unbatched)
    with pytest.raises(ValueError, match=r"expects samples of shape \(10,\)"):
        activation_statistics(model, _gaussian(20, 7))


def test_feature_probe_pairs_equal_numpy():
    """Each site's (pre-activation, activation) is the layer's linear output and f of it."""
    model = _small_mlp()
    x = _gaussian(20, 10)
    probe = FeatureProbe(model, prepare_probe(x))
    assert probe.layer_names == ["hidden_relu", "hidden_tanh"]
    assert probe.activation_names == ["relu", "tanh"]
    pairs = probe.pairs(probe.probe)
    h = x.astype(np.float64)
    for (pre, act), name, f in zip(pairs, probe.layer_names, (lambda z: np.maximum(z, 0), np.tanh)):
        layer = model.get_layer(name)
        z = h @ layer.kernel.numpy() + layer.bias.numpy()
        np.testing.assert_allclose(keras.ops.convert_to_numpy(pre), z, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(act), f(z), rtol=1e-5, atol=1e-5)
        h = f(z)
    assert model.get_layer("hidden_relu").activation is keras.activations.relu


def test_linear_part_restores_the_activation_even_when_the_call_raises():
    dense = keras.layers.Dense(3, activation="relu")
    dense.build((None, 4))
    z = linear_part(dense, -np.ones((2, 4), "float32") * 10)
    assert dense.activation is keras.activations.relu
    assert "activation" in vars(dense)
    np.testing.assert_allclose(z, -10 * np.ones((2, 4)) @ dense.kernel.numpy(), rtol=1e-6)
    with pytest.raises(ValueError):
        linear_part(dense, np.ones((2, 5), "float32"))  # wrong input size
    assert dense.activation is keras.activations.relu


def test_sequential_without_input_is_built_from_the_probe():
    model = keras.Sequential([keras.layers.Dense(4, activation="tanh", name="t")])
    probe = FeatureProbe(model, prepare_probe(_gaussian(8, 3)))
    assert probe.layer_names == ["t"]
