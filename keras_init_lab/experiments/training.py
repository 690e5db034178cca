"""One run of a sweep: build the model of a grid point, train it with the package's callbacks,
and return a :class:`RunResult`.

:func:`train_point` seeds everything with the point's seed
(``keras.utils.set_random_seed``), builds ``build_mlp`` / ``build_cnn`` with the point's
initializer, activation, depth, BatchNorm, residual, dropout and L2 settings, compiles it
with a fresh optimizer and the point's loss (``_compile``), fits it with ``GradientStats``
(first step of every epoch) and ``ActivationStats`` (a fixed probe batch) attached, reads
their records (``verdicts.read_*``), gives the verdict and assembles the result, in this one
place.

:class:`RunResult`'s fields are the result's columns: those with ``column=True`` in their
metadata are ``RESULT_COLUMNS``, the columns of ``results.csv`` in field order; every field is a
key of the run's object in ``results.json``.

Example:
    >>> from keras_init_lab.experiments.grid import GridPoint, SweepSettings
    >>> from keras_init_lab.experiments.datasets import load_dataset
    >>> sweep = SweepSettings(dataset="xor", model="mlp", width=8, epochs=2)
    >>> point = GridPoint("he_normal", "relu", depth=2, sweep=sweep, label="he_normal + relu")
    >>> result = train_point(point, load_dataset("xor"))               # doctest: +SKIP
    >>> result.verdict_kind, result.final_accuracy                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping

import numpy as np

from keras_init_lab.experiments import verdicts as _verdicts
from keras_init_lab.experiments.grid import FULL_BATCH, GridPoint

__all__ = ["PROBE_SAMPLES", "RESULT_COLUMNS", "RunResult", "train_point"]

#: Probe samples for ActivationStats: 256, its own default cap (max_probe_samples).
PROBE_SAMPLES = 256


def _column(doc: str, default=None):
    return dataclasses.field(default=default, metadata={"column": True, "doc": doc})


def _detail(doc: str, factory=None):
    if factory is None:
        return dataclasses.field(default=None, metadata={"column": False, "doc": doc})
    return dataclasses.field(default_factory=factory, metadata={"column": False, "doc": doc})


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What one run of ``compare`` measured, and its verdict.

    The fields marked ``column`` are ``RESULT_COLUMNS`` (``results.csv``, in this order); the
    others are details kept in ``results.json``. ``None`` means "not measured" or "does not
    apply" (no ReLU layer for ``dead_fraction_*``, a target never reached). Every field has a
    default, so a result can be written by hand (tests, examples); :func:`train_point` sets
    every one. ``run["name"]`` and ``run.get("name")`` read a field too, as for the dicts
    ``compare`` returned before.

    Example:
        >>> run = RunResult(label="he_normal + relu", final_accuracy=0.93, verdict_kind="learns")
        >>> run.final_accuracy, run["verdict_kind"], "label" in RESULT_COLUMNS
        (0.93, 'learns', True)
    """

    run: int | None = _column("1-based position of the run in the grid")
    label: str = _column("initializer + activation + the value of each axis that varies", "")
    initializer: str | None = _column("initializer name")
    activation: str | None = _column("activation name")
    depth: int | None = _column("hidden layers")
    batchnorm: bool | None = _column("BatchNorm before each activation")
    residual: bool | None = _column("residual connections")
    scaling: str | None = _column("input scaling applied (datasets.SCALINGS)")
    optimizer: str | None = _column("optimizer name (grid.optimizer_label)")
    learning_rate: float | None = _column("the optimizer's learning rate, read back from it")
    batch_size: int | str | None = _column("samples per update, or 'full'")
    loss: str | None = _column("loss name (losses.LOSSES)")
    output_activation: str | None = _column("output activation applied inside the loss")
    l2: float | None = _column("L2 penalty factor on every kernel")
    weight_decay: float | None = _column("the optimizer's decoupled weight decay")
    dropout: float | None = _column("dropout rate after every hidden activation")
    final_loss: float | None = _column("validation loss after the last epoch")
    final_accuracy: float | None = _column("validation accuracy after the last epoch")
    train_accuracy: float | None = _column("training accuracy of the last epoch")
    epochs_to_target: int | None = _column("first epoch (from 1) at the target; None: never")
    grad_ratio_start: float | None = _column("gradient norm first/last kernel layer, step 0")
    dead_fraction_start: float | None = _column("mean dead-unit fraction at initialization")
    dead_fraction_end: float | None = _column("mean dead-unit fraction after the last epoch")
    saturated_fraction_start: float | None = _column("mean saturated fraction, initialization")
    saturated_fraction_end: float | None = _column("mean saturated fraction, last epoch")
    grad_ratio_end: float | None = _column("gradient norm first/last kernel layer, last record")
    update_ratio: float | None = _column("median ||dw|| / ||w|| over records and kernels")
    update_ratio_verdict: str | None = _column("update_ratio read against ~1e-3")
    verdict_kind: str | None = _column("learns, slow, stuck or diverged (VERDICT_KINDS)")
    verdict: str | None = _column("one line: the verdict and the evidence for it")
    seconds: float | None = _column("wall time of model.fit")
    log_dir: str | None = _column("the run's TensorBoard folder, or None")
    optimizer_config: str | None = _detail("SGD(learning_rate=0.05, momentum=0.9)-style text")
    input_abs_max: float | None = _detail("largest |x| of the training inputs the run saw")
    history: dict = _detail("Keras History.history: loss, accuracy, val_* per epoch", dict)
    activation_layers: list = _detail("hidden layers ActivationStats recorded", list)
    activation_variance_start: list = _detail("activation variance per hidden layer, init", list)
    preactivation_variance_start: list = _detail("pre-activation variance per layer, init", list)
    dead_fraction_start_per_layer: list = _detail("dead fraction per hidden layer, init", list)
    saturated_fraction_start_per_layer: list = _detail("saturated fraction per layer, init", list)
    saturated_fraction_end_per_layer: list = _detail("saturated fraction per layer, end", list)
    grad_ratio_history: list = _detail("grad_ratio at every GradientStats record", list)
    grad_ratio_steps: list = _detail("the training step of every GradientStats record", list)
    update_ratio_per_layer: list = _detail("median update ratio per kernel layer", list)
    first_nonfinite_epoch: int | None = _detail("first epoch (from 1) with a NaN/inf loss")
    gradient_layers: list = _detail("kernel layers, first to last (GradientStats paths)", list)
    gradient_norms_start: list = _detail("gradient norm per kernel layer at step 0", list)
    hidden_gradients_zero: bool | None = _detail("every hidden kernel's gradient exactly 0")
    symmetric_start: bool | None = _detail("every kernel's entries all equal at the start")

    def __getitem__(self, name: str):
        if name not in _FIELD_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name) -> bool:
        return name in _FIELD_NAMES

    def get(self, name: str, default=None):
        """The field ``name``, or ``default`` when there is no such field."""
        return getattr(self, name) if name in _FIELD_NAMES else default

    def keys(self) -> tuple:
        """Every field name, in order (so ``dict(run)`` works)."""
        return _FIELD_NAMES

    def to_dict(self) -> dict:
        """Every field as a plain dict (lists and dicts copied), the form of ``results.json``."""
        return dataclasses.asdict(self)

    def row(self) -> dict:
        """The ``RESULT_COLUMNS`` of this run (``results.csv``'s row, before formatting)."""
        return {name: getattr(self, name) for name in RESULT_COLUMNS}

    @property
    def variance_change(self) -> float | None:
        """Activation variance at the last hidden layer over the first, at initialization."""
        values = self.activation_variance_start or []
        if len(values) < 2 or values[0] is None or values[-1] is None or values[0] <= 0:
            return None
        return values[-1] / values[0]

    @classmethod
    def from_dict(cls, values: Mapping) -> RunResult:
        """A ``RunResult`` from a mapping of field names (a ``results.json`` run, a test's dict).

        Raises:
            TypeError: ``values`` is not a mapping, or has a key that is not a field (the
                message lists them).
        """
        if isinstance(values, cls):
            return values
        if not isinstance(values, Mapping):
            raise TypeError(f"a run must be a RunResult or a mapping; received {values!r}.")
        unknown = sorted(set(values) - set(_FIELD_NAMES))
        if unknown:
            raise TypeError(
                f"not fields of RunResult: {', '.join(map(repr, unknown))}; the fields are "
                f"{', '.join(_FIELD_NAMES)}."
            )
        return cls(**values)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(RunResult))
