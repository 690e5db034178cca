"""``compare``'s settings: the presets, the one-value settings checked into a
:class:`CompareSettings`, and the ``config`` dict a comparison reports.

The axes (``initializers`` ... ``dropout``) are the grid's (``grid.GridAxes``); everything
else ``compare`` takes has one value for the whole sweep and lives here: the preset that
fills what is left ``None``, the model kind, width, epochs, target, training-set cap, seed,
verbosity and the TensorBoard root.

Example:
    >>> settings = CompareSettings.from_arguments(quick=True)
    >>> settings.preset, settings.epochs, settings.target_accuracy
    ('quick', 8, 0.8)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from keras_init_lab._gradient_rules import EXPLODING_RATIO, VANISHING_RATIO
from keras_init_lab._names import unknown_name_error
from keras_init_lab._validation import check_int, check_log_dir, check_number
from keras_init_lab.experiments import datasets as _datasets
from keras_init_lab.experiments.grid import (
    DEFAULT_LOSS,
    SweepSettings,
    optimizer_label,
    positive_int,
)
from keras_init_lab.experiments.verdicts import LEARNING_MARGIN, UNIT_PROBLEM_FRACTION

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_INITIALIZERS",
    "MODELS",
    "PRESETS",
    "UPDATE_RATIO_NOTE",
    "CompareSettings",
    "one_value_or_axis",
]

#: Lectures 000 (overview) and 002 (initialization): two bad starting points (all zeros:
#: symmetry; tiny weights: vanishing signal) against the two textbook scales, crossed with the
#: four activations of lecture 004 (activation functions).
DEFAULT_INITIALIZERS = ("zeros", "small_normal", "glorot_uniform", "he_normal")
DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
MODELS = ("auto", "mlp", "cnn")
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
#: "demo" (``compare(preset="demo")``; the ``keras-init-lab demo`` command now runs
#: ``experiments.demo``, each pair where its effect shows, over seeds) runs lecture 002's four
#: pairings (glorot_uniform / he_normal x tanh / relu) on one deep narrow MLP: 20 hidden
#: layers, the depth range where He et al. (2015) saw the initialization decide whether a
#: plain network trains (their 22- and 30-layer models), and 32 units. Learning rate 0.02: at
#: 0.05 the 20-layer runs oscillated by 10-20 accuracy points from epoch to epoch. Target 85%:
#: within 20 epochs of SGD no 20-layer pairing passed 90% on the spirals in our runs, while
#: 85% is 36 points above chance (49%). The activation probe runs every
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


@dataclasses.dataclass(frozen=True)
class CompareSettings:
    """``compare``'s one-value settings, checked, with the preset's defaults filled in.

    Attributes:
        preset: the preset's name (``PRESETS``).
        model: ``"auto"``, ``"mlp"`` or ``"cnn"`` as requested (``sweep`` resolves ``auto``).
        width, epochs: per hidden layer and per run.
        target_accuracy: validation accuracy that counts as "learned", in (0, 1].
        target_given: whether the caller chose the target (the notes say whose it is).
        max_train_samples: the training split's cap, or ``None``.
        seed: the seed of data generation, initial weights and shuffling.
        verbose: 0 silent, 1 one line per run, 2 also Keras's line per epoch.
        log_dir: the TensorBoard root (each run writes ``<log_dir>/<NN_label>``), or ``None``.
    """

    preset: str = "full"
    model: str = "auto"
    width: int = 32
    epochs: int = 30
    target_accuracy: float = 0.9
    target_given: bool = False
    max_train_samples: int | None = None
    seed: int = 0
    verbose: int = 1
    log_dir: Path | None = None

    @property
    def defaults(self) -> dict:
        """The preset's values (``PRESETS[preset]``)."""
        return PRESETS[self.preset]

    @classmethod
    def from_arguments(
        cls,
        preset="full",
        quick=False,
        model="auto",
        width=None,
        epochs=None,
        target_accuracy=None,
        max_train_samples=None,
        seed=0,
        verbose=1,
        log_dir=None,
    ) -> CompareSettings:
        """Check ``compare``'s one-value arguments; fill what is ``None`` from the preset.

        Raises:
            TypeError: a value of the wrong type (``width=8.0``, ``seed="0"``, ``quick=1``).
            ValueError: an unknown preset or model (closest names listed), a size below 1,
                a negative seed, a target outside (0, 1].
        """
        if not isinstance(quick, bool):
            raise TypeError(f"quick must be True or False; received quick={quick!r}.")
        preset = _choice("preset", "quick" if quick else preset, PRESETS)
        defaults = PRESETS[preset]
        model = _choice("model", model, MODELS)
        if max_train_samples is not None:
            max_train_samples = positive_int(max_train_samples, "max_train_samples")
        if not isinstance(verbose, bool):  # 0 silent, 1 a line per run, 2 also Keras's
            check_int("verbose", verbose, minimum=0, maximum=2)
        target = defaults["target_accuracy"] if target_accuracy is None else target_accuracy
        target = check_number("target_accuracy", target)
        if not 0 < target <= 1:
            raise ValueError(
                f"target_accuracy must be in (0, 1]; received target_accuracy={target!r}."
            )
        log_dir = check_log_dir("log_dir", log_dir)  # TypeError for 3, ValueError for ""
        return cls(
            preset=preset,
            model=model,
            width=positive_int(defaults["width"] if width is None else width, "width"),
            epochs=positive_int(defaults["epochs"] if epochs is None else epochs, "epochs"),
            target_accuracy=target,
            target_given=target_accuracy is not None,
            max_train_samples=max_train_samples,
            seed=check_int("seed", seed, minimum=0),
            verbose=int(verbose),
            log_dir=None if log_dir is None else Path(log_dir),
        )

    def load(self, dataset) -> _datasets.Dataset:
        """The dataset (a name, a ``.npz`` path or a ``Dataset``), at most ``max_train_samples``."""
        if not isinstance(dataset, (str, os.PathLike, _datasets.Dataset)):
            raise TypeError(
                f"dataset must be a name ({', '.join(_datasets.dataset_names())}), a .npz path "
                f"or a Dataset; received dataset={dataset!r}."
            )
        data = (
            dataset
            if isinstance(dataset, _datasets.Dataset)
            else _datasets.load_dataset(dataset, seed=self.seed)
        )
        return data if self.max_train_samples is None else data.subset(self.max_train_samples)

    def sweep(self, data) -> SweepSettings:
        """What every point of the sweep on ``data`` shares (``auto`` resolved: CNN for images)."""
        pixels = len(data.input_shape) == 3
        return SweepSettings(
            dataset=data.name,
            model=self.model if self.model != "auto" else ("cnn" if pixels else "mlp"),
            width=self.width,
            epochs=self.epochs,
            target_accuracy=self.target_accuracy,
            preset_learning_rate=self.defaults["learning_rate"],
            activation_every_n_epochs=self.defaults["activation_every_n_epochs"],
            max_train_samples=self.max_train_samples,
        )

    def config(self, data, axes, runs) -> dict:
        """The ``config`` of a ``CompareResult``: what every run shared, and the notes."""
        return _config(self, data, axes, runs)


