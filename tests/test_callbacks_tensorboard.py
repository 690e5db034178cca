"""TensorBoard output: device bucketing against NumPy, and event files read by TensorBoard itself."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.plugins.custom_scalar import layout_pb2  # noqa: E402

from keras_init_lab._event_writer import EventWriters  # noqa: E402
from keras_init_lab.callbacks import (  # noqa: E402
    GradientStats,
    SummaryWriters,
    uniform_bucket_counts,
    write_custom_scalars_layout,
)
from keras_init_lab.callbacks.histograms import (  # noqa: E402
    GRADIENT_MIN_EXPONENT,
    gradient_histograms,
    gradient_log10_edges,
)
from keras_init_lab.callbacks.statistics import describe_variables  # noqa: E402


def _regression_data(seed: int, rows: int, features: int):
    """``(x [rows, features], y [rows, 1])``: standard normal float32 data of ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype("float32")
    y = rng.normal(size=(rows, 1)).astype("float32")
    return x, y


def _numpy_buckets(values, edges):
    """Slow obvious reference: clamp into [e0, ek], count with np.histogram, drop NaN."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    clipped = np.clip(values, edges[0], np.nextafter(edges[-1], -np.inf))
    counts, _ = np.histogram(clipped, bins=np.asarray(edges, dtype=np.float64))
    return counts


def _accumulator(path):
    accumulator = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def _binade_reference(values):
    """Slow obvious reference of the gradient histogram: floor(log2|x|), clamped, NaN dropped."""
    flat = np.abs(np.asarray(values, dtype=np.float64).ravel())
    flat = flat[~np.isnan(flat)]
    k = len(gradient_log10_edges()) - 1
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log2(flat))
    return np.bincount(np.clip(exponent - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(int), minlength=k)


def _one_variable_layout(size):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((size,)), keras.layers.Dense(1, use_bias=False)])
    return describe_variables(model)


@pytest.mark.parametrize("sample_size", [None, 16384], ids=["exact", "whole-sample"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_gradient_buckets_of_heavy_tailed_values_match_numpy(jit_compile, sample_size):
    """The one bucketing implementation on Cauchy values with NaN, +-Inf and zeros, counted
    exactly (``sample_size=None``) or as a sample of 16384 >= 10000 elements (whole)."""
    rng = np.random.default_rng(0)
    values = rng.standard_cauchy(10_000).astype(np.float32)
    values[:7] = [np.nan, np.inf, -np.inf, 0.0, 3.0, -3.0, 2.999]
    layout = _one_variable_layout(10_000)  # 39 whole rows and a tail of 16
    grads = [values.reshape(10_000, 1)]

    @tf.function(jit_compile=jit_compile)
    def device(g, w):
        return gradient_histograms(g, w, layout, 30, sample_size=sample_size)

    g_counts, _, _, _ = (t.numpy() for t in device(grads, grads))
    np.testing.assert_array_equal(g_counts[0], _binade_reference(values))
    assert g_counts[0].sum() == values.size - 1  # every non-NaN value lands in a bucket


@pytest.mark.parametrize("jit_compile", [False, True])
def test_weight_buckets_match_numpy(jit_compile):
    rng = np.random.default_rng(1)
    values = rng.normal(size=5000).astype(np.float32)
    layout = _one_variable_layout(5000)

    @tf.function(jit_compile=jit_compile)
    def device(w):
        return gradient_histograms(w, w, layout, 30)

    _, counts, low, high = (t.numpy() for t in device([values.reshape(5000, 1)]))
    expected, _ = np.histogram(values, bins=30, range=(values.min(), values.max()))
    assert (low[0], high[0]) == (values.min(), values.max())
    # Float32 on the device vs float64 here: a value on an edge may move by one bucket.
    assert counts[0].sum() == 5000
    assert np.abs(counts[0] - expected).sum() <= 4
    # Constant data: everything in the last bucket, as TensorBoard does.
    same = [np.full((5000, 1), 2.0, np.float32)]
    _, counts, _, _ = (t.numpy() for t in device(same))
    np.testing.assert_array_equal(counts[0], [0] * 29 + [5000])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_uniform_bucket_counts_match_numpy(jit_compile):
    rng = np.random.default_rng(1)
    values = rng.normal(size=5000).astype(np.float32)
    values[7] = np.nan  # not counted
    segments = (np.arange(5000) % 2).astype(np.int32)
    finite = ~np.isnan(values)
    low = np.array([np.nanmin(values[segments == s]) for s in (0, 1)], np.float32)
    high = np.array([np.nanmax(values[segments == s]) for s in (0, 1)], np.float32)

    @tf.function(jit_compile=jit_compile)
    def device(v, s):
        return uniform_bucket_counts(v, low, high, 30, s, 2)

    counts = device(values, segments).numpy()
    for segment in range(2):
        chosen = values[(segments == segment) & finite]
        expected, _ = np.histogram(chosen, bins=30, range=(low[segment], high[segment]))
        # Float32 on the device vs float64 here: a value on an edge may move by one bucket.
        assert counts[segment].sum() == chosen.size
        assert np.abs(counts[segment] - expected).sum() <= 4
    # Constant data: everything in the last bucket, as TensorBoard does.
    same = uniform_bucket_counts(tf.fill([10], 2.0), 2.0, 2.0, 5).numpy()
    np.testing.assert_array_equal(same, [0, 0, 0, 0, 10])
    with pytest.raises(ValueError, match="num_buckets=0"):
        uniform_bucket_counts(tf.zeros([3]), 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="num_segments"):
        uniform_bucket_counts(tf.zeros([3]), 0.0, 1.0, 2, segment_ids=tf.zeros([3], tf.int32))


def test_edges_and_bad_inputs():
    # One bucket per binade from 2^-34 to 2^14, in log10 units.
    edges = gradient_log10_edges()
    assert len(edges) == 49
    np.testing.assert_allclose(10 ** edges[[0, -1]], [2.0**-34, 2.0**14])
    with pytest.raises(TypeError, match="log_dir"):
        SummaryWriters(None)
    with pytest.raises(ValueError, match="run="):
        SummaryWriters("logs").writer("../escape")


def test_summary_writers_are_lazy_and_readable(tmp_path):
    writers = SummaryWriters(tmp_path / "logs")
    assert not (tmp_path / "logs").exists()  # nothing before the first write
    writers.scalar("dense/kernel/gradient_norm", 0.5, step=3)
    writers.histogram("dense/kernel/weights", [0.0, 1.0], [1.0, 2.0], [3, 4], step=3)
    write_custom_scalars_layout(writers, {"norms": {"every layer": [r".*/gradient_norm$"]}})
    with pytest.raises(ValueError, match="same length|common"):
        writers.histogram("bad", [0.0], [1.0, 2.0], [1], step=0)
    writers.close()
    assert writers.runs == []
    accumulator = _accumulator(tmp_path / "logs" / "train")
    tags = accumulator.Tags()["tensors"]
    assert {
        "dense/kernel/gradient_norm",
        "dense/kernel/weights",
        "custom_scalars__config__",
    } <= set(tags)
    hist = tf.make_ndarray(accumulator.Tensors("dense/kernel/weights")[0].tensor_proto)
    np.testing.assert_array_equal(hist, [[0, 1, 3], [1, 2, 4]])
    assert (
        accumulator.SummaryMetadata("dense/kernel/weights").plugin_data.plugin_name == "histograms"
    )
    assert accumulator.Tensors("dense/kernel/gradient_norm")[0].step == 3


def test_write_batch_is_one_event_with_metadata_on_first_values_only(tmp_path):
    """A record is one event; a tag's plugin metadata and description go with its first
    value in each event file (where TensorBoard reads them), not with every record."""
    from tensorboard.compat.proto import event_pb2

    writers = SummaryWriters(tmp_path)
    histogram = ([0.0, 1.0], [1.0, 2.0], [3, 4])
    for step, run_value in enumerate([0.5, 0.25]):
        writers.write_batch(
            step,
            scalars={"dense/gradient/norm": run_value},
            histograms={"dense/kernel/weights": histogram},
            descriptions={"dense/gradient/norm": "L2 norm", "dense/kernel/weights": "buckets"},
        )
    writers.close()
    writers.write_batch(  # reopened: a new file
        5, scalars={"dense/gradient/norm": 2.0}, descriptions={"dense/gradient/norm": "L2 norm"}
    )
    writers.close()
    files = sorted((tmp_path / "train").iterdir())
    assert len(files) == 2
    events = [
        [e for e in map(event_pb2.Event.FromString, _records(f)) if e.HasField("summary")]
        for f in files
    ]
    events.sort(key=lambda file_events: file_events[0].step)  # names may not sort in time
    assert [len(file_events) for file_events in events] == [2, 1]
    first, second = events[0]
    assert [v.HasField("metadata") for v in first.summary.value] == [True, True]
    assert [v.HasField("metadata") for v in second.summary.value] == [False, False]
    assert events[1][0].summary.value[0].HasField("metadata")  # again in the new file
    accumulator = _accumulator(tmp_path / "train")
    scalars = accumulator.Tensors("dense/gradient/norm")
    # Files of one second may be read in either order: compare by step.
    assert sorted((e.step, float(tf.make_ndarray(e.tensor_proto))) for e in scalars) == [
        (0, 0.5),
        (1, 0.25),
        (5, 2.0),
    ]
    assert accumulator.SummaryMetadata("dense/gradient/norm").summary_description == "L2 norm"
    assert accumulator.SummaryMetadata("dense/gradient/norm").plugin_data.plugin_name == ("scalars")
    table = tf.make_ndarray(accumulator.Tensors("dense/kernel/weights")[1].tensor_proto)
    np.testing.assert_array_equal(table, [[0, 1, 3], [1, 2, 4]])
    assert accumulator.SummaryMetadata("dense/kernel/weights").summary_description == "buckets"


def _records(path):
    """The records of a TFRecord file (length, crc, data, crc), without TensorFlow."""
    import struct

    data, offset = path.read_bytes(), 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        yield data[offset + 12 : offset + 12 + length]
        offset += 12 + length + 4


def test_gradient_stats_event_files(tmp_path):
    x, y = _regression_data(0, 32, 5)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(7, activation="relu", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    stats = GradientStats(every_n_steps=4, histogram_every_n_steps=8, log_dir=tmp_path)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 4, 8, 12]
    accumulator = _accumulator(tmp_path / "train")
    tags = set(accumulator.Tags()["tensors"])
    # One layer's tags under its own name, without the model's name in front.
    assert not any(tag.startswith("net/") for tag in tags)
    for layer in ("hidden", "out"):
        for what in (
            "1_gradient_log10_norm",
            "2_update_ratio_log10",
            "details/gradient_norm",
            "details/gradient_zero_count",
            "details/gradient_nonfinite_count",
            "details/weight_std",
            "details/update_ratio",
        ):
            assert f"{layer}/{what}" in tags
        for what in (
            "gradient_norm",
            "gradient_log10_norm",
            "gradient_zero_count",
            "weight_std",
            "update_ratio",
        ):
            assert f"{layer}/details/kernel/{what}" in tags
        for variable in ("kernel", "bias"):
            assert f"{layer}/details/{variable}/gradient_log10_abs" in tags
            # A bias one Adam(1e-2) step from 0 is below 0.01: weights_in_1e-3 (its unit).
            weights = [t for t in tags if t.startswith(f"{layer}/details/{variable}/weights")]
            assert len(weights) == 1, weights
    # Every tag carries a description TensorBoard shows.
    for tag in tags - {"custom_scalars__config__"}:
        assert accumulator.SummaryMetadata(tag).summary_description, tag
    # Scalars every 4 steps, histograms every 8, with the recorded step numbers.
    assert [e.step for e in accumulator.Tensors("hidden/details/gradient_norm")] == [0, 4, 8, 12]
    norms = stats.history["per_layer"]["norm"][:, 0]
    np.testing.assert_allclose(
        [
            float(tf.make_ndarray(e.tensor_proto))
            for e in accumulator.Tensors("hidden/details/gradient_norm")
        ],
        norms,
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        [
            float(tf.make_ndarray(e.tensor_proto))
            for e in accumulator.Tensors("hidden/1_gradient_log10_norm")
        ],
        np.log10(norms),
        rtol=1e-5,
    )
    # Exact zeros counted apart from the histogram's first bucket (relu: dead units).
    zero_counts = [
        float(tf.make_ndarray(e.tensor_proto))
        for e in accumulator.Tensors("hidden/details/kernel/gradient_zero_count")
    ]
    np.testing.assert_array_equal(
        zero_counts, np.rint(stats.history["per_variable"]["zero_fraction"][:, 0] * 35)
    )
    events = accumulator.Tensors("hidden/details/kernel/gradient_log10_abs")
    assert [e.step for e in events] == [0, 8]
    checked = 0
    for prefix, size in (
        ("hidden/details/kernel", 35),
        ("hidden/details/bias", 7),
        ("out/details/kernel", 7),
    ):
        for tag in [t for t in tags if t.startswith(f"{prefix}/")]:
            if accumulator.SummaryMetadata(tag).plugin_data.plugin_name != "histograms":
                continue
            checked += 1
            for event in accumulator.Tensors(tag):
                buckets = tf.make_ndarray(event.tensor_proto)
                assert buckets.shape[1] == 3
                assert buckets[:, 2].sum() == size  # every element counted once
                assert np.all(buckets[:, 1] >= buckets[:, 0])
    assert checked == 6  # a gradient and a weight histogram per variable
    # The custom-scalars layout: one category per quantity, titled by what it holds (weight
    # statistics are not called gradients), its charts naming the layers in forward order.
    layout = layout_pb2.Layout()
    layout.ParseFromString(
        tf.make_ndarray(accumulator.Tensors("custom_scalars__config__")[0].tensor_proto).item()
    )
    titles = [category.title for category in layout.category]
    assert titles[0].startswith("Gradient norm per layer, log10")
    assert not any("weight" in t.lower() and "gradient" in t.lower() for t in titles)
    (chart,) = layout.category[0].chart
    assert chart.title == "layers 1-2 of 2: hidden ... out"
    (regex,) = chart.multiline.tag
    import re

    assert re.match(regex, "hidden/1_gradient_log10_norm")
    assert re.match(regex, "out/1_gradient_log10_norm")
    assert not re.match(regex, "hidden/details/kernel/gradient_log10_norm")


@pytest.mark.parametrize("sample_size", [None, 16384], ids=["exact", "whole-sample"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_device_histograms_of_the_capture_match_numpy(jit_compile, sample_size):
    """Binade histogram of |g| and per-variable weight histograms against NumPy (every
    variable is at most 16384 elements: the default sample counts each one whole)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(7), keras.layers.Dense(1)])
    layout = describe_variables(model)  # kernel 2100 (8 whole rows + tail), bias 7, ...
    rng = np.random.default_rng(0)
    grads = [
        (rng.normal(size=v.shape) * 10.0 ** rng.uniform(-14, 6, size=v.shape)).astype(np.float32)
        for v in layout.variables
    ]
    grads[0].flat[:5] = [0.0, np.inf, -np.inf, np.nan, 1e-30]
    weights = [rng.normal(size=v.shape).astype(np.float32) for v in layout.variables]
    weights[1][:] = 0.5  # constant: everything in the last bucket

    @tf.function(jit_compile=jit_compile)
    def device(g, w):
        return gradient_histograms(g, w, layout, 30, sample_size=sample_size)

    g_counts, w_counts, low, high = (t.numpy() for t in device(grads, weights))
    edges = gradient_log10_edges()
    k = len(edges) - 1
    for index, grad in enumerate(grads):
        flat = np.abs(grad.ravel().astype(np.float64))
        flat = flat[~np.isnan(flat)]
        with np.errstate(divide="ignore"):
            exponent = np.floor(np.log2(flat))
        expected = np.bincount(
            np.clip(exponent - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(int), minlength=k
        )
        np.testing.assert_array_equal(g_counts[index], expected)
        weight = weights[index].ravel()
        assert (low[index], high[index]) == (weight.min(), weight.max())
        assert w_counts[index].sum() == weight.size
        if weight.min() < weight.max():
            reference, _ = np.histogram(weight, bins=30, range=(weight.min(), weight.max()))
            assert np.abs(w_counts[index] - reference).sum() <= 2  # float32 edge rounding
    np.testing.assert_array_equal(w_counts[1], [0] * 29 + [7])
    assert g_counts[0].sum() == 2100 - 1  # the NaN is not counted (nonfinite_count has it)


class _Interrupt(keras.callbacks.Callback):
    """Raise KeyboardInterrupt at the end of a given batch, as Ctrl-C during fit would."""

    def __init__(self, at_batch):
        super().__init__()
        self.at_batch = at_batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at_batch:
            raise KeyboardInterrupt


def test_records_reach_the_event_file_when_training_is_interrupted(tmp_path):
    """Ctrl-C skips on_train_end: every record written before it is kept and flushable."""
    x, y = _regression_data(0, 64, 6)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )
    model.compile(optimizer="sgd", loss="mse")
    stats = GradientStats(every_n_steps=2, histogram_every_n_steps=2, log_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=[stats, _Interrupt(at_batch=5)],
        )
    # Records are flushed on a time basis, and Keras calls no hook when another callback
    # raises: the last records wait in the open writers' memory until a flush, the next fit,
    # or the exit (see the subprocess test below). Flush while the callback (and its open
    # writers) are still alive: every tag of every record, the last one included, is there.
    stats.flush()
    accumulator = _accumulator(tmp_path / "train")
    tags = [t for t in accumulator.Tags()["tensors"] if t != "custom_scalars__config__"]
    assert "hidden/details/kernel/gradient_norm" in tags and len(tags) > 10
    for tag in tags:
        assert sorted({event.step for event in accumulator.Tensors(tag)}) == [0, 2, 4], tag
    assert list(stats.history["step"]) == [0, 2, 4]


