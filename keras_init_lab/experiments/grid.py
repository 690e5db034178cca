"""A sweep's grid: its axes (checked), its points (one dataclass each) and a stable id per point.

``compare`` crosses thirteen axes: initializers x activations x depths x batchnorm x residual x
scalings x optimizers x learning_rates x batch_sizes x losses x l2 x weight_decays x dropouts.
:class:`GridAxes` holds the checked values of every axis; :meth:`GridAxes.points` expands them,
in ``compare``'s order, into :class:`GridPoint` objects. A point carries every setting that
decides its run's numbers (its axis values, the seed and the :class:`SweepSettings` shared by
the sweep), a label naming the axes that vary, and :attr:`GridPoint.id`: the first 12 hex
digits of the SHA-256 of its settings written as canonical JSON, so the same settings give the
same id in every process, on every machine and Python version (``hash()`` does not: it is
salted per process).

Every check follows the package's one policy: a value of the wrong type raises ``TypeError``,
a value of the right type that is out of range or unknown raises ``ValueError``; each message
names the value and what would be right.

Example:
    >>> axes = GridAxes.from_arguments(initializers=["he_normal"], activations=["relu", "tanh"],
    ...                                depths=4, defaults=dict(initializers=(), activations=()))
    >>> sweep = SweepSettings(dataset="xor", model="mlp", width=8, epochs=2)
    >>> [(p.index, p.label) for p in axes.points(sweep, seed=0)]
    [(1, 'he_normal + relu'), (2, 'he_normal + tanh')]
    >>> len(axes.points(sweep, seed=0)[0].id)
    12

Reference:
    SHA-256: FIPS 180-4, https://doi.org/10.6028/NIST.FIPS.180-4 ; canonical JSON here means
    ``json.dumps(..., sort_keys=True, separators=(",", ":"))``, whose float text is Python's
    shortest round-trip ``repr`` (the same since Python 3.1).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import numbers
import re

from keras_init_lab._validation import check_choice, check_number
from keras_init_lab.experiments import datasets as _datasets
from keras_init_lab.experiments._compile import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER,
    as_list,
    loss_pairs,
    optimizer_choices,
    optimizer_key,
    optimizer_label,
)
from keras_init_lab.experiments._json import json_safe

__all__ = [
    "DEFAULT_LOSS",
    "DEFAULT_OPTIMIZER",
    "FULL_BATCH",
    "ID_LENGTH",
    "GridAxes",
    "GridPoint",
    "SweepSettings",
    "optimizer_label",
    "resolve_scaling",
]

#: The ``batch_sizes`` value meaning "the whole training split in one batch" (full-batch
#: gradient descent of lecture 003: one update per epoch).
FULL_BATCH = "full"
#: Hex digits of the SHA-256 kept in a point's id: 48 bits, so two different points of a
#: 10,000-point sweep share an id with probability about n^2 / 2^49 = 2e-7 (birthday bound).
ID_LENGTH = 12
#: Scalings a user may name: the datasets' own, and ``auto`` (resolved per dataset).
_SCALING_CHOICES = _datasets.SCALINGS + ("auto",)


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """Settings every point of a sweep shares; part of each point's id.

    Attributes:
        dataset: the dataset's name (``Dataset.name``).
        model: ``"mlp"`` or ``"cnn"`` (resolved, never ``"auto"``).
        width: units (MLP) or filters (CNN) per hidden layer.
        epochs: epochs per run.
        target_accuracy: validation accuracy that counts as "learned".
        preset_learning_rate: the learning rate ``"momentum"`` gets when no rate is given.
        activation_every_n_epochs: the ActivationStats probe's interval (a divisor of
            ``epochs`` is used, so the last record is the state after the final epoch).
        max_train_samples: the training split's cap, or ``None``.
    """

    dataset: str
    model: str
    width: int
    epochs: int
    target_accuracy: float = 0.9
    preset_learning_rate: float = 0.05
    activation_every_n_epochs: int = 1
    max_train_samples: int | None = None


#: Settings written as floats in a point's id, whatever number type was given.
_FLOAT_SETTINGS = ("learning_rate", "l2", "weight_decay", "dropout")


@dataclasses.dataclass(frozen=True)
class GridPoint:
    """One run of a sweep: the values of every axis, the seed and the shared settings.

    ``index`` (1-based position in the grid) and ``label`` (the initializer, the activation
    and the value of every axis that varies) say where the point sits; they are not part of
    its :attr:`id`, so a point keeps its id when the grid around it changes.

    Example:
        >>> sweep = SweepSettings(dataset="spirals", model="mlp", width=32, epochs=8)
        >>> a = GridPoint("he_normal", "relu", depth=4, sweep=sweep, index=1)
        >>> b = GridPoint("he_normal", "relu", depth=4, sweep=sweep, index=7)
        >>> a.id == b.id, a.id == dataclasses.replace(a, seed=1).id
        (True, False)
    """

    initializer: str
    activation: str
    depth: int
    batchnorm: bool = False
    residual: bool = False
    scaling: str = "none"
    #: A name from ``lessons.optimizers.OPTIMIZERS``, a Keras optimizer or a factory.
    optimizer: object = DEFAULT_OPTIMIZER
    #: ``None``: the preset's rate for ``"momentum"``, the optimizer's own otherwise.
    learning_rate: float | None = None
    #: An integer >= 1 or ``FULL_BATCH``.
    batch_size: int | str = 32
    loss: str = DEFAULT_LOSS[0]
    output_activation: str = DEFAULT_LOSS[1]
    l2: float = 0.0
    #: ``None``: the optimizer's own decoupled weight decay.
    weight_decay: float | None = None
    dropout: float = 0.0
    seed: int = 0
    sweep: SweepSettings | None = None
    index: int = dataclasses.field(default=1, compare=False)
    label: str = dataclasses.field(default="", compare=False)

    def settings(self) -> dict:
        """Every setting that decides this run's numbers, as plain JSON values.

        Returns:
            A dict: the axis values (``optimizer`` as its name, or ``{"class", "config"}``
            of an optimizer object, or ``{"factory"}``: the factory's qualified name), the
            ``seed`` and the :class:`SweepSettings` under ``"sweep"``. Rates and factors
            are floats (``l2=0`` and ``l2=0.0`` are one setting).
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.compare}
        values["optimizer"] = optimizer_key(self.optimizer)
        for name in _FLOAT_SETTINGS:
            values[name] = None if values[name] is None else float(values[name])
        sweep = None if self.sweep is None else dataclasses.asdict(self.sweep)
        if sweep is not None:
            for name in ("target_accuracy", "preset_learning_rate"):
                sweep[name] = float(sweep[name])
        values["sweep"] = sweep
        return json_safe(values)

    @property
    def id(self) -> str:
        """First ``ID_LENGTH`` hex digits of the SHA-256 of :meth:`settings` as canonical JSON.

        Formula: ``sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")))``.
        """
        text = json.dumps(self.settings(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]

    @property
    def run_name(self) -> str:
        """``NN_label`` with the label's characters safe in a folder name (``01_zeros_tanh``)."""
        slug = re.sub(r"[^A-Za-z0-9_.+-]+", "-", self.label.replace(" + ", "_")).strip("-")
        return f"{self.index:02d}_{slug}"

    @property
    def optimizer_name(self) -> str:
        """The optimizer as the tables name it (``"adam"``, or an object's class, lowercase)."""
        return optimizer_label(self.optimizer)


#: ``GridAxes`` field -> ``GridPoint`` field, in the grid's order (the last varies fastest);
#: a loss axis value is a ``(loss, output_activation)`` pair.
_AXIS_ORDER = (
    ("scalings", "scaling"),
    ("depths", "depth"),
    ("batchnorm", "batchnorm"),
    ("residual", "residual"),
    ("optimizers", "optimizer"),
    ("learning_rates", "learning_rate"),
    ("batch_sizes", "batch_size"),
    ("losses", "loss_pair"),
    ("l2", "l2"),
    ("weight_decays", "weight_decay"),
    ("dropouts", "dropout"),
    ("initializers", "initializer"),
    ("activations", "activation"),
)


@dataclasses.dataclass(frozen=True)
class GridAxes:
    """The checked values of every axis of a sweep (each a non-empty tuple, in grid order)."""

    initializers: tuple
    activations: tuple
    depths: tuple = (6,)
    batchnorm: tuple = (False,)
    residual: tuple = (False,)
    scalings: tuple = ("auto",)
    optimizers: tuple = (DEFAULT_OPTIMIZER,)
    learning_rates: tuple = (None,)
    batch_sizes: tuple = (32,)
    losses: tuple = (DEFAULT_LOSS,)
    l2: tuple = (0.0,)
    weight_decays: tuple = (None,)
    dropouts: tuple = (0.0,)

    @classmethod
    def from_arguments(
        cls,
        defaults: dict,
        initializers=None,
        activations=None,
        depths=None,
        batchnorm=False,
        residual=False,
        scalings="auto",
        optimizers=None,
        learning_rates=None,
        batch_sizes=None,
        losses=None,
        l2=0.0,
        weight_decay=None,
        dropout=0.0,
    ) -> GridAxes:
        """Check ``compare``'s axis arguments and return them as tuples.

        Args:
            defaults: the preset (``compare.PRESETS[name]``): ``initializers``,
                ``activations``, ``depth`` and ``batch_size`` for the axes left ``None``.
            initializers, ...: as ``compare`` takes them (one value or a list each).

        Raises:
            TypeError: a value of the wrong type (e.g. ``depths=[1.5]``, ``l2="0"``).
            ValueError: an empty axis, an unknown name (closest names listed) or a value out
                of range.
        """
        from keras_init_lab import activations as _activations
        from keras_init_lab import initializers as _initializers

        return cls(
            initializers=_names(initializers, "initializers", _initializers.get, defaults),
            activations=_names(activations, "activations", _activations.get, defaults),
            depths=positive_ints(defaults.get("depth", 6) if depths is None else depths, "depths"),
            batchnorm=_bool_axis(batchnorm, "batchnorm"),
            residual=_bool_axis(residual, "residual"),
            scalings=_scaling_axis(scalings),
            optimizers=optimizer_choices(optimizers),
            learning_rates=(None,)
            if learning_rates is None
            else _number_axis(learning_rates, "learning_rates", positive=True),
            batch_sizes=(defaults.get("batch_size", 32),)
            if batch_sizes is None
            else _batch_axis(batch_sizes),
            losses=loss_pairs(losses),
            l2=_number_axis(l2, "l2", minimum=0.0),
            weight_decays=_decay_axis(weight_decay),
            dropouts=_dropout_axis(dropout),
        )

    def points(self, sweep: SweepSettings, seed: int = 0) -> list[GridPoint]:
        """Every grid point, in ``compare``'s order, numbered from 1 and labelled.

        The order is the product of scalings, depths, batchnorm, residual, optimizers,
        learning rates, batch sizes, losses, L2, weight decays, dropouts, initializers and
        activations (the last varies fastest). A label names the initializer and the
        activation, then the value of every other axis that has more than one value.
        """
        names = [point_field for _, point_field in _AXIS_ORDER]
        combos = itertools.product(*(getattr(self, axis) for axis, _ in _AXIS_ORDER))
        points = []
        for index, combo in enumerate(combos, start=1):
            values = dict(zip(names, combo))
            values["loss"], values["output_activation"] = values.pop("loss_pair")
            point = GridPoint(**values, seed=seed, sweep=sweep, index=index)
            points.append(dataclasses.replace(point, label=self._label(point)))
        return points

    def _label(self, p: GridPoint) -> str:
        decay = "default" if p.weight_decay is None else format(p.weight_decay, "g")
        extras = [
            (self.depths, f"depth {p.depth}"),
            (self.batchnorm, "BN" if p.batchnorm else "no BN"),
            (self.residual, "residual" if p.residual else "plain"),
            (self.scalings, f"inputs {p.scaling}"),
            (self.optimizers, p.optimizer_name),
            (self.learning_rates, "" if p.learning_rate is None else f"lr {p.learning_rate:g}"),
            (self.batch_sizes, f"batch {p.batch_size}"),
            (self.losses, f"{p.loss}:{p.output_activation}"),
            (self.l2, f"L2 {p.l2:g}"),
            (self.weight_decays, f"wd {decay}"),
            (self.dropouts, f"dropout {p.dropout:g}"),
        ]
        shown = [text for axis, text in extras if len(axis) > 1 and text]
        return " + ".join([p.initializer, p.activation, *shown])


def resolve_scaling(scaling: str, pixels: bool) -> str:
    """``auto``: standardize image-shaped (pixel) inputs, leave other inputs as they are."""
    if scaling != "auto":
        return scaling
    return "standardize" if pixels else "none"


# ----------------------------------------------------------------------------- axis checks


def _names(values, name: str, getter, defaults: dict) -> tuple:
    values = defaults.get(name, ()) if values is None else values
    values = as_list(values, name)
    example = "he_normal" if name == "initializers" else "relu"
    for value in values:
        if not isinstance(value, str):
            raise TypeError(
                f"{name} must hold names (strings such as {example!r}); received {name}={value!r}."
            )
        getter(value)  # ValueError naming the closest valid names
    return tuple(values)


def positive_ints(values, name: str) -> tuple:
    """One integer >= 1 or a non-empty list of them (``bool`` refused), as a tuple.

    Raises:
        TypeError: a value that is not an integer (``1.5``, ``"4"``, ``True``).
        ValueError: a value below 1, or an empty list.
    """
    return tuple(positive_int(value, name) for value in as_list(values, name))


def positive_int(value, name: str) -> int:
    """One integer >= 1 (``bool`` refused): TypeError for another type, ValueError below 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; received {name}={value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; received {name}={value!r}.")
    return int(value)


def _bool_axis(values, name: str) -> tuple:
    for value in (values := as_list(values, name)):
        if not isinstance(value, bool):
            raise TypeError(
                f"{name} must be True/False or a list of them; received {name}={value!r}."
            )
    return tuple(values)


def _scaling_axis(values) -> tuple:
    for value in (values := as_list(values, "scalings")):
        check_choice("scalings", value, _SCALING_CHOICES, kind="input scaling")
    return tuple(values)


def _number_axis(values, name: str, minimum=None, positive=False) -> tuple:
    """Check every value of a numeric axis with ``check_number``; returns floats."""
    return tuple(
        check_number(name, v, minimum=minimum, positive=positive) for v in as_list(values, name)
    )


def _decay_axis(values) -> tuple:
    values = [None] if values is None else as_list(values, "weight_decay")
    return tuple(
        None if v is None else check_number("weight_decay", v, minimum=0.0) for v in values
    )


def _dropout_axis(values) -> tuple:
    rates = _number_axis(values, "dropout", minimum=0.0)
    for rate in rates:
        if rate >= 1.0:
            raise ValueError(f"dropout must be a rate in [0, 1); received dropout={rate!r}.")
    return rates


def _batch_axis(values) -> tuple:
    """Positive integers or ``FULL_BATCH`` ("full": the whole training split per step)."""
    checked = []
    for value in as_list(values, "batch_sizes"):
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
    return tuple(checked)
