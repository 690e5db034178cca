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

The work is split in four modules: ``grid`` (the axes, checked, and one ``GridPoint`` per
run with a stable id), ``training`` (one run: ``train_point`` returns a ``RunResult``),
``verdicts`` (what the numbers say), ``sweep`` (the points run in order or in worker
processes, one run file per finished run, resumed from) and this one, which checks the
arguments and returns a ``CompareResult``. ``compare`` writes only what the runs write while
they train (TensorBoard event files under ``log_dir``, one run file per finished run under
``runs_dir``); ``keras_init_lab.report.write_compare`` writes ``results.json``,
``results.csv`` and the figures, from the runs (so from the run files on a resumed sweep).

Example:
    >>> result = compare(dataset="xor", initializers=["zeros", "he_normal"],
    ...                  activations=["relu"], epochs=5)            # doctest: +SKIP
    >>> [run.verdict for run in result.runs]                          # doctest: +SKIP

Reference:
    X. Glorot & Y. Bengio, "Understanding the difficulty of training deep feedforward neural
    networks" (AISTATS 2010), https://proceedings.mlr.press/v9/glorot10a.html ;
    K. He et al. (ICCV 2015), https://arxiv.org/abs/1502.01852 ;
    A. Karpathy, CS231n "Neural Networks Part 3", section "Ratio of weights:updates",
    https://cs231n.github.io/neural-networks-3/#ratio
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from keras_init_lab._validation import check_int, check_log_dir, check_number
from keras_init_lab.experiments import datasets as _datasets
from keras_init_lab.experiments._json import json_safe
from keras_init_lab.experiments._text import wrap as _wrap
from keras_init_lab.experiments.grid import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER,
    FULL_BATCH,
    GridAxes,
    positive_int,
    resolve_scaling,
)
from keras_init_lab.experiments.settings import (
    DEFAULT_ACTIVATIONS,
    DEFAULT_INITIALIZERS,
    MODELS,
    PRESETS,
    UPDATE_RATIO_NOTE,
    CompareSettings,
    one_value_or_axis,
)
from keras_init_lab.experiments.sweep import RUNS_FOLDER, run_sweep
from keras_init_lab.experiments.training import RESULT_COLUMNS, RunResult
from keras_init_lab.experiments.verdicts import (
    LEARNING_MARGIN,
    UNIT_PROBLEM_FRACTION,
    UNSCALED_INPUT_LIMIT,
    verdict,
)

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
    "RunResult",
    "compare",
    "verdict",
]