def _steps_on_disk(run_dir):
    """``{tag: sorted steps}`` of the summaries flushed so far to the event files of a run."""
    steps = {}
    for name in sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else []:
        for event in tf.compat.v1.train.summary_iterator(os.path.join(run_dir, name)):
            for value in event.summary.value:
                if value.tag != "custom_scalars__config__":
                    steps.setdefault(value.tag, set()).add(int(event.step))
    return {tag: sorted(found) for tag, found in steps.items()}


def test_records_are_flushed_on_a_time_basis(tmp_path, monkeypatch):
    """With a fake clock: records within FLUSH_SECONDS of the last flush stay in memory; the
    first step that begins at least FLUSH_SECONDS later flushes them all; train end flushes."""
    from keras_init_lab import _event_writer

    now = [0.0]
    monkeypatch.setattr(_event_writer, "_clock", lambda: now[0])
    period = _event_writer.FLUSH_SECONDS

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            now[0] = 0.35 * period * batch  # 0, 0.7, 1.4, 2.1, ... s with FLUSH_SECONDS = 2

    seen = {}

    class Reader(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen[batch] = _steps_on_disk(tmp_path / "train")

    x, y = _regression_data(0, 56, 6)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1)],
        name="net",
    )
    model.compile(optimizer="sgd", loss="mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1, log_dir=tmp_path)
    # The TensorFlow-free writer on TensorFlow too (not its tf.summary subclass).
    assert type(stats._writers) is EventWriters
    model.fit(
        x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[Clock(), stats, Reader()]
    )
    # Every record is one event with many tags; none of them may reach the disk before the
    # policy flushes (test_more_records_than_tensorflows_default_queue... checks the queue).
    tags = set(seen[0])
    assert "hidden/details/kernel/gradient_norm" in tags and "hidden/details/kernel/weights" in tags
    assert len(tags) > 20
    # Flushes at t = 0 (the first record), then when steps 3 and 6 begin (t = 2.1 and 4.2:
    # what was held back since the last flush); none in between. Train end flushes the rest.
    expected = {0: [0], 1: [0], 2: [0], 3: [0, 1, 2], 4: [0, 1, 2], 5: [0, 1, 2]}
    expected[6] = list(range(6))
    for batch, steps in expected.items():
        assert set(seen[batch]) == tags, batch
        for tag in tags:
            assert seen[batch][tag] == steps, (batch, tag)
    assert list(stats.history["step"]) == list(range(7))
    assert _steps_on_disk(tmp_path / "train")["hidden/details/kernel/gradient_norm"] == list(
        range(7)
    )


def test_a_held_back_record_reaches_the_disk_before_the_next_record(tmp_path, monkeypatch):
    """Records every 2 steps, 0.7 s per step: step 0 is flushed at once; step 2 (t = 1.4 s) is
    held back and written when step 3 begins (t = 2.1 s), a step that records nothing."""
    from keras_init_lab import _event_writer

    now = [0.0]
    monkeypatch.setattr(_event_writer, "_clock", lambda: now[0])
    period = _event_writer.FLUSH_SECONDS

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            now[0] = 0.35 * period * batch

    seen = {}

    class Reader(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen[batch] = _steps_on_disk(tmp_path / "train").get(
                "hidden/details/kernel/gradient_norm"
            )

    x, y = _regression_data(1, 32, 6)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    stats = GradientStats(every_n_steps=2, log_dir=tmp_path)
    model.fit(
        x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[Clock(), stats, Reader()]
    )
    assert seen[0] == [0] and seen[1] == [0] and seen[2] == [0]  # step 2 held back
    assert seen[3] == [0, 2]  # written when step 3 began, though step 3 records nothing


_INTERRUPTED_SCRIPT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import keras
import tensorflow as tf
from keras_init_lab.callbacks import GradientStats
from keras_init_lab import _event_writer

_event_writer._clock = lambda: 0.0  # time stands still: the policy flushes only once
log_dir = sys.argv[1]


class Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 5:
            raise KeyboardInterrupt


rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6)).astype("float32")
y = rng.normal(size=(64, 1)).astype("float32")
model = keras.Sequential(
    [keras.Input((6,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name="out")],
    name="net",
)
model.compile(optimizer="sgd", loss="mse")
stats = GradientStats(every_n_steps=2, histogram_every_n_steps=2, log_dir=log_dir)
try:
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[stats, Interrupt()])
finally:
    steps = set()
    run = os.path.join(log_dir, "train")
    for name in os.listdir(run):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(run, name)):
            if any(v.tag != "custom_scalars__config__" for v in event.summary.value):
                steps.add(int(event.step))
    print("RECORDED", stats.history["step"].tolist(), "ON_DISK", sorted(steps), flush=True)
