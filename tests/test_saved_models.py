"""Models saved by the package before its refactor still load and predict the same.

``tests/fixtures/`` holds ``.keras`` files written by the pre-refactor code (see
``tests/fixtures/make_pre_refactor.py``, kept for provenance and never re-run): one written
with the newest supported Keras and one with the oldest. Keras reads files written by the same
or an older Keras, not by a newer one, so each file is checked on every installed Keras at
least as new as the one that wrote it. A user loads such a file with ``import keras_init_lab``
and no ``custom_objects``; the fresh-process test does exactly that.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_init_lab  # noqa: F401 - registers the package's names, as a user's import does
from keras_init_lab import _keras_compat

FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: (file stem, (major, minor) of the Keras that wrote it).
SAVED = (("pre_refactor", (3, 15)), ("pre_refactor_keras3_3", (3, 3)))

#: Float32 predictions of a 5-layer model agree to rounding across TensorFlow builds.
RTOL, ATOL = 1e-5, 1e-6


def _readable():
    """The fixtures the installed Keras can read (written by it or an older Keras)."""
    return [stem for stem, version in SAVED if _keras_compat.keras_version() >= version]


def test_the_fixture_files_are_present():
    for stem, _ in SAVED:
        assert (FIXTURES / f"{stem}.keras").stat().st_size > 0, stem
        with np.load(FIXTURES / f"{stem}.npz") as data:
            assert data["x"].shape == (4, 5) and data["y"].shape == (4, 3), stem


@pytest.mark.parametrize("stem", [stem for stem, _ in SAVED])
def test_pre_refactor_model_loads_in_process_and_predicts_the_same(stem):
    if stem not in _readable():
        version = dict(SAVED)[stem]
        pytest.skip(
            f"{stem}.keras was written by Keras {version}; Keras {keras.__version__} "
            "cannot read files from a newer Keras"
        )
    model = keras.saving.load_model(FIXTURES / f"{stem}.keras")
    with np.load(FIXTURES / f"{stem}.npz") as data:
        np.testing.assert_allclose(
            model.predict(data["x"], verbose=0), data["y"], rtol=RTOL, atol=ATOL
        )
    layers = {layer.name: layer for layer in model.layers}
    assert type(layers["d1"].kernel_initializer).__name__ == "HeAvgNormal"
    assert layers["d1"].activation is keras_init_lab.activations.gelu_tanh
    assert layers["d2"].activation is keras_init_lab.activations.gelu_tanh
    assert layers["d3"].activation == keras_init_lab.activations.LeakyReLUActivation(0.2)
    assert np.ravel(layers["p"].get_weights()[0]) == pytest.approx(0.01)


_CHILD = """
import json, sys
import numpy as np
import keras_init_lab
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "eager import"
import keras
layer = keras.layers.Dense(2, kernel_initializer="he_avg_normal", activation="gelu_tanh")
assert type(layer.kernel_initializer).__name__ == "HeAvgNormal", layer.kernel_initializer
assert layer.activation is keras_init_lab.activations.gelu_tanh, layer.activation
out = {}
for path, data_path in zip(sys.argv[1::2], sys.argv[2::2]):
    model = keras.saving.load_model(path)
    with np.load(data_path) as data:
        out[path] = float(np.max(np.abs(model.predict(data["x"], verbose=0) - data["y"])))
print("RESULT" + json.dumps(out))
"""


def test_pre_refactor_models_load_in_a_fresh_process_without_custom_objects():
    """``import keras_init_lab`` (light: no TensorFlow yet), then ``import keras``: the
    package's names work as strings and the saved files load without ``custom_objects``."""
    stems = _readable()
    assert stems, f"no fixture is readable by Keras {keras.__version__}"
    package_root = str(Path(keras_init_lab.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=package_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = []
    for stem in stems:
        args += [str(FIXTURES / f"{stem}.keras"), str(FIXTURES / f"{stem}.npz")]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    errors = json.loads(line[len("RESULT") :])
    assert len(errors) == len(stems)
    for path, error in errors.items():
        with np.load(Path(path).with_suffix(".npz")) as data:
            scale = float(np.max(np.abs(data["y"])))
        assert error <= ATOL + RTOL * scale, (path, error)


def test_public_face_resolves_every_name():
    import types

    for name in keras_init_lab.__all__:
        value = getattr(keras_init_lab, name)
        assert value is not None and name in dir(keras_init_lab), name
    assert isinstance(keras_init_lab.activations, types.ModuleType)
    assert callable(keras_init_lab.lsuv) and not isinstance(keras_init_lab.lsuv, types.ModuleType)
    assert keras_init_lab.check_model.__name__ == "check_model"
    with pytest.raises(AttributeError, match="no attribute 'activatons'"):
        keras_init_lab.activatons  # noqa: B018
