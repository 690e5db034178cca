"""Tests for experiments.models: build_mlp and build_cnn.

What they show: depth/width/BatchNorm/residual/dropout produce the layers they promise; every
kernel (output included) gets the named initializer's variance; "leaky_relu" is the package's
0.01 slope, not Keras's 0.2; a residual block computes h + a(W h) (checked against NumPy);
bad sizes and names are refused with the value echoed.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_init_lab.experiments import build_cnn, build_mlp  # noqa: E402


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_mlp_layers_and_output():
    model = build_mlp((2,), 3, depth=3, width=16)
    assert [l.name for l in model.layers if isinstance(l, keras.layers.Dense)] == [
        "dense_1",
        "dense_2",
        "dense_3",
        "output",
    ]
    assert model.output_shape == (None, 3)
    assert model.get_layer("output").activation is keras.activations.linear  # logits
    flat = build_mlp((8, 8, 1), 10, depth=1, width=4)
    assert "Flatten" in _layer_types(flat)


def test_every_kernel_gets_the_initializers_variance():
    keras.utils.set_random_seed(0)
    model = build_mlp((256,), 256, depth=2, width=256, initializer="he_normal")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = np.asarray(layer.kernel)
            # var of 65536 draws: relative standard error sqrt(2 / 65536) ~ 0.6%.
            assert kernel.var() == pytest.approx(2.0 / 256, rel=0.03), layer.name
    zeros = build_mlp((4,), 2, depth=2, width=8, initializer="zeros")
    assert all(not np.any(np.asarray(l.kernel)) for l in zeros.layers if hasattr(l, "kernel"))


def test_leaky_relu_is_the_packages_slope_001():
    model = build_mlp((1,), 2, depth=1, width=1, initializer="ones", activation="leaky_relu")
    hidden = keras.Model(model.input, model.get_layer("dense_1").output)
    assert float(hidden(np.array([[-1.0]], np.float32))[0, 0]) == pytest.approx(-0.01)


def test_batchnorm_goes_before_the_activation_and_replaces_the_bias():
    model = build_mlp((2,), 2, depth=2, width=8, batchnorm=True, activation="tanh")
    names = [l.name for l in model.layers]
    assert names.index("dense_1") < names.index("batchnorm_1") < names.index("activation_1")
    assert model.get_layer("dense_1").use_bias is False
    assert model.get_layer("dense_1").activation is keras.activations.linear


def test_residual_block_computes_h_plus_activation_of_w_h():
    keras.utils.set_random_seed(1)
    model = build_mlp(
        (4,), 2, depth=3, width=4, residual=True, activation="tanh", initializer="glorot_uniform"
    )
    assert [l.name for l in model.layers if isinstance(l, keras.layers.Add)] == [
        "residual_2",
        "residual_3",
    ]
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    h1 = np.tanh(x @ np.asarray(model.get_layer("dense_1").kernel))
    w2 = np.asarray(model.get_layer("dense_2").kernel)
    expected = h1 + np.tanh(h1 @ w2)
    got = keras.Model(model.input, model.get_layer("residual_2").output)(x)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_dropout_layers():
    model = build_mlp((2,), 2, depth=2, width=8, dropout=0.25)
    rates = [l.rate for l in model.layers if isinstance(l, keras.layers.Dropout)]
    assert rates == [0.25, 0.25]


def test_cnn_for_digits():
    model = build_cnn((8, 8, 1), 10, depth=3, width=8, batchnorm=True, residual=True)
    assert model.output_shape == (None, 10)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.name for c in convs] == ["conv_1", "conv_2", "conv_3"]
    assert "MaxPooling2D" in _layer_types(model)
    # conv_1 changes 1 -> 8 channels: no skip; conv_2 and conv_3 keep the shape: skips.
    assert [l.name for l in model.layers if isinstance(l, keras.layers.Add)] == [
        "residual_2",
        "residual_3",
    ]


BAD_ARGUMENTS = [
    (build_mlp, dict(depth=0), "depth=0"),
    (build_mlp, dict(width=-1), "width=-1"),
    (build_mlp, dict(dropout=1.0), "dropout=1.0"),
    (build_mlp, dict(initializer="he_nromal"), "Did you mean: 'he_normal'"),
    (build_mlp, dict(activation="rleu"), "relu"),
    (build_cnn, dict(), r"received input_shape=\(2,\)"),
]


def test_bad_arguments():
    for builder, kwargs, fragment in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=fragment):
            builder((2,), 2, **kwargs)
    with pytest.raises(ValueError, match="num_classes"):
        build_mlp((2,), 1)


def test_docstring_examples_run():
    """The examples in the experiments' docstrings are executed, not just shown."""
    import doctest
    import sys

    import keras_init_lab.experiments  # noqa: F401  (loads every submodule)

    for name in (
        "datasets",
        "propagation",
        "models",
        "compare",
        "grid",
        "training",
        "verdicts",
        "settings",
        "_compile",
        "pairings",
    ):
        module = sys.modules[f"keras_init_lab.experiments.{name}"]
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
        assert result.attempted > 0, name
