"""The demo's figure: lecture 002's four pairings at initialization and each pair in training.

Reads the plain JSON of a demo run (``DemoResult.to_json()``, as ``demo.json`` stores it), so
the README's figure and a report's are drawn from the same numbers as their tables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from keras_init_lab.plots._common import new_figure, save_figure

__all__ = ["plot_demo"]

#: One colour per pairing, the same in every panel: ideal pairings green and blue, risky
#: ones orange and red (matplotlib's tab10 entries).
PAIRING_COLOURS = {
    ("glorot_uniform", "tanh"): "#2ca02c",
    ("he_normal", "relu"): "#1f77b4",
    ("glorot_uniform", "relu"): "#ff7f0e",
    ("he_normal", "tanh"): "#d62728",
}


def _values(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_demo(result: Mapping, path: str | os.PathLike) -> Path:
    """Part 1: variance per layer at initialization, forward and backward, measured (solid)
    and mean field (dotted), for the four pairings; part 2: validation accuracy per epoch of
    each trained pair, the median over seeds (line) and the lowest and highest seed (band).

    Example:
        >>> plot_demo(result.to_json(), "demo_pairings.png")            # doctest: +SKIP

    Args:
        result: ``DemoResult.to_json()`` (or ``demo.json`` read back).
        path: output ``.png`` path.

    Returns:
        The PNG path.

    Raises:
        TypeError: ``result`` is not a mapping.
        KeyError: a mapping without the demo's ``initialization`` and ``pairs``.
    """
    if not isinstance(result, Mapping):
        raise TypeError(f"result must be DemoResult.to_json() (a dict); received {result!r}.")
    settings = result["initialization"]["settings"]
    config = result["initialization"]["config"]
    pairs = {pair["settings"]["activation"]: pair for pair in result["pairs"]}
    figure = new_figure(13.0, 8.4)
    grid = figure.subplots(2, 2)
    for ax, key, pred_key, title in (
        (grid[0][0], "forward_variance", "predicted_forward_variance", "forward"),
        (
            grid[0][1],
            "backward_variance_independent",
            "predicted_backward_variance_independent",
            "backward",
        ),
    ):
        for row in settings:
            colour = PAIRING_COLOURS.get((row["initializer"], row["activation"]), "gray")
            measured, predicted = _values(row[key]), _values(row[pred_key])
            layers = np.arange(1, measured.size + 1)
            shown = np.isfinite(measured) & (measured > 0)
            ax.plot(
                layers[shown],
                measured[shown],
                color=colour,
                lw=1.8,
                label=f"{row['initializer']} + {row['activation']} ({row[f'{title}_verdict']})",
            )
            ax.plot(layers, predicted, color=colour, lw=1.0, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel("variance" if title == "forward" else "variance of dL/df")
        ax.set_title(
            f"At initialization, {title}: {config['depth']} layers of {config['width']} "
            "(dotted: mean field)",
            fontsize=10,
        )
        ax.legend(fontsize=8)
    chance = result["config"].get("chance_accuracy")
    for ax, activation in zip(grid[1], ("relu", "tanh")):
        pair = pairs.get(activation)
        if pair is None:
            ax.text(0.5, 0.5, f"{activation} pair not trained (--quick)", ha="center")
            ax.set_axis_off()
            continue
        info = pair["settings"]
        for name in (info["ideal"], info["risky"]):
            curves = np.array(
                [run["val_accuracy"] for run in pair["runs"] if run["initializer"] == name],
                dtype=np.float64,
            )
            epochs = np.arange(1, curves.shape[1] + 1)
            colour = PAIRING_COLOURS.get((name, activation), "gray")
            ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=colour, alpha=0.2)
            grade = "ideal" if name == info["ideal"] else "risky"
            ax.plot(
                epochs,
                np.median(curves, axis=0),
                color=colour,
                lw=1.8,
                label=f"{name} + {activation} ({grade})",
            )
        if chance is not None:
            ax.axhline(chance, color="gray", ls=":", lw=1)
            ax.text(1, chance + 0.01, f"chance {chance:.0%}", color="gray", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title(
            f"In training, {activation}: {info['depth']} layers of "
            f"{result['settings']['width']}, lr {info['learning_rate']:g}, digits "
            f"(median and range of {result['settings']['seeds']} seeds)",
            fontsize=10,
        )
        ax.legend(fontsize=8, loc="center right")
    return save_figure(figure, path)
