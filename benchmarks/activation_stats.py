"""Overhead of ``ActivationStats`` (one record per epoch) over a plain ``model.fit``.

What is timed: ``model.fit(epochs=EPOCHS)`` on the same model and data, alternating plain /
with the callback / with the callback and TensorBoard logging, 9 rounds (3 with ``--quick``),
medians. The callbacks are created once per model and reused across rounds, so after the
first (warm-up) round the feature model and its compiled probe function already exist. The
one-time cost (building the feature model and tracing the probe function) is measured
separately on a fresh callback, as is the cost of one record (with and without TensorBoard).
Wall time and this process's CPU time (all threads, ``time.process_time``) are both
reported: on a machine shared with other jobs the wall-time ratios carry tens of percent of
noise, CPU time much less. The "derived" ratio, 1 + median record time / median plain epoch,
is the steady per-epoch overhead computed from the much shorter, less noisy record timings.
With ``log_dir`` every ``fit`` call also pays a fixed cost (a new
event file and one trace of the batched summary writer, since writers are closed at train
end); it is reported on its own and is included in the fit-level "+ TensorBoard" ratios,
which here time short 2-epoch fits.

Run from the repository root (numbers go to stdout as a Markdown table):

    python benchmarks/activation_stats.py            # 9 rounds, a few minutes
    python benchmarks/activation_stats.py --quick    # fewer rounds, a smoke run

Goal: ``ActivationStats`` once per epoch <= 1.05x the plain fit (one forward pass of a
256-sample probe per epoch should stay small next to an epoch of training).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_init_lab.callbacks.activation_stats import ActivationStats  # noqa: E402

#: Training set size and batch: 4096 / 64 = 64 steps per epoch, a small but real epoch.
SAMPLES = 4096
BATCH_SIZE = 64
#: Epochs per timed fit call: 2 so every timed call contains 2 end-of-epoch records.
EPOCHS = 2


def small_mlp() -> keras.Model:
    """784-64-64-10 ReLU MLP: 784*64 + 64 + 64*64 + 64 + 64*10 + 10 = 55,050 parameters."""
    inputs = keras.Input((784,))
    h = keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")(inputs)
    h = keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs, name="small_mlp")


def small_cnn() -> keras.Model:
    """28x28x1 -> Conv(16)+ReLU -> pool -> Conv(32)+ReLU -> pool -> Dense(64, tanh) -> 10."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="tanh")(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs, name="small_cnn")


def _data(model: keras.Model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, 10, size=SAMPLES)
    return x, y


def _fit_seconds(model, x, y, callbacks) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one ``fit`` call."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0, callbacks=callbacks)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(build, repeats: int, log_root: str) -> dict:
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    x, y = _data(model)
    probe = x[:256]

    # One-time cost: a fresh callback's first record builds the feature model and traces.
    first = ActivationStats(probe)
    first.set_model(model)
    start = time.perf_counter()
    first.record(0)
    one_time = time.perf_counter() - start
    # Steady-state cost of one record, with and without TensorBoard, interleaved.
    first_tb = ActivationStats(probe, log_dir=os.path.join(log_root, model.name + "_records"))
    first_tb.set_model(model)
    first_tb.record(0)
    record_times, record_tb_times = [], []
    for epoch in range(1, 16):
        for callback, bucket in ((first, record_times), (first_tb, record_tb_times)):
            start = time.perf_counter()
            callback.record(epoch)
            bucket.append(time.perf_counter() - start)
    first_tb.on_train_end()
    # Per-fit fixed cost with TensorBoard: writers are closed at train end, so the first
    # record of every fit opens a new event file and traces the batched summary writer again.
    reopen_times = []
    for epoch in range(16, 22):
        start = time.perf_counter()
        first_tb.record(epoch)
        reopen_times.append(time.perf_counter() - start)
        first_tb.on_train_end()

    stats = ActivationStats(probe)
    logged = ActivationStats(probe, log_dir=os.path.join(log_root, model.name))
    variants = {"plain": [], "stats": [stats], "stats+tb": [logged]}
    times = {name: [] for name in variants}
    cpu_times = {name: [] for name in variants}
    for callbacks in variants.values():  # warm-up round: traces everything once
        _fit_seconds(model, x, y, callbacks)
    for round_index in range(repeats):
        order = list(variants)
        if round_index % 2:
            order.reverse()  # alternate the order so drift does not favour one variant
        for name in order:
            wall, cpu = _fit_seconds(model, x, y, variants[name])
            times[name].append(wall)
            cpu_times[name].append(cpu)
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_times.items()}
    record_s = statistics.median(record_times)
    record_tb_s = statistics.median(record_tb_times)
    return {
        "model": model.name,
        "params": model.count_params(),
        "plain_s": medians["plain"],
        "stats_ratio": medians["stats"] / medians["plain"],
        "tb_ratio": medians["stats+tb"] / medians["plain"],
        "stats_cpu_ratio": cpu_medians["stats"] / cpu_medians["plain"],
        "tb_cpu_ratio": cpu_medians["stats+tb"] / cpu_medians["plain"],
        "record_ms": 1000 * record_s,
        "record_tb_ms": 1000 * record_tb_s,
        # Records per timed fit = EPOCHS (the train-begin record is skipped: same epoch).
        "per_fit_tb_ms": 1000 * (statistics.median(reopen_times) - record_tb_s),
        # Steady state per epoch: one record over one plain epoch.
        "derived_ratio": 1 + EPOCHS * record_s / medians["plain"],
        "derived_tb_ratio": 1 + EPOCHS * record_tb_s / medians["plain"],
        "one_time_ms": 1000 * one_time,
        "layers": len(stats.history["layers"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    rows = []
    with tempfile.TemporaryDirectory() as log_root:
        for build in (small_mlp, small_cnn):
            rows.append(bench(build, repeats, log_root))
    print(
        f"TF {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; "
        f"{SAMPLES} samples, batch {BATCH_SIZE}, {EPOCHS} epochs per fit, {repeats} rounds, "
        "probe 256 samples, one record per epoch.\n"
    )
    print(
        "| model | params | measured layers | plain fit wall (s) | ActivationStats / plain, "
        "wall | same, CPU time | + TensorBoard / plain, wall | same, CPU time "
        "| one record (ms) | one record + TensorBoard (ms) "
        "| per epoch, derived: 1 + record / plain epoch | same, + TensorBoard "
        "| + TensorBoard, fixed cost per fit call (ms) "
        "| first record incl. build+trace (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['params']:,} | {r['layers']} | {r['plain_s']:.3f} | "
            f"{r['stats_ratio']:.3f}x | {r['stats_cpu_ratio']:.3f}x | {r['tb_ratio']:.3f}x | "
            f"{r['tb_cpu_ratio']:.3f}x | {r['record_ms']:.1f} | {r['record_tb_ms']:.1f} | "
            f"{r['derived_ratio']:.3f}x | {r['derived_tb_ratio']:.3f}x | "
            f"{r['per_fit_tb_ms']:.0f} | {r['one_time_ms']:.0f} |"
        )


if __name__ == "__main__":
    main()