"""


def test_records_reach_the_event_file_at_exit_after_an_interrupt(tmp_path):
    """A KeyboardInterrupt raised by another callback's on_train_batch_end (no Keras hook
    runs) ends the process: every recorded step is in the event files after the exit, though
    only the first was flushed before it (the atexit hook over the live writers; on
    TensorFlow 2.21 nothing else flushes them at exit, older releases also flush a writer
    when its resource is destroyed)."""
    import subprocess
    import sys

    import keras_init_lab

    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_init_lab.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr, result.stderr[-2000:]
    assert "RECORDED [0, 2, 4] ON_DISK [0]" in result.stdout, (result.stdout, result.stderr[-2000:])
    steps = _steps_on_disk(tmp_path / "logs" / "train")
    assert "hidden/details/kernel/gradient_norm" in steps and len(steps) > 10
    for tag, found in steps.items():
        assert found == [0, 2, 4], tag


# ---------------------------------------------------------------------------------------
# Every written value read back and compared with the callback's own history
# ---------------------------------------------------------------------------------------


def _scalar_series(accumulator, tag):
    """``(steps, values)`` of a scalar tag, read back by TensorBoard's EventAccumulator."""
    events = accumulator.Tensors(tag)
    return (
        [e.step for e in events],
        np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events]),
    )


