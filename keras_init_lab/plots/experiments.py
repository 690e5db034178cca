"""Figures of the experiments: variance propagation, loss curves, gradient flow, unit health.

Every function takes the plain results the experiments produce (never a model): the setting
dicts of ``experiments.propagation``, and the runs of ``experiments.compare`` (``RunResult``
objects, read by attribute; the run dicts of a ``results.json`` are read the same way). It
draws with the object API (``plots._common.new_figure``) and returns the saved PNG's path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from keras_init_lab.plots._common import new_figure, save_figure

__all__ = [
    "RUN_COLOURS",
    "VERDICT_COLOURS",
    "plot_depth_profile",
    "plot_gradient_heatmap",
    "plot_loss_curves",
    "plot_propagation",
    "plot_unit_fractions",
]

#: Colours of the propagation verdicts.
VERDICT_COLOURS = {
    "vanishing": "#1f77b4",
    "decaying": "#17becf",
    "stable": "#2ca02c",
    "growing": "#ff7f0e",
    "exploding": "#d62728",
}
#: Colours of the comparison verdict kinds (``compare.verdict``), same palette logic:
#: green learns, orange slow, blue stuck (the "vanishing" colour), red diverged.
RUN_COLOURS = {"learns": "#2ca02c", "slow": "#ff7f0e", "stuck": "#1f77b4", "diverged": "#d62728"}


class _RunView:
    """Attribute access to a run given as a mapping (``results.json``); missing keys read None."""

    def __init__(self, values: Mapping):
        self._values = values

    def __getattr__(self, name: str):
        return self._values.get(name)


def _runs(runs) -> list:
    """The runs readable by attribute: ``RunResult`` objects as they are, mappings wrapped."""
    return [_RunView(run) if isinstance(run, Mapping) else run for run in runs]


def _as_float(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_propagation(
    settings: Sequence[dict],
    path: str | os.PathLike,
    stable_factor: float = 10.0,
    extreme_factor: float | None = 1000.0,
) -> Path:
    """Two log-scale panels, forward and backward variance per layer (like UDL fig. 7.7).

    Solid lines are measured, dotted lines the mean-field prediction; a cross at the top edge
    marks float32 overflow (inf), a cross at the bottom edge underflow to exactly 0.

    Example:
        >>> plot_propagation(result.settings, "propagation.png")   # doctest: +SKIP

    Args:
        settings: ``PropagationResult.settings``.
        path: output ``.png`` path.
        stable_factor: the "stable" band (``propagation.STABLE_FACTOR``), quoted in the title.
        extreme_factor: the "vanishing"/"exploding" threshold (``propagation.EXTREME_FACTOR``).

    Returns:
        The PNG path.
    """
    figure = new_figure(13.0, 5.2)
    axes = figure.subplots(1, 2)
    colours = _setting_colours(len(settings))
    for row, colour in zip(settings, colours):
        for ax, key, pred_key, direction in (
            (axes[0], "forward_variance", "predicted_forward_variance", "forward"),
            (axes[1], _backward_key(row), _backward_key(row, "predicted_"), "backward"),
        ):
            measured = _as_float(row[key])
            layers = np.arange(1, measured.size + 1)
            finite = np.isfinite(measured) & (measured > 0)
            verdict = row.get(f"{direction}_verdict", row["verdict"])
            ax.plot(
                layers[finite],
                measured[finite],
                color=colour,
                lw=2,
                label=f"{row['label']} ({verdict})",
            )
            predicted = _as_float(row.get(pred_key) or [])
            if predicted.size:
                ok = np.isfinite(predicted) & (predicted > 0)
                ax.plot(layers[ok], predicted[ok], color=colour, lw=1.2, ls=":")
            flags = row.get(direction) or {}
            overflow = flags.get("overflow_layer", row.get(f"{direction}_overflow_layer"))
            underflow = flags.get("underflow_layer", row.get(f"{direction}_underflow_layer"))
            # Float32 overflow at the top edge, underflow at the bottom edge of the axes.
            for layer, edge in ((overflow, 1.0), (underflow, 0.0)):
                if layer is not None:
                    ax.plot(
                        [layer],
                        [edge],
                        marker="x",
                        ms=10,
                        mew=2.5,
                        color=colour,
                        transform=ax.get_xaxis_transform(),
                        clip_on=False,
                        ls="none",
                    )
    depth = len(settings[0]["forward_variance"]) if settings else 1
    # Predictions may run far beyond float32 (1e170...); scale the axes to what was measured.
    for ax, keys in (
        (axes[0], ["forward_variance"] * len(settings)),
        (axes[1], [_backward_key(row) for row in settings]),
    ):
        measured = (
            np.concatenate([_as_float(row[key]) for row, key in zip(settings, keys)])
            if settings
            else []
        )
        measured = measured[np.isfinite(measured) & (measured > 0)] if len(measured) else measured
        if len(measured):
            low, high = np.log10(measured.min()), np.log10(measured.max())
            margin = max(2.0, 0.08 * (high - low))
            ax.set_ylim(10 ** (low - margin), 10 ** (high + margin))
    axes[0].set_title("Forward pass: variance of pre-activations $f_k$")
    axes[1].set_title(
        r"Backward pass: variance of gradients $\partial L/\partial f_k$"
        "\n(independent N(0, 1) output error)",
        fontsize=10,
    )
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("layer k")
        ax.set_xlim(0.5, depth + 0.5)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("variance (log scale)")
    axes[1].text(
        0.5,
        0.01,
        "backprop runs right to left",
        transform=axes[1].transAxes,
        ha="center",
        va="bottom",
        fontsize=8,
        color="0.4",
    )
    axes[0].legend(fontsize=7, loc="best", title="forward verdict", title_fontsize=7)
    extreme = (
        f"; beyond x{extreme_factor:g}: vanishing / exploding, in between: decaying / growing"
        if extreme_factor
        else ""
    )
    axes[1].legend(fontsize=7, loc="best", title="backward verdict", title_fontsize=7)
    figure.suptitle(
        "Variance through depth — solid: measured (float32), dotted: prediction; "
        "x at top: overflow to inf, x at bottom: underflow to 0\n"
        f"Verdict per direction: stable = within x{stable_factor:g} end to end{extreme}",
        fontsize=9,
    )
    return save_figure(figure, path)


def _backward_key(row: dict, prefix: str = "") -> str:
    """The backward series the verdict reads (independent output error) when present."""
    key = f"{prefix}backward_variance_independent"
    return key if key in row else f"{prefix}backward_variance"


def _setting_colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis" if n > 10 else "tab10"]
    if n > 10:
        return [cmap(i / max(n - 1, 1)) for i in range(n)]
    return [cmap(i) for i in range(n)]


def _grid_shape(n: int, max_columns: int = 4) -> tuple[int, int]:
    columns = min(max_columns, max(n, 1))
    return int(math.ceil(n / columns)), columns


def plot_loss_curves(
    runs: Sequence[dict], path: str | os.PathLike, target_accuracy: float | None = None
) -> Path:
    """A grid of small panels, one per run: training and validation loss, accuracy on a twin axis.

    Args:
        runs: ``CompareResult.runs`` (``label``, ``history``, ``verdict_kind``,
            ``epochs_to_target``).
        path: output ``.png`` path.
        target_accuracy: drawn as a dashed line on the accuracy axis when given.

    Returns:
        The PNG path.
    """
    runs = _runs(runs)
    rows, columns = _grid_shape(len(runs))
    figure = new_figure(3.3 * columns, 2.5 * rows + 0.4)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    finite_losses = [
        v
        for run in runs
        for key in ("loss", "val_loss")
        for v in _as_float(run.history.get(key) or [])
        if np.isfinite(v)
    ]
    # One loss scale for every panel so runs compare at a glance; capped so one diverging
    # run does not flatten the others.
    top = min(max(finite_losses, default=1.0) * 1.05, 3.0)
    for ax, run in zip(axes, runs):
        history = run.history
        epochs = np.arange(1, len(history["loss"]) + 1)
        ax.plot(epochs, _as_float(history["loss"]), color="#444444", lw=1.5, label="train loss")
        if history.get("val_loss"):
            ax.plot(
                epochs,
                _as_float(history["val_loss"]),
                color="#444444",
                lw=1,
                ls="--",
                label="val loss",
            )
        ax.set_ylim(0, top)
        ax.tick_params(labelsize=7)
        acc = ax.twinx()
        kind = run.verdict_kind
        acc.plot(
            epochs,
            _as_float(history.get("val_accuracy") or history["accuracy"]),
            color=RUN_COLOURS.get(kind, "#9467bd"),
            lw=2,
            label="val accuracy",
        )
        if target_accuracy is not None:
            acc.axhline(target_accuracy, color="0.6", ls=":", lw=1)
        acc.set_ylim(0, 1.02)
        acc.tick_params(labelsize=7)
        reached = run.epochs_to_target
        note = f"{kind}" + (f", epoch {reached}" if reached else "") if kind else ""
        ax.set_title(f"{run.label}\n{note}", fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    figure.suptitle(
        "Loss (grey, left axis; solid train, dashed validation) and validation "
        "accuracy (right axis; green learns, orange slow, blue stuck, red "
        "diverged; dotted: target)",
        fontsize=9,
    )
    return save_figure(figure, path)


def plot_gradient_heatmap(runs: Sequence[dict], path: str | os.PathLike) -> Path:
    """Heatmap of log10 gradient norm per layer at the first training step, one row per run.

    Columns are the model's weight layers in forward order (first layer left); a row that
    darkens to the left shows vanishing gradients, an all-blank row is exactly zero.

    Args:
        runs: ``CompareResult.runs`` (``label``, ``gradient_norms_start``: first layer first).
        path: output ``.png`` path.

    Returns:
        The PNG path.
    """
    runs = _runs(runs)
    width = max((len(run.gradient_norms_start or []) for run in runs), default=1)
    matrix = np.full((len(runs), max(width, 1)), np.nan)
    for i, run in enumerate(runs):
        norms = _as_float(run.gradient_norms_start or [])
        with np.errstate(divide="ignore"):
            matrix[i, : norms.size] = np.where(
                norms > 0, np.log10(np.maximum(norms, 1e-300)), np.nan
            )
    figure = new_figure(max(6.0, 0.55 * width + 4.0), 0.32 * len(runs) + 1.6)
    ax = figure.subplots()
    finite = matrix[np.isfinite(matrix)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
    image = ax.imshow(
        np.ma.masked_invalid(matrix),
        aspect="auto",
        cmap="magma",
        vmin=vmin,
        vmax=max(vmax, vmin + 1e-9),
        interpolation="nearest",
    )
    ax.set_facecolor("#cfe8ff")
    ax.set_yticks(range(len(runs)), [run.label for run in runs], fontsize=7)
    ax.set_xticks(range(width), [str(i + 1) for i in range(width)], fontsize=7)
    ax.set_xlabel("weight layer (input side left, output right)")
    colorbar = figure.colorbar(image, ax=ax)
    colorbar.set_label("log10 gradient norm at step 0")
    ax.set_title(
        "Gradient flow at the start of training (light blue: gradient exactly 0)", fontsize=9
    )
    return save_figure(figure, path)


def plot_unit_fractions(runs: Sequence[dict], path: str | os.PathLike) -> Path:
    """Bars of dead-unit and saturated-output fractions per run, at the start and end of training.

    Dead: share of ReLU-family units that output <= 0 on every probe sample; saturated: share
    of tanh/sigmoid output values in the flat tails (``ActivationStats`` definitions, averaged
    over hidden layers). "n/a" marks activations a statistic does not apply to.

    Args:
        runs: ``CompareResult.runs`` (``label``, ``dead_fraction_start/end`` and
            ``saturated_fraction_start/end``: ``None`` where the stat does not apply).
        path: output ``.png`` path.

    Returns:
        The PNG path.
    """
    runs = _runs(runs)
    labels = [run.label for run in runs]
    y = np.arange(len(runs))
    figure = new_figure(10.0, 0.3 * len(runs) + 1.8)
    axes = figure.subplots(1, 2, sharey=True)
    for ax, stat, title, colour in (
        (axes[0], "dead_fraction", "dead units (ReLU family: 0 on every probe sample)", "#7f7f7f"),
        (
            axes[1],
            "saturated_fraction",
            "saturated outputs (share of tanh/sigmoid values in the flat tails)",
            "#9467bd",
        ),
    ):
        start = _as_float([getattr(run, f"{stat}_start") for run in runs])
        end = _as_float([getattr(run, f"{stat}_end") for run in runs])
        ax.barh(y - 0.2, np.nan_to_num(start), height=0.4, color=colour, alpha=0.45, label="start")
        ax.barh(y + 0.2, np.nan_to_num(end), height=0.4, color=colour, label="end")
        for i in np.flatnonzero(np.isnan(start) & np.isnan(end)):
            ax.text(0.01, y[i], "n/a", va="center", fontsize=7, color="0.5")
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("fraction (mean over hidden layers)")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=7)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=7, loc="lower right")
    return save_figure(figure, path)


def plot_depth_profile(runs: Sequence[dict], path: str | os.PathLike) -> Path:
    """Two panels: activation variance per hidden layer at initialization, and the
    first/last-layer gradient-norm ratio at the first step of every epoch.

    What lecture 002's four pairings predict shows here: He + ReLU keeps the variance flat,
    Xavier + ReLU halves it per layer, tanh settles; a ratio far above 1 is a gradient that
    grows towards the input, far below 1 one that vanishes.

    Example:
        >>> plot_depth_profile(result.runs, "depth_profile.png")     # doctest: +SKIP

    Args:
        runs: ``CompareResult.runs`` (``activation_variance_start``, ``grad_ratio_history``).
        path: output ``.png`` path.

    Returns:
        The PNG path.
    """
    runs = _runs(runs)
    figure = new_figure(13.0, 4.8)
    left, right = figure.subplots(1, 2)
    for run, colour in zip(runs, _setting_colours(len(runs))):
        variance = _as_float(run.activation_variance_start or [])
        layers = np.arange(1, variance.size + 1)
        ok = np.isfinite(variance) & (variance > 0)
        left.plot(
            layers[ok],
            variance[ok],
            color=colour,
            lw=2,
            marker="o",
            ms=3,
            label=f"{run.label} ({run.verdict_kind or ''})",
        )
        ratio = _as_float(run.grad_ratio_history or [])
        epochs = np.arange(ratio.size)
        ok = np.isfinite(ratio) & (ratio > 0)
        right.plot(epochs[ok], ratio[ok], color=colour, lw=2, marker="o", ms=3)
    left.set_title("At initialization: activation variance per hidden layer", fontsize=10)
    left.set_xlabel("hidden layer")
    right.set_title("Gradient norm, first / last layer (1 = balanced)", fontsize=10)
    right.set_xlabel("epoch (0 = initialization)")
    right.axhline(1.0, color="0.5", lw=1, ls="--")
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=8, loc="best")
    return save_figure(figure, path)
