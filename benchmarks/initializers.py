"""Sampling time of keras-init-lab's initializers over Keras's built-in equivalents.

Run:  python benchmarks/initializers.py [--repeats 25]

Pairs are timed interleaved in ABBA order (ours, Keras, Keras, ours, ...) in one process after
a warm-up call each, and the ratio of the medians and the median of the paired (back-to-back)
ratios are printed as a Markdown table. Goal: <= 1.05.

Like-for-like pairs: Keras's ``HeNormal`` is a truncated normal, so it is compared with ours
at ``distribution="truncated_normal"``; the package's default ``he_normal`` (untruncated, as
in the course) is listed as its own row against the same Keras baseline for information.
On a CPU eager TensorFlow ops run synchronously, so a call's wall time is its sampling time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_init_lab import initializers as ours  # noqa: E402

SHAPES = {"dense 4096x4096": (4096, 4096), "conv 3x3x256x256": (3, 3, 256, 256)}

PAIRS = {
    "he_normal (truncated, like Keras)": (
        lambda: ours.VarianceScaling(2.0, "fan_in", "truncated_normal", seed=1),
        lambda: keras.initializers.HeNormal(seed=1),
    ),
    "he_normal (ours untruncated)": (
        lambda: ours.HeNormal(seed=1),
        lambda: keras.initializers.HeNormal(seed=1),
    ),
    "glorot_uniform": (
        lambda: ours.GlorotUniform(seed=1),
        lambda: keras.initializers.GlorotUniform(seed=1),
    ),
}


def _time_once(init, shape) -> float:
    start = time.perf_counter()
    init(shape)
    return time.perf_counter() - start


def measure(repeats: int) -> list[dict]:
    rows = []
    for shape_name, shape in SHAPES.items():
        for pair_name, (make_ours, make_keras) in PAIRS.items():
            a, b = make_ours(), make_keras()
            a(shape), b(shape)  # warm-up: first calls build kernels
            times_a, times_b, paired = [], [], []
            for repeat in range(repeats):
                # ABBA order: alternate who goes first so drifts in machine load cancel.
                if repeat % 2 == 0:
                    ta, tb = _time_once(a, shape), _time_once(b, shape)
                else:
                    tb, ta = _time_once(b, shape), _time_once(a, shape)
                times_a.append(ta)
                times_b.append(tb)
                paired.append(ta / tb)
            ma, mb = statistics.median(times_a), statistics.median(times_b)
            rows.append(
                {
                    "shape": shape_name,
                    "initializer": pair_name,
                    "ours_ms": ma * 1e3,
                    "keras_ms": mb * 1e3,
                    "ratio": ma / mb,
                    "paired": statistics.median(paired),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=41)
    args = parser.parse_args()
    rows = measure(args.repeats)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"TF {tf.__version__}, Keras {keras.__version__}, repeats={args.repeats}\n"
    )
    print(
        "| shape | initializer | ours (ms, median) | Keras (ms, median) | ratio of medians "
        "| median of paired ratios |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['shape']} | {r['initializer']} | {r['ours_ms']:.2f} | {r['keras_ms']:.2f} "
            f"| {r['ratio']:.3f} | {r['paired']:.3f} |"
        )


if __name__ == "__main__":
    main()
