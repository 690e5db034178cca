"""Overhead of ``GradientStats`` / ``GradientHealth`` over a plain ``model.fit``, and anchors.

What is timed: ``model.fit`` of ``STEPS`` steps (one epoch, batch ``BATCH_SIZE``, Adam) on the
same model and data. In each round every variant's fit runs right after a plain fit of its
own, and the ratios are the medians over rounds of those paired ratios, for the wall time and
for this process's CPU time (``time.process_time``: all threads). Pairing matters on small
machines: TensorFlow's CPU runtime can switch, for several fits at a time, between using
every core and running nearly serially (the same plain fit then takes up to twice as long,
see BENCHMARKS.md), and two neighbouring fits share the mode. One model per architecture is shared by all its
variants and every callback is created once and reused across rounds, so after the warm-up
round every compiled function exists: the ratios are the **steady state**. ``--threads 1``
runs TensorFlow on one thread: wall equals CPU time and the ratios are the work a variant adds.
The **one-time tracing cost** is the warm-up round's time minus the steady median, per
variant (for ``plain`` that is Keras's own trace; the plain variant runs first, so for ours it
is the extra instrumented function).

Variants: ``plain``; ``GradientStats()`` (defaults: every 100 steps, no TensorBoard);
``GradientStats(log_dir=...)`` (defaults with TensorBoard: statistics and sampled histograms
every 100 steps); ``GradientStats(every_n_steps=10)``; statistics every step; statistics and
histograms (sampled, the default ``histogram_sample_size``) every 10 steps and every step
written to TensorBoard; the same every step with exact histograms (``histogram_sample_size=None``,
every element counted); ``GradientHealth()`` (default every 50 steps). Anchors: the
probe-batch alternative (an extra compiled ``GradientTape`` forward and backward on a fixed
batch, per-variable norms read on the host) every step and every 100 steps, and Keras's
``TensorBoard(histogram_freq=1)`` (weights only, once per epoch = once per fit here).

Memory anchor (``--memory``, separate subprocesses, peak RSS from ``resource.getrusage``):
one histogram of a 50M-element float32 tensor with ours (device bucketing, compiled, then
``SummaryWriters.histogram``) against ``tf.summary.histogram``. ``tf.summary.histogram`` is
run at 5M, 10M and 20M elements only (its float64 ``N x 30`` one-hot would need ~12 GB at
50M, more than this shared machine can spare) and extrapolated from the slope.

Run from the repository root:

    python benchmarks/callbacks.py                 # timing, 7 rounds
    python benchmarks/callbacks.py --memory        # memory anchor only, ~1 minute
    python benchmarks/callbacks.py --quick         # 2 rounds
    python benchmarks/callbacks.py --quick --steps 5 --models small_mlp --floor-repeats 1
                                                   # smoke run: does every variant run
    python benchmarks/callbacks.py --backend jax --models wide_mlp     # the same on JAX
    python benchmarks/callbacks.py --backend torch --models wide_mlp   # on PyTorch (needs torch)

On JAX and PyTorch (``--backend``, set before Keras is imported) TensorFlow is not imported
at all, and the TensorFlow programs are left out: the exact-histogram variant, the anchors
(a ``GradientTape`` probe, Keras's ``TensorBoard`` callback) and the memory anchor; the
isolated kernels are timed on JAX with ``jax.jit`` (:func:`bench_floor_jax`), not on
PyTorch. The paired ratios, the predicted sparse ratios and the distance to the
memory-bandwidth floor are printed for every backend.

Two more tables make the small ratios readable. *Predicted* ratios of the sparse schedules:
``1 + (ratio every step - 1) / n`` for a record every ``n`` steps (steps not recorded run
the model's own train function), far steadier than a direct measure of a 1-3% difference
in fits whose plain time varies by more than that. *Isolated kernels*: the recorded step's
device work timed alone on the model's variable shapes, in units of one reduction pass of
TensorFlow's CPU kernels over the gradients (the floor of any statistic computed with them).

``--kernels`` leaves the fits out and adds, besides the isolated kernels: the capture's train
functions called one at a time with their host reads (:func:`bench_steps_tf`,
:func:`bench_steps_jax`), whose extra wall time per call is then set against the bandwidth
floor; one TensorBoard record of the model per writer (:func:`bench_records`); and on
TensorFlow the gather of one sampled histogram by the layout of its positions
(:func:`bench_gathers`) and the host reads of a record's buffers (:func:`bench_reads`).

Goals (steady state, paired CPU ratios, TensorFlow, the 3M-parameter MLP on 2 idle cores):
statistics every step <= 1.3x; statistics + sampled histograms + TensorBoard every step <=
1.4x; every 10 steps <= 1.03x; defaults <= 1.01x; on JAX and PyTorch, every 10 steps
<= 1.10x. The bytes a recorded step must move at least (one read of the gradients and of
the weights before and after the update) are set against the memory bandwidth measured by
a NumPy copy, so the distance to the limit is a number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _backend_from_argv(argv) -> str | None:
    """The value of ``--backend`` in ``argv``, read before Keras is imported (Keras reads
    ``KERAS_BACKEND`` once, at import)."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__" and _backend_from_argv(sys.argv[1:]):
    os.environ["KERAS_BACKEND"] = _backend_from_argv(sys.argv[1:])

import keras  # noqa: E402
import numpy as np  # noqa: E402

#: TensorFlow where the backend is TensorFlow; on JAX and PyTorch it is not imported at all
#: (its thread pools would share the cores with the backend's and distort the ratios).
tf = None
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf  # noqa: E402

from keras_init_lab.callbacks import GradientHealth, GradientStats  # noqa: E402

#: Steps per timed fit: 100 = one record per fit at the default every_n_steps=100 (the
#: callbacks count steps across fits: global steps 0, 100, 200, ... are recorded).
STEPS = 100
#: Schedule of the sparse variants: steps are counted across fits, so on average a fit of
#: ``STEPS`` steps records ``STEPS / n`` of them. Used to predict their ratio from the
#: every-step cost, a figure far steadier than their own few-percent differences from the
#: plain fit.
EVERY_N_STEPS = {
    "GradientStats() defaults": 100,
    "GradientStats(log_dir) defaults (TensorBoard)": 100,
    "GradientStats every 10": 10,
    "stats + histograms every 10 (TensorBoard)": 10,
    "GradientHealth() defaults": 50,
}
#: The every-step variant each sparse one is predicted from (default: ``stats every step``):
#: the sparse variants that also write histograms are predicted from the one that writes
#: them at every step.
PREDICTED_FROM = {
    "GradientStats(log_dir) defaults (TensorBoard)": "stats + histograms every step (TensorBoard)",
    "stats + histograms every 10 (TensorBoard)": "stats + histograms every step (TensorBoard)",
}