#: Written in the test, not imported: per-layer tag name -> its value from ``history``
#: (``per_layer`` statistics, ``sizes`` the number of entries per layer).
_PER_LAYER_TAGS = {
    "1_gradient_log10_norm": lambda h, sizes: np.log10(h["norm"]),
    "2_update_ratio_log10": lambda h, sizes: np.log10(h["update_ratio"]),
    "details/gradient_norm": lambda h, sizes: h["norm"],
    "details/gradient_zero_count": lambda h, sizes: np.rint(h["zero_fraction"] * sizes),
    "details/gradient_nonfinite_count": lambda h, sizes: h["nonfinite_count"],
    "details/weight_std": lambda h, sizes: h["weight_std"],
    "details/update_ratio": lambda h, sizes: h["update_ratio"],
}

#: The same for the per-variable tags (``<layer>/details/<variable>/<name>``).
_PER_VARIABLE_TAGS = {
    "gradient_norm": lambda h, sizes: h["norm"],
    "gradient_log10_norm": lambda h, sizes: np.log10(h["norm"]),
    "gradient_zero_count": lambda h, sizes: np.rint(h["zero_fraction"] * sizes),
    "gradient_nonfinite_count": lambda h, sizes: h["nonfinite_count"],
    "weight_std": lambda h, sizes: h["weight_std"],
    "update_ratio": lambda h, sizes: h["update_ratio"],
}


