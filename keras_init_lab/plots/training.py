"""Figures of what happened during training: gradient flow through the layers.

Example:
    >>> stats = GradientStats(every_n_steps=10)
    >>> model.fit(x, y, epochs=5, callbacks=[stats])
    >>> plot_gradient_flow(stats.history, "gradient_flow.png")
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from keras_init_lab.plots._common import new_figure, require_history, save_figure

__all__ = ["plot_gradient_flow"]


def _check_history(history) -> None:
    require_history(history, ("step", "layers", "per_layer"), "GradientStats(...).history")
    need = [stat for stat in ("norm", "max_abs", "mean", "std") if stat not in history["per_layer"]]
    if need:
        raise ValueError(f"history['per_layer'] lacks statistics {need}.")
    if len(history["step"]) == 0:
        raise ValueError("history holds no recorded step yet; fit with the callback first.")


def _positive(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: zeros and non-finite entries become gaps (NaN)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def plot_gradient_flow(history: dict, path: str | os.PathLike, title: str | None = None) -> Path:
    """Plot per-layer gradient norms over training and the classic per-layer bar chart.

    Left panel: ``||g_l||_2`` of every layer ``l`` against the recorded steps, log scale,
    coloured from the first layer (dark) to the last (light): vanishing gradients show as
    the first layers' curves lying orders of magnitude under the last ones'.
    Right panel ("gradient flow" bars, in forward order): for each layer, the median over the
    recorded steps of ``max|g|`` and of the root mean square ``sqrt(mean^2 + std^2)``, log
    scale. Non-finite values and exact zeros are left out of the log axes (the title counts
    the non-finite records).

    Example:
        >>> plot_gradient_flow(stats.history, "figures/gradient_flow.png")
        PosixPath('figures/gradient_flow.png')

    Args:
        history: ``GradientStats.history``.
        path: PNG file to write (parent folders are created).
        title: optional figure title.

    Returns:
        The path written.

    Raises:
        TypeError / ValueError: if ``history`` is not a GradientStats history or is empty,
            or ``path`` does not end in ``.png``.
    """
    _check_history(history)
    steps = np.asarray(history["step"])
    layers = list(history["layers"])
    per_layer = history["per_layer"]
    norms = np.asarray(per_layer["norm"], dtype=np.float64)
    rms = np.sqrt(np.asarray(per_layer["mean"]) ** 2 + np.asarray(per_layer["std"]) ** 2)
    max_abs = np.asarray(per_layer["max_abs"], dtype=np.float64)
    nonfinite = int(np.sum(np.asarray(per_layer.get("nonfinite_count", np.zeros(1))) > 0))

    figure = new_figure(13.0, 5.0)
    curves, bars = figure.subplots(1, 2, width_ratios=[1.2, 1.0])
    colours = colormaps["viridis"](np.linspace(0.0, 0.9, max(len(layers), 1)))
    for index, layer in enumerate(layers):
        curves.plot(
            steps,
            _positive(norms[:, index]),
            color=colours[index],
            label=layer,
            marker="o" if len(steps) < 30 else None,
            markersize=3,
        )
    curves.set_yscale("log")
    curves.set_xlabel("training step")
    curves.set_ylabel("gradient L2 norm per layer")
    curves.set_title("Gradient norm over training")
    curves.grid(True, which="both", alpha=0.3)
    if len(layers) <= 12:
        curves.legend(fontsize="small", title="layer (forward order)", loc="best", framealpha=0.7)

    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A layer whose gradients were never finite has an all-NaN column: its bar is empty.
        warnings.simplefilter("ignore", RuntimeWarning)
        median_max = np.nanmedian(_positive(max_abs), axis=0)
        median_rms = np.nanmedian(_positive(rms), axis=0)
    positions = np.arange(len(layers))
    bars.bar(positions, median_max, color="tab:cyan", alpha=0.5, label="max |g|")
    bars.bar(positions, median_rms, color="tab:blue", alpha=0.9, width=0.5, label="RMS of g")
    bars.set_yscale("log")
    bars.set_xticks(positions)
    bars.set_xticklabels(
        layers, rotation=45 if len(layers) > 3 else 0, ha="right", fontsize="small"
    )
    bars.set_xlabel("layer (input side -> output side)")
    bars.set_ylabel("median over recorded steps")
    bars.set_title("Gradient flow through the layers")
    bars.grid(True, axis="y", which="both", alpha=0.3)
    bars.legend(fontsize="small")
    heading = title or "Gradient flow"
    if nonfinite:
        heading += f"  ({nonfinite} layer-records with NaN/Inf gradients left out)"
    figure.suptitle(heading)
    return save_figure(figure, path)
