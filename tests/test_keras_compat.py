"""Tests for ``keras_init_lab._keras_compat``: every Keras internal in one place, checked.

What they show: each private Keras attribute the package uses is present in the installed
Keras (a failure names the one that moved); ``patched`` always restores; ``warn_if_moved``
warns once, and only for a Keras newer than the newest tested one with a missing internal;
op_determinism switches TensorFlow's op determinism on for its block and restores it;
the tested range agrees with ``setup.cfg`` and ``.ci/run``; and no module of the package
reaches a private Keras attribute outside ``_keras_compat.py``.
"""

import configparser
import contextlib
import re
import warnings
from pathlib import Path

import keras
import pytest

from keras_init_lab import _keras_compat
from keras_init_lab._keras_compat import INTERNALS, KerasInternalError, patched

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_init_lab"

#: Private Keras names no module but ``_keras_compat.py`` may mention.
PRIVATE_NAMES = (
    "_make_function",
    "_trainable_variables",
    "ALL_OBJECTS_DICT",
    "_keras_logits",
    "_nodes_by_depth",
    "_inbound_nodes",
    "_outbound_nodes",
    "keras.src",
    "_summary_state",
    "is_op_determinism_enabled",
    "disable_op_determinism",
    "tensorflow.python",
)


@pytest.mark.parametrize("internal", INTERNALS, ids=[i.name for i in INTERNALS])
def test_every_keras_internal_is_present(internal):
    try:
        present = internal.present()
    except Exception as error:  # noqa: BLE001 - the probe failing means the internal moved
        pytest.fail(
            f"Keras {keras.__version__}: {internal.name} ({internal.purpose}) "
            f"moved: {type(error).__name__}: {error}"
        )
    assert present, f"Keras {keras.__version__}: {internal.name} ({internal.purpose}) moved"


def test_missing_internals_is_empty_on_the_installed_keras():
    assert _keras_compat.missing_internals() == []


def test_missing_internals_names_a_probe_that_fails(monkeypatch):
    def broken():
        raise AttributeError("gone")

    fake = _keras_compat.Internal("Model._gone", "a test", broken)
    monkeypatch.setattr(_keras_compat, "INTERNALS", (*INTERNALS, fake))
    assert _keras_compat.missing_internals() == ["Model._gone"]


@pytest.mark.parametrize("raises", [False, True])
def test_op_determinism_is_on_inside_and_restored_after(raises):
    assert _keras_compat.op_determinism_enabled() is False  # TensorFlow's default
    with contextlib.suppress(RuntimeError):
        with _keras_compat.op_determinism():
            assert _keras_compat.op_determinism_enabled() is True
            if raises:
                raise RuntimeError("the block failed")
    assert _keras_compat.op_determinism_enabled() is False


def test_op_determinism_leaves_it_on_when_it_was_on():
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        with _keras_compat.op_determinism():
            pass
        assert _keras_compat.op_determinism_enabled() is True
    finally:
        _keras_compat._determinism_switches()[1]()
    assert _keras_compat.op_determinism_enabled() is False


class _Box:
    value = "class"


@pytest.mark.parametrize("raises", [False, True])
def test_patched_restores_an_instance_attribute(raises):
    box = _Box()
    box.value = "instance"
    with pytest.raises(RuntimeError) if raises else _nothing():
        with patched(box, "value", "patched"):
            assert box.value == "patched"
            if raises:
                raise RuntimeError("body failed")
    assert vars(box)["value"] == "instance"


@pytest.mark.parametrize("raises", [False, True])
def test_patched_deletes_an_attribute_it_added(raises):
    box = _Box()
    with pytest.raises(RuntimeError) if raises else _nothing():
        with patched(box, "value", "patched"):
            assert vars(box)["value"] == "patched"
            with patched(box, "other", 1):
                assert box.other == 1
            assert not hasattr(box, "other")
            if raises:
                raise RuntimeError("body failed")
    assert "value" not in vars(box) and box.value == "class"


def _nothing():
    import contextlib

    return contextlib.nullcontext()


@pytest.fixture
def fresh_warning_state(monkeypatch):
    monkeypatch.setattr(_keras_compat, "_warned", False)


