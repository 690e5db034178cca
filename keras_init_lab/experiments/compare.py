"""Initializer x activation grid on one model and one dataset ("same model, same data").

Every run builds the same architecture with one (initializer, activation) pair (and
optionally a depth, BatchNorm, residual and input-scaling setting, and the training axes of
lecture 003, fundamentals of deep neural networks, and lecture 004, other network
specifications: optimizer, learning rate, batch size, loss with its output activation, L2
penalty, decoupled weight decay, dropout), trains it with the same seed and data, and records
what the package's callbacks measure:

* loss and accuracy curves (train and validation), final values, epochs to reach a target
  validation accuracy;
* ``GradientStats``: per-layer gradient norms at the first step, and the first-layer over
  output-layer ratio (vanishing below ``VANISHING_RATIO``, exploding above
  ``EXPLODING_RATIO``);
* ``ActivationStats``: dead (ReLU family) and saturated (tanh/sigmoid) unit fractions on a
  fixed probe batch, at the start and at the end;
* ``GradientStats``'s update-to-weight ratio ``||w_after - w_before|| / ||w_before||``, the
  median over recorded steps and weight layers, read against CS231n's ~1e-3 rule of thumb
  (``lessons.optimizers.update_ratio_verdict``);
* a one-line verdict that names its evidence.

Each run writes TensorBoard event files to its own folder ``<out>/tensorboard/<NN_run>``.

Example:
    >>> result = compare(dataset="xor", initializers=["zeros", "he_normal"],
    ...                  activations=["relu"], epochs=5)            # doctest: +SKIP
    >>> [run["verdict"] for run in result.runs]                       # doctest: +SKIP

Reference:
    X. Glorot & Y. Bengio, "Understanding the difficulty of training deep feedforward neural
    networks" (AISTATS 2010), https://proceedings.mlr.press/v9/glorot10a.html ;
    K. He et al. (ICCV 2015), https://arxiv.org/abs/1502.01852 ;
    A. Karpathy, CS231n "Neural Networks Part 3", section "Ratio of weights:updates",
    https://cs231n.github.io/neural-networks-3/#ratio ;
    I. Loshchilov & F. Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019),
    https://arxiv.org/abs/1711.05101
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_init_lab import losses as _losses
from keras_init_lab._gradient_rules import (
    EXPLODING_RATIO,
    VANISHING_RATIO,
    gradient_ratio_verdict,
)
from keras_init_lab._names import unknown_name_error
from keras_init_lab._validation import check_choice, check_number
from keras_init_lab.experiments import datasets as _datasets

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_INITIALIZERS",
    "DEFAULT_LOSS",
    "DEFAULT_OPTIMIZER",
    "FULL_BATCH",
    "LEARNING_MARGIN",
    "MODELS",
    "PRESETS",
    "RESULT_COLUMNS",
    "UNIT_PROBLEM_FRACTION",
    "UNSCALED_INPUT_LIMIT",
    "UPDATE_RATIO_NOTE",
    "CompareResult",
    "compare",
    "verdict",
]

#: Lectures 000 (overview) and 002 (initialization): two bad starting points (all zeros:
#: symmetry; tiny weights: vanishing signal) against the two textbook scales, crossed with the
#: four activations of lecture 004 (activation functions).
DEFAULT_INITIALIZERS = ("zeros", "small_normal", "glorot_uniform", "he_normal")
DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
MODELS = ("auto", "mlp", "cnn")
#: More than half the hidden units dead / saturated is named as the cause of a failure.
UNIT_PROBLEM_FRACTION = 0.5
#: "Learns slowly" needs at least 10 accuracy points over chance; less is "does not learn".
LEARNING_MARGIN = 0.10
#: Inputs with a largest |x| above 10 count as unscaled when a run fails (pixels 0..16 or
#: 0..255): standardized features rarely exceed a few standard deviations (|x| > 10 has
#: probability 1.5e-23 for a Gaussian feature), so the verdict names the scaling as a cause.
UNSCALED_INPUT_LIMIT = 10.0
#: Probe samples for ActivationStats: 256, its own default cap (max_probe_samples).
PROBE_SAMPLES = 256
#: The presets' optimizer: SGD with momentum 0.9 (``lessons.optimizers.make_optimizer``).
DEFAULT_OPTIMIZER = "momentum"
#: The default loss and output activation: softmax + categorical cross-entropy, computed fused
#: from the logits with integer labels (``SparseCategoricalCrossentropy(from_logits=True)``:
#: the same value and gradient ``p - y`` as softmax + CCE on one-hot targets, numerically
#: stable); lecture 004's row for multi-class tasks (``losses.recipe("multi-class")``).
DEFAULT_LOSS = ("categorical_crossentropy", "softmax")
#: The ``batch_sizes`` value meaning "the whole training split in one batch" (full-batch
#: gradient descent of lecture 003: one update per epoch).
FULL_BATCH = "full"
#: How the update-ratio column is computed and where its rule of thumb comes from.
UPDATE_RATIO_NOTE = (
    "update/weight = ||w_after - w_before|| / ||w_before|| per step from GradientStats, the "
    "median over recorded steps (the first step of each epoch) and weight layers; rule of "
    "thumb ~1e-3 per step (A. Karpathy, CS231n 'Neural Networks Part 3: Learning and "
    "Evaluation', https://cs231n.github.io/neural-networks-3/#ratio): much larger suggests "
    "a learning rate too high, much smaller one too low"
)

#: Presets. SGD with momentum 0.9 (not Adam): Adam divides each update by the gradient's
#: running RMS, which hides a vanishing gradient's scale, and the point here is to see it.
#: "full" and "quick": 6 (4) hidden layers of 32 units, learning rate 0.05, deep enough for
#: sigmoid and tiny weights to fail visibly; "quick" is the sub-minute test grid.
#: "demo" runs lecture 002's four pairings (glorot_uniform / he_normal x tanh / relu) on a
#: deep narrow MLP: 20 hidden layers, the depth range where He et al. (2015) saw the
#: initialization decide whether a plain network trains (their 22- and 30-layer models), and
#: 32 units so that the whole demo stays within a few minutes on two CPU cores
#: (``benchmarks/experiments.py`` measures it). Learning rate 0.02: at 0.05 the 20-layer
#: runs oscillated by 10-20 accuracy points from epoch to epoch. Target 85%: within 20 epochs
#: of SGD no 20-layer pairing passed 90% on the spirals in our runs, while 85% is 36 points
#: above chance (49%); the demo's header states the target it uses. The activation probe runs every
#: ``activation_every_n_epochs`` epochs (a divisor of the epochs, so the last record is the
#: state after the final epoch).
PRESETS = {
    "full": dict(
        initializers=DEFAULT_INITIALIZERS,
        activations=DEFAULT_ACTIVATIONS,
        depth=6,
        width=32,
        epochs=30,
        batch_size=32,
        learning_rate=0.05,
        target_accuracy=0.9,
        activation_every_n_epochs=1,
    ),
    "demo": dict(
        initializers=("glorot_uniform", "he_normal"),
        activations=("tanh", "relu"),
        depth=20,
        width=32,
        epochs=20,
        batch_size=64,
        learning_rate=0.02,
        target_accuracy=0.85,
        activation_every_n_epochs=4,
    ),
    "quick": dict(
        initializers=("zeros", "he_normal"),
        activations=("tanh", "relu"),
        depth=4,
        width=32,
        epochs=8,
        batch_size=50,
        learning_rate=0.05,
        target_accuracy=0.8,
        activation_every_n_epochs=4,
    ),
}


@dataclasses.dataclass
class CompareResult:
    """What ``compare`` measured.

    Attributes:
        runs: one dict per run (keys in ``RESULT_COLUMNS`` plus ``history`` and
            ``gradient_norms_start`` / ``gradient_layers``).
        config: the settings shared by every run (dataset, model, optimizer, ...).
        files: paths written (``results.json``, ``results.csv``, PNGs), when ``out_dir`` was given.
    """

    runs: list[dict]
    config: dict
    files: dict = dataclasses.field(default_factory=dict)

    def format_table(self) -> str:
        """Fixed-width text table, one line per run.

        Columns: final validation accuracy and loss, epoch that reached the target,
        activation variance last/first hidden layer at initialization, gradient-norm ratio
        first/last layer at initialization and at the last epoch, dead and saturated
        fractions at the end, verdict.
        """
        header = (
            f"{'run':<30} {'val acc':>7} {'val loss':>8} {'to target':>9} "
            f"{'act var L/1':>11} {'grad 1st/last':>13} {'dead':>5} {'sat':>5}  verdict"
        )
        lines = [header, "-" * len(header)]
        for run in self.runs:
            ratios = f"{_num(run['grad_ratio_start'])}->{_num(run.get('grad_ratio_end'))}"
            lines.append(
                f"{run['label']:<30} {_pct(run['final_accuracy']):>7} "
                f"{_num(run['final_loss']):>8} {_epochs(run['epochs_to_target']):>9} "
                f"{_num(_variance_change(run)):>11} {ratios:>13} "
                f"{_pct(run['dead_fraction_end']):>5} "
                f"{_pct(run['saturated_fraction_end']):>5}  {run['verdict']}"
            )
        return "\n".join(lines)

    def format_settings_table(self) -> str:
        """Fixed-width text table of the training axes and the update size, one line per run.

        Columns: optimizer, learning rate, batch size, loss + output activation, L2 penalty,
        weight decay, dropout, the median update/weight ratio (see ``UPDATE_RATIO_NOTE``) and
        its reading against the ~1e-3 rule of thumb.
        """
        header = (
            f"{'run':<30} {'optimizer':<10} {'lr':>8} {'batch':>6} {'loss':<30} "
            f"{'L2':>7} {'wd':>7} {'drop':>5} {'upd/w':>8}  reading"
        )
        lines = [header, "-" * len(header)]
        for run in self.runs:
            loss = f"{run['loss']} + {run['output_activation']}"
            lines.append(
                f"{run['label']:<30} {run['optimizer']:<10} {_num(run['learning_rate']):>8} "
                f"{run['batch_size']!s:>6} {loss:<30} {_num(run['l2']):>7} "
                f"{_num(run['weight_decay']):>7} {_num(run['dropout']):>5} "
                f"{_num(run['update_ratio']):>8}  {run['update_ratio_verdict'] or '-'}"
            )
        return "\n".join(lines)


def _variance_change(run: dict):
    values = run.get("activation_variance_start") or []
    if len(values) < 2 or values[0] is None or values[-1] is None or values[0] <= 0:
        return None
    return values[-1] / values[0]


RESULT_COLUMNS = (
    "run",
    "label",
    "initializer",
    "activation",
    "depth",
    "batchnorm",
    "residual",
    "scaling",
    "optimizer",
    "learning_rate",
    "batch_size",
    "loss",
    "output_activation",
    "l2",
    "weight_decay",
    "dropout",
    "final_loss",
    "final_accuracy",
    "train_accuracy",
    "epochs_to_target",
    "grad_ratio_start",
    "dead_fraction_start",
    "dead_fraction_end",
    "saturated_fraction_start",
    "saturated_fraction_end",
    "grad_ratio_end",
    "update_ratio",
    "update_ratio_verdict",
    "verdict_kind",
    "verdict",
    "seconds",
    "log_dir",
)


def _pct(value) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{100 * value:.0f}%"
    )


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if math.isfinite(value) else ("inf" if value > 0 else "nan")


def _epochs(value) -> str:
    return "never" if value is None else str(value)


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _names(values, kind, valid_getter, default) -> list[str]:
    if values is None:
        values = default
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"The {kind} list is empty; give at least one name, e.g. {default[0]!r}.")
    for name in values:
        valid_getter(name)  # raises ValueError with the closest names
    return values


def _bool_axis(values, name) -> list[bool]:
    if isinstance(values, bool):
        return [values]
    values = list(values)
    if not values or any(not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must be True/False or a list of them; received {values!r}.")
    return values


def _positive_ints(values, name) -> list[int]:
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = [values]
    values = list(values)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be a positive integer; received {name}={v!r}.")
    if not values:
        raise ValueError(f"{name} is empty; give at least one positive integer.")
    return [int(v) for v in values]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-")


def _as_list(values) -> list:
    """A single value becomes a one-element list; lists and tuples are copied."""
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _number_axis(values, name: str, minimum=None, maximum=None, positive=False) -> list:
    """Check every value of a numeric axis with ``check_number``; returns floats."""
    values = _as_list(values)
    if not values:
        raise ValueError(f"{name} is empty; give at least one number.")
    return [
        check_number(name, v, minimum=minimum, maximum=maximum, positive=positive) for v in values
    ]


def _optimizer_axis(values) -> list:
    """Names from ``lessons.optimizers.OPTIMIZERS``, Keras optimizer objects or factories."""
    import keras

    from keras_init_lab.lessons.optimizers import OPTIMIZERS

    values = _as_list(DEFAULT_OPTIMIZER if values is None else values)
    if not values:
        raise ValueError(f"optimizers is empty; give at least one of {', '.join(OPTIMIZERS)}.")
    for value in values:
        if isinstance(value, str):
            check_choice("optimizers", value, OPTIMIZERS, kind="optimizer")
        elif not (isinstance(value, keras.optimizers.Optimizer) or callable(value)):
            raise TypeError(
                f"optimizers must hold names ({', '.join(OPTIMIZERS)}), Keras optimizer "
                f"objects or functions returning one; received optimizers={value!r}."
            )
    return values


def _optimizer_label(choice) -> str:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, type) or not hasattr(choice, "get_config"):
        return getattr(choice, "__name__", type(choice).__name__).lower()
    return type(choice).__name__.lower()


def _make_run_optimizer(choice, learning_rate, weight_decay, preset_learning_rate):
    """A fresh optimizer for one run: every run starts with empty optimizer state.

    Names go through ``lessons.optimizers.make_optimizer``; objects are cloned from their
    config (``from_config(get_config())``), factories are called. ``learning_rate`` and
    ``weight_decay`` override the optimizer's own when not ``None``. Without an explicit
    learning rate, ``"momentum"`` (the presets' optimizer) uses the preset's rate and the
    other names Keras's defaults (``lessons.optimizers.DEFAULT_LEARNING_RATES``).
    """
    import keras

    from keras_init_lab.lessons.optimizers import make_optimizer

    if isinstance(choice, str):
        if learning_rate is None and choice == DEFAULT_OPTIMIZER:
            learning_rate = preset_learning_rate
        optimizer = make_optimizer(choice, learning_rate)
    elif isinstance(choice, keras.optimizers.Optimizer):
        optimizer = type(choice).from_config(choice.get_config())
    else:
        optimizer = choice()
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                f"an optimizer factory must return a keras.optimizers.Optimizer; "
                f"{_optimizer_label(choice)}() returned {optimizer!r}."
            )
    config = optimizer.get_config()
    changes = {}
    if learning_rate is not None and not isinstance(choice, str):
        changes["learning_rate"] = learning_rate
    if weight_decay is not None:
        changes["weight_decay"] = weight_decay
    if changes:
        optimizer = type(optimizer).from_config({**config, **changes})
    return optimizer


def _optimizer_description(optimizer) -> str:
    """``SGD(learning_rate=0.05, momentum=0.9)``-style text of an optimizer's settings."""
    config = optimizer.get_config()
    parts = [f"learning_rate={_learning_rate(optimizer):g}"]
    if config.get("momentum"):
        parts.append(f"momentum={config['momentum']:g}")
    if config.get("weight_decay"):
        parts.append(f"weight_decay={config['weight_decay']:g}")
    return f"{type(optimizer).__name__}({', '.join(parts)})"


def _learning_rate(optimizer) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _batch_axis(values) -> list:
    """Positive integers or ``FULL_BATCH`` ("full": the whole training split per step)."""
    values = _as_list(values)
    if not values:
        raise ValueError(f"batch_sizes is empty; give at least one integer >= 1 or {FULL_BATCH!r}.")
    checked = []
    for value in values:
        if isinstance(value, str):
            if re.fullmatch(r"[+-]?\d+", value.strip()):  # "32" from the command line
                value = int(value)
            else:
                check_choice("batch_sizes", value, (FULL_BATCH,), kind="batch size")
                checked.append(FULL_BATCH)
                continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(
                f"batch_sizes must hold integers >= 1 or {FULL_BATCH!r}; "
                f"received batch_sizes={value!r}."
            )
        if value < 1:
            raise ValueError(
                f"batch_sizes must hold integers >= 1 (1: stochastic, one sample per update) or "
                f"{FULL_BATCH!r} (the whole training split); received batch_sizes={value!r}."
            )
        checked.append(int(value))
    return checked


#: Output activation each loss gets when none is named: the task table's row using it
#: (``losses.recipe``): regression losses linear, binary cross-entropy sigmoid, categorical
#: cross-entropy softmax.
_LOSS_TASK = {
    "mse": "regression",
    "mae": "regression",
    "huber": "regression",
    "binary_crossentropy": "binary",
    "categorical_crossentropy": "multi-class",
}


def _loss_axis(values) -> list[tuple[str, str]]:
    """``(loss, output activation)`` pairs from names, ``"loss:activation"`` or tuples."""
    values = [DEFAULT_LOSS] if values is None else _as_list(values)
    if isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values):
        # A bare ("mse", "softmax") tuple is one pair, not two losses.
        if values[1] in _losses.OUTPUT_ACTIVATIONS and values[0] not in _losses.OUTPUT_ACTIVATIONS:
            values = [tuple(values)]
    if not values:
        raise ValueError(f"losses is empty; give at least one of {', '.join(_losses.LOSSES)}.")
    pairs = []
    for value in values:
        if isinstance(value, str):
            name, _, activation = value.partition(":")
            name, activation = name.strip(), activation.strip() or None
        elif isinstance(value, tuple) and len(value) == 2:
            name, activation = value
        else:
            raise TypeError(
                "losses must hold loss names ('mse'), 'loss:output_activation' strings "
                f"('mse:softmax') or (loss, output_activation) tuples; received losses={value!r}."
            )
        name = _losses._loss_name(name)
        if activation is None:
            activation = _losses.recipe(_LOSS_TASK[name]).output_activation
        _losses._check_pair(name, activation)
        pairs.append((name, activation))
    return list(dict.fromkeys(pairs))


