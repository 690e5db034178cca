"""Figure of |dL/dz| over the logit range: which loss x output activation keeps a gradient.

For a positive target (``y = 1``) and one sigmoid output, the figure draws the magnitude of
the gradient each pairing sends back to the logit ``z``. Sigmoid + MSE
(``2 (p - 1) p (1 - p)``) vanishes at the left, where the prediction is confidently *wrong*
(``p ~ 0``), while sigmoid + binary cross-entropy (``p - 1``) stays near 1 there and vanishes
only on the right, where the prediction is right. Lecture 004 (activation functions, losses
and normalization) pairs sigmoid with cross-entropy for binary outputs; this is why.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from keras_init_lab import losses
from keras_init_lab._validation import check_int, check_number
from keras_init_lab.plots._common import new_figure, save_figure

__all__ = ["DEFAULT_PAIRS", "logit_gradient_curves", "plot_logit_gradients"]

#: Pairs drawn by default: the lesson's two curves plus Huber and MAE on a sigmoid output
#: (both also vanish where sigmoid saturates, since they multiply by p(1 - p)).
DEFAULT_PAIRS = (
    ("mse", "sigmoid"),
    ("binary_crossentropy", "sigmoid"),
    ("mae", "sigmoid"),
    ("huber", "sigmoid"),
)
#: Logit range [-10, 10]: sigmoid(-10) = 4.5e-5, deep in the saturated, confidently-wrong zone.
DEFAULT_LOGIT_RANGE = (-10.0, 10.0)
#: 401 points: a step of 0.05 on [-10, 10], smooth at report size.
DEFAULT_NUM_POINTS = 401


def logit_gradient_curves(
    pairs: Iterable[tuple[str, str]] = DEFAULT_PAIRS,
    logit_range: tuple[float, float] = DEFAULT_LOGIT_RANGE,
    num_points: int = DEFAULT_NUM_POINTS,
    target: float = 1.0,
) -> dict:
    """Compute ``|dL/dz|`` for one output unit over a grid of logits (the figure's data).

    Formula: ``|losses.logit_gradient(loss, activation, z, y)|`` for each ``z`` of the grid.

    Example:
        >>> curves = logit_gradient_curves(num_points=3)
        >>> curves["z"]
        array([-10.,   0.,  10.])

    Args:
        pairs: ``(loss, activation)`` pairs; softmax is refused (one unit: softmax is 1).
        logit_range: ``(low, high)`` with ``low < high``.
        num_points: grid size (>= 2).
        target: the target ``y`` (1.0: a positive example).

    Returns:
        ``{"z": grid, "target": y, "curves": {"loss+activation": |dL/dz| array}}``.
    """
    num_points = check_int("num_points", num_points, minimum=2)
    low = check_number("logit_range[0]", logit_range[0])
    high = check_number("logit_range[1]", logit_range[1])
    if not low < high:
        raise ValueError(
            f"logit_range must be (low, high) with low < high; received "
            f"logit_range={tuple(logit_range)!r}."
        )
    target = check_number("target", target, minimum=0.0, maximum=1.0)
    z = np.linspace(low, high, num_points)[:, None]
    y = np.full_like(z, target)
    curves = {}
    for loss, activation in pairs:
        if activation == "softmax":
            raise ValueError(
                "activation='softmax' on one output unit is constant 1 with zero "
                "gradient; draw 'sigmoid' instead."
            )
        curves[f"{loss}+{activation}"] = np.abs(losses.logit_gradient(loss, activation, z, y))[:, 0]
    return {"z": z[:, 0], "target": target, "curves": curves}


def plot_logit_gradients(
    path: str | os.PathLike,
    pairs: Iterable[tuple[str, str]] = DEFAULT_PAIRS,
    logit_range: tuple[float, float] = DEFAULT_LOGIT_RANGE,
    num_points: int = DEFAULT_NUM_POINTS,
) -> Path:
    """Plot ``|dL/dz|`` against the logit for ``y = 1`` (log scale) and save it as PNG.

    Formula: see :func:`logit_gradient_curves`; the y axis is logarithmic so the vanishing
    of sigmoid + MSE (``~2 e^z`` for ``z << 0``) shows as a straight line.

    Example:
        >>> plot_logit_gradients("logit_gradients.png")  # doctest: +SKIP
        PosixPath('logit_gradients.png')

    Args:
        path: output ``.png`` path.
        pairs, logit_range, num_points: as :func:`logit_gradient_curves`.

    Returns:
        The saved path.

    Reference:
        Goodfellow, Bengio & Courville, "Deep Learning" 2016, section 6.2.2.2.
    """
    data = logit_gradient_curves(pairs, logit_range, num_points)
    figure = new_figure(8.0, 4.5)
    axes = figure.add_subplot(1, 1, 1)
    for label, values in data["curves"].items():
        axes.semilogy(data["z"], np.maximum(values, 1e-12), label=label)
    axes.axvspan(
        data["z"][0], -3.0, color="tab:red", alpha=0.08, label="confidently wrong (p < 0.05)"
    )
    axes.set_xlabel("logit z of the output unit (target y = 1)")
    axes.set_ylabel("|dL/dz|")
    axes.set_title("Gradient reaching the logits: sigmoid+MSE vanishes where it is wrong")
    axes.legend(loc="lower left")
    return save_figure(figure, path)
