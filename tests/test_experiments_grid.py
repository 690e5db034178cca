"""Tests for experiments.grid: the axes, the points, the stable id, and the one exception policy
of every argument ``compare`` and ``propagate`` take.

What they show: a point's id is the first 12 hex digits of the SHA-256 of its settings as
canonical JSON (pinned here, and the same in a fresh interpreter with another hash seed), it
ignores where the point sits in the grid and changes with every setting; the grid expands in
``compare``'s order with labels naming only the axes that vary; and every argument of
``compare`` and ``propagate`` given a value of the wrong type raises ``TypeError``, a value
of the right type but wrong raises ``ValueError``, each message naming the value, before any
training starts.
"""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_init_lab.experiments.grid import (  # noqa: E402
    ID_LENGTH,
    GridAxes,
    GridPoint,
    SweepSettings,
    positive_ints,
)

SWEEP = SweepSettings(dataset="spirals", model="mlp", width=32, epochs=8, target_accuracy=0.8)
POINT = GridPoint("he_normal", "relu", depth=4, sweep=SWEEP, index=3, label="he_normal + relu")
#: POINT's id, computed once: it must not change, or every saved sweep loses its runs.
POINT_ID = "e95e2ef6f050"


def test_id_is_the_sha256_of_the_canonical_settings_and_is_pinned():
    settings = POINT.settings()
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    assert POINT.id == hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]
    assert settings["optimizer"] == "momentum" and settings["sweep"]["dataset"] == "spirals"
    assert "index" not in settings and "label" not in settings
    assert POINT.id == POINT_ID


