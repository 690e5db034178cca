"""Recognition of activations by function object (``keras_init_lab.callbacks._units``)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_init_lab import activations as package_activations
from keras_init_lab.activations._facts import KERAS_ONLY, keras_function_kinds
from keras_init_lab.callbacks import _units
from keras_init_lab.callbacks._units import (
    ActivationKind,
    classify_activation,
    describe_activation_layer,
)
from keras_init_lab.callbacks.activation_stats import activation_statistics


def _gaussian(n, *shape, seed=1234):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _single_dense(activation, **kwargs):
    inputs = keras.Input((32,))
    outputs = keras.layers.Dense(64, activation=activation, **kwargs)(inputs)
    return keras.Model(inputs, outputs)


def test_activation_recognised_by_object_everywhere():
    inner_in = keras.Input((8,))
    inner_dense = keras.layers.Dense(8, activation=keras.activations.tanh, name="inner_tanh")
    inner_out = inner_dense(inner_in)
    inner = keras.Model(inner_in, inner_out, name="inner")
    sequential = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, name="seq_linear"),
            keras.layers.ELU(name="seq_elu"),
        ],
        name="seq",
    )

    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, activation="relu", name="fused_relu")(inputs)
    h = keras.layers.Dense(8, name="linear")(h)  # no nonlinearity: not measured
    h = keras.layers.Activation(keras.activations.sigmoid, name="act_sigmoid")(h)
    h = keras.layers.ReLU(name="relu_layer")(h)
    h = keras.layers.LeakyReLU(name="leaky_layer")(h)
    h = keras.layers.PReLU(name="prelu_layer")(h)
    h = inner(h)
    h = sequential(h)
    h = keras.layers.Dense(8, activation=package_activations.leaky_relu, name="package_leaky")(h)
    h = keras.layers.Dense(8, activation=package_activations.tanh, name="package_tanh")(h)
    h = keras.layers.Dense(
        8, activation=package_activations.LeakyReLUActivation(0.1), name="package_leaky_object"
    )(h)
    h = keras.layers.Dense(8, activation=tf.nn.relu, name="tf_relu")(h)  # own identity table
    h = keras.layers.Dense(8, activation=keras.activations.hard_sigmoid, name="hard_sigmoid")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(h)
    model = keras.Model(inputs, outputs)

    record = activation_statistics(model, _gaussian(32, 6))
    expected = {
        "fused_relu": "relu",
        "act_sigmoid": "sigmoid",
        "relu_layer": "relu",
        "leaky_layer": "leaky_relu",
        "prelu_layer": "prelu",
        "inner/inner_tanh": "tanh",
        "seq/seq_elu": "elu",
        "package_leaky": "leaky_relu",
        "package_tanh": "tanh",
        "package_leaky_object": "leaky_relu",
        "tf_relu": "relu",
        "hard_sigmoid": "hard_sigmoid",
        "out": "softmax",
    }
    assert dict(zip(record["layers"], record["activations"])) == expected
    assert record["layers"] == list(expected)  # forward order, nested layers in place
    dead = dict(zip(record["layers"], record["dead_fraction"]))
    saturation = dict(zip(record["layers"], record["saturation_fraction"]))
    for name in (
        "fused_relu",
        "relu_layer",
        "leaky_layer",
        "prelu_layer",
        "seq/seq_elu",
        "package_leaky",
        "package_leaky_object",
        "tf_relu",
    ):
        assert not math.isnan(dead[name]), name
        assert math.isnan(saturation[name]), name
    for name in ("act_sigmoid", "inner/inner_tanh", "package_tanh", "hard_sigmoid"):
        assert not math.isnan(saturation[name]), name
        assert math.isnan(dead[name]), name
    assert math.isnan(dead["out"]) and math.isnan(saturation["out"])


def test_same_name_different_function_is_not_relu():
    """Recognition is by function object: a custom function called 'relu' is not a ReLU."""

    def relu(x):  # the name is the point of the test
        return keras.ops.maximum(x, 0.0)

    record = activation_statistics(_single_dense(relu), _gaussian(16, 32))
    assert record["activations"] == ["relu"]  # its own __name__, for display only
    assert math.isnan(record["dead_fraction"][0])


def test_builtin_table_holds_exactly_the_functions_this_keras_has():
    """Built from what exists: every name found in keras.activations/keras.ops/tf.nn is
    recognised with its family; a name missing in this version (celu, hard_tanh in Keras
    3.3) is simply absent, never an import error."""
    table = _units._builtin_activation_table()
    modules = (keras.activations, keras.ops, tf.nn, tf.math)
    expected_ids = set()
    for unit, aliases in keras_function_kinds():
        for module in modules:
            for alias in aliases:
                function = getattr(module, alias, None)
                if callable(function):
                    expected_ids.add(id(function))
                    assert table[id(function)].family == unit.family, (module.__name__, alias)
    assert set(table) == expected_ids
    assert table[id(keras.activations.relu)] == ActivationKind("relu", "relu", True)
    assert table[id(tf.nn.sigmoid)].family == "sigmoid"
    celu = getattr(keras.activations, "celu", None)
    if celu is not None:
        assert table[id(celu)] == ActivationKind("celu", "relu", False)


@pytest.mark.parametrize(
    "function, family",
    [
        (keras.activations.relu, "relu"),
        (keras.ops.relu, "relu"),
        (tf.nn.relu6, "relu"),
        (keras.activations.selu, "relu"),
        (keras.activations.gelu, "other"),
        (keras.activations.tanh, "tanh"),
        (tf.math.tanh, "tanh"),
        (keras.activations.softsign, "tanh"),
        (keras.activations.sigmoid, "sigmoid"),
        (keras.activations.softmax, "softmax"),
        (keras.activations.linear, "linear"),
        (None, "linear"),
    ],
)
def test_classify_builtin_functions(function, family):
    assert classify_activation(function).family == family


def test_classify_rejects_strings_and_non_callables():
    with pytest.raises(TypeError, match="function object, not by name"):
        classify_activation("relu")
    with pytest.raises(TypeError, match="3"):
        classify_activation(3)


def test_describe_layer_fused_standalone_and_linear():
    fused = describe_activation_layer(keras.layers.Dense(4, activation="tanh"))
    assert fused.fused and fused.kind.family == "tanh"
    standalone = describe_activation_layer(keras.layers.ReLU())
    assert not standalone.fused and standalone.kind.can_die
    assert describe_activation_layer(keras.layers.ReLU(negative_slope=0.1)).kind.name == (
        "leaky_relu"
    )
    assert describe_activation_layer(keras.layers.Dense(4)) is None
    assert describe_activation_layer(keras.layers.Activation("linear")) is None
    assert describe_activation_layer(keras.layers.Flatten()) is None
    conv = keras.layers.Conv2D(2, 3, activation="relu", data_format="channels_first")
    assert describe_activation_layer(conv).channels_first


# ------------------------------------------------------------------------------------------
# The classification comes from the facts table and is true of the functions themselves
# ------------------------------------------------------------------------------------------

#: Inputs for the family checks: a dense grid without 0 (the kink) and without |x| > 30.
_X = np.concatenate([np.linspace(-30.0, -0.01, 3000), np.linspace(0.01, 30.0, 3000)])


def _family_from_values(function):
    """The family a function's own values put it in (properties of the function, not names).

    relu: ``f(x) = c x`` (c >= 1) on (0, 6) and, on x < 0, ``f <= 0`` and nondecreasing
    (zero, a line, or saturating to a constant); sigmoid: values in [0, 1], ``f(0) = 1/2``,
    nondecreasing; tanh: values in [-1, 1], odd, nondecreasing; linear: ``f(x) = x``; softmax:
    a vector map whose rows sum to 1 (or whose ``exp`` does: log-softmax); else other.
    """
    logits = np.random.default_rng(0).normal(size=(8, 5))
    try:
        rows = np.asarray(function(tf.constant(logits)), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a function that is not a vector map
        rows = None
    if rows is not None and (
        np.allclose(rows.sum(axis=-1), 1.0, atol=1e-5)
        or np.allclose(np.exp(rows).sum(axis=-1), 1.0, atol=1e-5)
    ):
        return "softmax"
    y = np.asarray(function(tf.constant(_X)), dtype=np.float64)
    at_zero = float(np.asarray(function(tf.constant([0.0], tf.float64)))[0])
    rising = bool(np.all(np.diff(y) >= -1e-12))
    if np.allclose(y, _X, rtol=1e-12):
        return "linear"
    positive = (_X > 0) & (_X < 6)
    ratio = y[positive] / _X[positive]
    negative = _X < 0
    if (
        np.allclose(ratio, ratio[0], rtol=1e-6)
        and ratio[0] >= 1.0
        and np.all(y[negative] <= 0)
        and np.all(np.diff(y[negative]) >= -1e-12)
    ):
        return "relu"
    if y.min() >= 0 and y.max() <= 1 and abs(at_zero - 0.5) < 1e-6 and rising:
        return "sigmoid"
    if y.min() >= -1 and y.max() <= 1 and np.allclose(y, -y[::-1], atol=1e-7) and rising:
        return "tanh"
    return "other"


def _dies(function):
    """A unit can die: the derivative is exactly 0 on a whole negative interval."""
    x = tf.constant(np.linspace(-5.0, -0.01, 500))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
    return bool(np.all(np.asarray(tape.gradient(y, x)) == 0.0))


def test_builtin_kinds_are_true_of_the_functions():
    """Every Keras/TensorFlow function the facts table classifies (rows and KERAS_ONLY) has
    the family and the dying its values and gradients show."""
    checked = set()
    for unit, names in keras_function_kinds():
        for module in (keras.activations, keras.ops, tf.nn, tf.math):
            for name in names:
                function = getattr(module, name, None)
                if not callable(function) or id(function) in checked:
                    continue
                checked.add(id(function))
                where = f"{module.__name__}.{name} ({unit.name})"
                assert _family_from_values(function) == unit.family, where
                if unit.family != "softmax":
                    assert _dies(function) == unit.can_die, where
    assert len(checked) >= 30  # relu, tanh, sigmoid, ... in four modules


# (id, layer factory): ids stable across processes (pytest-xdist workers must collect the same
# names), layers built in the test, not at collection.
_LAYERS = [
    ("ReLU", lambda: keras.layers.ReLU()),
    ("ReLU-max6", lambda: keras.layers.ReLU(max_value=6.0)),
    ("ReLU-slope0.1", lambda: keras.layers.ReLU(negative_slope=0.1)),
    ("ReLU-threshold0.5", lambda: keras.layers.ReLU(threshold=0.5)),
    ("LeakyReLU-0.3", lambda: keras.layers.LeakyReLU(negative_slope=0.3)),
    ("LeakyReLU-0", lambda: keras.layers.LeakyReLU(negative_slope=0.0)),
    ("PReLU", lambda: keras.layers.PReLU()),
    ("ELU", lambda: keras.layers.ELU()),
    ("ELU-alpha0.5", lambda: keras.layers.ELU(alpha=0.5)),
    ("Softmax", lambda: keras.layers.Softmax()),
    ("Activation-tanh", lambda: keras.layers.Activation("tanh")),
    ("Activation-hard_sigmoid", lambda: keras.layers.Activation(keras.activations.hard_sigmoid)),
]


@pytest.mark.parametrize("make_layer", [make for _, make in _LAYERS], ids=[n for n, _ in _LAYERS])
def test_callbacks_and_check_model_classify_a_layer_alike(make_layer):
    """One classification: the statistics and check_model give the same name and family."""
    layer = make_layer()
    from keras_init_lab.diagnostics.describe import describe_activation

    kind = describe_activation_layer(layer).kind
    info = describe_activation(layer)
    if kind.name in {extra.name for extra in KERAS_ONLY}:
        # No facts row: check_model evaluates it numerically as "other" (its rules are written
        # for the rows), the statistics know its family from KERAS_ONLY.
        assert (info.name, info.family) == (kind.name, "other")
    else:
        assert (info.name, info.family) == (kind.name, kind.family)


def test_layer_classes_dying_and_names_from_the_layers_parameters():
    kinds = {
        "relu6": describe_activation_layer(keras.layers.ReLU(max_value=6.0)).kind,
        "leaky": describe_activation_layer(keras.layers.ReLU(negative_slope=0.1)).kind,
        "elu": describe_activation_layer(keras.layers.ELU(alpha=0.5)).kind,
        "leaky0": describe_activation_layer(keras.layers.LeakyReLU(negative_slope=0.0)).kind,
    }
    assert kinds["relu6"] == ActivationKind("relu", "relu", True)
    assert kinds["leaky"] == ActivationKind("leaky_relu", "relu", False)
    assert kinds["elu"] == ActivationKind("elu", "relu", False)
    assert kinds["leaky0"] == ActivationKind("leaky_relu", "relu", True)  # slope 0 is a ReLU
    # Every one of the facts table's layer classes is recognised as an activation layer.
    for cls in (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU):
        assert describe_activation_layer(cls()) is not None