def _make_loss(loss: str, activation: str, num_classes: int):
    """``(keras loss, accuracy metric)`` for a loss and output activation on integer labels.

    The model outputs logits; the output activation is applied inside the loss, which gives
    the same loss value and the same gradient ``dL/dz`` as an activation on the output layer,
    while the network (and what GradientStats / ActivationStats see) is the same for every
    loss. Targets are the one-hot vectors of the integer labels (lecture 004's "MSE on
    one-hot"). Softmax + categorical and sigmoid + binary cross-entropy are computed from the
    logits (``from_logits=True``, numerically stable); the mismatched cross-entropy pairings
    (binary on softmax, categorical on sigmoid) are written out as ``losses.loss_value``
    states them, with probabilities clipped to ``[eps, 1 - eps]`` (``keras.config.epsilon()``):
    Keras's own cross-entropies (TensorFlow backend) read a sigmoid's or softmax's logits back and
    compute the matching pairing instead. Accuracy is the argmax of the logits, which softmax
    and sigmoid do not change.
    """
    import keras

    if (loss, activation) == DEFAULT_LOSS:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), "accuracy"
    ops = keras.ops
    output = {
        "linear": lambda z: z,
        "sigmoid": keras.activations.sigmoid,
        "softmax": keras.activations.softmax,
    }[activation]

    def loss_fn(y_true, logits):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        target = ops.one_hot(labels, num_classes, dtype=logits.dtype)
        if loss == "binary_crossentropy" and activation == "sigmoid":
            return keras.losses.binary_crossentropy(target, logits, from_logits=True)
        if loss == "categorical_crossentropy" and activation == "softmax":
            return keras.losses.categorical_crossentropy(target, logits, from_logits=True)
        p = output(logits)
        if loss == "mse":
            return keras.losses.mean_squared_error(target, p)
        if loss == "mae":
            return keras.losses.mean_absolute_error(target, p)
        if loss == "huber":
            return keras.losses.huber(target, p, delta=_losses.DEFAULT_HUBER_DELTA)
        eps = keras.config.epsilon()
        p = ops.clip(p, eps, 1.0 - eps)
        if loss == "binary_crossentropy":
            return -ops.mean(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p), axis=-1)
        return -ops.sum(target * ops.log(p), axis=-1)

    loss_fn.__name__ = f"{loss}_{activation}"
    return loss_fn, keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def compare(
    dataset="spirals",
    model: str = "auto",
    initializers: Sequence[str] | None = None,
    activations: Sequence[str] | None = None,
    depths: Sequence[int] | int | None = None,
    batchnorm: Sequence[bool] | bool = False,
    residual: Sequence[bool] | bool = False,
    scalings: Sequence[str] | str = "auto",
    width: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    target_accuracy: float | None = None,
    max_train_samples: int | None = None,
    preset: str = "full",
    quick: bool = False,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    verbose: int = 1,
    optimizers=None,
    learning_rates: Sequence[float] | float | None = None,
    batch_sizes=None,
    losses=None,
    l2: Sequence[float] | float = 0.0,
    weight_decay: Sequence[float | None] | float | None = None,
    dropout: Sequence[float] | float = 0.0,
) -> CompareResult:
    """Train the same model on the same data for every grid point and compare what happens.

    The grid is ``initializers x activations x depths x batchnorm x residual x scalings x
    optimizers x learning_rates x batch_sizes x losses x l2 x weight_decay x dropout``; every
    axis left at its default has one value, which is today's setting (SGD with momentum 0.9
    at the preset's learning rate and batch size, softmax + cross-entropy, no L2, no weight
    decay, no dropout). Each axis is a column of ``results.json`` / ``results.csv`` and of the
    report's settings table; an axis with several values is also named in the run's label.
    Each run resets the seed (``keras.utils.set_random_seed(seed)``), so runs differ only by
    their settings and the same ``seed`` reproduces every number.

    Example:
        >>> r = compare(dataset="xor", initializers=["he_normal"], activations=["relu"],
        ...             epochs=3, verbose=0)                              # doctest: +SKIP
        >>> r.runs[0]["verdict_kind"]                                      # doctest: +SKIP
        'learns'

    Args:
        dataset: a name from ``datasets.dataset_names()``, a ``.npz`` path, or a ``Dataset``.
        model: ``"mlp"``, ``"cnn"`` or ``"auto"`` (CNN for image-shaped inputs).
        initializers: initializer names (default ``DEFAULT_INITIALIZERS``).
        activations: activation names (default ``DEFAULT_ACTIVATIONS``).
        depths: hidden-layer counts to try (default: the preset's depth).
        batchnorm: ``False``, ``True`` or ``[False, True]`` to compare both.
        residual: the same for residual connections.
        scalings: input scalings from ``datasets.SCALINGS`` (fitted on the training split
            only), or ``"auto"`` (default): ``standardize`` for image-shaped (pixel) inputs,
            whose raw 0..16 or 0..255 values stall SGD, ``none`` otherwise.
        width: units (MLP) or filters (CNN) per hidden layer.
        epochs, batch_size, learning_rate: training settings (the preset's when ``None``);
            ``batch_size`` and ``learning_rate`` are the one-value forms of ``batch_sizes``
            and ``learning_rates`` (give one form, not both).
        target_accuracy: validation accuracy that counts as "learned", in (0, 1].
        max_train_samples: cap the training split (e.g. to keep MNIST fast).
        preset: defaults for every argument left ``None``: ``"full"`` (the 4 x 4 course
            grid, 30 epochs), ``"demo"`` (4 x 3, 12 epochs) or ``"quick"`` (2 x 2, 8 epochs,
            depth 4, target 0.8; for tests and ``--quick``). See ``PRESETS``.
        quick: shorthand for ``preset="quick"``.
        seed: the seed of data generation, initial weights and shuffling.
        out_dir: when given, results, plots and TensorBoard logs are written there.
        verbose: 0 silent; 1 one line per run (k/N, setting, verdict, time, ETA); 2 also
            Keras's own line per epoch.
        optimizers: names from ``lessons.optimizers.OPTIMIZERS`` (sgd, momentum, rmsprop,
            adam, adamw), Keras optimizer objects (cloned for each run, so no state is
            shared) or functions returning a fresh optimizer. Default ``"momentum"``.
        learning_rates: learning rates (> 0) to try with every optimizer. Default: the
            preset's for ``"momentum"``, Keras's defaults for the other names
            (``lessons.optimizers.DEFAULT_LEARNING_RATES``), their own for objects.
        batch_sizes: integers >= 1 (1: stochastic gradient descent) or ``"full"`` (the
            whole training split per update). Default: the preset's batch size.
        losses: loss names from ``losses.LOSSES`` (mse, mae, huber, binary_crossentropy,
            categorical_crossentropy), optionally with the output activation as
            ``"mse:softmax"`` or ``("mse", "softmax")``; without one, the task table's
            (``losses.recipe``): linear for regression losses, sigmoid for binary and
            softmax for categorical cross-entropy. Targets are one-hot labels. Default
            ``categorical_crossentropy:softmax`` (``DEFAULT_LOSS``).
        l2: L2 penalty factors ``l >= 0``: every kernel gets
            ``kernel_regularizer=keras.regularizers.L2(l)`` (loss ``+ l sum w^2``); 0: none.
        weight_decay: decoupled weight decay factors ``>= 0`` given to the optimizer
            (``weight_decay=...``: ``w -= lr * wd * w`` each step, Loshchilov & Hutter 2019);
            ``None`` (default) keeps the optimizer's own (0 except AdamW's 0.004).
        dropout: dropout rates in ``[0, 1)`` after every hidden activation; 0: none.

    Returns:
        A ``CompareResult``.

    Raises:
        TypeError: a value of the wrong type (e.g. a string learning rate).
        ValueError: unknown names (closest valid ones listed), non-positive sizes or
            learning rates, a batch size of 0, a target outside (0, 1].
    """
    import keras

    from keras_init_lab import activations as _activations
    from keras_init_lab import initializers as _initializers
    from keras_init_lab.experiments.models import build_cnn, build_mlp

    preset_name = "quick" if quick else preset
    if preset_name not in PRESETS:
        raise unknown_name_error("preset", preset_name, PRESETS)
    preset = PRESETS[preset_name]
    initializers = _names(initializers, "initializer", _initializers.get, preset["initializers"])
    activations = _names(activations, "activation", _activations.get, preset["activations"])
    depths = _positive_ints(preset["depth"] if depths is None else depths, "depth")
    batchnorm = _bool_axis(batchnorm, "batchnorm")
    residual = _bool_axis(residual, "residual")
    scalings = [scalings] if isinstance(scalings, str) else list(scalings)
    for scaling in scalings:
        if scaling not in _datasets.SCALINGS + ("auto",):
            raise unknown_name_error("input scaling", scaling, _datasets.SCALINGS + ("auto",))
    if model not in MODELS:
        raise unknown_name_error("model", model, MODELS)
    explicit_batch_size, explicit_learning_rate = batch_size is not None, learning_rate is not None
    width = _positive_ints(preset["width"] if width is None else width, "width")[0]
    epochs = _positive_ints(preset["epochs"] if epochs is None else epochs, "epochs")[0]
    batch_size = _positive_ints(
        preset["batch_size"] if batch_size is None else batch_size, "batch_size"
    )[0]
    learning_rate = preset["learning_rate"] if learning_rate is None else learning_rate
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not (math.isfinite(learning_rate) and learning_rate > 0)
    ):
        raise ValueError(
            f"learning_rate must be a positive number; received learning_rate={learning_rate!r}."
        )
    target = preset["target_accuracy"] if target_accuracy is None else target_accuracy
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < target <= 1:
        raise ValueError(
            f"target_accuracy must be in (0, 1]; received target_accuracy={target_accuracy!r}."
        )
    if max_train_samples is not None:
        _positive_ints(max_train_samples, "max_train_samples")
    optimizers = _optimizer_axis(optimizers)
    if learning_rates is not None and explicit_learning_rate:
        raise ValueError(
            f"give learning_rate or learning_rates, not both; received "
            f"learning_rate={learning_rate!r}, learning_rates={learning_rates!r}."
        )
    if learning_rates is not None:
        learning_rates = _number_axis(
            learning_rates,
            "learning_rates",
            positive=True,
        )
    elif explicit_learning_rate:
        learning_rates = [learning_rate]
    else:
        learning_rates = [None]
    if batch_sizes is not None and explicit_batch_size:
        raise ValueError(
            f"give batch_size or batch_sizes, not both; received batch_size={batch_size!r}, "
            f"batch_sizes={batch_sizes!r}."
        )
    batch_sizes = [batch_size] if batch_sizes is None else _batch_axis(batch_sizes)
    loss_pairs = _loss_axis(losses)
    l2_values = _number_axis(l2, "l2", minimum=0.0)
    decay_values = [
        None if v is None else check_number("weight_decay", v, minimum=0.0)
        for v in _as_list(weight_decay)
    ]
    if not decay_values:
        raise ValueError("weight_decay is empty; give at least one number >= 0 or None.")
    dropout_values = _number_axis(dropout, "dropout", minimum=0.0)
    for rate in dropout_values:
        if rate >= 1.0:
            raise ValueError(f"dropout must be a rate in [0, 1); received dropout={rate!r}.")

    data = (
        dataset
        if isinstance(dataset, _datasets.Dataset)
        else _datasets.load_dataset(dataset, seed=seed)
    )
    if max_train_samples is not None:
        data = data.subset(n_train=max_train_samples)
    kind = model if model != "auto" else ("cnn" if len(data.input_shape) == 3 else "mlp")
    pixels = len(data.input_shape) == 3
    scalings = list(dict.fromkeys(_resolve_scaling(s, pixels) for s in scalings))
    builder = build_cnn if kind == "cnn" else build_mlp
    out = Path(out_dir) if out_dir is not None else None

    # Scale every input variant up front, so a scaling that cannot apply (``pixel`` on data
    # without a declared pixel maximum) fails before any training.
    scaled_cache = {scaling: _datasets.scale_inputs(data, scaling) for scaling in scalings}
    grid = list(
        itertools.product(
            scalings,
            depths,
            batchnorm,
            residual,
            optimizers,
            learning_rates,
            batch_sizes,
            loss_pairs,
            l2_values,
            decay_values,
            dropout_values,
            initializers,
            activations,
        )
    )
    show_depth, show_bn, show_res, show_scale = (
        len(depths) > 1,
        len(batchnorm) > 1,
        len(residual) > 1,
        len(scalings) > 1,
    )
    runs = []
    started = time.perf_counter()
    for index, point in enumerate(grid, start=1):
        (scaling, depth, bn, res, opt_choice, lr, batch, (loss_name, out_act), l2_value) = point[:9]
        decay, rate, init_name, act_name = point[9:]
        extras = [
            f"depth {depth}" if show_depth else "",
            ("BN" if bn else "no BN") if show_bn else "",
            ("residual" if res else "plain") if show_res else "",
            f"inputs {scaling}" if show_scale else "",
            _optimizer_label(opt_choice) if len(optimizers) > 1 else "",
            f"lr {lr:g}" if len(learning_rates) > 1 else "",
            f"batch {batch}" if len(batch_sizes) > 1 else "",
            f"{loss_name}:{out_act}" if len(loss_pairs) > 1 else "",
            f"L2 {l2_value:g}" if len(l2_values) > 1 else "",
            f"wd {'default' if decay is None else format(decay, 'g')}"
            if len(decay_values) > 1
            else "",
            f"dropout {rate:g}" if len(dropout_values) > 1 else "",
        ]
        label = " + ".join([init_name, act_name] + [e for e in extras if e])
        run_data = scaled_cache[scaling]
        run_name = f"{index:02d}_{_slug(label.replace(' + ', '_'))}"
        log_dir = out / "tensorboard" / run_name if out else None
        keras.utils.set_random_seed(seed)
        net = builder(
            run_data.input_shape,
            run_data.num_classes,
            depth=depth,
            width=width,
            initializer=init_name,
            activation=act_name,
            batchnorm=bn,
            residual=res,
            dropout=rate,
            kernel_regularizer=keras.regularizers.L2(l2_value) if l2_value > 0 else None,
        )
        optimizer = _make_run_optimizer(opt_choice, lr, decay, learning_rate)
        loss_fn, accuracy = _make_loss(loss_name, out_act, run_data.num_classes)
        run = _train_one(
            net,
            run_data,
            epochs=epochs,
            batch_size=len(run_data.x_train) if batch == FULL_BATCH else batch,
            optimizer=optimizer,
            loss=loss_fn,
            accuracy=accuracy,
            target=target,
            log_dir=log_dir,
            verbose=2 if verbose >= 2 else 0,
            activation_every_n_epochs=preset["activation_every_n_epochs"],
        )
        run.update(
            run=index,
            label=label,
            initializer=init_name,
            activation=act_name,
            depth=depth,
            batchnorm=bn,
            residual=res,
            scaling=scaling,
            optimizer=_optimizer_label(opt_choice),
            optimizer_config=_optimizer_description(optimizer),
            learning_rate=_learning_rate(optimizer),
            batch_size=batch,
            loss=loss_name,
            output_activation=out_act,
            l2=l2_value,
            weight_decay=float(optimizer.weight_decay or 0.0),
            dropout=rate,
            log_dir=str(log_dir) if log_dir else None,
            input_abs_max=float(np.max(np.abs(run_data.x_train))),
        )
        run["verdict_kind"], run["verdict"] = verdict(run, target, run_data.chance_accuracy)
        if verbose:
            elapsed = time.perf_counter() - started
            eta = elapsed / index * (len(grid) - index)
            print(
                f"run {index}/{len(grid)}: {label} -> {run['verdict']} "
                f"[{run['seconds']:.0f} s, ETA {eta:.0f} s]",
                flush=True,
            )
        runs.append(run)
        keras.backend.clear_session()

    config = {
        "dataset": data.name,
        "dataset_description": data.description,
        "model": kind,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "n_train": int(len(data.x_train)),
        "n_test": int(len(data.x_test)),
        "chance_accuracy": data.chance_accuracy,
        "width": width,
        "epochs": epochs,
        "batch_size": _one_or_many([run["batch_size"] for run in runs]),
        "optimizer": _one_or_many([run["optimizer_config"] for run in runs]),
        "loss": _one_or_many([_loss_description(run) for run in runs]),
        "optimizers": [_optimizer_label(choice) for choice in optimizers],
        "learning_rates": sorted({run["learning_rate"] for run in runs}),
        "batch_sizes": batch_sizes,
        "losses": [f"{name}:{act}" for name, act in loss_pairs],
        "l2": l2_values,
        "weight_decays": decay_values,
        "dropouts": dropout_values,
        "update_ratio_note": UPDATE_RATIO_NOTE,
        "target_accuracy": target,
        "seed": seed,
        "preset": preset_name,
        "initializers": initializers,
        "activations": activations,
        "depths": depths,
        "batchnorm": batchnorm,
        "residual": residual,
        "scalings": scalings,
        "scaling_note": _scaling_note(scalings, pixels),
        "target_note": (
            f"target {target:.0%} validation accuracy"
            + (
                " (the quick preset's; the full default is "
                f"{PRESETS['full']['target_accuracy']:.0%})"
                if preset_name == "quick" and target_accuracy is None
                else ""
            )
        ),
        "chance_note": "chance = share of the majority training class in the validation "
        "split (always predicting that class)",
        "thresholds": {
            "vanishing_ratio": VANISHING_RATIO,
            "exploding_ratio": EXPLODING_RATIO,
            "unit_problem_fraction": UNIT_PROBLEM_FRACTION,
            "learning_margin": LEARNING_MARGIN,
        },
    }
    result = CompareResult(runs, config)
    if out is not None:
        from keras_init_lab.report import write_compare

        result.files = write_compare(result, out)
    return result


