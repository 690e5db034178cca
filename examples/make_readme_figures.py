"""Write the README's pictures into ``examples/figures/``: one per major idea of the course.

1. ``propagation.png``: variance of the activations (forward) and gradients (backward) through
   50 ReLU layers for sigma^2 in {0.001, 0.01, 0.02, 0.1, 1} (lecture 002,
   initialization; Prince UDL fig. 7.7), from ``experiments.propagate``.
2. ``vanishing_gradients.png``: gradient norm per layer at the first step, 20 sigmoid layers
   versus ReLU + He versus the remedies (lectures 004 and 003),
   from ``tf.GradientTape``, plotted with the package's figure helpers.
3. ``gradient_flow.png`` and ``activation_stats.png``: a real ``fit`` watched by
   ``GradientStats`` and ``ActivationStats`` (example 07).
4. ``activations.png``: each activation and its analytic derivative
   (``plots.plot_activations``; lecture 004).
5. ``tensorboard_gradient_histograms.png``: what TensorBoard's Histograms tab shows for the
   first layer's ``gradient_log10_abs`` during that fit, read back from the event files (the
   leftmost bucket also counts exact zeros, ``log10(0) = -inf``: ReLU units that were off for
   the whole batch).

Run: ``python examples/make_readme_figures.py [out_dir]`` (default ``examples/figures``; about
half a minute on a laptop CPU).
"""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import matplotlib
import numpy as np
import tensorflow as tf

from keras_init_lab import activations, initializers
from keras_init_lab.experiments import propagate
from keras_init_lab.plots import new_figure, plot_activations, save_figure
from keras_init_lab.report import write_propagation

HERE = Path(__file__).resolve().parent


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vanishing_figure(path: Path) -> Path:
    remedies = _load_example("08_remedies_scaling_batchnorm_residual")
    x = np.random.default_rng(0).normal(size=(256, 32)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    figure = new_figure(7.5, 4.2)
    axes = figure.add_subplot()
    runs = [
        ("sigmoid + Glorot", remedies.deep_sigmoid("plain")),
        ("sigmoid + BatchNorm", remedies.deep_sigmoid("batchnorm")),
        ("sigmoid + residual", remedies.deep_sigmoid("residual")),
    ]
    relu = keras.Sequential(
        [keras.Input((32,))]
        + [
            keras.layers.Dense(
                32,
                activation=activations.relu,
                name=f"hidden_{i:02d}",
                kernel_initializer=initializers.HeNormal(seed=i),
            )
            for i in range(1, 21)
        ]
        + [keras.layers.Dense(1, activation=activations.sigmoid)]
    )
    runs.insert(1, ("relu + He", relu))
    for label, model in runs:
        step = remedies.first_step(model, x, y)
        norms = [step[f"hidden_{i:02d}"][0] for i in range(1, 21)]
        axes.plot(range(1, 21), norms, "o-", ms=3, label=label)
    axes.axhline(0.25**20, color="gray", ls=":", lw=1)
    axes.text(1, 0.25**20 * 2, "0.25^20 = 9.1e-13", color="gray", fontsize=8)
    axes.set_yscale("log")
    axes.set_xlabel("hidden layer (input side -> output side)")
    axes.set_ylabel("kernel gradient norm, first step")
    axes.set_title("Vanishing gradients: 20 sigmoid layers, and the remedies")
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def histogram_figure(run_dir: Path, path: Path) -> Path:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = sorted(
        t for t in accumulator.Tags()["tensors"] if t.endswith("kernel/gradient_log10_abs")
    )
    tag = tags[0]  # the first layer's kernel
    events = accumulator.Tensors(tag)
    figure = new_figure(7.5, 4.2)
    axes = figure.add_subplot()
    cmap = matplotlib.colormaps["viridis"]  # early steps dark, late steps yellow
    for index, event in enumerate(events):
        buckets = tf.make_ndarray(event.tensor_proto)  # rows: left edge, right edge, count
        centers = (buckets[:, 0] + buckets[:, 1]) / 2
        finite = np.isfinite(centers)
        axes.plot(
            centers[finite],
            buckets[finite, 2],
            color=cmap(index / max(len(events) - 1, 1)),
            lw=1.2,
            label=f"step {event.step}" if index in (0, len(events) - 1) else None,
        )
    axes.set_xlabel("log10 |gradient|")
    axes.set_ylabel("count")
    axes.set_title(f"TensorBoard histogram '{tag}' over training")
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def main(out_dir: str | os.PathLike = HERE / "figures") -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        write_propagation(propagate(n_trials=2, n_samples=128), scratch / "propagation")
        written.append(Path(shutil.copy(scratch / "propagation" / "propagation.png", out_dir)))
        written.append(vanishing_figure(out_dir / "vanishing_gradients.png"))
        written.append(
            plot_activations(
                ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "swish", "step"],
                out_dir / "activations.png",
            )
        )
        fit = _load_example("07_fit_with_tensorboard").main(log_dir=scratch / "fit", verbose=False)
        for figure in fit["figures"]:
            written.append(Path(shutil.copy(figure, out_dir)))
        written.append(
            histogram_figure(
                scratch / "fit" / "train", out_dir / "tensorboard_gradient_histograms.png"
            )
        )
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main(*sys.argv[1:2])