def test_id_is_the_same_in_another_process_with_another_hash_seed():
    code = (
        "from keras_init_lab.experiments.grid import GridPoint, SweepSettings\n"
        "s = SweepSettings(dataset='spirals', model='mlp', width=32, epochs=8, "
        "target_accuracy=0.8)\n"
        "print(GridPoint('he_normal', 'relu', depth=4, sweep=s).id)\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == POINT_ID


def test_id_ignores_the_position_and_changes_with_every_setting():
    assert dataclasses.replace(POINT, index=9, label="other").id == POINT.id
    assert dataclasses.replace(POINT, l2=0, dropout=0).id == POINT.id  # 0 and 0.0: one setting
    changed = {
        "initializer": "glorot_uniform",
        "activation": "tanh",
        "depth": 5,
        "batchnorm": True,
        "residual": True,
        "scaling": "standardize",
        "optimizer": "adam",
        "learning_rate": 0.01,
        "batch_size": "full",
        "loss": "mse",
        "output_activation": "linear",
        "l2": 1e-4,
        "weight_decay": 0.0,
        "dropout": 0.1,
        "seed": 1,
        "sweep": dataclasses.replace(SWEEP, epochs=9),
    }
    compared = {f.name for f in dataclasses.fields(GridPoint) if f.compare}
    assert set(changed) == compared  # every setting is tried
    ids = {dataclasses.replace(POINT, **{name: value}).id for name, value in changed.items()}
    assert len(ids) == len(changed) and POINT.id not in ids


def test_optimizer_objects_are_identified_by_class_and_config():
    import keras

    a = dataclasses.replace(POINT, optimizer=keras.optimizers.Adam(learning_rate=0.01))
    b = dataclasses.replace(POINT, optimizer=keras.optimizers.Adam(learning_rate=0.01))
    c = dataclasses.replace(POINT, optimizer=keras.optimizers.Adam(learning_rate=0.02))
    assert a.id == b.id != c.id
    assert a.settings()["optimizer"]["class"] == "Adam"
    assert a.optimizer_name == "adam"


def test_points_expand_in_compare_order_with_labels_of_the_varying_axes():
    defaults = {"initializers": ("zeros",), "activations": ("relu",), "depth": 6}
    axes = GridAxes.from_arguments(
        defaults,
        initializers=["zeros", "he_normal"],
        activations=["tanh", "relu"],
        depths=[2, 3],
        batchnorm=[False, True],
        learning_rates=[0.1],
    )
    points = axes.points(SWEEP, seed=7)
    assert [p.label for p in points] == [
        f"{init} + {act} + depth {depth} + {bn}"
        for depth in (2, 3)
        for bn in ("no BN", "BN")
        for init in ("zeros", "he_normal")
        for act in ("tanh", "relu")
    ]
    assert [p.index for p in points] == list(range(1, 17))
    assert points[0].run_name == "01_zeros_tanh_depth-2_no-BN"
    assert {p.seed for p in points} == {7} and {p.learning_rate for p in points} == {0.1}
    assert len({p.id for p in points}) == 16
    assert axes.batch_sizes == (32,) and axes.losses == (("categorical_crossentropy", "softmax"),)


def test_positive_ints_raise_type_error_for_a_non_integer():
    assert positive_ints(3, "depths") == (3,) and positive_ints([1, 2], "depths") == (1, 2)
    for bad in ([1.5], ["4"], [True], 2.0):
        with pytest.raises(TypeError, match="must be a positive integer"):
            positive_ints(bad, "depths")
    for bad in ([0], [-2], []):
        with pytest.raises(ValueError):
            positive_ints(bad, "depths")


#: (argument, wrong type, fragment, wrong value, fragment): each message names the value.
COMPARE_ARGUMENTS = [
    ("dataset", 3, "dataset=3", "spiral", "'spirals'"),
    ("model", 3, "model=3", "rnn", "'rnn'"),
    ("initializers", [3], "initializers=3", ["he_nromal"], "'he_normal'"),
    ("activations", [None], "activations=None", ["rleu"], "'relu'"),
    ("depths", [1.5], "depths=1.5", [0], "depths=0"),
    ("batchnorm", "yes", "batchnorm='yes'", [], "batchnorm is empty"),
    ("residual", [1], "residual=1", [], "residual is empty"),
    ("scalings", [3], "scalings=3", ["zscore"], "'zscore'"),
    ("width", 8.0, "width=8.0", 0, "width=0"),
    ("epochs", "2", "epochs='2'", 0, "epochs=0"),
    ("batch_size", 2.5, "batch_size=2.5", 0, "batch_size=0"),
    ("learning_rate", "0.1", "learning_rate='0.1'", -0.1, "learning_rate=-0.1"),
    ("target_accuracy", "0.9", "target_accuracy='0.9'", 1.5, "target_accuracy=1.5"),
    ("max_train_samples", 1.5, "max_train_samples=1.5", 0, "max_train_samples=0"),
    ("preset", 3, "preset=3", "fast", "'fast'"),
    ("quick", "yes", "quick='yes'", None, None),
    ("seed", "0", "seed='0'", -1, "seed=-1"),
    ("out_dir", 3, "out_dir=3", None, None),
    ("verbose", "1", "verbose='1'", -1, "verbose=-1"),
    ("optimizers", [42], "optimizers=42", ["adm"], "'adam'"),
    ("learning_rates", ["fast"], "learning_rates='fast'", [0], "learning_rates=0"),
    ("batch_sizes", [2.5], "batch_sizes=2.5", [0], "batch_sizes=0"),
    ("losses", [3], "losses=3", ["msee"], "'mse'"),
    ("l2", ["0"], "l2='0'", [-1.0], "l2=-1.0"),
    ("weight_decay", ["0"], "weight_decay='0'", [-1.0], "weight_decay=-1.0"),
    ("dropout", ["half"], "dropout='half'", [1.0], "dropout=1.0"),
    ("log_dir", 3, "log_dir=3", None, None),
    ("runs_dir", 3, "runs_dir=3", "", "runs_dir=''"),
    ("workers", "2", "workers='2'", 0, "workers=0"),
    ("ray", 3, "ray=3", "", "ray=''"),
]


def _failures(function, arguments, base):
    """Every (argument, value) whose exception is not the policy's, with what was raised."""
    wrong = []
    for name, bad_type, type_text, bad_value, value_text in arguments:
        for bad, expected, text in (
            (bad_type, TypeError, type_text),
            (bad_value, ValueError, value_text),
        ):
            if text is None:
                continue
            try:
                function(**{**base, name: bad})
            except expected as error:
                if text not in str(error):
                    wrong.append(f"{name}={bad!r}: message lacks {text!r}: {error}")
                continue
            except Exception as error:  # noqa: BLE001 - reported below
                wrong.append(f"{name}={bad!r}: {type(error).__name__}, not {expected.__name__}")
                continue
            wrong.append(f"{name}={bad!r}: nothing raised")
    return wrong


def test_every_compare_argument_wrong_type_is_type_error_wrong_value_is_value_error(monkeypatch):
    import importlib

    from keras_init_lab.experiments import compare

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the arguments were checked")

    module = importlib.import_module("keras_init_lab.experiments.sweep")
    monkeypatch.setattr(module, "train_point", no_training)
    assert {a[0] for a in COMPARE_ARGUMENTS} == set(
        compare.__code__.co_varnames[: compare.__code__.co_argcount]
    )
    base = dict(dataset="xor", initializers=["he_normal"], activations=["relu"], verbose=0)
    wrong = _failures(compare, COMPARE_ARGUMENTS, base)
    with pytest.raises(ValueError, match="not both"):
        compare(**base, out_dir="a", log_dir="b")
    with pytest.raises(ValueError, match="not both"):
        compare(**base, batch_size=8, batch_sizes=[8])
    assert not wrong, "\n".join(wrong)


PROPAGATE_ARGUMENTS = [
    ("sigma2", ["x"], "sigma2='x'", [-1.0], "sigma2=-1.0"),
    ("initializers", [3], "identifier 3", ["he_nromal"], "'he_normal'"),
    ("activations", [3], "identifier 3", ["rleu"], "'relu'"),
    ("depth", 2.0, "depth=2.0", 0, "depth=0"),
    ("width", "8", "width='8'", 0, "width=0"),
    ("input_dim", 1.5, "input_dim=1.5", 0, "input_dim=0"),
    ("n_samples", 4.0, "n_samples=4.0", 1, "n_samples=1"),
    ("n_trials", "1", "n_trials='1'", 0, "n_trials=0"),
    ("seed", "0", "seed='0'", -1, "seed=-1"),
    ("out_dir", 3, "out_dir=3", None, None),
    ("verbose", "yes", "verbose='yes'", -1, "verbose=-1"),
]


def test_every_propagate_argument_follows_the_same_policy():
    from keras_init_lab.experiments import propagate

    assert {a[0] for a in PROPAGATE_ARGUMENTS} == set(
        propagate.__code__.co_varnames[: propagate.__code__.co_argcount]
    )
    base = dict(depth=3, width=4, n_samples=4, n_trials=1)
    wrong = _failures(propagate, PROPAGATE_ARGUMENTS, base)
    assert not wrong, "\n".join(wrong)