def test_every_scalar_tag_holds_its_own_statistic_step_by_step(tmp_path):
    """Each per-layer and per-variable tag, step by step, against ``history``: a tag written
    with another statistic's values (``details/weight_std`` and ``details/update_ratio``
    swapped) or at another step fails here, not only a missing tag."""
    x, y = _regression_data(5, 24, 5)
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="tanh", name="middle"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    stats = GradientStats(every_n_steps=2, histogram_every_n_steps=0, log_dir=tmp_path)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
    history = stats.history
    steps = history["step"].tolist()
    assert steps == [0, 2, 4, 6, 8, 10]
    per_layer, per_variable = history["per_layer"], history["per_variable"]
    # The two statistics a swap would exchange differ by far more than the tolerance.
    assert np.all(np.abs(np.log10(per_layer["weight_std"] / per_layer["update_ratio"])) > 0.5)
    accumulator = _accumulator(tmp_path / "train")
    tags = set(accumulator.Tags()["tensors"]) - {"custom_scalars__config__"}
    layers = ["hidden", "middle", "out"]
    assert [layer.rsplit("/", 1)[-1] for layer in history["layers"]] == layers
    layer_sizes = np.array([5 * 6 + 6, 6 * 3 + 3, 3 * 1 + 1], np.float64)
    variable_sizes = np.array([30, 6, 18, 3, 3, 1], np.float64)
    variable_tags = [f"{layer}/details/{v}" for layer in layers for v in ("kernel", "bias")]
    expected_tags = {f"{layer}/{suffix}" for layer in layers for suffix in _PER_LAYER_TAGS}
    expected_tags |= {f"{v}/{suffix}" for v in variable_tags for suffix in _PER_VARIABLE_TAGS}
    assert tags == expected_tags
    # float32 on disk (the scalar plugin's dtype) of float64 history values: 2^-24 ~ 6e-8
    # relative rounding, so 1e-6 tells a value from any other statistic.
    for suffix, value_of in _PER_LAYER_TAGS.items():
        expected = value_of(per_layer, layer_sizes)
        for index, layer in enumerate(layers):
            written_steps, written = _scalar_series(accumulator, f"{layer}/{suffix}")
            assert written_steps == steps, (layer, suffix)
            np.testing.assert_allclose(written, expected[:, index], rtol=1e-6, err_msg=suffix)
    for suffix, value_of in _PER_VARIABLE_TAGS.items():
        expected = value_of(per_variable, variable_sizes)
        for index, tag in enumerate(variable_tags):
            written_steps, written = _scalar_series(accumulator, f"{tag}/{suffix}")
            assert written_steps == steps, (tag, suffix)
            np.testing.assert_allclose(written, expected[:, index], rtol=1e-6, err_msg=suffix)
    # Each tag says what it holds: a weight tag describes weights, a ratio tag the update.
    describe = {tag: accumulator.SummaryMetadata(tag).summary_description for tag in tags}
    assert "Standard deviation of the weights" in describe["middle/details/weight_std"]
    assert "||w_after - w_before||" in describe["middle/details/update_ratio"]
    assert "L2 norm" in describe["middle/details/gradient_norm"]
    assert "whole layer" in describe["middle/details/gradient_norm"]
    assert "whole layer" not in describe["middle/details/kernel/gradient_norm"]
    # The log10 tags say their unit.
    assert "-3 means 1e-3" in describe["middle/1_gradient_log10_norm"]
    assert "-3 means 1e-3" in describe["middle/2_update_ratio_log10"]