#: Batch of the issue's prototype figures (3.2M-parameter MLP, batch 64, Adam).
BATCH_SIZE = 64


def small_mlp() -> keras.Model:
    """784-64-64-10 ReLU MLP: 784*64+64 + 64*64+64 + 64*10+10 = 55,050 parameters."""
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="small_mlp",
    )


def wide_mlp() -> keras.Model:
    """784-1500-1200-10 ReLU MLP: 1,177,500 + 1,801,200 + 12,010 = 2,990,710 parameters."""
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(1500, activation="relu"),
            keras.layers.Dense(1200, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="wide_mlp",
    )


def small_cnn() -> keras.Model:
    """28x28x1 -> Conv16 -> pool -> Conv32 -> pool -> Dense64 -> 10 (~106k parameters)."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="small_cnn",
    )


class ProbeBatchGradients(keras.callbacks.Callback):
    """The usual alternative: an extra forward + backward on a fixed probe batch.

    Every ``every_n_steps`` steps, a compiled ``GradientTape`` pass on the probe batch
    computes per-variable gradient norms, read on the host (what third-party "gradient
    histogram" callbacks do). Costs one extra forward and backward pass per logged step, and
    reports the gradient of another batch at the already-updated weights.
    """

    def __init__(self, x, y, every_n_steps=1):
        super().__init__()
        self.x, self.y, self.every_n_steps = tf.constant(x), tf.constant(y), every_n_steps
        self._function = None
        self._step = 0
        self.norms = []

    def on_train_begin(self, logs=None):
        if self._function is None:
            model, loss_fn = self.model, self.model.loss

            @tf.function
            def probe(x, y):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(loss_fn(y, model(x, training=True)))
                grads = tape.gradient(loss, model.trainable_variables)
                return tf.stack([tf.norm(g) for g in grads])

            self._function = probe

    def on_train_batch_end(self, batch, logs=None):
        if self._step % self.every_n_steps == 0:
            self.norms.append(self._function(self.x, self.y).numpy())
        self._step += 1


def _data(model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH_SIZE, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, 10, size=STEPS * BATCH_SIZE)
    return x, y


def _time_fit(model, x, y, callbacks):
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=1, batch_size=BATCH_SIZE, verbose=0, callbacks=callbacks, shuffle=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_model(builder, rounds, log_root):
    if tf is not None:
        # Elsewhere left unseeded: keras.utils.set_random_seed imports TensorFlow on JAX
        # (Keras 3.15), and the initial weights do not change the time of a step.
        keras.utils.set_random_seed(0)
    model = builder()
    model.compile(
        keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x, y = _data(model)
    variants = {
        "plain": [],
        "GradientStats() defaults": [GradientStats()],
        "GradientStats(log_dir) defaults (TensorBoard)": [
            GradientStats(log_dir=os.path.join(log_root, model.name, "defaults"))
        ],
        "GradientStats every 10": [GradientStats(every_n_steps=10)],
        "stats every step": [GradientStats(every_n_steps=1)],
        "stats + histograms every 10 (TensorBoard)": [
            GradientStats(
                every_n_steps=10,
                histogram_every_n_steps=10,
                log_dir=os.path.join(log_root, model.name, "ours10"),
            )
        ],
        "stats + histograms every step (TensorBoard)": [
            GradientStats(
                every_n_steps=1,
                histogram_every_n_steps=1,
                log_dir=os.path.join(log_root, model.name, "ours"),
            )
        ],
    }
    if tf is not None:
        # TensorFlow only: the exact histograms (every element counted, opt-in) and the
        # anchors, which are TensorFlow programs (a GradientTape probe, Keras's TensorBoard).
        probe_x, probe_y = x[:BATCH_SIZE], y[:BATCH_SIZE]
        variants["stats + exact histograms every step (TensorBoard)"] = [
            GradientStats(
                every_n_steps=1,
                histogram_every_n_steps=1,
                histogram_sample_size=None,
                log_dir=os.path.join(log_root, model.name, "exact"),
            )
        ]
    variants["GradientHealth() defaults"] = [GradientHealth()]
    if tf is not None:
        variants["anchor: probe batch every step"] = [ProbeBatchGradients(probe_x, probe_y, 1)]
        variants["anchor: probe batch every 100"] = [ProbeBatchGradients(probe_x, probe_y, 100)]
        variants["anchor: Keras TensorBoard(histogram_freq=1)"] = [
            keras.callbacks.TensorBoard(
                os.path.join(log_root, model.name, "keras"), histogram_freq=1
            )
        ]
    warm = {name: _time_fit(model, x, y, callbacks) for name, callbacks in variants.items()}
    # Each variant's fit right after a plain fit of its own: TensorFlow's CPU runtime can
    # switch, for several fits at a time, between using every core and running nearly
    # serially (see the module docstring), so a ratio is taken between two neighbouring fits,
    # which share the mode, and the medians of those paired ratios are reported.
    times = {name: [] for name in variants}
    ratios = {name: [] for name in variants}
    for _ in range(rounds):
        for name, callbacks in variants.items():
            if name == "plain":
                continue
            plain = _time_fit(model, x, y, [])
            timed = _time_fit(model, x, y, callbacks)
            times["plain"].append(plain)
            times[name].append(timed)
            ratios[name].append((timed[0] / plain[0], timed[1] / plain[1]))
    ratios["plain"] = [(1.0, 1.0)]
    rows = []
    plain_wall = statistics.median(t[0] for t in times["plain"])
    for name in variants:
        wall = statistics.median(t[0] for t in times[name])
        wall_ratio = statistics.median(r[0] for r in ratios[name])
        rows.append(
            {
                "model": model.name,
                "params": model.count_params(),
                "variant": name,
                "every": EVERY_N_STEPS.get(name),
                "wall_ratio": wall_ratio,
                "cpu_ratio": statistics.median(r[1] for r in ratios[name]),
                "ms_per_step_extra": 1e3 * (wall_ratio - 1) * plain_wall / STEPS,
                "plain_ms_per_step": 1e3 * plain_wall / STEPS,
                "one_time_s": warm[name][0] - wall,
            }
        )
    return rows


_MEMORY_SCRIPT = textwrap.dedent(
    r"""
    import os, resource, sys, tempfile, json
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    import keras
    from keras_init_lab.callbacks import SummaryWriters
    from keras_init_lab.callbacks.histograms import gradient_histograms
    from keras_init_lab.callbacks.statistics import describe_variables
    method, size = sys.argv[1], int(sys.argv[2])
    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    x = tf.random.normal([size])
    _ = float(tf.reduce_sum(x))
    log_dir = tempfile.mkdtemp()
    # Warm up the machinery on a tiny tensor so one-time allocations are not counted.
    if method.startswith("ours"):
        jit = method == "ours_xla"
        layouts = {}
        def layout_of(n):  # the package's one bucketing works on a model's variables
            if n not in layouts:
                model = keras.Sequential([keras.Input((n,)), keras.layers.Dense(1, use_bias=False)])
                layouts[n] = describe_variables(model)
            return layouts[n]
        functions = {}
        def buckets(v):
            n = int(v.shape[0])
            if n not in functions:
                layout = layout_of(n)
                functions[n] = tf.function(
                    lambda t: gradient_histograms(
                        [tf.reshape(t, [n, 1])], [tf.reshape(t, [n, 1])], layout, 30,
                        sample_size=None),  # every element: the costly case
                    jit_compile=jit)
            _, counts, low, high = functions[n](v)
            return counts[0], low[0], high[0]
        writers = SummaryWriters(log_dir)
        def run(v):
            counts, low, high = buckets(v)
            edges = np.linspace(float(low), float(high), 31)
            writers.histogram("layer/kernel/weights", edges[:-1], edges[1:], counts.numpy(), 0)
            writers.flush()
        run(tf.random.normal([1000]))
    else:
        writer = tf.summary.create_file_writer(log_dir)
        def run(v):
            with writer.as_default():
                tf.summary.histogram("layer/kernel/weights", v, step=0)
            writer.flush()
        run(tf.random.normal([1000]))
    before = peak_mb()
    run(x)
    print("RESULT" + json.dumps({"method": method, "size": size, "extra_peak_mb": peak_mb() - before,
                                  "baseline_mb": before}))
    """
)


def bench_memory():
    rows = []
    for method, size in [
        ("ours", 50_000_000),
        ("ours_xla", 50_000_000),
        ("tf.summary.histogram", 5_000_000),
        ("tf.summary.histogram", 10_000_000),
        ("tf.summary.histogram", 20_000_000),
    ]:
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, method, str(size)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
        if not lines:
            print(done.stderr[-2000:], file=sys.stderr)
            continue
        rows.append(json.loads(lines[-1][6:]))
    return rows


#: Repeats of each isolated kernel in :func:`bench_floor` (interleaved, medians).
FLOOR_REPEATS = 30


def bench_floor(builder, repeats: int = FLOOR_REPEATS):
    """The recorded step's device work in isolation, against one pass of TensorFlow's kernels.

    Times, interleaved (medians of ``repeats``), on random tensors of the model's variable
    shapes: one row reduction (``reduce_sum``) over the gradients' chunk matrix, the
    floor of any statistic computed with TensorFlow's CPU kernels (each kernel is one pass);
    one copy of all gradients into that matrix; the statistics as the capture computes them
    (gradients, weights before and after: the small variables copied into chunk matrices, the
    largest reduced from views of their own, then the reductions); the
    histograms of gradients and weights from those matrices (sampled, the default, and exact);
    and the forms the package chose against the ones it replaced: nonzero counts in uint8
    pieces or in int16, per-row statistics stacked into ``[rows, 3]``, and the largest
    variables' update sums: with the weights before the update copied into a buffer and the
    difference written out or taken in place in that buffer (two earlier forms), or summed
    from the tensor the optimizer adds (the package: no copy; in a real step the update
    also runs in place then). ``passes`` divides by the one reduction: how many passes over
    the gradients' bytes the work costs.
    """
    from keras_init_lab.callbacks.histograms import (
        DEFAULT_HISTOGRAM_SAMPLE_SIZE,
        gradient_histograms,
    )
    from keras_init_lab.callbacks.statistics import (
        CHUNK_SIZE,
        _row_nonzero,
        describe_variables,
        gradient_sufficient_statistics,
        split_chunks,
    )

    model = builder()
    layout = describe_variables(model)
    copied = describe_variables(model, inplace=0)  # the layout before in-place views
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=v.shape).astype("float32")) for v in layout.variables]
    before = [tf.constant(rng.normal(size=v.shape).astype("float32")) for v in layout.variables]
    after = [b - 1e-3 * g for b, g in zip(before, grads)]

    def all_rows(tensors):
        """Every gradient's elements in one [rows, CHUNK_SIZE] matrix (a copy; the tail of
        the concatenation that fills no whole row is left out)."""
        flat = tf.concat([tf.reshape(t, [-1]) for t in tensors], 0)
        rows = int(flat.shape[0]) // CHUNK_SIZE
        return tf.reshape(flat[: rows * CHUNK_SIZE], [rows, CHUNK_SIZE])

    matrix = all_rows(grads)
    # The views of the largest variables (layout.inplace) before and after an update, and
    # one buffer variable per view: the snapshot the capture copied them into before it
    # took the update from the optimizer.
    before_views = list(split_chunks(before, layout)[2])
    after_views = list(split_chunks(after, layout)[2])
    added_views = [a - b for a, b in zip(after_views, before_views)]
    buffers = [tf.Variable(tf.zeros_like(view)) for view in before_views]

    def update_sums(before_views, after_views, in_place):
        """Per view: copy the weights before into its buffer, then sum (w' - w)^2 per row,
        from a difference written out or subtracted in place in the buffer."""
        sums = []
        for buffer, b, a in zip(buffers, before_views, after_views):
            buffer.assign(b, read_value=False)
            if in_place:
                buffer.assign_sub(a, read_value=False)
                difference = buffer.read_value()
            else:
                difference = a - buffer.read_value()
            sums.append(tf.reduce_sum(tf.square(tf.math.reduce_euclidean_norm(difference, 1))))
        return tf.stack(sums)

    def added_sums(added_views):
        """Per view: sum u^2 per row of the tensor ``u`` the optimizer adds."""
        return tf.stack(
            [tf.reduce_sum(tf.square(tf.math.reduce_euclidean_norm(u, 1))) for u in added_views]
        )

    kernels = {
        "one reduction pass (reduce_sum over the gradients' chunk rows)": (
            tf.function(lambda m: tf.reduce_sum(m, axis=1)),
            (matrix,),
        ),
        "one copy of all gradients into one chunk matrix": (
            tf.function(lambda g: all_rows(list(g))[0, 0]),
            (grads,),
        ),
        "statistics (chunk copies, views of the largest variables, reductions)": (
            tf.function(
                lambda g, b, a: gradient_sufficient_statistics(
                    split_chunks(list(g), layout),
                    split_chunks(list(b), layout),
                    split_chunks(list(a), layout),
                    layout,
                    xla=False,
                )
            ),
            (grads, before, after),
        ),
        "statistics, every variable copied into the chunk matrices (inplace=0)": (
            tf.function(
                lambda g, b, a: gradient_sufficient_statistics(
                    split_chunks(list(g), copied),
                    split_chunks(list(b), copied),
                    split_chunks(list(a), copied),
                    copied,
                    xla=False,
                )
            ),
            (grads, before, after),
        ),
        f"histograms sampled ({DEFAULT_HISTOGRAM_SAMPLE_SIZE} per variable, from the chunk "
        "matrices)": (
            tf.function(
                lambda g, a: gradient_histograms(
                    split_chunks(list(g), layout), split_chunks(list(a), layout), layout, 30
                )
            ),
            (grads, after),
        ),
        "histograms exact (every element, from the chunk matrices)": (
            tf.function(
                lambda g, a: gradient_histograms(
                    split_chunks(list(g), layout),
                    split_chunks(list(a), layout),
                    layout,
                    30,
                    sample_size=None,
                )
            ),
            (grads, after),
        ),
        "nonzero counts per row, x != 0 summed in int16 (the earlier form)": (
            tf.function(lambda m: tf.reduce_sum(tf.cast(tf.not_equal(m, 0.0), tf.int16), axis=1)),
            (matrix,),
        ),
        "nonzero counts per row, x != 0 summed in uint8 pieces (the package)": (
            tf.function(lambda m: _row_nonzero(m, False)),
            (matrix,),
        ),
        "three per-row statistics stacked into one [rows, 3] matrix (the earlier layout)": (
            tf.function(lambda r: tf.stack([r, r + 1.0, r + 2.0], axis=1)),
            (tf.reduce_sum(matrix, axis=1),),
        ),
        "the largest variables' updates: copy, w' - w written, its sum of squares (earlier)": (
            tf.function(lambda b, a: update_sums(b, a, in_place=False)),
            (before_views, after_views),
        ),
        "the largest variables' updates: copy, w - w' in place in the copy (earlier)": (
            tf.function(lambda b, a: update_sums(b, a, in_place=True)),
            (before_views, after_views),
        ),
        "the largest variables' updates: what the optimizer adds, summed (the package)": (
            tf.function(lambda u: added_sums(list(u))),
            (added_views,),
        ),
    }
    for function, args in kernels.values():  # trace and warm up
        tf.nest.map_structure(lambda t: t.numpy(), function(*args))
    times = {name: ([], []) for name in kernels}
    for _ in range(repeats):
        for name, (function, args) in kernels.items():
            wall, cpu = time.perf_counter(), time.process_time()
            tf.nest.map_structure(lambda t: t.numpy(), function(*args))
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    one = statistics.median(times[next(iter(kernels))][0])
    rows = []
    for name, (walls, cpus) in times.items():
        wall = statistics.median(walls)
        rows.append(
            {
                "model": model.name,
                "params": model.count_params(),
                "kernel": name,
                "wall_ms": 1e3 * wall,
                "cpu_ms": 1e3 * statistics.median(cpus),
                "passes": wall / one,
            }
        )
    return rows


def _backend_version(backend: str) -> str:
    """``"TensorFlow 2.21.0"``, ``"JAX 0.10.2"`` or ``"PyTorch 2.14.1"``: the backend timed."""
    module, name = {"tensorflow": ("tensorflow", "TensorFlow"), "jax": ("jax", "JAX")}.get(
        backend, ("torch", "PyTorch")
    )
    return f"{name} {__import__(module).__version__}"


def bench_floor_jax(builder, repeats: int = FLOOR_REPEATS):
    """The recorded step's device work in isolation on JAX, as :func:`bench_floor` does.

    Each kernel is one ``jax.jit`` function of the variables as the JAX capture sees them
    (the gradients, the weights before and after the update, per variable): one reduction
    pass (a sum of every gradient), the statistics with the default layout (natural views of
    the largest variables) and with ``chunk_size``-wide views (``natural_views=False``, their
    flat prefix sliced), and the sampled histograms. Interleaved, medians of ``repeats``.
    """
    import jax

    from keras_init_lab.callbacks.histograms import gradient_histograms
    from keras_init_lab.callbacks.statistics import (
        _centred_row_m2,
        describe_variables,
        gradient_sufficient_statistics,
        split_chunks,
    )

    model = builder()
    natural = describe_variables(model)
    sliced = describe_variables(model, natural_views=False)
    rng = np.random.default_rng(0)
    shapes = [tuple(v.shape) for v in natural.variables]
    grads = [jax.numpy.asarray(rng.normal(size=s).astype("float32")) for s in shapes]
    before = [jax.numpy.asarray(rng.normal(size=s).astype("float32")) for s in shapes]
    after = [b - 1e-3 * g for b, g in zip(before, grads)]

    def statistics_of(layout):
        def run(g, b, a):
            return gradient_sufficient_statistics(
                split_chunks(g, layout), split_chunks(b, layout), split_chunks(a, layout), layout
            )

        return jax.jit(run)

    def centred_m2_shared(g, b, a):
        """The rows' centred M2 as first written: one ``d = x - c`` read by both sums."""
        total = 0.0
        for t in g:
            rows = t.reshape(t.shape[0], -1)
            d = rows - (jax.numpy.sum(rows, axis=1) / rows.shape[1])[:, None]
            m2 = jax.numpy.sum(d * d, axis=1) - jax.numpy.sum(d, axis=1) ** 2 / rows.shape[1]
            total = total + jax.numpy.sum(m2)
        return total

    def centred_m2_package(g, b, a):
        """The package's ``_centred_row_m2``: two different broadcasts of the centre."""
        total = 0.0
        for t in g:
            rows = t.reshape(t.shape[0], -1)
            total = total + jax.numpy.sum(_centred_row_m2(rows, jax.numpy.sum(rows, axis=1)))
        return total

    kernels = {
        "one reduction pass (sum of every gradient)": jax.jit(
            lambda g, b, a: sum(jax.numpy.sum(t) for t in g)
        ),
        "rows' centred M2 of the gradients, one shared x - c": jax.jit(centred_m2_shared),
        "rows' centred M2 of the gradients, x - c and x + (-c) (the package)": jax.jit(
            centred_m2_package
        ),
        "statistics, natural views (the default on JAX)": statistics_of(natural),
        "statistics, chunk-wide views of a sliced prefix (natural_views=False)": statistics_of(
            sliced
        ),
        "histograms sampled (the default sample size)": jax.jit(
            lambda g, b, a: gradient_histograms(g, a, natural, 30, draw=0)
        ),
    }
    for function in kernels.values():
        jax.block_until_ready(function(grads, before, after))
    times = {name: ([], []) for name in kernels}
    for _ in range(repeats):
        for name, function in kernels.items():
            wall, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(function(grads, before, after))
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    one = statistics.median(times[next(iter(kernels))][0])
    return [
        {
            "model": model.name,
            "params": model.count_params(),
            "kernel": name,
            "wall_ms": 1e3 * statistics.median(walls),
            "cpu_ms": 1e3 * statistics.median(cpus),
            "passes": statistics.median(walls) / one,
        }
        for name, (walls, cpus) in times.items()
    ]


def _captured_model(builder):
    """``(model, x, y)``: a compiled model after a 4-step fit with statistics every step and
    histograms every second one, so its capture holds both instrumented functions."""
    model = builder()
    model.compile(
        keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x, y = _data(model)
    model.fit(
        x[: 4 * BATCH_SIZE],
        y[: 4 * BATCH_SIZE],
        batch_size=BATCH_SIZE,
        verbose=0,
        callbacks=[GradientStats(every_n_steps=1, histogram_every_n_steps=2)],
    )
    return model, x, y


def bench_steps_jax(builder, repeats: int = FLOOR_REPEATS):
    """The JAX capture's three compiled train steps side by side, on one state and batch.

    The plain step (the model's own), the instrumented one (statistics) and the one with
    histograms, as the capture builds them for a ``fit`` (taken from its cache after a short
    ``fit``). Per function: the scratch memory XLA allocates per call
    (``memory_analysis().temp_size_in_bytes``), the host's minor page faults per call
    (``getrusage``: scratch past the C library's reusable heap is mapped afresh at every
    call) and the wall time per call; ``repeats`` rounds of 10 calls each, interleaved,
    medians.
    """
    import resource

    import jax

    from keras_init_lab._keras_compat import (
        track_optimizer_variable,
        untrack_optimizer_variable,
    )
    from keras_init_lab.callbacks.capture import get_capture

    model, x, y = _captured_model(builder)
    plain, statistics_fn, histogram_fn, buffer = next(
        iter(get_capture(model)._jax_functions.values())
    )
    track_optimizer_variable(model.optimizer, buffer)
    try:
        state = model._get_jax_state(True, True, True, True)
        batch = (jax.numpy.asarray(x[:BATCH_SIZE]), jax.numpy.asarray(y[:BATCH_SIZE]))
        steps = {
            "plain (the model's own step)": plain,
            "statistics": statistics_fn,
            "statistics and sampled histograms": histogram_fn,
        }
        scratch = {}
        for function in steps.values():
            for _ in range(3):  # compiled at the first call
                _, state = function(state, iter([batch]))
            jax.block_until_ready(state)
        times = {name: ([], []) for name in steps}
        for _ in range(repeats):
            for name, function in steps.items():
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                wall = time.perf_counter()
                for _ in range(10):
                    _, state = function(state, iter([batch]))
                jax.block_until_ready(state)
                times[name][0].append((time.perf_counter() - wall) / 10)
                times[name][1].append(
                    (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 10
                )
        # The scratch memory of the jitted step each train function wraps, as XLA plans it.
        capture = get_capture(model)
        jitted = {
            "plain (the model's own step)": jax.jit(model.train_step, donate_argnums=0),
            "statistics": jax.jit(capture._instrumented_step(buffer, False), donate_argnums=0),
            "statistics and sampled histograms": jax.jit(
                capture._instrumented_step(buffer, True), donate_argnums=0
            ),
        }
        for name, function in jitted.items():
            analysis = function.lower(state, batch).compile().memory_analysis()
            scratch[name] = getattr(analysis, "temp_size_in_bytes", float("nan"))
    finally:
        untrack_optimizer_variable(model.optimizer, buffer)
    return [
        {
            "model": model.name,
            "step": name,
            "wall_ms": 1e3 * statistics.median(walls),
            "faults": statistics.median(faults),
            "scratch_mb": scratch[name] / 2**20,
        }
        for name, (walls, faults) in times.items()
    ]


def bench_steps_tf(builder, repeats: int = FLOOR_REPEATS):
    """The TensorFlow capture's three train functions side by side, one call at a time.

    The plain function (the model's own), the instrumented one (statistics) and the one with
    sampled histograms, taken from the capture's cache after a short ``fit``, each followed
    by the host reads the selector makes (``_collect``), on one repeating batch. The three
    are called in turn, ``10 * repeats`` times: a paired difference is taken between calls
    a few milliseconds apart, so the slow swings of a shared machine (and TensorFlow's
    switches between parallel and nearly serial execution, which last several fits) fall
    out of it. Per function: medians of the CPU and wall time per call, of the extra CPU
    time over the plain call just before and of its ratio, and of the minor page faults.
    """
    import resource

    from keras_init_lab.callbacks.capture import get_capture

    model, x, y = _captured_model(builder)
    capture = get_capture(model)
    plain = model.train_function  # the model's own, restored after the fit
    iterator = iter(
        tf.data.Dataset.from_tensor_slices((x[:BATCH_SIZE], y[:BATCH_SIZE]))
        .batch(BATCH_SIZE)
        .repeat()
    )

    def instrumented(histograms):
        function, buffers = capture._instrumented(histograms)

        def call():
            with capture._wrapped_optimizer(histograms, buffers):
                count = buffers.host_count
                function(iterator)
            capture._collect(buffers, count, histograms)

        return call

    steps = {
        "plain (the model's own step)": lambda: plain(iterator)["loss"].numpy(),
        "statistics": instrumented(False),
        "statistics and sampled histograms": instrumented(True),
    }
    for call in steps.values():
        for _ in range(3):  # traced at the first call
            call()
    samples = {name: [] for name in steps}  # (cpu, wall, faults) per call
    for _ in range(10 * repeats):
        for name, call in steps.items():
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            cpu, wall = time.process_time(), time.perf_counter()
            call()
            samples[name].append(
                (
                    time.process_time() - cpu,
                    time.perf_counter() - wall,
                    resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
                )
            )
    plain_cpu = [cpu for cpu, _, _ in samples["plain (the model's own step)"]]
    return [
        {
            "model": model.name,
            "step": name,
            "cpu_ms": 1e3 * statistics.median(c for c, _, _ in calls),
            "wall_ms": 1e3 * statistics.median(w for _, w, _ in calls),
            "extra_cpu_ms": 1e3
            * statistics.median(c - p for (c, _, _), p in zip(calls, plain_cpu)),
            "cpu_ratio": statistics.median(c / p for (c, _, _), p in zip(calls, plain_cpu)),
            "faults": statistics.median(f for _, _, f in calls),
        }
        for name, calls in samples.items()
    ]


def bench_gathers(repeats: int = FLOOR_REPEATS):
    """What one sampled histogram's gather costs, by the layout of its positions.

    ``S = 16384`` elements gathered from a 1500 x 1200 float32 variable (the 3M MLP's largest,
    7.2 MB), each call from another of 8 such variables (58 MB, past the CPU's caches, as in
    a train step that has just moved the gradients and weights through memory): the
    package's systematic sample (every ``s``-th element, :func:`sample_plan`) gathered, the
    same positions (shifted by a moving start) read by strided slices (what a CPU graph step
    does, ``histograms._strided_sample``), one position jittered at random within each of
    ``S`` equal strata (the sample before it), and positions drawn at random. Medians of the
    CPU and wall time per gather.
    """
    from keras_init_lab.callbacks.histograms import _strided_sample, sample_stride

    size, sample, copies = 1500 * 1200, 16384, 8
    rng = np.random.default_rng(0)
    variables = [tf.Variable(rng.normal(size=size).astype("float32")) for _ in range(copies)]
    positions = {
        "systematic (every s-th element), gathered (the package under XLA, JAX, PyTorch)": np.arange(
            sample
        )
        * sample_stride(size, sample)
        % size,
        "stratified, jittered within each stratum": np.minimum(
            np.floor((np.arange(sample) + rng.random(sample)) * (size / sample)), size - 1
        ),
        "random": rng.integers(0, size, sample),
    }

    def gathers(index):
        index = tf.constant(np.asarray(index, np.int32))
        return tf.function(
            lambda: tf.stack([tf.reduce_sum(tf.gather(v.value(), index)) for v in variables])
        )

    functions = {name: gathers(index) for name, index in positions.items()}
    shift = tf.Variable(0)  # the moving start, another at every call (dynamic run lengths)
    functions["systematic, read by strided slices (the package on a CPU graph step)"] = tf.function(
        lambda: tf.stack(
            [
                tf.reduce_sum(_strided_sample(v.value(), shift.value(), size, sample))
                for v in variables
            ]
        )
    )
    for function in functions.values():
        function().numpy()  # traced
    times = {name: ([], []) for name in functions}
    for call in range(2 * repeats):
        shift.assign(call * 40503 % size)
        for name, function in functions.items():
            cpu, wall = time.process_time(), time.perf_counter()
            function().numpy()
            times[name][0].append((time.process_time() - cpu) / copies)
            times[name][1].append((time.perf_counter() - wall) / copies)
    return [
        {
            "positions": name,
            "cpu_us": 1e6 * statistics.median(cpus),
            "wall_us": 1e6 * statistics.median(walls),
        }
        for name, (cpus, walls) in times.items()
    ]


def bench_reads(builder, repeats: int = FLOOR_REPEATS):
    """Host time of reading a histogram record's four buffers, per way of reading.

    The capture's buffers (statistics, both histograms' counts, the weight range) after a
    short ``fit``, read ``10 * repeats`` times each way, alternating: ``variable.numpy()``
    (``read_value``'s Python layers around the read) and the capture's ``_read`` (one
    ``ReadVariableOp`` called directly). Per way: the median CPU time of the four reads.
    """
    from keras_init_lab.callbacks.capture import _read, get_capture

    model, _, _ = _captured_model(builder)
    buffers = get_capture(model)._instrumented(True)[1]
    variables = [
        buffers.raw,
        buffers.gradient_histograms,
        buffers.weight_histograms,
        buffers.weight_range,
    ]
    ways = {
        "variable.numpy()": lambda: [np.asarray(v.numpy()) for v in variables],
        "ReadVariableOp called directly (the capture's _read)": lambda: [
            _read(v) for v in variables
        ],
    }
    times = {name: [] for name in ways}
    for _ in range(10 * repeats):
        for name, read in ways.items():
            cpu = time.process_time()
            read()
            times[name].append(time.process_time() - cpu)
    return [
        {"model": model.name, "way": name, "cpu_us": 1e6 * statistics.median(t)}
        for name, t in times.items()
    ]


def _folder_bytes(folder: str) -> int:
    """Bytes of the files in ``folder``."""
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


def bench_records(builder, repeats: int = FLOOR_REPEATS):
    """Host time of one TensorBoard record per writer, on the record ``GradientStats`` writes.

    The record of a recorded step with histograms (every variable's and layer's scalars and
    both histograms of every variable) is taken from a 3-step fit, then written again
    ``10 * repeats`` times at new steps into a fresh writer, after one untimed first write
    (which carries the plugin metadata once per tag). Writers: the package's TensorFlow-free
    ``EventWriters`` with its C checksums, the same with TensorBoard's byte-by-byte Python
    checksum (what ``tensorboard``'s own ``RecordWriter`` computes) and, on TensorFlow,
    ``SummaryWriters`` (``tf.summary``'s C++ writer). Per writer: the record's bytes and the
    median CPU time of one ``write_batch`` call (the proto built, checksummed, buffered).
    """
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as python_crc

    from keras_init_lab import _event_file
    from keras_init_lab._event_writer import EventWriters

    model = builder()
    model.compile(
        keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x, y = _data(model)
    records = []
    original = EventWriters.write_batch

    def recording(self, step, scalars=None, histograms=None, run="train", descriptions=None):
        records.append((dict(scalars or {}), dict(histograms or {}), run, descriptions))
        return original(self, step, scalars, histograms, run, descriptions)

    with tempfile.TemporaryDirectory() as log_dir:
        EventWriters.write_batch = recording
        try:
            model.fit(
                x[: 3 * BATCH_SIZE],
                y[: 3 * BATCH_SIZE],
                batch_size=BATCH_SIZE,
                verbose=0,
                callbacks=[
                    GradientStats(every_n_steps=1, histogram_every_n_steps=1, log_dir=log_dir)
                ],
            )
        finally:
            EventWriters.write_batch = original
    scalars, histograms, run, descriptions = max(records, key=lambda r: len(r[1]))
    writers = {"EventWriters (the package's C checksum)": (EventWriters, None)}
    writers["EventWriters with TensorBoard's Python checksum"] = (EventWriters, python_crc)
    if tf is not None:
        from keras_init_lab.callbacks import SummaryWriters

        writers["SummaryWriters (tf.summary)"] = (SummaryWriters, None)
    rows = []
    for name, (kind, checksum) in writers.items():
        saved = _event_file.masked_crc32c
        if checksum is not None:
            _event_file.masked_crc32c = checksum
        try:
            with tempfile.TemporaryDirectory() as log_dir, kind(log_dir) as out:
                out.write_batch(0, scalars, histograms, run, descriptions)
                out.flush()
                folder = os.path.join(log_dir, run)
                before, times = _folder_bytes(folder), []
                for step in range(1, 10 * repeats + 1):
                    cpu = time.process_time()
                    out.write_batch(step, scalars, histograms, run, descriptions)
                    times.append(time.process_time() - cpu)
                out.flush()
                record_bytes = (_folder_bytes(folder) - before) / (10 * repeats)
        finally:
            _event_file.masked_crc32c = saved
        rows.append(
            {
                "model": model.name,
                "writer": name,
                "tags": len(scalars) + len(histograms),
                "bytes": record_bytes,
                "cpu_ms": 1e3 * statistics.median(times),
            }
        )
    return rows


#: Size of the array copied to measure memory bandwidth: 256 MB, far above any CPU cache.
BANDWIDTH_BYTES = 256 * 2**20


def memory_bandwidth(repeats: int = 5) -> float:
    """Bytes per second of a NumPy copy of a large array (counting the read and the write)."""
    source = np.ones(BANDWIDTH_BYTES // 4, np.float32)
    target = np.empty_like(source)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - start)
    return 2 * BANDWIDTH_BYTES / statistics.median(times)


def _print_table(header: str, rows: list, line) -> None:
    """Print a Markdown table: ``header`` (its columns counted for the rule), one ``line(r)``
    per row."""
    print(f"\n{header}\n|{'---|' * header.count(' | ')}---|")
    for r in rows:
        print(line(r))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, smoke run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=7,
        help="timed rounds after warm-up (>= 7 "
        "for reported results: medians of interleaved rounds)",
    )
    parser.add_argument("--steps", type=int, default=None, help=f"steps per timed fit ({STEPS})")
    parser.add_argument("--memory", action="store_true", help="run only the memory anchor")
    parser.add_argument(
        "--kernels",
        action="store_true",
        help="no fits: the isolated kernels and train functions (TensorFlow, JAX), one "
        "TensorBoard record per writer, the sample's gathers, the bandwidth and the memory "
        "anchor (TensorFlow)",
    )
    parser.add_argument(
        "--floor-repeats",
        type=int,
        default=None,
        help=f"repeats of each isolated kernel ({FLOOR_REPEATS}; 5 with --quick)",
    )
    parser.add_argument("--models", default="small_mlp,wide_mlp,small_cnn")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="TensorFlow's intra- and inter-op threads (default: its own choice); 1 runs "
        "everything on one thread: wall = CPU time, no idle-thread spinning, so the ratios "
        "are the work each variant adds",
    )
    parser.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),
        default=None,
        help="Keras backend to time (default: KERAS_BACKEND or Keras's own default); on JAX "
        "and PyTorch the TensorFlow-only parts (anchors, exact histograms, memory anchor; "
        "the isolated kernels on PyTorch) are left out and TensorFlow is not imported",
    )
    args = parser.parse_args(argv)
    backend = keras.backend.backend()
    if args.backend is not None and args.backend != backend:
        parser.error(
            f"--backend {args.backend}: Keras was already imported with the {backend!r} "
            "backend; run the script itself (python benchmarks/callbacks.py --backend ...)"
        )
    if tf is None and (args.threads is not None or args.memory):
        parser.error(
            f"--threads and --memory time TensorFlow only; the backend here is {backend!r} "
            "(use --backend tensorflow)"
        )
    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    if args.steps is not None:
        globals()["STEPS"] = args.steps  # read by _data and _time_fit
    print(
        f"Keras {keras.__version__} on {_backend_version(backend)}, {os.cpu_count()} CPUs, "
        f"{STEPS} steps per fit, batch {BATCH_SIZE}, Adam, threads "
        f"{args.threads or 'default'}, load average {os.getloadavg()[0]:.2f}"
    )
    if not args.memory:
        builders = {"small_mlp": small_mlp, "wide_mlp": wide_mlp, "small_cnn": small_cnn}
        rounds = 2 if args.quick else args.rounds
        rows = []
        with tempfile.TemporaryDirectory() as log_root:
            for name in args.models.split(",") if not args.kernels else ():
                rows += bench_model(builders[name], rounds, log_root)
        if rows:
            print(
                "\n| model (params) | variant | wall ratio | CPU ratio | extra ms/step | "
                "one-time s |\n|---|---|---|---|---|---|"
            )
        for r in rows:
            print(
                f"| {r['model']} ({r['params']:,}; plain {r['plain_ms_per_step']:.1f} ms/step) "
                f"| {r['variant']} | {r['wall_ratio']:.3f} | {r['cpu_ratio']:.3f} | "
                f"{r['ms_per_step_extra']:+.2f} | {r['one_time_s']:+.2f} |"
            )
        by_variant = {(r["model"], r["variant"]): r for r in rows}
        print(
            "\n| model | variant | recorded steps | CPU ratio measured | CPU ratio predicted "
            "from the every-step cost | wall ratio predicted | predicted from |\n"
            "|---|---|---|---|---|---|---|"
            if rows
            else "\n(no fits timed: --kernels)"
        )
        for r in rows:
            full = by_variant.get(
                (r["model"], PREDICTED_FROM.get(r["variant"], "stats every step"))
            )
            if r["every"] is None or full is None:
                continue
            share = 1 / r["every"]
            print(
                f"| {r['model']} | {r['variant']} | 1 in {r['every']} | {r['cpu_ratio']:.3f} | "
                f"{1 + share * (full['cpu_ratio'] - 1):.3f} | "
                f"{1 + share * (full['wall_ratio'] - 1):.3f} | {full['variant']} |"
            )
        models = args.models.split(",")
        repeats = args.floor_repeats or (5 if args.quick else FLOOR_REPEATS)
        floor = {"tensorflow": bench_floor, "jax": bench_floor_jax}.get(backend)
        if floor is not None:
            _print_table(
                "| model | isolated kernel | wall ms | CPU ms | passes (x one reduction) |",
                [r for name in models for r in floor(builders[name], repeats)],
                lambda r: (
                    f"| {r['model']} | {r['kernel']} | {r['wall_ms']:.2f} | "
                    f"{r['cpu_ms']:.2f} | {r['passes']:.1f} |"
                ),
            )
        # Per-call wall times of the train functions (--kernels): the extra wall time of the
        # statistics over the plain step, set against the bandwidth floor below.
        step_rows = []
        if backend == "tensorflow" and args.kernels:
            step_rows = [r for name in models for r in bench_steps_tf(builders[name], repeats)]
            _print_table(
                "| model | train function (one call, with its host reads) | CPU ms per call | "
                "wall ms per call | extra CPU ms over the plain call before | paired CPU ratio "
                "| minor page faults per call |",
                step_rows,
                lambda r: (
                    f"| {r['model']} | {r['step']} | {r['cpu_ms']:.2f} | {r['wall_ms']:.2f} | "
                    f"{r['extra_cpu_ms']:+.2f} | {r['cpu_ratio']:.3f} | {r['faults']:.0f} |"
                ),
            )
        if backend == "jax" and args.kernels:
            step_rows = [r for name in models for r in bench_steps_jax(builders[name], repeats)]
            _print_table(
                "| model | compiled train step | wall ms per call | minor page faults per call "
                "| scratch MB per call |",
                step_rows,
                lambda r: (
                    f"| {r['model']} | {r['step']} | {r['wall_ms']:.2f} | "
                    f"{r['faults']:.0f} | {r['scratch_mb']:.1f} |"
                ),
            )
        if backend == "tensorflow" and args.kernels:
            _print_table(
                "| positions of a 16,384-element sample of a 1500 x 1200 variable (cold) | "
                "CPU us per gather | wall us per gather |",
                bench_gathers(repeats),
                lambda r: f"| {r['positions']} | {r['cpu_us']:.0f} | {r['wall_us']:.0f} |",
            )
        if backend == "tensorflow" and args.kernels:
            _print_table(
                "| model | host reads of a histogram record's four buffers | CPU us |",
                [r for name in models for r in bench_reads(builders[name], repeats)],
                lambda r: f"| {r['model']} | {r['way']} | {r['cpu_us']:.0f} |",
            )
        if args.kernels:
            _print_table(
                "| model | TensorBoard writer | tags per record | bytes per record | host CPU "
                "ms per record |",
                [r for name in models for r in bench_records(builders[name], repeats)],
                lambda r: (
                    f"| {r['model']} | {r['writer']} | {r['tags']} | {r['bytes']:,.0f} | "
                    f"{r['cpu_ms']:.3f} |"
                ),
            )
        bandwidth = memory_bandwidth()
        print(
            f"\nMemory bandwidth (NumPy copy of {BANDWIDTH_BYTES / 1e6:.0f} MB, read + write, "
            f"median of 5): {bandwidth / 1e9:.1f} GB/s"
        )
        # The extra wall time of the statistics per recorded step: from the fits' paired
        # ratios, or (--kernels) from the train functions called one at a time.
        extra = {
            (r["model"], r["params"]): r["ms_per_step_extra"]
            for r in rows
            if r["variant"] == "stats every step"
        }
        source = "fits, stats every step"
        if not extra and step_rows:
            plain = {r["model"]: r["wall_ms"] for r in step_rows if r["step"].startswith("plain")}
            params = {name: builders[name]().count_params() for name in models}
            extra = {
                (r["model"], params[r["model"]]): r["wall_ms"] - plain[r["model"]]
                for r in step_rows
                if r["step"] == "statistics"
            }
            source = "train functions one call at a time, statistics against plain"
        if extra:
            print(
                "\n| model | bytes per recorded step (one read of g, w before, w after) | "
                f"at bandwidth (ms) | measured extra wall ms per recorded step ({source}) | "
                "x the limit |\n|---|---|---|---|---|"
            )
        for (model_name, params), extra_ms in extra.items():
            moved = 3 * 4 * params
            limit_ms = 1e3 * moved / bandwidth
            print(
                f"| {model_name} | {moved / 1e6:.1f} MB | {limit_ms:.2f} | "
                f"{extra_ms:.2f} | {extra_ms / limit_ms:.1f} |"
            )
    if tf is not None and (args.memory or not args.quick):
        print("\n| histogram of | elements | extra peak RSS (MB) |\n|---|---|---|")
        for r in bench_memory():
            print(f"| {r['method']} | {r['size']:,} | {r['extra_peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
