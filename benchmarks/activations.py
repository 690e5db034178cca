"""Forward + backward time of the package's activations against Keras's own, side by side.

For every activation that Keras also has, time ``y = f(x)`` and ``dL/dx`` (``tape.gradient``
with a fixed upstream gradient) on a float32 tensor of 1,000 x 1,000 = 1M elements, once
eagerly and once inside ``tf.function(jit_compile=True)`` (XLA). Ours and Keras's run
interleaved in one process, in a random order at each repetition, so machine load hits both
alike. The table reports the median times, their ratio, and the median of the paired
per-repetition ratios (ours / Keras timed back to back); the goal (<= 1.10) is judged on the
paired median, which cancels the load drift of a shared machine: there the ratio of medians of
two *identical* op graphs (ours and Keras's swish both call ``ops.silu``) can swing by about
10% from run to run while their paired median stays within a few percent of 1.

Run:
    python benchmarks/activations.py                 # eager and XLA, 40 repetitions
    python benchmarks/activations.py --repeats 100 --modes xla
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_init_lab import activations  # noqa: E402

#: Ours vs the Keras call with the same mathematics (Keras's leaky_relu at the course's 0.01
#: slope, not its 0.2 default, so both compute the same thing).
PAIRS = {
    "linear": (activations.linear, keras.activations.linear),
    "sigmoid": (activations.sigmoid, keras.activations.sigmoid),
    "tanh": (activations.tanh, keras.activations.tanh),
    "relu": (activations.relu, keras.activations.relu),
    "leaky_relu": (
        activations.leaky_relu,
        lambda x: keras.activations.leaky_relu(x, negative_slope=0.01),
    ),
    "elu": (activations.elu, keras.activations.elu),
    "selu": (activations.selu, keras.activations.selu),
    "gelu": (activations.gelu, lambda x: keras.activations.gelu(x, approximate=False)),
    "gelu_tanh": (activations.gelu_tanh, lambda x: keras.activations.gelu(x, approximate=True)),
    "swish": (activations.swish, keras.activations.silu),
    "softmax": (activations.softmax, keras.activations.softmax),
}

GOAL = 1.10


def forward_backward(function):
    """Return ``x, upstream -> dL/dx`` for ``y = function(x)``, ``dL/dy = upstream``."""

    def run(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
        return tape.gradient(y, x, output_gradients=upstream)

    return run


def measure(pairs, mode, repeats, shape, inner=3, warmup=5, seed=0):
    """Return ``{name: (ours_seconds[], keras_seconds[])}``, seconds per call, interleaved.

    Each sample times ``inner`` back-to-back calls (less timer and scheduler noise).
    """
    x = tf.random.stateless_normal(shape, seed=(seed, 1), stddev=3.0)
    upstream = tf.random.stateless_normal(shape, seed=(seed, 2))
    runners = {}
    for name, (ours, theirs) in pairs.items():
        fns = [forward_backward(ours), forward_backward(theirs)]
        if mode == "xla":
            fns = [tf.function(f, jit_compile=True) for f in fns]
        runners[name] = fns
        for f in fns:
            for _ in range(warmup):
                f(x, upstream).numpy()
    times = {name: ([], []) for name in pairs}
    order = random.Random(seed)
    for _ in range(repeats):
        for name in pairs:
            sides = [0, 1]
            order.shuffle(sides)
            for side in sides:
                run = runners[name][side]
                start = time.perf_counter()
                for _ in range(inner):
                    run(x, upstream).numpy()  # .numpy() waits for the result
                times[name][side].append((time.perf_counter() - start) / inner)
    return times


def table(results) -> str:
    lines = [
        "| activation | mode | ours (ms) | Keras (ms) | ratio of medians "
        "| median of paired ratios | goal <= 1.10 |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for mode, times in results.items():
        for name, (ours, theirs) in times.items():
            ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
            ratio = ours_ms / theirs_ms
            paired = statistics.median(a / b for a, b in zip(ours, theirs))
            lines.append(
                f"| {name} | {mode} | {ours_ms:.2f} | {theirs_ms:.2f} | {ratio:.3f} | "
                f"{paired:.3f} | {'yes' if paired <= GOAL else 'NO'} |"
            )
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="timed repetitions per mode")
    parser.add_argument("--inner", type=int, default=3, help="calls per timed sample")
    parser.add_argument("--rows", type=int, default=1000, help="tensor is rows x cols")
    parser.add_argument("--cols", type=int, default=1000)
    parser.add_argument("--modes", nargs="+", default=["eager", "xla"], choices=["eager", "xla"])
    parser.add_argument("--only", nargs="+", choices=sorted(PAIRS), help="subset of activations")
    args = parser.parse_args(argv)
    if args.repeats < 3 or args.inner < 1 or args.rows < 1 or args.cols < 1:
        parser.error(f"need --repeats >= 3 and positive sizes; received {vars(args)}")
    pairs = {k: v for k, v in PAIRS.items() if not args.only or k in args.only}
    shape = (args.rows, args.cols)
    print(f"Machine: {machine()}")
    print(
        f"Tensor: float32 {shape[0]}x{shape[1]}; {args.repeats} interleaved repetitions of "
        f"{args.inner} calls each\n"
    )
    results = {
        mode: measure(pairs, mode, args.repeats, shape, inner=args.inner) for mode in args.modes
    }
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