def _choice(name: str, value, choices) -> str:
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be one of {', '.join(map(repr, choices))}; received {name}={value!r}."
        )
    if value not in choices:
        raise unknown_name_error(name, value, choices)
    return value


def one_value_or_axis(name: str, value, axis_name: str, axis, check):
    """``[check(value)]`` when the one-value form is given, else the axis as given.

    Raises:
        ValueError: both forms given.
    """
    if value is None:
        return axis
    value = check(value)
    if axis is not None:
        raise ValueError(
            f"give {name} or {axis_name}, not both; received {name}={value!r}, "
            f"{axis_name}={axis!r}."
        )
    return [value]


def _config(settings: CompareSettings, data, axes, runs) -> dict:
    """The settings every run shared, with the notes the report and the CLI print."""
    target, sweep = settings.target_accuracy, settings.sweep(data)
    quick_default = settings.preset == "quick" and not settings.target_given
    return {
        "dataset": data.name,
        "dataset_description": data.description,
        "model": sweep.model,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "n_train": int(len(data.x_train)),
        "n_test": int(len(data.x_test)),
        "chance_accuracy": data.chance_accuracy,
        "width": sweep.width,
        "epochs": sweep.epochs,
        "batch_size": _one_or_many([run.batch_size for run in runs]),
        "optimizer": _one_or_many([run.optimizer_config for run in runs]),
        "loss": _one_or_many([_loss_description(run) for run in runs]),
        "optimizers": [optimizer_label(choice) for choice in axes.optimizers],
        "learning_rates": sorted({run.learning_rate for run in runs}),
        "batch_sizes": list(axes.batch_sizes),
        "losses": [f"{name}:{act}" for name, act in axes.losses],
        "l2": list(axes.l2),
        "weight_decays": list(axes.weight_decays),
        "dropouts": list(axes.dropouts),
        "update_ratio_note": UPDATE_RATIO_NOTE,
        "target_accuracy": target,
        "seed": settings.seed,
        "preset": settings.preset,
        "initializers": list(axes.initializers),
        "activations": list(axes.activations),
        "depths": list(axes.depths),
        "batchnorm": list(axes.batchnorm),
        "residual": list(axes.residual),
        "scalings": list(axes.scalings),
        "scaling_note": _scaling_note(list(axes.scalings), len(data.input_shape) == 3),
        "target_note": f"target {target:.0%} validation accuracy"
        + (
            f" (the quick preset's; the full default is {PRESETS['full']['target_accuracy']:.0%})"
            if quick_default
            else ""
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


def _one_or_many(values: list):
    """The single value every run shared, or ``"a, b (per run)"`` when they differ."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0]
    return ", ".join(str(v) for v in distinct) + " (per run)"


def _loss_description(run) -> str:
    if (run.loss, run.output_activation) == DEFAULT_LOSS:
        return "sparse categorical cross-entropy (logits)"
    return f"{run.loss} on {run.output_activation} outputs (one-hot targets)"


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