@dataclasses.dataclass
class CompareResult:
    """What ``compare`` measured.

    Attributes:
        runs: one ``RunResult`` per grid point, in grid order.
        config: the settings shared by every run (dataset, model, optimizer, ...).
        files: paths written by ``report.write_compare`` for the deprecated ``out_dir``
            (empty otherwise).
    """

    runs: list[RunResult]
    config: dict
    files: dict = dataclasses.field(default_factory=dict)
    #: The columns of ``results.csv``.
    columns: ClassVar[tuple] = RESULT_COLUMNS

    def to_json(self) -> dict:
        """Plain-JSON form of ``results.json``: ``{"config", "runs"}``, non-finite as ``null``."""
        return json_safe({"config": self.config, "runs": [run.to_dict() for run in self.runs]})

    def format_table(self) -> str:
        """Fixed-width text table, one line per run, its verdict wrapped below it.

        Columns: validation accuracy and loss at the end, the epoch that reached the target,
        activation variance last/first hidden layer at initialization, gradient-norm ratio
        first/last layer at the first step and at the last record, dead and saturated
        fractions at the end; then the verdict. Every line fits in ``LINE_WIDTH`` (100)
        columns; a label wider than its column gets a line of its own.

        Example:
            >>> run = RunResult(label="he_normal + relu", final_accuracy=0.95, final_loss=0.12,
            ...                 epochs_to_target=3, grad_ratio_start=0.8, verdict="learns")
            >>> lines = CompareResult([run], {}).format_table().splitlines()
            >>> print(lines[2])  # doctest: +ELLIPSIS
            he_normal + relu                 95%     0.12         3           -        0.8->- ...
            >>> print(lines[3])
                verdict: learns
        """
        header = (
            f"{'run':<{LABEL_WIDTH}} {'val acc':>7} {'val loss':>8} {'to target':>9} "
            f"{'act var L/1':>11} {'grad 1st/last':>13} {'dead':>5} {'sat':>5}"
        )
        lines = [header, "-" * len(header)]
        for run in self.runs:
            ratios = f"{_num(run.grad_ratio_start)}->{_num(run.grad_ratio_end)}"
            to_target = "never" if run.epochs_to_target is None else str(run.epochs_to_target)
            label = _label_cell(run.label, lines)
            lines.append(
                f"{label:<{LABEL_WIDTH}} {_pct(run.final_accuracy):>7} "
                f"{_num(run.final_loss):>8} {to_target:>9} {_num(run.variance_change):>11} "
                f"{ratios:>13} {_pct(run.dead_fraction_end):>5} "
                f"{_pct(run.saturated_fraction_end):>5}"
            )
            lines += _wrap(run.verdict or "-", "    verdict: ", " " * 13)
        lines += _wrap(
            "When: val acc, val loss, dead and sat at the end (after the last epoch); act var "
            "L/1 at initialization; grad 1st/last at the first step -> at the last record."
        )
        return "\n".join(lines)

    def format_settings_table(self) -> str:
        """Fixed-width text table of the training axes and the update size, one line per run.

        Columns: optimizer, learning rate, batch size, L2 penalty, weight decay, dropout and
        the median update/weight ratio (see ``UPDATE_RATIO_NOTE``); below each run, its loss
        with the output activation and the ratio's reading against the ~1e-3 rule of thumb,
        wrapped within ``LINE_WIDTH`` columns.
        """
        header = (
            f"{'run':<{LABEL_WIDTH}} {'optimizer':<10} {'lr':>8} {'batch':>6} "
            f"{'L2':>7} {'wd':>7} {'drop':>5} {'upd/w':>8}"
        )
        lines = [header, "-" * len(header)]
        for run in self.runs:
            label = _label_cell(run.label, lines)
            lines.append(
                f"{label:<{LABEL_WIDTH}} {run.optimizer:<10} {_num(run.learning_rate):>8} "
                f"{run.batch_size!s:>6} {_num(run.l2):>7} {_num(run.weight_decay):>7} "
                f"{_num(run.dropout):>5} {_num(run.update_ratio):>8}"
            )
            lines += _wrap(
                f"loss: {run.loss} + {run.output_activation}; "
                f"update: {run.update_ratio_verdict or '-'}",
                "    ",
                "      ",
            )
        return "\n".join(lines)


#: The run label's column within a line of ``_text.LINE_WIDTH`` (100) characters, the widest
#: ``format_table`` and ``format_settings_table`` print.
LABEL_WIDTH = 28


def _label_cell(label: str, lines: list[str]) -> str:
    """The label for its column; a longer one goes on a line of its own (appended here)."""
    if len(label) <= LABEL_WIDTH:
        return label
    lines.append(label)
    return ""


def _pct(value) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"
    )


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if math.isfinite(value) else ("inf" if value > 0 else "nan")


def _runs_folder(runs_dir, log_dir: Path | None) -> Path | None:
    """``runs_dir`` checked, or ``<log_dir>/runs`` when only ``log_dir`` is given, or ``None``."""
    if runs_dir is None:
        return None if log_dir is None else log_dir / RUNS_FOLDER
    if isinstance(runs_dir, (str, os.PathLike)) and not os.fspath(runs_dir):
        raise ValueError(
            "runs_dir is an empty path (it would write into the current folder); pass a "
            f"folder such as 'logs/sweep/runs', or None; received runs_dir={runs_dir!r}."
        )
    return Path(check_log_dir("runs_dir", runs_dir))