def _one_or_many(values: list):
    """The single value every run shared, or ``"a, b (per run)"`` when they differ."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0]
    return ", ".join(str(v) for v in distinct) + " (per run)"


def _loss_description(run: dict) -> str:
    if (run["loss"], run["output_activation"]) == DEFAULT_LOSS:
        return "sparse categorical cross-entropy (logits)"
    return f"{run['loss']} on {run['output_activation']} outputs (one-hot targets)"


def _resolve_scaling(scaling: str, pixels: bool) -> str:
    """``auto``: standardize image-shaped (pixel) inputs, leave other inputs as they are."""
    if scaling != "auto":
        return scaling
    return "standardize" if pixels else "none"


def _scaling_note(scalings: list[str], pixels: bool) -> str:
    """One sentence for the output: which scaling ran and what it was fitted on."""
    used = ", ".join(scalings)
    if scalings == ["none"]:
        return "inputs used as they are (no scaling)"
    auto = " (default for pixel inputs; --scaling none keeps the raw pixels)" if pixels else ""
    return (
        f"inputs scaled: {used}{auto}, statistics fitted on the training split only and "
        f"applied to both splits"
        + (
            "; pixel divides by the data's largest pixel value, nothing fitted"
            if "pixel" in scalings
            else ""
        )
    )


def _kernel_layers(model) -> list:
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def _train_one(
    model,
    data,
    epochs,
    batch_size,
    optimizer,
    loss,
    accuracy,
    target,
    log_dir,
    verbose,
    activation_every_n_epochs=1,
) -> dict:
    import keras

    from keras_init_lab.callbacks import ActivationStats, GradientStats
    from keras_init_lab.lessons.optimizers import update_ratio_verdict

    kernels = _kernel_layers(model)
    # Symmetry check on the real initial weights: a layer whose kernel entries are all equal
    # gives every unit the same output and the same gradient, so they never become different.
    symmetric = all(float(np.ptp(np.asarray(layer.kernel))) == 0.0 for layer in kernels)
    steps_per_epoch = max(1, math.ceil(len(data.x_train) / batch_size))
    # Histograms on the same schedule as the statistics (the first step of every epoch), so
    # every record is an epoch start (GradientStats's own histogram default, every 100+ steps,
    # would add records between them).
    gradient_stats = GradientStats(
        every_n_steps=steps_per_epoch,
        histogram_every_n_steps=steps_per_epoch,
        log_dir=str(log_dir) if log_dir else None,
    )
    # The largest divisor of ``epochs`` not above the requested interval, so the last record
    # is the state after the final epoch (ActivationStats records after every n-th epoch).
    every = max(n for n in range(1, activation_every_n_epochs + 1) if epochs % n == 0)
    activation_stats = ActivationStats(
        data.x_train[:PROBE_SAMPLES],
        every_n_epochs=every,
        log_dir=str(log_dir) if log_dir else None,
    )
    callbacks = [gradient_stats, activation_stats]
    if log_dir is not None:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=str(log_dir), write_graph=False, histogram_freq=0, profile_batch=0
            )
        )
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy])
    started = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_test, data.y_test),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose if verbose in (0, 1, 2) else 1,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - started
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    val_acc = curves.get("val_accuracy", [])
    reached = [epoch for epoch, acc in enumerate(val_acc, start=1) if acc >= target]
    nonfinite = [
        epoch
        for epoch, loss in enumerate(curves.get("loss", []), start=1)
        if not math.isfinite(loss)
    ]

    grads = gradient_stats.history
    names = {layer.name for layer in kernels}
    columns = [
        i for i, name in enumerate(grads["layers"]) if name in names or name.split("/")[0] in names
    ]
    norm_table = np.asarray(grads["per_layer"]["norm"], dtype=np.float64)[:, columns]
    norms_start = norm_table[0]
    ratios = [_norm_ratio(row) for row in norm_table]
    ratio = ratios[0]
    update_ratio, update_per_layer = _median_update_ratio(
        grads["per_layer"]["update_ratio"], columns
    )

    acts = activation_stats.history["per_layer"]

    def fraction(stat: str, row: int):
        values = np.asarray(acts[stat][row], dtype=np.float64) if len(acts[stat]) else []
        values = values[np.isfinite(values)] if len(values) else values
        return float(np.mean(values)) if len(values) else None

    def per_layer(stat: str, row: int = 0) -> list:
        if not len(acts[stat]):
            return []
        return [_finite_or_none(v) for v in np.asarray(acts[stat][row], dtype=np.float64)]

    return {
        "history": curves,
        # Per hidden layer at initialization (ActivationStats' first record, before any step).
        "activation_layers": list(activation_stats.history["layers"]),
        "activation_variance_start": [None if v is None else v * v for v in per_layer("std")],
        "preactivation_variance_start": [
            None if v is None else v * v for v in per_layer("pre_std")
        ],
        "dead_fraction_start_per_layer": per_layer("dead_fraction"),
        "saturated_fraction_start_per_layer": per_layer("saturation_fraction"),
        "saturated_fraction_end_per_layer": per_layer("saturation_fraction", -1),
        # First/last kernel gradient-norm ratio at the first step of every epoch.
        "grad_ratio_history": [None if r is None else float(r) for r in ratios],
        "grad_ratio_steps": [int(v) for v in np.asarray(grads["step"])],
        "grad_ratio_end": None if ratios[-1] is None else float(ratios[-1]),
        "update_ratio": update_ratio,
        "update_ratio_per_layer": update_per_layer,
        "update_ratio_verdict": None
        if update_ratio is None
        else update_ratio_verdict(update_ratio),
        "final_loss": _finite_or_none(curves.get("val_loss", [math.nan])[-1]),
        "final_accuracy": _finite_or_none(val_acc[-1]) if val_acc else None,
        "train_accuracy": _finite_or_none(curves.get("accuracy", [math.nan])[-1]),
        "epochs_to_target": reached[0] if reached else None,
        "first_nonfinite_epoch": nonfinite[0] if nonfinite else None,
        "gradient_layers": [grads["layers"][i] for i in columns],
        "gradient_norms_start": [_finite_or_none(v) for v in norms_start],
        "grad_ratio_start": None if ratio is None else float(ratio),
        "hidden_gradients_zero": bool(len(columns) > 1 and np.all(norms_start[:-1] == 0)),
        "symmetric_start": symmetric,
        "dead_fraction_start": fraction("dead_fraction", 0),
        "dead_fraction_end": fraction("dead_fraction", -1),
        "saturated_fraction_start": fraction("saturation_fraction", 0),
        "saturated_fraction_end": fraction("saturation_fraction", -1),
        "seconds": round(seconds, 2),
    }


def _median_update_ratio(table, columns) -> tuple[float | None, list]:
    """Median update/weight ratio over recorded steps and the kernel layers in ``columns``.

    Formula: ``median_{t, l} ||w_l(t+1) - w_l(t)|| / ||w_l(t)||`` over GradientStats's
    per-layer ``update_ratio`` records; non-finite entries (a layer whose weights are all 0
    gives ``inf``) are left out. Returns ``(overall, per-layer medians)``; ``None`` where no
    finite value exists.
    """
    values = np.asarray(table, dtype=np.float64)
    if values.ndim != 2 or not values.size:
        return None, []
    values = values[:, columns]
    per_layer = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        per_layer.append(float(np.median(finite)) if finite.size else None)
    finite = values[np.isfinite(values)]
    return (float(np.median(finite)) if finite.size else None), per_layer


def _norm_ratio(norms) -> float | None:
    """``norms[0] / norms[-1]``: inf for a zero last norm, ``None`` when both are 0."""
    if not len(norms):
        return None
    first, last = float(norms[0]), float(norms[-1])
    if last > 0:
        return first / last
    return math.inf if first > 0 else None


def verdict(run: dict, target: float, chance: float) -> tuple[str, str]:
    """One-line verdict ``(kind, text)`` for a finished run; the text names its evidence.

    Kinds: ``learns`` (reached ``target``), ``slow`` (at least ``LEARNING_MARGIN`` over
    chance), ``stuck`` (about chance), ``diverged`` (loss became NaN/inf).

    Example:
        >>> verdict({"first_nonfinite_epoch": None, "epochs_to_target": 4,
        ...          "final_accuracy": 0.95, "grad_ratio_start": 0.8,
        ...          "symmetric_start": False, "hidden_gradients_zero": False,
        ...          "dead_fraction_end": 0.1, "saturated_fraction_end": None}, 0.9, 0.5)
        ('learns', 'learns: 90% validation accuracy at epoch 4, final 95% (gradient first/last layer 0.8 at start)')

    Args:
        run: a run dict from ``compare`` (before the verdict is added).
        target: target validation accuracy.
        chance: accuracy of predicting the majority class.

    Returns:
        ``(kind, one-line text)``.
    """
    ratio = run.get("grad_ratio_start")
    accuracy = run.get("final_accuracy")
    causes = []
    if run.get("symmetric_start"):
        cause = (
            "all weights start equal, so every unit of a layer computes the same thing "
            "and gets the same update: symmetry is never broken"
        )
        if run.get("hidden_gradients_zero"):
            cause += ", and hidden-layer gradients are exactly 0"
        causes.append(cause)
    elif gradient_ratio_verdict(ratio) == "vanishing":
        causes.append(
            f"vanishing gradients: first-layer gradient is {ratio:.1e} x the "
            f"output layer's at the start (below {VANISHING_RATIO:g})"
        )
    elif gradient_ratio_verdict(ratio) == "exploding":
        causes.append(
            f"exploding gradients: first-layer gradient is {ratio:.1e} x the "
            f"output layer's at the start (above {EXPLODING_RATIO:g})"
        )
    saturated, dead = run.get("saturated_fraction_end"), run.get("dead_fraction_end")
    if saturated is not None and saturated > UNIT_PROBLEM_FRACTION:
        causes.append(f"{saturated:.0%} of tanh/sigmoid outputs saturated")
    if dead is not None and dead > UNIT_PROBLEM_FRACTION:
        causes.append(f"{dead:.0%} of ReLU units dead")
    input_range = run.get("input_abs_max")
    if (
        run.get("scaling") == "none"
        and input_range is not None
        and input_range > UNSCALED_INPUT_LIMIT
        and run.get("epochs_to_target") is None
    ):
        causes.append(
            f"inputs are unscaled (largest |x| = {input_range:g}); scale them with "
            f"--scaling standardize (scalings='standardize')"
        )
    why = "; ".join(causes)
    if run.get("first_nonfinite_epoch") is not None:
        return "diverged", (
            f"diverged: loss became NaN/inf in epoch "
            f"{run['first_nonfinite_epoch']}" + (f" ({why})" if why else " (exploding updates)")
        )
    if run.get("epochs_to_target") is not None:
        note = why or (
            f"gradient first/last layer {ratio:.2g} at start" if ratio is not None else ""
        )
        final = "" if accuracy is None else f", final {accuracy:.0%}"
        return "learns", (
            f"learns: {target:.0%} validation accuracy at epoch "
            f"{run['epochs_to_target']}{final}" + (f" ({note})" if note else "")
        )
    if accuracy is not None and accuracy >= chance + LEARNING_MARGIN:
        gain = f"{100 * (accuracy - chance):.0f} points above chance {chance:.0%}"
        return "slow", (
            f"learns slowly: {accuracy:.0%} validation accuracy, target "
            f"{target:.0%} not reached ({gain}" + (f"; {why})" if why else ")")
        )
    shown = "n/a" if accuracy is None else f"{accuracy:.0%}"
    why = why or f"less than {100 * LEARNING_MARGIN:.0f} points above chance"
    return "stuck", (
        f"does not learn: {shown} validation accuracy, chance (majority-class "
        f"share of the validation split) is {chance:.0%} ({why})"
    )
