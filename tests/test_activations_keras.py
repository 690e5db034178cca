"""Tests for keras_init_lab.activations' Keras integration (``_keras``): plain-string names,
guarded registration, saving under registered names, a ``.keras`` round trip in a fresh
process, and the ``.keras`` file saved before the activations package existed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_init_lab  # noqa: E402
from keras_init_lab import activations  # noqa: E402

# ------------------------------------------------------------------------------------------
# Keras integration: strings, serialization in a fresh process
# ------------------------------------------------------------------------------------------


def test_plain_strings_work_only_for_names_keras_lacks():
    import keras.src.activations as keras_activations

    keras_names = {fn.__name__ for fn in keras_activations.ALL_OBJECTS} | {"swish", "hard_swish"}
    assert "gelu_tanh" in activations.KERAS_STRING_NAMES
    assert not set(activations.KERAS_STRING_NAMES) & keras_names
    assert keras.layers.Dense(2, activation="gelu_tanh").activation is activations.gelu_tanh
    assert keras.layers.Activation("heaviside").activation is activations.step
    # Names Keras defines keep Keras's meaning as strings.
    for name in ("leaky_relu", "gelu", "relu", "sigmoid", "swish"):
        keras_function = keras.activations.get(name)
        assert keras_function.__module__.startswith("keras.src."), name
        assert keras_function is not activations.get(name), name
    assert activations.register_keras_names() == activations.KERAS_STRING_NAMES  # idempotent


def test_string_registration_is_guarded(monkeypatch):
    import keras.src.activations as keras_activations

    pristine = {
        k: v
        for k, v in keras_activations.ALL_OBJECTS_DICT.items()
        if k not in activations.KERAS_STRING_NAMES
    }
    # A Keras without the table: nothing registered, no error.
    monkeypatch.delattr(keras_activations, "ALL_OBJECTS_DICT")
    assert activations.register_keras_names() == []
    # A Keras whose get() no longer reads the table: additions are rolled back.
    monkeypatch.setattr(keras_activations, "ALL_OBJECTS_DICT", dict(pristine), raising=False)

    def strict_get(identifier):
        raise ValueError(identifier)

    monkeypatch.setattr(keras.activations, "get", strict_get)
    assert activations.register_keras_names() == []
    assert keras_activations.ALL_OBJECTS_DICT == pristine


SUBPROCESS_CHECK = r"""
import json, os, sys, types
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras
import keras_init_lab  # the only import that makes the package's objects loadable
model_path, data_path = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(model_path)
data = np.load(data_path)
np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-6, atol=1e-6)
acts = {}
for layer in model.layers:
    fn = getattr(layer, "activation", None)
    if isinstance(fn, types.FunctionType):
        acts[layer.name] = [fn.__module__, fn.__name__]
    elif fn is not None:
        acts[layer.name] = [type(fn).__module__, repr(fn)]
