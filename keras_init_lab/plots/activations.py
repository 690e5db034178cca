"""Figure of activation functions beside their derivatives (one small panel per activation).

Each panel draws ``f(x)`` (solid) and the analytic ``f'(x)`` (dashed) from
``keras_init_lab.activations.spec(name)``, with a dotted line at the maximum slope, so a
student sees at a glance where the gradient vanishes (sigmoid's 0.25 ceiling, ReLU's flat
left half, the step's zero everywhere).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from keras_init_lab._validation import check_int
from keras_init_lab.plots._common import new_figure, save_figure

__all__ = ["DEFAULT_NUM_POINTS", "DEFAULT_X_RANGE", "plot_activations"]

#: Default x-range: [-5, 5] shows the saturation of sigmoid/tanh (sigma'(5) = 0.0066) and the
#: negative dip of GELU/swish (minima at -0.75 and -1.28) at a readable scale.
DEFAULT_X_RANGE = (-5.0, 5.0)
#: Default number of points: 1001 samples, a step of 0.01 on [-5, 5]: the step's jump and the
#: kinks of ReLU-like functions look sharp at report size.
DEFAULT_NUM_POINTS = 1001
#: Panels per row of the figure.
MAX_COLUMNS = 4


def _evaluate(activation_spec, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Return ``(f(x), f'(x), label)`` in float64 for one spec."""
    if activation_spec.name == "softmax":
        # Softmax acts on vectors: draw the first probability of the two logits (x, 0), which
        # is sigmoid(x), and the corresponding diagonal of the Jacobian.
        logits = np.stack([x, np.zeros_like(x)], axis=-1)
        values = np.asarray(activation_spec.function(logits))[:, 0]
        slopes = np.asarray(activation_spec.derivative(logits))[:, 0]
        return values, slopes, "softmax([x, 0])[0]"
    values = np.asarray(activation_spec.function(x))
    slopes = np.asarray(activation_spec.derivative(x))
    label = activation_spec.name
    if activation_spec.kind == "layer":
        label = f"{activation_spec.name} (at init, slope 0.01)"
    return values, slopes, label


def plot_activations(
    names: Iterable | None,
    path: str | os.PathLike,
    x_range: tuple[float, float] = DEFAULT_X_RANGE,
    num_points: int = DEFAULT_NUM_POINTS,
) -> Path:
    """Plot each activation and its derivative, one panel each, and save the figure as PNG.

    Formula: panel ``i`` shows ``f_i(x)`` and ``f_i'(x)`` for ``x`` in ``x_range``, using the
    analytic derivative of ``keras_init_lab.activations.spec(name).derivative``.

    Example:
        >>> plot_activations(["sigmoid", "relu", "gelu"], "act.png")  # doctest: +SKIP
        PosixPath('act.png')

    Args:
        names: activation names, aliases or functions (anything ``activations.spec`` knows);
            ``None`` for every activation of ``activations.names(include_layers=True)``.
        path: where to save the PNG (parent folders are created; must end in ``.png``).
        x_range: ``(low, high)`` of the x axis, ``low < high``.
        num_points: samples along x, at least 2.

    Returns:
        The path of the saved PNG.

    Raises:
        TypeError: for a ``num_points`` that is not an integer.
        ValueError: for an unknown name, an empty list, a bad range, fewer than 2 points or a
            non-PNG path.
    """
    from keras_init_lab import activations

    if names is None:
        names = activations.names(include_layers=True)
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError(
            "plot_activations needs at least one activation; received names=[]. "
            "Example: plot_activations(['sigmoid', 'relu'], 'activations.png')."
        )
    if (
        len(x_range) != 2
        or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in x_range)
        or not x_range[0] < x_range[1]
    ):
        raise ValueError(
            f"x_range must be two finite numbers (low, high) with low < high; received "
            f"x_range={x_range!r}. Example: x_range=(-5, 5)."
        )
    num_points = check_int("num_points", num_points, minimum=2)
    specs = []
    for name in names:
        found = activations.spec(name)
        if found is None:
            raise ValueError(
                f"plot_activations does not know the callable {name!r}; pass a name from "
                f"activations.names() such as 'relu', or one of the package's functions."
            )
        specs.append(found)

    x = np.linspace(float(x_range[0]), float(x_range[1]), num_points)
    columns = min(MAX_COLUMNS, len(specs))
    rows = math.ceil(len(specs) / columns)
    figure = new_figure(width=3.2 * columns, height=2.6 * rows + 0.4)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, activation_spec in enumerate(specs):
        axis = axes[index // columns][index % columns]
        values, slopes, label = _evaluate(activation_spec, x)
        axis.axhline(0.0, color="0.75", linewidth=0.8)
        axis.axvline(0.0, color="0.75", linewidth=0.8)
        axis.plot(x, values, color="tab:blue", linewidth=1.8, label="f(x)")
        axis.plot(x, slopes, color="tab:orange", linewidth=1.5, linestyle="--", label="f'(x)")
        axis.axhline(
            activation_spec.max_slope,
            color="tab:orange",
            linewidth=0.8,
            linestyle=":",
            label="maximum slope",
        )
        axis.set_title(f"{label}   (max f' = {activation_spec.max_slope:.3g})", fontsize=9)
        axis.set_xlim(x[0], x[-1])
        axis.grid(True, alpha=0.3)
        axis.tick_params(labelsize=8)
    for index in range(len(specs), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    figure.suptitle("Activations f(x) and their derivatives f'(x)", fontsize=12)
    return save_figure(figure, path)
