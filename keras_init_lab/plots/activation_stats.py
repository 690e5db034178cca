"""Figure of an ``ActivationStats`` history: per-layer curves over epochs.

Three panels share the epoch axis: activation standard deviation (is the signal shrinking or
growing layer after layer?), dead fraction (ReLU-family units that output nothing positive on
the probe batch) and saturation fraction (tanh/sigmoid values in the flat tails). Each layer is
one line, coloured from the first layer (dark) to the last (light), so depth trends read at a
glance. The figure only reads the plain-data ``history`` dict; it never touches a model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from keras_init_lab.plots._common import new_figure, require_history, save_figure

__all__ = ["plot_activation_stats"]

#: Layers above this count get no legend entry each (the colour bar order still tells depth):
#: twelve entries is about what fits beside a 5-inch-high panel at the default font size.
MAX_LEGEND_ENTRIES = 12

_PANELS = (
    ("std", "activation std", "std of a = f(z) on the probe batch", None),
    ("dead_fraction", "dead fraction", "units never > 0 (ReLU family)", (-0.03, 1.03)),
    (
        "saturation_fraction",
        "saturation fraction",
        "values in the flat tails (tanh, sigmoid)",
        (-0.03, 1.03),
    ),
)


def _check_history(history: Mapping[str, Any]) -> tuple[np.ndarray, list[str], list[str], dict]:
    require_history(history, ("epoch", "layers", "per_layer"), "ActivationStats.history")
    epochs = np.asarray(history["epoch"])
    layers = list(history["layers"])
    activations = list(history.get("activations", [""] * len(layers)))
    per_layer = history["per_layer"]
    if epochs.size == 0 or not layers:
        raise ValueError(
            "history holds no records yet; fit with the callback (it records at train begin) "
            "before plotting."
        )
    for key, *_ in _PANELS:
        if key not in per_layer:
            raise ValueError(f"history['per_layer'] lacks {key!r}; received {sorted(per_layer)}.")
        shape = np.shape(per_layer[key])
        if shape != (epochs.size, len(layers)):
            raise ValueError(
                f"history['per_layer'][{key!r}] has shape {shape}; expected "
                f"(n_records, n_layers) = {(epochs.size, len(layers))}."
            )
    return epochs, layers, activations, per_layer


def plot_activation_stats(history: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Plot per-layer activation std, dead fraction and saturation fraction over epochs.

    Formula: each line is one column of ``history["per_layer"][stat]`` against
    ``history["epoch"]``; NaN entries (a statistic that does not apply to that layer's
    activation, e.g. dead fraction of a tanh layer) are not drawn, and a panel with no
    applicable layer says so instead of staying blank.

    Example:
        >>> stats = ActivationStats(x_train[:256])
        >>> model.fit(x_train, y_train, epochs=10, callbacks=[stats])
        >>> plot_activation_stats(stats.history, "reports/activations.png")

    Args:
        history: ``ActivationStats.history`` (``"epoch"``, ``"layers"``, ``"activations"``,
            ``"per_layer"`` with ``"std"``, ``"dead_fraction"``, ``"saturation_fraction"``).
        path: where to write the PNG (parent folders are created).

    Returns:
        The ``Path`` of the written PNG.

    Raises:
        TypeError / ValueError: if ``history`` does not have that layout, holds no record,
            or ``path`` does not end in ``.png``.
    """
    epochs, layers, activations, per_layer = _check_history(history)
    figure = new_figure(width=13.0, height=4.6)
    axes = figure.subplots(1, len(_PANELS), sharex=True)
    # 0.85: stop before viridis' pale yellow end, which is hard to see on white.
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, len(layers)))
    marker = "o" if epochs.size <= 30 else None  # markers help few records, clutter many
    for axis, (key, title, ylabel, ylim) in zip(axes, _PANELS):
        values = np.asarray(per_layer[key], dtype=np.float64)
        drawn = 0
        for index, layer in enumerate(layers):
            column = values[:, index]
            if np.all(np.isnan(column)):
                continue
            label = f"{layer} ({activations[index]})" if activations[index] else layer
            axis.plot(epochs, column, color=colors[index], marker=marker, markersize=3, label=label)
            drawn += 1
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
        if ylim is not None:
            axis.set_ylim(*ylim)
        if drawn == 0:
            family = "ReLU-family" if key == "dead_fraction" else "tanh/sigmoid"
            axis.text(
                0.5,
                0.5,
                f"no {family} layer",
                transform=axis.transAxes,
                ha="center",
                va="center",
                color="0.4",
            )
        elif key == "std" and np.nanmin(values) > 0 and np.nanmax(values) / np.nanmin(values) > 100:
            axis.set_yscale("log")  # a 100x spread between layers is unreadable on a linear axis
    handles, labels = axes[0].get_legend_handles_labels()
    if handles and len(handles) <= MAX_LEGEND_ENTRIES:
        figure.legend(handles, labels, loc="outside right center", fontsize="small", title="layer")
    elif handles:
        figure.text(
            0.99,
            0.01,
            f"{len(layers)} layers, colour: first (dark) to last (light)",
            ha="right",
            va="bottom",
            fontsize="small",
            color="0.3",
        )
    figure.suptitle("Activation statistics on the fixed probe batch")
    return save_figure(figure, path)