@pytest.mark.parametrize(
    "version, missing, warns",
    [
        (
            (_keras_compat.NEWEST_TESTED_KERAS[0], _keras_compat.NEWEST_TESTED_KERAS[1] + 1),
            ["Model.make_train_function"],
            True,
        ),
        (
            (_keras_compat.NEWEST_TESTED_KERAS[0], _keras_compat.NEWEST_TESTED_KERAS[1] + 1),
            [],
            False,
        ),
        (_keras_compat.NEWEST_TESTED_KERAS, ["Model.make_train_function"], False),
        (_keras_compat.OLDEST_TESTED_KERAS, ["Model.make_train_function"], False),
    ],
)
def test_warn_if_moved_only_for_a_newer_keras_with_a_missing_internal(
    version, missing, warns, monkeypatch, fresh_warning_state
):
    calls = []
    monkeypatch.setattr(_keras_compat, "keras_version", lambda: version)
    monkeypatch.setattr(_keras_compat, "missing_internals", lambda: calls.append(1) or missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _keras_compat.warn_if_moved()
        _keras_compat.warn_if_moved()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if warns:
        assert len(messages) == 1, messages
        assert "Model.make_train_function" in messages[0] and keras.__version__ in messages[0]
    else:
        assert messages == []
    if version <= _keras_compat.NEWEST_TESTED_KERAS:
        assert calls == []  # a tested Keras is not probed at all (no models built on import)


def test_registration_on_import_checks_the_internals_once(monkeypatch):
    import keras_init_lab

    calls = []
    monkeypatch.setattr(_keras_compat, "warn_if_moved", lambda: calls.append(1))
    keras_init_lab._register_with_keras()
    assert calls == [1]
    layer = keras.layers.Dense(2, kernel_initializer="he_avg_normal", activation="gelu_tanh")
    assert type(layer.kernel_initializer).__name__ == "HeAvgNormal"


def test_make_train_function_names_the_keras_version_when_the_internal_is_gone():
    class Trainer:
        def train_step(self, data):
            return {}

    with pytest.raises(KerasInternalError) as info:
        _keras_compat.make_train_function(Trainer())
    message = str(info.value)
    assert "Model.make_train_function" in message and keras.__version__ in message
    low = ".".join(map(str, _keras_compat.OLDEST_TESTED_KERAS))
    assert f"keras>={low}" in message


def test_make_train_function_builds_a_second_function_and_keeps_the_models_own():
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
    own = model.train_function
    train = _keras_compat.make_train_function(model)
    assert train is not own and model.train_function is own
    before = model.layers[0].kernel.numpy().copy()
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((np.ones((4, 3)), np.ones((4, 1)))).batch(4)
    logs = train(iter(data))
    assert "loss" in logs
    assert not np.allclose(model.layers[0].kernel.numpy(), before)  # it trained one step


def test_make_train_function_falls_back_on_make_train_function_and_restores():
    class OldTrainer:  # Keras 3.3: no _make_function
        train_function = "own"

        def make_train_function(self, force=False):
            assert force
            self.train_function = "new"

    trainer = OldTrainer()
    assert _keras_compat.make_train_function(trainer) == "new"
    assert trainer.train_function == "own"


def test_optimizer_variables_error_names_the_internal():
    with pytest.raises(KerasInternalError, match="Optimizer._trainable_variables"):
        _keras_compat.optimizer_variables(object())


def _declared_bound(requirement_lines, package, operator):
    for line in requirement_lines:
        match = re.match(rf"^{package}\s*([<>=!~,.\d\s]*)$", line.strip().split(";")[0])
        if match:
            found = re.search(rf"{re.escape(operator)}\s*(\d+)\.(\d+)", match.group(1))
            return (int(found.group(1)), int(found.group(2))) if found else None
    raise AssertionError(f"{package} is not declared in setup.cfg install_requires")


def test_tested_range_agrees_with_setup_cfg_and_ci():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = config["options"]["install_requires"].strip().splitlines()
    assert _declared_bound(requires, "keras", ">=") == _keras_compat.OLDEST_TESTED_KERAS
    constraints = (ROOT / ".ci" / "oldest-constraints.txt").read_text()
    pinned = re.search(r"^keras==(\d+)\.(\d+)\.\d+", constraints, re.MULTILINE)
    assert pinned, "keras is not pinned in .ci/oldest-constraints.txt"
    assert tuple(map(int, pinned.groups())) == _keras_compat.OLDEST_TESTED_KERAS
    ci = (ROOT / ".ci" / "run").read_text()
    newest = re.search(r"NEWEST_TESTED_KERAS=(\d+)\.(\d+)", ci)
    assert newest, ".ci/run does not state NEWEST_TESTED_KERAS"
    assert tuple(map(int, newest.groups())) == _keras_compat.NEWEST_TESTED_KERAS
    assert "oldest-constraints.txt" in ci
    upper = _declared_bound(requires, "keras", "<")
    if upper is not None:
        assert upper > _keras_compat.NEWEST_TESTED_KERAS


def test_no_private_keras_name_outside_keras_compat():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_keras_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for name in PRIVATE_NAMES:
                if name in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert offenders == [], "private Keras names outside _keras_compat.py:\n" + "\n".join(offenders)
