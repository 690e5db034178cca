"""One exception policy, swept over every public entry point.

Wrong type -> ``TypeError``, wrong value -> ``ValueError``, and the message names the bad value
(its ``repr``, as every ``keras_init_lab._validation`` message does: ``received name=value``).

The sweep is built from a table of rows ``(entry point, argument, wrong-type value,
wrong-value value)``:

* **generated** from the signature for every argument whose default is a ``bool``, ``int``,
  ``float`` or ``str`` (see :data:`GENERATED`): ``"3"`` for an int, ``"0.5"`` for a float,
  ``3.5`` for a string, ``"yes"`` for a bool (a string is never a count, a rate, a name or a
  flag); ``-1`` for an int (no count, size or seed of the package is negative), ``nan`` for a
  float (no rate, threshold or scale is NaN), ``"no_such_name"`` for a string (every string
  argument with a default here names a choice);
* **listed** in :data:`LISTED` for arguments without such a default (required arguments,
  ``None`` defaults, sequences, arrays, models) and to override a generated row; ``NONE``
  marks a case that does not exist (a bool has no wrong value, any tensor is a valid input),
  with the reason on the line.

A one-element list is wrong by its element, so the message must name the element; :class:`Bad`
says what else the message must show where the ``repr`` cannot be echoed (an array's shape).

:func:`test_every_public_entry_point_and_argument_is_in_the_table` enumerates the public
names (``__all__`` of the package and of each public module, the lessons' modules, and the
command line's ``compare``/``propagate``), so a new public function, class or argument
without a row fails it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest

NAN = float("nan")


class _Nothing:
    """Marker: this argument has no wrong-type (or no wrong-value) case; the reason is beside it."""

    def __repr__(self) -> str:
        return "NONE"


NONE = _Nothing()


@dataclass(frozen=True)
class Bad:
    """A bad value whose ``repr`` is not what the message can echo (an array, an empty dict).

    ``shown`` is the text the message must contain instead (e.g. the shape it reports);
    ``extra`` are further arguments the case needs (e.g. ``segment_ids`` for ``num_segments``).
    """

    value: object
    shown: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Lazy:
    """A valid base argument built when the case runs (models, arrays, a temporary folder)."""

    make: object  # callable(tmp_path) -> value


def _tiny_model(tmp_path=None):
    import keras

    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh", name="hidden"),
            keras.layers.Dense(2, name="output"),
        ]
    )


def _inputs(tmp_path=None):
    return np.random.default_rng(0).normal(size=(16, 4)).astype("float32")


def _regression(tmp_path=None):
    return np.random.default_rng(0).normal(size=(16, 2))


def _targets(tmp_path=None):
    return np.random.default_rng(1).normal(size=16)


def _writers(tmp_path):
    from keras_init_lab.callbacks import SummaryWriters

    return SummaryWriters(tmp_path / "logs")


MODEL, INPUTS = Lazy(_tiny_model), Lazy(_inputs)

# ---------------------------------------------------------------------------------------------
# Entry points that take no argument, and records: nothing to sweep. The test checks that each
# really takes no argument (resp. is a dataclass or a Warning), so this list cannot hide one.
# ---------------------------------------------------------------------------------------------
NO_ARGUMENTS = {
    "losses.format_task_table",
    "initializers.Zeros",
    "initializers.aliases",
    "initializers.describe",
    "initializers.names",
    "initializers.register_keras_names",
    "activations.aliases",
    "activations.describe",
    "activations.format_legend",
    "activations.register_keras_names",
    "fans.gain_table",
    "lessons.normalization.keras_batchnorm_defaults",
}
#: Result records the package builds and returns (dataclasses, a list of facts) and a warning
#: class: their fields are read, not user input, so there is no argument to sweep.
RECORDS = {
    "losses.TaskRecipe",
    "activations.ActivationSpec",
    "activations.FactsTable",
    "callbacks.GradientHealthWarning",
    "diagnostics.Finding",
    "diagnostics.LayerPrediction",
    "diagnostics.ModelCheck",
    "lsuv.LSUVLayerResult",
    "lsuv.LSUVReport",
    "fans.Gain",
    "lessons.dead_units.DeadUnits",
    "lessons.dead_units.DeadUnitsLesson",
    "lessons.dead_units.ScaleComparison",
}

# ---------------------------------------------------------------------------------------------
# Valid values for the arguments each call needs (required ones, and small sizes so that an
# entry point that wrongly accepts a bad value finishes quickly instead of training for
# minutes). Every swept entry point has a line here, even an empty one.
# ---------------------------------------------------------------------------------------------
_ONE_LOGIT = {"logits": [[0.0]], "y": [[1.0]]}
_COMPARE = {
    "dataset": "xor",
    "preset": "quick",
    "initializers": ["he_normal"],
    "activations": ["relu"],
    "depths": [1],
    "width": 4,
    "epochs": 1,
    "max_train_samples": 64,
    "verbose": 0,
}
_DEAD_UNITS = {"depth": 2, "width": 4, "draws": 1, "probe_size": 8}


def _every_steps(n):
    from keras_init_lab.callbacks import EverySteps

    return EverySteps(n)


def _every_epochs(n):
    from keras_init_lab.callbacks import EveryEpochs

    return EveryEpochs(n)


BASE = {
    # keras_init_lab.losses
    "losses.activate": {"activation": "sigmoid", "logits": [[0.0]]},
    "losses.logit_gradient": {"loss": "binary_crossentropy", "activation": "sigmoid", **_ONE_LOGIT},
    "losses.loss_value": {"loss": "binary_crossentropy", "activation": "sigmoid", **_ONE_LOGIT},
    "losses.recipe": {"task": "binary"},
    # keras_init_lab.lessons
    "lessons.gradient_descent.backprop_by_hand": {},
    "lessons.gradient_descent.batch_size_runs": {
        "x": Lazy(_regression),
        "y": Lazy(_targets),
        "batch_sizes": [4],
        "epochs": 1,
    },
    "lessons.gradient_descent.descend": {
        "gradient": lambda x: 2.0 * x,
        "x0": 1.0,
        "learning_rate": 0.1,
        "steps": 2,
    },
    "lessons.gradient_descent.gradient_noise": {
        "x": Lazy(_regression),
        "y": Lazy(_targets),
        "batch_sizes": [4],
        "permutations": 1,
    },
    "lessons.gradient_descent.learning_rate_regimes": {"steps": 2},
    "lessons.gradient_descent.nonconvex_starts": {"steps": 2},
    "lessons.gradient_descent.quadratic_closed_form": {"x0": 1.0, "learning_rate": 0.1, "steps": 2},
    "lessons.gradient_descent.regression_problem": {},
    "lessons.dead_units.compare_scales": _DEAD_UNITS,
    "lessons.dead_units.dead_unit_lesson": {**_DEAD_UNITS, "depths": (2,), "biases": (0.1,)},
    "lessons.normalization.batch_dependence": {"batch": 8, "small_batch": 2, "width": 4},
    "lessons.normalization.batchnorm_reference": {
        "x": [[0.0, 1.0], [2.0, 3.0]],
        "gamma": [1.0, 1.0],
        "beta": [0.0, 0.0],
        "moving_mean": [0.0, 0.0],
        "moving_variance": [1.0, 1.0],
        "training": True,
    },
    "lessons.normalization.compare_with_keras": {"batch": 4, "features": 2},
    "lessons.normalization.variance_through_depth": {
        "normalizations": ["none"],
        "depth": 2,
        "width": 8,
        "samples": 4,
    },
    "lessons.optimizers.compare_optimizers": {
        "optimizers": ["sgd"],
        "steps": 1,
        "batch_size": 4,
        "samples": 8,
    },
    "lessons.optimizers.make_optimizer": {"name": "sgd"},
    "lessons.optimizers.update_ratio_verdict": {"ratio": 1e-3},
    "lessons.output_activation.multilabel_data": {"samples": 8},
    "lessons.output_activation.multilabel_softmax_vs_sigmoid": {"epochs": 1},
    "lessons.output_activation.single_unit_softmax": {"epochs": 1},
    "lessons.regularization.dropout_statistics": {"samples": 8, "units": 4},
    "lessons.regularization.l2_vs_weight_decay": {"steps": 1},
    "lessons.regularization.weight_decay_for_l2": {"l2": 0.01},
    "lessons.scaling.fit_scaler": {"kind": "zscore", "train": [[0.0], [1.0]]},
    "lessons.scaling.image_like_data": {"samples": 8, "features": 2},
    "lessons.scaling.raw_vs_scaled": {"epochs": 1},
    "lessons.scaling.saved_model_round_trip": {"epochs": 1},
    "lessons.scaling.scaler_layer": {"kind": "minmax", "train": [[0.0], [1.0]]},
    "lessons.scaling.transform": {"params": {"kind": "constant", "scale": 0.5}, "x": [[2.0]]},
    # keras_init_lab.initializers
    **{
        f"initializers.{name}": {}
        for name in (
            "Constant",
            "GlorotHeuristicUniform",
            "GlorotNormal",
            "GlorotUniform",
            "HeAvgNormal",
            "HeAvgUniform",
            "HeNormal",
            "HeUniform",
            "LeakyHeNormal",
            "LeakyHeUniform",
            "LecunNormal",
            "LecunUniform",
            "Orthogonal",
            "SmallNormal",
            "SmallUniform",
            "VarianceScaling",
        )
    },
    "initializers.canonical_name": {"name": "he_normal"},
    "initializers.get": {"identifier": "he_normal"},
    "initializers.layer_variance_factor": {"weight_variance": 0.02},
    # keras_init_lab.activations
    **{
        f"activations.{name}": {"x": [[0.5, -0.5]]}
        for name in (
            "elu",
            "gelu",
            "gelu_tanh",
            "leaky_relu",
            "linear",
            "relu",
            "selu",
            "sigmoid",
            "silu",
            "softmax",
            "softmax_jacobian",
            "step",
            "swish",
            "tanh",
        )
    },
    "activations.LeakyReLUActivation": {},
    "activations.as_layer": {"identifier": "relu"},
    "activations.format_table": {"rows": Lazy(lambda tmp: list(_describe_activations())[:2])},
    "activations.get": {"identifier": "relu"},
    "activations.names": {},
    "activations.prelu": {},
    "activations.spec": {"identifier": "relu"},
    # keras_init_lab.callbacks (constructors and functions)
    "callbacks.ActivationStats": {"probe_data": INPUTS},
    "callbacks.CaptureCallback": {"schedule": Lazy(lambda tmp: _every_steps(1))},
    "callbacks.EveryEpochs": {"n": 1},
    "callbacks.EverySteps": {"n": 1},
    "callbacks.GradientHealth": {},
    "callbacks.GradientStats": {},
    "callbacks.SummaryWriters": {"log_dir": Lazy(lambda tmp: tmp / "logs")},
    "callbacks.activation_statistics": {"model": MODEL, "x": INPUTS},
    "callbacks.uniform_bucket_counts": {"values": [0.5], "low": 0.0, "high": 1.0},
    "callbacks.write_custom_scalars_layout": {
        "writers": Lazy(_writers),
        "categories": {"losses": {"loss": ["loss"]}},
    },
    # keras_init_lab.diagnostics, .lsuv, .fans
    "diagnostics.check_model": {"model": MODEL},
    "diagnostics.check_model_path": {"path": "model.keras"},
    "diagnostics.load_model_file": {"path": "model.keras"},
    "lsuv.lsuv": {"model": MODEL, "x_batch": INPUTS},
    "fans.calculate_gain": {"nonlinearity": "leaky_relu"},
    "fans.compute_fans": {"shape": (3, 4)},
    "fans.fan_for_mode": {"shape_or_fans": (3, 4), "mode": "fan_in"},
    "fans.gaussian_expectation": {"function": np.tanh},
    # the command line's experiments (keras-init-lab compare / propagate)
    "experiments.compare": _COMPARE,
    "experiments.propagate": {
        "sigma2": [0.02],
        "depth": 2,
        "width": 4,
        "n_samples": 8,
        "n_trials": 1,
    },
}


def _describe_activations():
    from keras_init_lab import activations

    return activations.describe()


# ---------------------------------------------------------------------------------------------
# Listed rows: (entry point, argument, wrong-type value, wrong-value value). They replace the
# generated row of the same argument. NONE: no such case (the reason is on the line).
# ---------------------------------------------------------------------------------------------
_NAN_LOGIT = Bad([[NAN]], shown="nan")
#: An empty path (it would mean the current folder): the message says it is empty.
_EMPTY_PATH = Bad("", shown="empty")
#: A string where a Keras model belongs: the message names what it received, its type.
_NOT_A_MODEL = Bad("model", shown="str")
LISTED = [
    # keras_init_lab.losses
    ("losses.activate", "activation", 3.5, "sigmod"),
    ("losses.activate", "logits", "abc", _NAN_LOGIT),
    *(
        row
        for entry in ("losses.logit_gradient", "losses.loss_value")
        for row in (
            (entry, "loss", 3.5, "binary_crossentropie"),
            (entry, "activation", 3.5, "sofmax"),
            (entry, "logits", "abc", _NAN_LOGIT),
            # binary cross-entropy targets are probabilities: 1.5 is none
            (entry, "y", "abc", Bad([[1.5]], shown="1.5")),
        )
    ),
    ("losses.recipe", "task", 3.5, "multilabel"),
    # keras_init_lab.lessons.gradient_descent
    *(
        row
        for entry in (
            "lessons.gradient_descent.batch_size_runs",
            "lessons.gradient_descent.gradient_noise",
        )
        for row in (
            (entry, "x", "abc", Bad(np.zeros(16), shown="(16,)")),  # 1-D: not (samples, features)
            (entry, "y", "abc", Bad(np.zeros(5), shown="(5,)")),  # 5 targets for 16 samples
            (entry, "batch_sizes", "4", Bad([0], shown="batch_size=0")),
        )
    ),
    ("lessons.gradient_descent.descend", "gradient", "2x", NONE),  # any callable is a gradient
    ("lessons.gradient_descent.descend", "x0", "1.0", NAN),
    ("lessons.gradient_descent.descend", "learning_rate", "0.1", -0.1),
    ("lessons.gradient_descent.descend", "steps", "2", 0),
    ("lessons.gradient_descent.quadratic_closed_form", "x0", "1.0", NAN),
    ("lessons.gradient_descent.quadratic_closed_form", "learning_rate", "0.1", -0.1),
    ("lessons.gradient_descent.quadratic_closed_form", "steps", "2", 0),
    (
        "lessons.gradient_descent.learning_rate_regimes",
        "learning_rates",
        "0.1",
        Bad([-0.1], shown="-0.1"),
    ),
    ("lessons.gradient_descent.nonconvex_starts", "starts", "0.3", Bad([NAN], shown="nan")),
    # keras_init_lab.lessons.dead_units
    ("lessons.dead_units.dead_unit_lesson", "depths", "4", Bad((0,), shown="0")),
    ("lessons.dead_units.dead_unit_lesson", "biases", "0.1", Bad((NAN,), shown="nan")),
    # keras_init_lab.lessons.normalization
    ("lessons.normalization.batchnorm_reference", "x", "abc", Bad([1.0, 2.0], shown="(2,)")),
    *(
        ("lessons.normalization.batchnorm_reference", name, "abc", Bad([1.0], shown="(1,)"))
        for name in ("gamma", "beta", "moving_mean")  # one value for two features
    ),
    (
        "lessons.normalization.batchnorm_reference",
        "moving_variance",
        "abc",
        Bad([1.0, -1.0], shown="-1"),  # a variance is >= 0
    ),
    ("lessons.normalization.batchnorm_reference", "training", "yes", NONE),  # both bools valid
    ("lessons.normalization.variance_through_depth", "normalizations", 3.5, ["bach"]),
    # keras_init_lab.lessons.optimizers
    ("lessons.optimizers.compare_optimizers", "optimizers", 3.5, ["adma"]),
    (
        "lessons.optimizers.compare_optimizers",
        "learning_rates",
        "0.1",
        Bad({"sgd": -1.0}, shown="-1.0"),
    ),
    ("lessons.optimizers.make_optimizer", "name", 3.5, "adma"),
    ("lessons.optimizers.make_optimizer", "learning_rate", "0.1", -0.01),
    ("lessons.optimizers.update_ratio_verdict", "ratio", "1e-3", -1.0),
    # keras_init_lab.lessons.regularization
    ("lessons.regularization.l2_vs_weight_decay", "weight_decay", "0.1", -1.0),
    ("lessons.regularization.weight_decay_for_l2", "l2", "0.01", -1.0),
    ("lessons.regularization.dropout_statistics", "rate", "0.5", 1.0),  # [0, 1): 1 drops all
    # keras_init_lab.lessons.scaling
    ("lessons.scaling.fit_scaler", "kind", 3.5, "z-score"),
    ("lessons.scaling.fit_scaler", "train", "abc", Bad([1.0, 2.0], shown="(2,)")),
    ("lessons.scaling.scaler_layer", "kind", 3.5, "z-score"),
    ("lessons.scaling.scaler_layer", "train", "abc", Bad([1.0, 2.0], shown="(2,)")),
    ("lessons.scaling.transform", "params", "zscore", Bad({"kind": "z-score"}, shown="z-score")),
    ("lessons.scaling.transform", "x", "abc", NONE),  # any finite array can be scaled
    # "": the current folder, where a model file would land unasked
    ("lessons.scaling.saved_model_round_trip", "directory", 3.5, _EMPTY_PATH),
    # keras_init_lab.initializers: a seed is an int >= 0 (as NumPy's generators require)
    *(
        (f"initializers.{name}", "seed", "3", -1)
        for name in (
            "GlorotHeuristicUniform",
            "GlorotNormal",
            "GlorotUniform",
            "HeAvgNormal",
            "HeAvgUniform",
            "HeNormal",
            "HeUniform",
            "LeakyHeNormal",
            "LeakyHeUniform",
            "LecunNormal",
            "LecunUniform",
            "Orthogonal",
            "SmallNormal",
            "SmallUniform",
            "VarianceScaling",
        )
    ),
    ("initializers.VarianceScaling", "scale", "2.0", -1.0),
    ("initializers.VarianceScaling", "gain", "1.0", NAN),
    ("initializers.canonical_name", "name", 3.5, "he_nromal"),
    ("initializers.get", "identifier", 3.5, "he_nromal"),
    ("initializers.layer_variance_factor", "weight_variance", "0.02", -1.0),
    # keras_init_lab.activations
    *(
        # a string is no tensor; every real tensor is valid, NaN included
        (f"activations.{name}", "x", "abc", NONE)
        for name in (
            "elu",
            "gelu",
            "gelu_tanh",
            "leaky_relu",
            "linear",
            "relu",
            "selu",
            "sigmoid",
            "silu",
            "softmax",
            "softmax_jacobian",
            "step",
            "swish",
            "tanh",
        )
    ),
    ("activations.softmax", "axis", "1", 5),  # x has 2 axes
    ("activations.as_layer", "identifier", 3.5, "relux"),
    ("activations.get", "identifier", 3.5, "relux"),
    ("activations.spec", "identifier", 3.5, NONE),  # an unknown name returns None by design
    ("activations.format_table", "rows", "abc", NONE),  # any list of describe() rows
    ("activations.format_table", "columns", "abc", ()),
    ("activations.prelu", "alpha_initializer", [0.01], "no_such_initializer"),
    # keras_init_lab.callbacks
    ("callbacks.ActivationStats", "probe_data", "abc", NONE),  # any batch of model inputs
    ("callbacks.ActivationStats", "log_dir", 3.5, _EMPTY_PATH),
    ("callbacks.GradientStats", "log_dir", 3.5, _EMPTY_PATH),
    # 0 is valid: it means "never" (the documented way to turn histograms off with a log_dir)
    ("callbacks.GradientStats", "histogram_every_n_steps", "10", -1),
    ("callbacks.SummaryWriters", "log_dir", 3.5, _EMPTY_PATH),
    # a schedule is an EverySteps / EveryEpochs object: the wrong kind is a wrong type, and
    # every such object is a valid value (its n was checked when it was built)
    (
        "callbacks.CaptureCallback",
        "schedule",
        Bad(Lazy(lambda tmp: _every_epochs(2)), shown="EveryEpochs"),
        NONE,
    ),
    ("callbacks.EveryEpochs", "n", "2", 0),
    ("callbacks.EverySteps", "n", "2", 0),
    ("callbacks.GradientStats", "every_n_steps", "10", 0),
    (
        "callbacks.GradientStats",
        "schedule",
        Bad(Lazy(lambda tmp: _every_epochs(2)), shown="EveryEpochs"),
        NONE,
    ),
    ("callbacks.GradientHealth", "every_n_steps", "10", 0),
    (
        "callbacks.GradientHealth",
        "schedule",
        Bad(Lazy(lambda tmp: _every_epochs(2)), shown="EveryEpochs"),
        NONE,
    ),
    ("callbacks.ActivationStats", "every_n_epochs", "1", 0),
    (
        "callbacks.ActivationStats",
        "schedule",
        Bad(Lazy(lambda tmp: _every_steps(2)), shown="EverySteps"),
        NONE,
    ),
    ("callbacks.activation_statistics", "model", _NOT_A_MODEL, NONE),  # any Keras model
    ("callbacks.activation_statistics", "x", "abc", NONE),  # any batch of model inputs
    ("callbacks.uniform_bucket_counts", "values", "abc", NONE),  # any real tensor, NaN skipped
    ("callbacks.uniform_bucket_counts", "low", "0", NAN),
    ("callbacks.uniform_bucket_counts", "high", "1", NAN),
    ("callbacks.uniform_bucket_counts", "segment_ids", "abc", NONE),  # any int tensor
    (
        "callbacks.uniform_bucket_counts",
        "num_segments",
        Bad("2", extra={"segment_ids": [0]}),
        Bad(0, extra={"segment_ids": [0]}),
    ),
    (
        "callbacks.write_custom_scalars_layout",
        "writers",
        Bad("logs", shown="str"),
        NONE,
    ),  # a SummaryWriters
    ("callbacks.write_custom_scalars_layout", "categories", "abc", Bad({}, shown="empty")),
    ("callbacks.write_custom_scalars_layout", "run", 3.5, NONE),  # any run name
    # keras_init_lab.diagnostics, .lsuv, .fans
    ("diagnostics.check_model", "model", _NOT_A_MODEL, NONE),  # any Keras model
    ("diagnostics.check_model", "band", "0.01,100", (100.0, 0.01)),  # low > high
    ("diagnostics.check_model_path", "path", 3.5, "model.txt"),
    ("diagnostics.load_model_file", "path", 3.5, "model.txt"),
    ("lsuv.lsuv", "model", _NOT_A_MODEL, NONE),  # any Keras model
    ("lsuv.lsuv", "x_batch", "abc", NONE),  # any batch of model inputs (a string is none)
    ("lsuv.lsuv", "seed", "3", -1),
    ("fans.calculate_gain", "nonlinearity", 3.5, "relux"),
    ("fans.calculate_gain", "param", "0.2", NAN),
    ("fans.compute_fans", "shape", "3,4", (3, 0)),
    ("fans.fan_for_mode", "shape_or_fans", "3,4", (3, 0)),
    ("fans.fan_for_mode", "mode", 3.5, "fan_inn"),
    ("fans.gaussian_expectation", "function", "tanh", NONE),  # any callable on an array
    # the command line's experiments
    ("experiments.compare", "dataset", 3.5, "no_such_dataset"),
    ("experiments.compare", "initializers", 3.5, ["he_nromal"]),
    ("experiments.compare", "activations", 3.5, ["relux"]),
    ("experiments.compare", "depths", "2", Bad([0], shown="0")),
    ("experiments.compare", "batchnorm", "yes", NONE),  # True, False or a list of them
    ("experiments.compare", "residual", "yes", NONE),
    ("experiments.compare", "scalings", 3.5, "no_such_scaling"),
    ("experiments.compare", "width", "4", 0),
    ("experiments.compare", "epochs", "1", 0),
    ("experiments.compare", "batch_size", "32", 0),
    ("experiments.compare", "learning_rate", "0.1", -0.1),
    ("experiments.compare", "target_accuracy", "0.9", 1.5),
    ("experiments.compare", "max_train_samples", "64", 0),
    ("experiments.compare", "out_dir", 3.5, _EMPTY_PATH),
    ("experiments.compare", "verbose", "1", 5),  # 0, 1 or 2
    ("experiments.compare", "optimizers", 3.5, ["adma"]),
    ("experiments.compare", "learning_rates", "0.1", Bad([-0.1], shown="-0.1")),
    ("experiments.compare", "batch_sizes", 3.5, Bad([0], shown="0")),
    ("experiments.compare", "losses", 3.5, Bad(["mse:sofmax"], shown="'sofmax'")),
    ("experiments.compare", "l2", "0.1", Bad([-0.1], shown="-0.1")),
    ("experiments.compare", "weight_decay", "0.1", Bad([-0.1], shown="-0.1")),
    ("experiments.compare", "dropout", "0.1", Bad([1.0], shown="1.0")),
    ("experiments.compare", "log_dir", 3.5, _EMPTY_PATH),
    ("experiments.compare", "runs_dir", 3.5, _EMPTY_PATH),
    ("experiments.compare", "ray", 3.5, _EMPTY_PATH),  # True or an address
    ("experiments.propagate", "sigma2", "0.02", Bad([-1.0], shown="-1.0")),
    ("experiments.propagate", "initializers", 3.5, ["he_nromal"]),
    ("experiments.propagate", "activations", 3.5, ["relux"]),
    ("experiments.propagate", "input_dim", "4", 0),
    ("experiments.propagate", "out_dir", 3.5, _EMPTY_PATH),
]


# ---------------------------------------------------------------------------------------------
# The machinery: enumerate public names, generate rows, run them.
# ---------------------------------------------------------------------------------------------
#: Public modules whose ``__all__`` is swept (the lessons' modules are added from
#: ``keras_init_lab.lessons.__all__``); of ``experiments`` only what the command line calls.
PUBLIC_MODULES = (
    "initializers",
    "activations",
    "callbacks",
    "losses",
    "diagnostics",
    "lsuv",
    "fans",
)
CLI_FACING = ("experiments.compare", "experiments.propagate")
#: Wrong-type and wrong-value values generated from a default's type (see the module docstring).
GENERATED = {
    bool: ("yes", NONE),
    int: ("3", -1),
    float: ("0.5", NAN),
    str: (3.5, "no_such_name"),
}


def _module(name: str):
    return importlib.import_module(f"keras_init_lab.{name}" if name else "keras_init_lab")


def public_entry_points() -> dict:
    """``{"module.name": object}`` for every public function and class, each under one name."""
    import keras_init_lab
    from keras_init_lab import lessons

    modules = list(PUBLIC_MODULES) + [f"lessons.{name}" for name in lessons.__all__]
    found, seen = {}, set()
    for module_name in [*modules, ""]:  # the package's own names last: they are re-exports
        module = _module(module_name)
        for name in module.__all__:
            obj = getattr(module, name) if module_name else getattr(keras_init_lab, name)
            if inspect.ismodule(obj) or not callable(obj) or (not module_name and id(obj) in seen):
                continue
            seen.add(id(obj))
            found[f"{module_name}.{name}" if module_name else name] = obj
    for key in CLI_FACING:
        module_name, name = key.rsplit(".", 1)
        found[key] = getattr(_module(module_name), name)
    return found


def _resolve(entry: str):
    module_name, name = entry.rsplit(".", 1)
    return getattr(_module(module_name), name)


def _parameters(obj) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(obj).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def rows_for(entry: str) -> list[tuple]:
    """``(argument, kind, value)`` cases of ``entry``, kind ``"type"`` or ``"value"``."""
    listed = {(e, a): (t, v) for e, a, t, v in LISTED}
    cases = []
    for parameter in _parameters(_resolve(entry)):
        arg = parameter.name
        if (entry, arg) in listed:
            wrong_type, wrong_value = listed[entry, arg]
        elif type(parameter.default) in GENERATED:
            wrong_type, wrong_value = GENERATED[type(parameter.default)]
        else:
            continue  # reported by the coverage test
        for kind, value in (("type", wrong_type), ("value", wrong_value)):
            if value is not NONE:
                cases.append((arg, kind, value))
    return cases


def _materialize(value, tmp_path):
    return value.make(tmp_path) if isinstance(value, Lazy) else value


def _check(entry: str, arg: str, kind: str, value, tmp_path) -> str | None:
    """Run one case; return a description of what went wrong, or None."""
    bad = value if isinstance(value, Bad) else Bad(value)
    kwargs = {k: _materialize(v, tmp_path) for k, v in BASE[entry].items()}
    kwargs.update({k: _materialize(v, tmp_path) for k, v in bad.extra.items()})
    kwargs[arg] = _materialize(bad.value, tmp_path)  # a Lazy bad value: an object to build
    expected = TypeError if kind == "type" else ValueError
    shown = bad.shown
    if shown is None:  # a one-element list is wrong by its element, which the message names
        one = isinstance(bad.value, list) and len(bad.value) == 1
        shown = repr(bad.value[0] if one else bad.value)
    label = f"{entry}({arg}={bad.value!r})"
    try:
        _resolve(entry)(**kwargs)
    except Exception as error:  # noqa: BLE001 - the type is what is checked
        message = str(error)
        if not isinstance(error, expected):
            return f"{label}: expected {expected.__name__}, got {type(error).__name__}: {message}"
        if shown not in message:
            return f"{label}: the message does not name {shown}: {message}"
        return None
    return f"{label}: expected {expected.__name__}, nothing raised"


def test_every_public_entry_point_and_argument_is_in_the_table():
    public = public_entry_points()
    problems = []
    for entry, obj in sorted(public.items()):
        if entry in RECORDS:
            is_record = dataclasses.is_dataclass(obj) or (
                inspect.isclass(obj) and issubclass(obj, (Warning, tuple, list))
            )
            if not is_record:
                problems.append(f"{entry} is in RECORDS but is not a dataclass, tuple or Warning")
            continue
        parameters = _parameters(obj)
        if entry in NO_ARGUMENTS:
            if parameters:
                problems.append(f"{entry} is in NO_ARGUMENTS but takes {parameters}")
            continue
        if entry not in BASE:
            problems.append(f"{entry} is public but has no line in BASE (and no rows)")
            continue
        listed = {(e, a) for e, a, _t, _v in LISTED}
        for parameter in parameters:
            key = (entry, parameter.name)
            generated = type(parameter.default) in GENERATED
            if not (generated or key in listed):
                problems.append(f"{entry}: argument {parameter.name!r} has no row in LISTED")
    table = set(BASE) | {e for e, *_ in LISTED}
    table |= NO_ARGUMENTS | RECORDS
    stale = sorted(table - set(public))
    problems += [f"{entry} is in the table but not public (stale row)" for entry in stale]
    for entry, arg, *_ in LISTED:
        if entry in public and arg not in {p.name for p in _parameters(public[entry])}:
            problems.append(f"{entry} has no argument {arg!r} (stale row)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("entry", sorted(BASE))
def test_wrong_type_is_type_error_and_wrong_value_is_value_error(entry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a call that wrongly accepts "" writes nothing into the repo
    failures = [
        problem
        for arg, kind, value in rows_for(entry)
        if (problem := _check(entry, arg, kind, value, tmp_path)) is not None
    ]
    assert not failures, "\n".join(failures)


def test_the_generated_wrong_values_are_never_a_default():
    # A generated wrong value equal to the argument's own default (softmax's axis=-1 for the
    # int rule) would be a valid value: such arguments must be listed instead.
    listed = {(e, a) for e, a, _t, _v in LISTED}
    clashes = [
        f"{entry}({parameter.name}={parameter.default!r})"
        for entry in BASE
        for parameter in _parameters(_resolve(entry))
        if (entry, parameter.name) not in listed
        and type(parameter.default) in GENERATED
        and GENERATED[type(parameter.default)][1] == parameter.default
    ]
    assert not clashes, clashes