#: The columns of ``results.csv``: the ``RunResult`` fields marked ``column``, in field order.
RESULT_COLUMNS = tuple(f.name for f in dataclasses.fields(RunResult) if f.metadata["column"])


def _fit(model, data, point: GridPoint, batch_size: int, log_dir, verbose: int):
    """Train ``model`` with the statistics callbacks: (curves, gradient, activation stats)."""
    import keras

    from keras_init_lab.callbacks import ActivationStats, GradientStats

    epochs = point.sweep.epochs
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
    requested = point.sweep.activation_every_n_epochs
    every = max(n for n in range(1, requested + 1) if epochs % n == 0)
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
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    return curves, gradient_stats.history, activation_stats.history


def train_point(point: GridPoint, data, log_dir=None, verbose: int = 0) -> RunResult:
    """Build, train and measure the model of one grid point; return its ``RunResult``.

    Args:
        point: the grid point (its ``sweep`` gives width, epochs, target and the preset's
            learning rate).
        data: the ``Dataset``, already scaled with ``point.scaling``
            (``datasets.scale_inputs``).
        log_dir: the run's TensorBoard folder, or ``None`` (no event files).
        verbose: Keras's ``fit`` verbosity (0 silent, 2 one line per epoch).

    Returns:
        The run's ``RunResult``, every field set.
    """
    import keras

    from keras_init_lab._layers import kernel_layers
    from keras_init_lab.experiments._compile import (
        learning_rate_of,
        make_loss,
        make_run_optimizer,
        optimizer_description,
    )
    from keras_init_lab.experiments.models import build_cnn, build_mlp

    sweep = point.sweep
    keras.utils.set_random_seed(point.seed)
    model = (build_cnn if sweep.model == "cnn" else build_mlp)(
        data.input_shape,
        data.num_classes,
        depth=point.depth,
        width=sweep.width,
        initializer=point.initializer,
        activation=point.activation,
        batchnorm=point.batchnorm,
        residual=point.residual,
        dropout=point.dropout,
        kernel_regularizer=keras.regularizers.L2(point.l2) if point.l2 > 0 else None,
    )
    optimizer = make_run_optimizer(
        point.optimizer, point.learning_rate, point.weight_decay, sweep.preset_learning_rate
    )
    loss, accuracy = make_loss(point.loss, point.output_activation, data.num_classes)
    kernels = kernel_layers(model)
    # Read before training: the real initial weights.
    start = _verdicts.read_kernels([np.asarray(layer.kernel) for layer in kernels])
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy])
    batch = len(data.x_train) if point.batch_size == FULL_BATCH else point.batch_size
    started = time.perf_counter()
    curves, gradients, activations = _fit(model, data, point, batch, log_dir, verbose)
    seconds = time.perf_counter() - started

    fields = dict(
        run=point.index,
        label=point.label,
        initializer=point.initializer,
        activation=point.activation,
        depth=point.depth,
        batchnorm=point.batchnorm,
        residual=point.residual,
        scaling=point.scaling,
        optimizer=point.optimizer_name,
        optimizer_config=optimizer_description(optimizer),
        learning_rate=learning_rate_of(optimizer),
        batch_size=point.batch_size,
        loss=point.loss,
        output_activation=point.output_activation,
        l2=point.l2,
        weight_decay=float(optimizer.weight_decay or 0.0),
        dropout=point.dropout,
        log_dir=str(log_dir) if log_dir else None,
        input_abs_max=float(np.max(np.abs(data.x_train))),
        history=curves,
        seconds=round(seconds, 2),
        **start,
        **_verdicts.read_curves(curves, sweep.target_accuracy),
        **_verdicts.read_gradients(
            gradients, [layer.name for layer in kernels], start["symmetric_start"]
        ),
        **_verdicts.read_activations(activations),
    )
    kind, text = _verdicts.verdict(fields, sweep.target_accuracy, data.chance_accuracy)
    return RunResult(**fields, verdict_kind=kind, verdict=text)