acts["prelu_alpha"] = float(np.mean(model.get_layer("prelu").get_weights()[0]))
string_layer = keras.layers.Dense(1, activation="gelu_tanh")
acts["string_ok"] = string_layer.activation is keras_init_lab.activations.gelu_tanh
print("RESULT" + json.dumps(acts))
"""


@pytest.fixture(scope="module", autouse=True)
def fresh_process(tmp_path_factory):
    """Save a model using every activation and start loading it in a fresh Python process.

    Started when the module starts (autouse), so the subprocess's TensorFlow import overlaps
    the other tests; ``test_keras_model_round_trip_in_fresh_process`` waits for it.
    """
    tmp_path = tmp_path_factory.mktemp("round_trip")
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3, activation=activations.gelu_tanh, name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(5, activation=activations.leaky_relu, name="dense_leaky")(h)
    h = keras.layers.Activation(activations.step, name="act_step")(h)
    h = keras.layers.Dense(5, activation="gelu_tanh", name="dense_string")(h)
    h = keras.layers.Dense(5, activation=activations.LeakyReLUActivation(0.2), name="slope")(h)
    h = activations.prelu(name="prelu")(h)
    for name in ("linear", "sigmoid", "tanh", "relu", "elu", "selu", "gelu", "swish"):
        h = keras.layers.Dense(5, activation=activations.get(name), name=f"dense_{name}")(h)
    outputs = keras.layers.Dense(3, activation=activations.softmax, name="dense_softmax")(h)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 2)).astype("float32")
    model_path, data_path = tmp_path / "model.keras", tmp_path / "data.npz"
    model.save(model_path)
    np.savez(data_path, x=x, y=model.predict(x, verbose=0))

    # The child imports the same keras_init_lab as this process (not another installed copy).
    package_root = str(Path(keras_init_lab.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=package_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-c", SUBPROCESS_CHECK, str(model_path), str(data_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_keras_model_round_trip_in_fresh_process(fresh_process):
    stdout, stderr = fresh_process.communicate(timeout=300)
    assert fresh_process.returncode == 0, stderr[-3000:]
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    acts = json.loads(line[len("RESULT") :])
    assert acts["conv"] == ["keras_init_lab.activations", "gelu_tanh"]
    assert acts["dense_leaky"] == ["keras_init_lab.activations", "leaky_relu"]
    assert acts["act_step"] == ["keras_init_lab.activations", "step"]
    assert acts["dense_string"] == ["keras_init_lab.activations", "gelu_tanh"]
    slope = ["keras_init_lab.activations", "LeakyReLUActivation(negative_slope=0.2)"]
    assert acts["slope"] == slope
    for name in ("linear", "sigmoid", "tanh", "relu", "elu", "selu", "gelu", "swish", "softmax"):
        assert acts[f"dense_{name}"] == ["keras_init_lab.activations", name]
    assert acts["prelu_alpha"] == pytest.approx(0.01)
    assert acts["string_ok"] is True


# ------------------------------------------------------------------------------------------
# Files saved before the activations package existed; saving under registered names
# ------------------------------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def _keras_version(text):
    return tuple(int(part) for part in text.split(".")[:2])


@pytest.mark.parametrize("saved_with", ["keras3_3", "keras3_15"])
def test_model_saved_before_the_refactor_loads(saved_with):
    # Both files hold a model with every activation, saved by the single-module
    # keras_init_lab/activations.py (commit 7276dc2); the .npz holds that code's predictions.
    import zipfile

    path = FIXTURES / f"activations_pre_refactor_{saved_with}.keras"
    with zipfile.ZipFile(path) as archive:
        saved_version = json.loads(archive.read("metadata.json"))["keras_version"]
    if _keras_version(keras.__version__) < _keras_version(saved_version):
        pytest.skip(f"saved by Keras {saved_version}; Keras {keras.__version__} cannot read it")
    model = keras.saving.load_model(path)
    data = np.load(FIXTURES / f"activations_pre_refactor_{saved_with}.npz")
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-5, atol=1e-6)
    assert model.get_layer("dense_step").activation is activations.step
    assert model.get_layer("dense_gelu_tanh").activation is activations.gelu_tanh
    assert model.get_layer("string_gelu_tanh").activation is activations.gelu_tanh
    assert model.get_layer("slope").activation == activations.LeakyReLUActivation(0.2)
    assert float(np.mean(model.get_layer("prelu").get_weights()[0])) == pytest.approx(0.01)
    if saved_with == "keras3_15":
        # Keras 3.15 saved the package's own functions under keras_init_lab>name.
        for name in ("leaky_relu", "relu", "gelu", "sigmoid", "swish"):
            assert model.get_layer(f"dense_{name}").activation is activations.get(name), name


def test_functions_whose_names_keras_has_are_saved_under_registered_names():
    # Keras 3.3-3.5 saved a function under its bare __name__ when Keras had that name, so the
    # course's leaky_relu (0.01) reloaded as Keras's (0.2). Every Keras version must now save
    # the registered name, and the reloaded layer must have the package's function.
    for name in ("leaky_relu", "relu", "gelu", "sigmoid", "softmax", "linear"):
        function = activations.get(name)
        config = keras.layers.Dense(2, activation=function).get_config()["activation"]
        assert isinstance(config, dict) and config["config"] == f"keras_init_lab>{name}", name
        restored = keras.layers.Dense.from_config(
            keras.layers.Dense(2, activation=function).get_config()
        )
        assert restored.activation is function, name
    # Keras's own functions are still saved by their bare names.
    assert keras.layers.Dense(2, activation="relu").get_config()["activation"] == "relu"


def test_keep_registered_function_names_patches_only_where_needed(monkeypatch):
    import keras.src.activations as keras_activations

    from keras_init_lab import _keras_compat

    current = keras_activations.serialize
    original = getattr(current, "_keras_init_lab_original", current)

    def old_keras_serialize(activation):  # what Keras 3.3-3.5 did for a colliding name
        config = original(activation)
        if activation is activations.leaky_relu:
            return "leaky_relu"
        return config

    monkeypatch.setattr(keras_activations, "serialize", old_keras_serialize)
    assert _keras_compat.keep_registered_function_names([activations.leaky_relu]) == [
        activations.leaky_relu
    ]
    patched = keras_activations.serialize(activations.leaky_relu)
    assert patched["config"] == "keras_init_lab>leaky_relu"
    assert keras_activations.serialize(keras.activations.relu) == "relu"
    monkeypatch.setattr(keras_activations, "serialize", original)
    assert _keras_compat.keep_registered_function_names([activations.gelu_tanh]) == []


def test_deferred_probe_patches_at_the_first_serialization(monkeypatch):
    """Off TensorFlow the probe waits for Keras's first ``serialize`` call: nothing is probed
    before it; that call puts Keras's function back, patches where needed and returns the
    patched result; later calls go through the patch only."""
    import keras.src.activations as keras_activations

    from keras_init_lab import _keras_compat

    current = keras_activations.serialize
    original = getattr(current, "_keras_init_lab_original", current)
    calls = []

    def old_keras_serialize(activation):  # what Keras 3.3-3.5 did for a colliding name
        calls.append(activation)
        config = original(activation)
        return "leaky_relu" if activation is activations.leaky_relu else config

    monkeypatch.setattr(keras_activations, "serialize", old_keras_serialize)
    found = []
    _keras_compat.keep_registered_function_names_later([activations.leaky_relu], found)
    assert found == [] and calls == []  # not probed at install
    config = keras.layers.Dense(2, activation=activations.leaky_relu).get_config()
    assert config["activation"]["config"] == "keras_init_lab>leaky_relu"
    assert found == [activations.leaky_relu]
    assert keras_activations.serialize._keras_init_lab_original is old_keras_serialize
    assert keras_activations.serialize(keras.activations.relu) == "relu"
