"""The files of an experiment's results: JSON, CSV and figures, written from a result object.

``keras_init_lab.report`` exposes these as ``write_propagation`` and ``write_compare``; they
live here, below both the report and the experiments, so that the experiments' deprecated
``out_dir`` arguments can still write them without an experiments module importing the report.
Nothing here imports an experiments module: a result brings its own ``to_json()`` and, for a
comparison, its ``columns`` and each run's ``row()``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

__all__ = ["write_compare_files", "write_propagation_files"]


def write_propagation_files(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``propagation.json`` and ``propagation.png`` into ``out_dir``; return their paths.

    Args:
        result: a ``PropagationResult``.
        out_dir: folder to write into (created if missing).

    Returns:
        ``{"json": path, "png": path}``.
    """
    from keras_init_lab.plots.experiments import plot_propagation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "propagation.json"
    json_path.write_text(json.dumps(result.to_json(), indent=2, allow_nan=False))
    png_path = plot_propagation(
        result.settings,
        out / "propagation.png",
        stable_factor=result.config["stable_factor"],
        extreme_factor=result.config.get("extreme_factor"),
    )
    return {"json": json_path, "png": png_path}


def write_compare_files(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv`` and the comparison figures; return their paths.

    ``results.csv`` has one row per run and the columns ``result.columns``
    (``RESULT_COLUMNS``); ``None`` is written as an empty cell.

    Args:
        result: a ``CompareResult``.
        out_dir: folder to write into (created if missing).

    Returns:
        ``{name: path}``: ``results_json``, ``results_csv``, ``loss_curves``,
        ``gradient_flow``, ``unit_fractions``, ``depth_profile``.
    """
    from keras_init_lab.plots.experiments import (
        plot_depth_profile,
        plot_gradient_heatmap,
        plot_loss_curves,
        plot_unit_fractions,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"results_json": out / "results.json", "results_csv": out / "results.csv"}
    files["results_json"].write_text(json.dumps(result.to_json(), indent=2, allow_nan=False))
    with open(files["results_csv"], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=result.columns)
        writer.writeheader()
        for run in result.runs:
            writer.writerow({k: "" if v is None else v for k, v in run.row().items()})
    target = result.config.get("target_accuracy")
    files["loss_curves"] = plot_loss_curves(
        result.runs, out / "loss_curves.png", target_accuracy=target
    )
    files["gradient_flow"] = plot_gradient_heatmap(result.runs, out / "gradient_flow.png")
    files["unit_fractions"] = plot_unit_fractions(result.runs, out / "unit_fractions.png")
    files["depth_profile"] = plot_depth_profile(result.runs, out / "depth_profile.png")
    return files