def test_tags_follow_the_variables_when_a_layer_is_frozen(tmp_path):
    """The tags of a record are built once per set of variables: after a layer is frozen,
    the next fit's records carry the remaining variables under their own tags and values
    (a plan kept from the first fit would write ``out``'s numbers under ``hidden``'s tags,
    or fail on a missing variable)."""
    x, y = _regression_data(2, 16, 5)
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )
    optimizer = keras.optimizers.SGD(0.01)
    model.compile(optimizer, "mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1, log_dir=tmp_path)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    model.get_layer("hidden").trainable = False
    model.compile(optimizer, "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # history restarted (variable set)
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    stats.flush()
    history = stats.history
    assert history["step"].tolist() == [2, 3]
    accumulator = _accumulator(tmp_path / "train")
    steps, written = _scalar_series(accumulator, "hidden/details/kernel/gradient_norm")
    assert steps == [0, 1]  # the frozen layer: nothing after the freeze
    for index, variable in enumerate(("kernel", "bias")):
        steps, written = _scalar_series(accumulator, f"out/details/{variable}/gradient_norm")
        assert steps == [0, 1, 2, 3]
        np.testing.assert_allclose(
            written[2:], history["per_variable"]["norm"][:, index], rtol=1e-6
        )
    histogram_tags = set(accumulator.Tags()["tensors"])
    assert "out/details/kernel/gradient_log10_abs" in histogram_tags


# ---------------------------------------------------------------------------------------
# SummaryWriters and the layout, one behaviour at a time (no model)
# ---------------------------------------------------------------------------------------


def test_flush_if_due_flushes_at_exactly_flush_seconds(tmp_path, monkeypatch):
    """ "At least FLUSH_SECONDS since the last flush": the boundary itself flushes."""
    from keras_init_lab import _event_writer

    now = [100.0]
    monkeypatch.setattr(_event_writer, "_clock", lambda: now[0])
    period = _event_writer.FLUSH_SECONDS
    writers = SummaryWriters(tmp_path)
    writers.scalar("a", 1.0, step=0)
    assert writers.flush_if_due()  # nothing flushed yet: at once
    assert _steps_on_disk(tmp_path / "train") == {"a": [0]}
    writers.scalar("a", 2.0, step=1)
    now[0] += period * (1 - 1e-6)
    assert not writers.flush_if_due()
    assert not writers.flush_pending_if_due()
    assert _steps_on_disk(tmp_path / "train") == {"a": [0]}  # held back
    now[0] = 100.0 + period
    assert writers.flush_pending_if_due()
    assert _steps_on_disk(tmp_path / "train") == {"a": [0, 1]}
    assert not writers.flush_pending_if_due()  # nothing pending any more
    now[0] += 10 * period
    assert not writers.flush_pending_if_due()
    writers.scalar("a", 3.0, step=2)
    writers.close()  # close flushes what is left
    assert _steps_on_disk(tmp_path / "train") == {"a": [0, 1, 2]}


def test_histogram_scalars_and_layout_round_trip(tmp_path):
    """A histogram's description and table, several scalars of one event each under its own
    tag, and a chart with two regexes keeps both."""
    writers = SummaryWriters(tmp_path)
    writers.histogram(
        "dense/kernel/weights", [-1.0, 0.5], [0.5, 2.0], [7, 9], step=4, description="buckets"
    )
    writers.scalars({"a/x": 1.5, "a/y": -2.0, "b/z": 3.25}, step=6)
    write_custom_scalars_layout(
        writers, {"both": {"two regexes": [r"^a/.*$", r"^b/z$"], "one": r"^a/x$"}}
    )
    writers.close()
    accumulator = _accumulator(tmp_path / "train")
    metadata = accumulator.SummaryMetadata("dense/kernel/weights")
    assert metadata.summary_description == "buckets"
    assert metadata.plugin_data.plugin_name == "histograms"
    (event,) = accumulator.Tensors("dense/kernel/weights")
    assert event.step == 4
    np.testing.assert_array_equal(tf.make_ndarray(event.tensor_proto), [[-1, 0.5, 7], [0.5, 2, 9]])
    for tag, value in {"a/x": 1.5, "a/y": -2.0, "b/z": 3.25}.items():
        written_steps, written = _scalar_series(accumulator, tag)
        assert written_steps == [6]
        np.testing.assert_array_equal(written, [value])  # exact in float32
        assert accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    layout = layout_pb2.Layout()
    (config,) = accumulator.Tensors("custom_scalars__config__")
    layout.ParseFromString(tf.make_ndarray(config.tensor_proto).item())
    (category,) = layout.category
    assert category.title == "both"
    charts = {chart.title: list(chart.multiline.tag) for chart in category.chart}
    assert charts == {"two regexes": [r"^a/.*$", r"^b/z$"], "one": [r"^a/x$"]}


@pytest.mark.parametrize(
    "log_dir, error", [("", ValueError), (3, TypeError), (b"logs", TypeError), ([], TypeError)]
)
def test_one_log_dir_policy_for_every_writer(log_dir, error):
    """An empty path is a wrong value (ValueError), anything but a path a wrong type
    (TypeError), in every class that takes a log_dir, each message naming the value."""
    from keras_init_lab.callbacks import ActivationStats

    makers = (
        lambda: GradientStats(log_dir=log_dir),
        lambda: ActivationStats(np.zeros((4, 3), "float32"), log_dir=log_dir),
        lambda: SummaryWriters(log_dir),
    )
    for make in makers:
        with pytest.raises(error, match=rf"log_dir={log_dir!r}".replace("[", r"\[")):
            make()


def test_more_records_than_tensorflows_default_queue_wait_for_the_policy(tmp_path, monkeypatch):
    """TensorFlow's writer flushes on its own once its queue holds ``max_queue`` events (10
    by default). A record is one event: 25 records held back by the policy stay in memory."""
    from keras_init_lab import _event_writer

    monkeypatch.setattr(_event_writer, "_clock", lambda: 0.0)  # time stands still
    writers = SummaryWriters(tmp_path)
    for step in range(25):
        writers.write_batch(step, scalars={"a": float(step), "b": -float(step)})
        writers.flush_if_due()  # flushes the first record only
    assert _steps_on_disk(tmp_path / "train") == {"a": [0], "b": [0]}
    writers.close()
    assert _steps_on_disk(tmp_path / "train") == {"a": list(range(25)), "b": list(range(25))}


# ---------------------------------------------------------------------------------------
# Tags that read at a glance: TensorBoard's order, charts of at most ten lines, one step axis
# ---------------------------------------------------------------------------------------


def _number_end(text, start):
    """End of the number starting before ``start`` (naturals, reals, exponents), as
    TensorBoard's ``consumeNumber``."""
    state, index = "natural", start
    while index < len(text):
        char = text[index]
        if state == "natural":
            if char == ".":
                state = "real"
            elif char in "eE":
                state = "sign"
            elif not char.isascii() or not char.isdigit():
                break
        elif state == "real":
            if char in "eE":
                state = "sign"
            elif not char.isascii() or not char.isdigit():
                break
        elif state == "sign":
            if (char.isascii() and char.isdigit()) or char in "+-":
                state = "exponent"
            else:
                break
        elif not char.isascii() or not char.isdigit():
            break
        index += 1
    return index


def _tensorboard_compare(a, b):
    """TensorBoard's ``compareTagNames`` (``tensorboard/webapp/metrics/views/utils.ts``),
    written out here: digit runs compare as numbers, and a digit or ``/`` sorts before any
    other character. The metrics dashboard sorts its cards with it and groups them by the
    part before the first ``/``."""

    def digit(char):
        return "0" <= char <= "9"

    def brk(char):
        return char == "/" or digit(char)

    i = j = 0
    while True:
        if i == len(a):
            return 0 if j == len(b) else -1
        if j == len(b):
            return 1
        if digit(a[i]) and digit(b[j]):
            i0, j0 = i, j
            i, j = _number_end(a, i + 1), _number_end(b, j + 1)
            try:
                x, y = float(a[i0:i]), float(b[j0:j])
            except ValueError:  # JavaScript's Number() gives NaN: neither smaller nor larger
                continue
            if x != y:
                return -1 if x < y else 1
            continue
        if brk(a[i]):
            if not brk(b[j]):
                return -1
        elif brk(b[j]):
            return 1
        elif a[i] != b[j]:
            return -1 if a[i] < b[j] else 1
        i += 1
        j += 1


def _tensorboard_groups(tags):
    """``{group: [tag, ...]}`` in the order the metrics dashboard shows them."""
    import functools

    groups = {}
    for tag in sorted(tags, key=functools.cmp_to_key(_tensorboard_compare)):
        groups.setdefault(tag.split("/", 1)[0], []).append(tag)
    return groups


def test_tensorboard_compare_is_natural_with_breaks_first():
    import functools

    names = ["a/b", "a+/a", "a/a", "dense_10", "dense_2", "dense", "x/details/y", "x/1_y", "x/3_z"]
    ordered = sorted(names, key=functools.cmp_to_key(_tensorboard_compare))
    # TensorBoard's own examples ('a/a' < 'a+/a'; 'a10b' > 'a2b'), and a digit before a letter.
    assert ordered == [
        "a/a",
        "a/b",
        "a+/a",
        "dense",
        "dense_2",
        "dense_10",
        "x/1_y",
        "x/3_z",
        "x/details/y",
    ]


#: The 12-layer model's layers, named so that neither the alphabetical nor the natural order
#: of the names is the forward order: only the layouts can give it.
_DEEP_NAMES = [f"layer_{11 - i}" for i in range(11)] + ["head"]
#: Hidden activations: ReLU (dead fraction), tanh and sigmoid (saturated fraction).
_DEEP_ACTIVATIONS = ["relu"] * 5 + ["tanh"] * 3 + ["sigmoid"] * 3
_DEEP_STEPS_PER_EPOCH = 6


@pytest.fixture(scope="module")
def deep_logs(tmp_path_factory):
    """A 12-Dense-layer model fit 2 epochs of 6 steps with GradientStats and ActivationStats."""
    from keras_init_lab.callbacks import ActivationStats

    log_dir = tmp_path_factory.mktemp("deep")
    keras.utils.set_random_seed(3)
    x, y = _regression_data(3, 16 * _DEEP_STEPS_PER_EPOCH, 8)
    layers = [keras.Input((8,))]
    for name, activation in zip(_DEEP_NAMES, _DEEP_ACTIVATIONS):
        layers.append(keras.layers.Dense(6, activation=activation, name=name))
    layers.append(keras.layers.Dense(1, name=_DEEP_NAMES[-1]))
    model = keras.Sequential(layers, name="deep")
    model.compile(keras.optimizers.SGD(0.01), "mse")
    gradients = GradientStats(every_n_steps=3, histogram_every_n_steps=6, log_dir=log_dir)
    activations = ActivationStats(x[:32], log_dir=log_dir)
    model.fit(
        x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[gradients, activations]
    )
    runs = {run: _accumulator(log_dir / run) for run in ("train", "activations")}
    return runs, gradients.history, activations.history


def _layout_of(accumulator):
    layout = layout_pb2.Layout()
    (event,) = accumulator.Tensors("custom_scalars__config__")
    layout.ParseFromString(tf.make_ndarray(event.tensor_proto).item())
    return layout


def test_first_charts_of_every_layer_sort_first_in_tensorboard(deep_logs):
    """In TensorBoard's order, each layer's group starts with log10 gradient norm, log10
    update ratio and the dead or saturated fraction; every other tag is under details/."""
    runs, gradient_history, _ = deep_logs
    tags = set()
    for accumulator in runs.values():
        tags |= set(accumulator.Tags()["tensors"]) - {"custom_scalars__config__"}
    groups = _tensorboard_groups(tags)
    assert set(groups) == set(_DEEP_NAMES) | {"epoch"}
    assert groups["epoch"] == ["epoch"]
    assert [layer.rsplit("/", 1)[-1] for layer in gradient_history["layers"]] == _DEEP_NAMES
    for index, layer in enumerate(_DEEP_NAMES):
        activation = _DEEP_ACTIVATIONS[index] if index < len(_DEEP_ACTIVATIONS) else None
        first = [f"{layer}/1_gradient_log10_norm", f"{layer}/2_update_ratio_log10"]
        if activation == "relu":
            first.append(f"{layer}/3_dead_fraction")
        elif activation in ("tanh", "sigmoid"):
            first.append(f"{layer}/3_saturated_fraction")
        assert groups[layer][: len(first)] == first, layer
        rest = groups[layer][len(first) :]
        assert rest and all(tag.startswith(f"{layer}/details/") for tag in rest), layer


def _lines(chart, tags):
    """The tags one custom-scalars chart draws for one run (one line each)."""
    import re

    return [tag for tag in tags if any(re.search(p, tag) for p in chart.multiline.tag)]


def test_custom_scalars_charts_hold_at_most_ten_layers_in_forward_order(deep_logs):
    from keras_init_lab.tensorboard_plugin.profiles import layout_layer_order

    runs, _, activation_history = deep_logs
    expected = {
        "train": {
            "1_gradient_log10_norm": _DEEP_NAMES,
            "2_update_ratio_log10": _DEEP_NAMES,
            "details/weight_std": _DEEP_NAMES,
        },
        "activations": {
            "details/activation_std": _DEEP_NAMES[:-1],
            "3_dead_fraction": _DEEP_NAMES[:5],
            "3_saturated_fraction": _DEEP_NAMES[5:-1],
        },
    }
    assert activation_history["layers"] == _DEEP_NAMES[:-1]
    for run, accumulator in runs.items():
        tags = set(accumulator.Tags()["tensors"])
        layout = _layout_of(accumulator)
        assert len(layout.category) == len(expected[run])
        for category, (name, layers) in zip(layout.category, expected[run].items()):
            drawn = []
            for chart in category.chart:
                lines = _lines(chart, tags)
                assert 1 <= len(lines) <= 10, (run, category.title, chart.title, lines)
                assert all(line.endswith("/" + name) for line in lines)
                drawn += [line[: -len(name) - 1] for line in lines]
            # Every layer that has the tag is on a chart, once; 12 layers are 6 + 6.
            assert sorted(drawn) == sorted(layers), (run, category.title)
            sizes = [len(_lines(chart, tags)) for chart in category.chart]
            assert max(sizes) - min(sizes) <= 1 and sum(sizes) == len(layers)
        # The charts name the layers in forward order, which the plugin reads back.
        assert (
            layout_layer_order(layout.SerializeToString())
            == expected[run][next(iter(expected[run]))]
        )


def test_deep_layouts_add_a_chart_across_the_depth():
    from keras_init_lab._tags import per_layer_layout

    layers = [f"d{i}" for i in range(31)]
    (charts,) = per_layer_layout([("norms", "x")], layers).values()
    titles = list(charts)
    assert titles[:4] == [
        "layers 1-8 of 31: d0 ... d7",
        "layers 9-16 of 31: d8 ... d15",
        "layers 17-24 of 31: d16 ... d23",
        "layers 25-31 of 31: d24 ... d30",
    ]
    import re

    (last,) = charts[titles[-1]]
    sampled = [layer for layer in layers if re.search(last, f"{layer}/x")]
    assert len(sampled) == 10 and sampled[0] == "d0" and sampled[-1] == "d30"
    assert titles[-1].startswith("across the depth: layers 1, 4, 8,")
    # Up to 20 layers: two charts, no sampled one (it would repeat nearly every layer).
    assert len(per_layer_layout([("n", "x")], layers[:20])["n"]) == 2


def test_activation_statistics_are_on_the_training_step_axis(deep_logs):
    """ActivationStats writes at the global step, the step GradientStats numbers its records
    with: the record after epoch e is at step e * steps_per_epoch, and an ``epoch`` scalar
    says which epoch a step belongs to."""
    runs, gradient_history, activation_history = deep_logs
    steps = [e * _DEEP_STEPS_PER_EPOCH for e in (0, 1, 2)]
    assert activation_history["step"].tolist() == steps
    assert activation_history["epoch"].tolist() == [0, 1, 2]
    # GradientStats recorded every 3 steps: the epoch boundaries are among its steps.
    assert gradient_history["step"].tolist() == [0, 3, 6, 9]
    assert set(steps[:2]) <= set(gradient_history["step"].tolist())
    activations = runs["activations"]
    for tag in set(activations.Tags()["tensors"]) - {"custom_scalars__config__"}:
        assert [e.step for e in activations.Tensors(tag)] == steps, tag
    written_steps, epochs = _scalar_series(activations, "epoch")
    assert written_steps == steps and epochs.tolist() == [0.0, 1.0, 2.0]
    # A value read back at its step is the history's record of that step.
    index = _DEEP_NAMES.index("layer_5")  # the 7th layer, tanh
    written_steps, std = _scalar_series(activations, "layer_5/details/activation_std")
    np.testing.assert_allclose(std, activation_history["per_layer"]["std"][:, index], rtol=1e-6)


def test_compare_run_names_put_one_activations_runs_side_by_side():
    """compare's default grid (4 initializers x 4 activations, the activation varying
    fastest): in TensorBoard's run order He + ReLU sits beside Xavier + ReLU, and every
    activation's runs are consecutive, in grid order."""
    import functools

    from keras_init_lab._tags import run_name
    from keras_init_lab.experiments.grid import GridAxes, SweepSettings
    from keras_init_lab.experiments.settings import DEFAULT_ACTIVATIONS, DEFAULT_INITIALIZERS

    defaults = {"initializers": DEFAULT_INITIALIZERS, "activations": DEFAULT_ACTIVATIONS}
    axes = GridAxes.from_arguments({**defaults, "depth": 4}, depths=[4, 8])
    sweep = SweepSettings(dataset="spirals", model="mlp", width=8, epochs=2, target_accuracy=0.8)
    points = axes.points(sweep)
    names = {run_name(point): point for point in points}
    assert len(names) == len(points) == 32  # one folder per run
    order = sorted(names, key=functools.cmp_to_key(_tensorboard_compare))
    activations = [names[name].activation for name in order]
    for activation in DEFAULT_ACTIVATIONS:  # consecutive
        first = activations.index(activation)
        assert activations[first : first + 8] == [activation] * 8, activation
    depth4 = [name for name in order if names[name].depth == 4 and names[name].activation == "relu"]
    inits = [names[name].initializer for name in depth4]
    assert abs(inits.index("he_normal") - inits.index("glorot_uniform")) == 1
    indices = [names[name].index for name in order if names[name].activation == "relu"]
    assert indices == sorted(indices)  # grid order within an activation
    point = next(p for p in points if p.index == 15)
    assert (point.initializer, point.activation, point.depth) == ("he_normal", "relu", 4)
    assert run_name(point) == "relu_15_he_normal_depth-4"


def test_tiny_weights_are_histogrammed_in_a_unit_that_reads(tmp_path):
    """A zero bias trained with a tiny step (its histogram is taken after the step's update,
    so already at step 0 it spans about 1e-5): in units of 10^k under ``weights_in_1e<k>``,
    the axis reading 1-9 instead of 0.0000x; the unit, chosen once, is kept as it grows."""
    x, y = _regression_data(2, 32, 4)
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="out")], name="net")
    model.compile(keras.optimizers.SGD(1e-5), "mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1, log_dir=tmp_path)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    accumulator = _accumulator(tmp_path / "train")
    tags = set(accumulator.Tags()["tensors"])
    bias_tags = [t for t in tags if t.startswith("out/details/bias/weights")]
    assert len(bias_tags) == 1, tags
    (tag,) = bias_tags
    exponent = int(tag.rsplit("_in_1e", 1)[1])
    assert exponent <= -3  # |b| after a few SGD(1e-5) steps
    events = accumulator.Tensors(tag)
    assert [e.step for e in events] == [0, 1, 2, 3]
    first, last = (tf.make_ndarray(events[i].tensor_proto) for i in (0, -1))
    assert 1.0 <= np.abs(first[:, :2]).max() < 10.0  # the first record sets the unit
    low, high = stats.last_histograms["weight_range"][:, 1]  # variables: kernel, bias
    # Edges in units of 10^exponent, from the float32 range: a linspace and a division,
    # two float32 roundings at most.
    eps = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(
        last[[0, -1], [0, 1]], np.array([low, high], np.float64) / 10.0**exponent, rtol=2 * eps
    )
    assert np.abs(last[:, :2]).max() > np.abs(first[:, :2]).max()  # grew, same unit
    assert last[:, 2].sum() == 1  # one bias value
    description = accumulator.SummaryMetadata(tag).summary_description
    assert f"units of 1e{exponent:03d}" in description and f"_in_1e{exponent}" in description
    # The kernel, of ordinary size, keeps its plain tag and its own units.
    assert "out/details/kernel/weights" in tags
    assert not any(t.startswith("out/details/kernel/weights_in") for t in tags)


def test_a_unit_chosen_after_zero_records_is_described(tmp_path):
    """A bias that stays exactly 0 for a first fit (learning rate 0) is written under the
    plain tag, unit 1; once it moves (a tiny learning rate), its unit is chosen and the new
    ``_in_1e<k>`` tag's description says that unit (descriptions are kept per variable and
    unit, not per variable)."""
    x, y = _regression_data(3, 16, 4)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="out")], name="net")
    model.compile(keras.optimizers.SGD(0.0), "mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1, log_dir=tmp_path)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    model.optimizer.learning_rate.assign(1e-5)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    stats.flush()
    accumulator = _accumulator(tmp_path / "train")
    tags = {t for t in accumulator.Tags()["tensors"] if t.startswith("out/details/bias/weights")}
    assert "out/details/bias/weights" in tags and len(tags) == 2, tags
    (scaled,) = tags - {"out/details/bias/weights"}
    exponent = int(scaled.rsplit("_in_1e", 1)[1])
    assert [e.step for e in accumulator.Tensors("out/details/bias/weights")] == [0, 1]
    assert [e.step for e in accumulator.Tensors(scaled)] == [2, 3]
    plain = accumulator.SummaryMetadata("out/details/bias/weights").summary_description
    described = accumulator.SummaryMetadata(scaled).summary_description
    assert "units of" not in plain
    assert f"units of 1e{exponent:03d}" in described and f"_in_1e{exponent}" in described


def test_histogram_units_are_chosen_once_per_tag():
    from keras_init_lab._tags import HISTOGRAM_UNIT_BELOW, HistogramUnits

    units = HistogramUnits()
    assert units.scale("a", 0.0, 0.0) == ("a", 1.0)  # no spread yet: undecided
    assert units.scale("a", -3.2e-6, 1e-6) == ("a_in_1e-6", 1e-6)
    assert units.scale("a", -0.5, 0.5) == ("a_in_1e-6", 1e-6)  # kept
    # At the threshold the plain unit; just below it, 10^-3.
    assert units.scale("b", 0.0, HISTOGRAM_UNIT_BELOW) == ("b", 1.0)
    assert units.scale("c", -np.nextafter(HISTOGRAM_UNIT_BELOW, 0), 0.0) == ("c_in_1e-3", 1e-3)
    assert units.scale("d", 0.0, 0.0) == ("d", 1.0) and units.scale("d", 0.0, 2.0) == ("d", 1.0)


def test_tiny_activations_are_histogrammed_in_a_unit_that_reads(tmp_path):
    """A ReLU layer with weights of std 1e-4 on unit inputs: activations of order 1e-4, so
    the histogram is in units of 1e-4 (or 1e-5 for a smaller largest value)."""
    from keras_init_lab.callbacks import ActivationStats

    keras.utils.set_random_seed(4)
    dense = keras.layers.Dense(
        16,
        activation="relu",
        name="tiny",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1e-4, seed=4),
    )
    model = keras.Sequential([keras.Input((8,)), dense, keras.layers.Dense(1)])
    x = np.random.default_rng(4).normal(size=(64, 8)).astype("float32")
    stats = ActivationStats(x, log_dir=tmp_path)
    stats.set_model(model)
    stats.record(0)
    stats.on_train_end()
    accumulator = _accumulator(tmp_path / "activations")
    tags = [t for t in accumulator.Tags()["tensors"] if t.startswith("tiny/details/activation_v")]
    (tag,) = tags
    exponent = int(tag.rsplit("_in_1e", 1)[1])
    (event,) = accumulator.Tensors(tag)
    table = tf.make_ndarray(event.tensor_proto)
    largest = np.abs(table[:, :2]).max()
    assert 1.0 <= largest < 10.0 and exponent in (-5, -4, -3)
    assert table[:, 2].sum() == 64 * 16  # every value counted, units change no count
    assert f"units of 1e{exponent:03d}" in accumulator.SummaryMetadata(tag).summary_description
