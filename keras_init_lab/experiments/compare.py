"""Initializer x activation grid on one model and one dataset ("same model, same data").

Every run builds the same architecture with one (initializer, activation) pair (and
optionally a depth, BatchNorm, residual and input-scaling setting), trains it with the same
seed, optimizer and data, and records what the package's callbacks measure:

* loss and accuracy curves (train and validation), final values, epochs to reach a target
  validation accuracy;
* ``GradientStats``: per-layer gradient norms at the first step, and the first-layer over
  output-layer ratio (vanishing below ``VANISHING_RATIO``, exploding above
  ``EXPLODING_RATIO``);
* ``ActivationStats``: dead (ReLU family) and saturated (tanh/sigmoid) unit fractions on a
  fixed probe batch, at the start and at the end;
* a one-line verdict that names its evidence.

Each run writes TensorBoard event files to its own folder ``<out>/tensorboard/<NN_run>``.

Example:
    >>> result = compare(dataset="xor", initializers=["zeros", "he_normal"],
    ...                  activations=["relu"], epochs=5)            # doctest: +SKIP
    >>> [run["verdict"] for run in result.runs]                       # doctest: +SKIP

Reference:
    X. Glorot & Y. Bengio, "Understanding the difficulty of training deep feedforward neural
    networks" (AISTATS 2010), https://proceedings.mlr.press/v9/glorot10a.html ;
    K. He et al. (ICCV 2015), https://arxiv.org/abs/1502.01852
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

from keras_init_lab._gradient_rules import (
    EXPLODING_RATIO,
    VANISHING_RATIO,
    gradient_ratio_verdict,
)
from keras_init_lab._names import unknown_name_error
from keras_init_lab.experiments import datasets as _datasets

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_INITIALIZERS",
    "LEARNING_MARGIN",
    "MODELS",
    "PRESETS",
    "RESULT_COLUMNS",
    "UNIT_PROBLEM_FRACTION",
    "UNSCALED_INPUT_LIMIT",
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
) -> CompareResult:
    """Train the same model on the same data for every grid point and compare what happens.

    The grid is ``initializers x activations x depths x batchnorm x residual x scalings``.
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
        epochs, batch_size, learning_rate: SGD (momentum 0.9) settings.
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

    Returns:
        A ``CompareResult``.

    Raises:
        ValueError: unknown names, non-positive sizes, a target outside (0, 1].
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

    grid = list(itertools.product(scalings, depths, batchnorm, residual, initializers, activations))
    show_depth, show_bn, show_res, show_scale = (
        len(depths) > 1,
        len(batchnorm) > 1,
        len(residual) > 1,
        len(scalings) > 1,
    )
    runs = []
    scaled_cache: dict[str, _datasets.Dataset] = {}
    started = time.perf_counter()
    for index, (scaling, depth, bn, res, init_name, act_name) in enumerate(grid, start=1):
        extras = [
            f"depth {depth}" if show_depth else "",
            ("BN" if bn else "no BN") if show_bn else "",
            ("residual" if res else "plain") if show_res else "",
            f"inputs {scaling}" if show_scale else "",
        ]
        label = " + ".join([init_name, act_name] + [e for e in extras if e])
        if scaling not in scaled_cache:
            scaled_cache[scaling] = _datasets.scale_inputs(data, scaling)
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
        )
        run = _train_one(
            net,
            run_data,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
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
        "batch_size": batch_size,
        "optimizer": f"SGD(learning_rate={learning_rate}, momentum=0.9)",
        "loss": "sparse categorical cross-entropy (logits)",
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
    )


def _kernel_layers(model) -> list:
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def _train_one(
    model,
    data,
    epochs,
    batch_size,
    learning_rate,
    target,
    log_dir,
    verbose,
    activation_every_n_epochs=1,
) -> dict:
    import keras

    from keras_init_lab.callbacks import ActivationStats, GradientStats

    kernels = _kernel_layers(model)
    # Symmetry check on the real initial weights: a layer whose kernel entries are all equal
    # gives every unit the same output and the same gradient, so they never become different.
    symmetric = all(float(np.ptp(np.asarray(layer.kernel))) == 0.0 for layer in kernels)
    steps_per_epoch = max(1, math.ceil(len(data.x_train) / batch_size))
    gradient_stats = GradientStats(
        every_n_steps=steps_per_epoch, log_dir=str(log_dir) if log_dir else None
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
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
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