def _ray_address(ray, workers: int):
    """``None`` (no Ray), ``True`` (a local Ray, or the one started) or an address string."""
    if ray is None or ray is False:
        return None
    if ray is not True and not isinstance(ray, str):
        raise TypeError(
            "ray must be True (a local Ray, or the one this process started) or a cluster "
            f"address such as 'auto' or 'ray://host:10001'; received ray={ray!r}."
        )
    if isinstance(ray, str) and not ray.strip():
        raise ValueError(
            "ray is an empty address; pass True for a local Ray or an address such as 'auto' "
            f"or 'ray://host:10001'; received ray={ray!r}."
        )
    if workers != 1:
        raise ValueError(
            f"give workers (local processes) or ray (a Ray cluster), not both; "
            f"received workers={workers!r}, ray={ray!r}."
        )
    return ray


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
    log_dir: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike | None = None,
    workers: int = 1,
    ray: bool | str | None = None,
) -> CompareResult:
    """Train the same model on the same data for every grid point and compare what happens.

    The grid is ``initializers x activations x depths x batchnorm x residual x scalings x
    optimizers x learning_rates x batch_sizes x losses x l2 x weight_decay x dropout``
    (``grid.GridAxes``); every axis left at its default has one value, which is today's
    setting (SGD with momentum 0.9 at the preset's learning rate and batch size, softmax +
    cross-entropy, no L2, no weight decay, no dropout). Each axis is a column of
    ``RunResult`` (so of ``results.json`` / ``results.csv``) and of the report's settings
    table; an axis with several values is also named in the run's label. Each run resets the
    seed (``keras.utils.set_random_seed(seed)``), so runs differ only by their settings and
    the same ``seed`` reproduces every number.

    Example:
        >>> r = compare(dataset="xor", initializers=["he_normal"], activations=["relu"],
        ...             epochs=3, verbose=0)                              # doctest: +SKIP
        >>> r.runs[0].verdict_kind                                         # doctest: +SKIP
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
            grid, 30 epochs), ``"demo"`` (lecture 002's four pairings, 20 layers, 20 epochs)
            or ``"quick"`` (2 x 2, 8 epochs, depth 4, target 0.8; for tests and
            ``--quick``). See ``PRESETS``.
        quick: shorthand for ``preset="quick"``.
        seed: the seed of data generation, initial weights and shuffling (an integer >= 0).
        out_dir: deprecated: ``log_dir=<out_dir>/tensorboard``, and ``results.json``,
            ``results.csv`` and the figures written there by ``report.write_compare`` at the
            end (a ``DeprecationWarning`` says so). Pass ``log_dir`` and call
            ``report.write_compare(result, out_dir)`` instead.
        verbose: 0 silent; 1 one line per finished run (k/N, setting, time, verdict) and an
            overall line (done, running, left, elapsed, ETA); 2 also Keras's own line per
            epoch.
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
        log_dir: when given, each run writes its TensorBoard event files to
            ``<log_dir>/<activation>_<NN>_<rest of the label>`` (``_tags.run_name``: one
            activation's runs side by side in TensorBoard), and, unless ``runs_dir`` says
            otherwise, its run file to ``<log_dir>/runs`` (so the sweep resumes).
        runs_dir: the folder of the run files (``experiments.sweep``): each finished run is
            written there atomically as ``<id>.json`` (``GridPoint.id``: a hash of its
            settings and seed) the moment it finishes, and a second call on the same folder
            resumes: finished runs are read back, not trained again; a changed grid trains
            only its new points. Default: ``<log_dir>/runs`` when ``log_dir`` is given (the
            command line: ``<out>/runs``), else no run files.
        workers: processes that train grid points at once (default 1: this process, in grid
            order). ``N > 1`` starts ``N`` "spawn" processes, each limiting TensorFlow to
            ``cores // N`` threads; every run is seeded by its point, so its numbers are
            those of a sequential run. Optimizers must be given by name (objects and
            factories cannot always be sent to a process), and a script must call
            ``compare`` under ``if __name__ == "__main__":``.
        ray: ``None`` (default): this machine. ``True``: each grid point is a Ray core task
            (``experiments._ray``; ``pip install "keras-init-lab[ray]"``) on the Ray this
            process started with ``ray.init``, else on a local one (or the cluster
            ``RAY_ADDRESS`` names); a string: that cluster's address (``"auto"``,
            ``"ray://host:10001"``). Each task asks for 1 CPU and limits TensorFlow to 1
            thread; the results come back here into the run files. On a cluster,
            ``log_dir`` must be storage every node sees, at the same path (a mounted
            bucket: ``log_dir`` is a local path, so ``gs://`` / ``s3://`` URLs, which
            TensorFlow's file API accepts, do not work here yet).

    Returns:
        A ``CompareResult``: one ``RunResult`` per grid point and the shared ``config``.

    Raises:
        TypeError: a value of the wrong type (e.g. a string learning rate, ``depths=[1.5]``).
        ValueError: unknown names (closest valid ones listed), non-positive sizes or
            learning rates, a batch size of 0, a target outside (0, 1], ``workers < 1``;
            ``sweep.RunFileError`` (a ``ValueError``) for a run file in ``runs_dir`` that is
            corrupt, foreign or disagrees with its id, naming the file.
        sweep.SweepInterrupted: Ctrl-C (a ``KeyboardInterrupt``); the finished runs are
            saved in ``runs_dir``, and the same call resumes.
    """
    settings = CompareSettings.from_arguments(
        preset,
        quick,
        model,
        width,
        epochs,
        target_accuracy,
        max_train_samples,
        seed,
        verbose,
        log_dir,
    )
    if out_dir is not None:
        if log_dir is not None:
            raise ValueError(
                f"give log_dir (TensorBoard logs only) or the deprecated out_dir, not both; "
                f"received log_dir={log_dir!r}, out_dir={out_dir!r}."
            )
        if not isinstance(out_dir, (str, os.PathLike)):
            raise TypeError(
                f"out_dir must be a folder path (str or os.PathLike); received out_dir={out_dir!r}."
            )
        if not os.fspath(out_dir):
            raise ValueError(
                "out_dir is an empty path (it would write into the current folder); pass a "
                f"folder such as 'results/compare'; received out_dir={out_dir!r}."
            )
        warnings.warn(
            "compare(out_dir=...) is deprecated: compare returns the results and writes only "
            "TensorBoard logs and run files; pass log_dir=<folder>/tensorboard and write "
            "results.json, results.csv and the figures with "
            "keras_init_lab.report.write_compare(result, folder).",
            DeprecationWarning,
            stacklevel=2,
        )
        settings = dataclasses.replace(settings, log_dir=Path(out_dir) / "tensorboard")
        if runs_dir is None:
            runs_dir = Path(out_dir) / RUNS_FOLDER
    runs_dir = _runs_folder(runs_dir, settings.log_dir)
    workers = check_int("workers", workers, minimum=1)
    ray = _ray_address(ray, workers)
    positive_rate = functools.partial(check_number, "learning_rate", positive=True)
    axes = GridAxes.from_arguments(
        settings.defaults,
        initializers=initializers,
        activations=activations,
        depths=depths,
        batchnorm=batchnorm,
        residual=residual,
        scalings=scalings,
        optimizers=optimizers,
        learning_rates=one_value_or_axis(
            "learning_rate", learning_rate, "learning_rates", learning_rates, positive_rate
        ),
        batch_sizes=one_value_or_axis(
            "batch_size",
            batch_size,
            "batch_sizes",
            batch_sizes,
            functools.partial(positive_int, name="batch_size"),
        ),
        losses=losses,
        l2=l2,
        weight_decay=weight_decay,
        dropout=dropout,
    )
    data = settings.load(dataset)
    pixels = len(data.input_shape) == 3
    scalings = tuple(dict.fromkeys(resolve_scaling(s, pixels) for s in axes.scalings))
    axes = dataclasses.replace(axes, scalings=scalings)
    # Scale every input variant up front, so a scaling that cannot apply (``pixel`` on data
    # without a declared pixel maximum) fails before any training.
    scaled = {scaling: _datasets.scale_inputs(data, scaling) for scaling in scalings}
    points = axes.points(settings.sweep(data), seed=settings.seed)
    runs = run_sweep(
        points,
        scaled,
        runs_dir=runs_dir,
        log_dir=settings.log_dir,
        workers=workers,
        verbose=settings.verbose,
        ray=ray,
    )
    result = CompareResult(runs, settings.config(data, axes, runs))
    if out_dir is not None:
        from keras_init_lab._result_files import write_compare_files

        result.files = write_compare_files(result, out_dir)
    return result
