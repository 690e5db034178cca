"""ActivationStats / activation_statistics / plot_activation_stats.

Every number is checked against a slow, obvious NumPy forward pass on the same probe batch;
the diagnostic cases (dead ReLU, saturated tanh, healthy He + ReLU) are built so the right
answer is known in advance.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.util import tensor_util

from keras_init_lab.callbacks.activation_stats import (
    STATISTICS,
    TAG_DESCRIPTIONS,
    ActivationStats,
    activation_statistics,
    tensorboard_tag,
)
from keras_init_lab.plots.activation_stats import plot_activation_stats

# Runs under every KERAS_BACKEND (tests/conftest.py, .ci/run's JAX step).
pytestmark = pytest.mark.backend_agnostic

RNG_SEED = 1234


def _gaussian(n, *shape, seed=RNG_SEED):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


# ---------------------------------------------------------------------------------------
# Slow, obvious NumPy references
# ---------------------------------------------------------------------------------------


def _np_conv2d_valid(x, kernel, bias):
    """Plain-loop 'valid' 2-D convolution, channels_last (what Keras calls conv: correlation)."""
    n, h, w, _ = x.shape
    kh, kw, _, out = kernel.shape
    result = np.zeros((n, h - kh + 1, w - kw + 1, out), dtype=np.float64)
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            patch = x[:, i : i + kh, j : j + kw, :].astype(np.float64)
            result[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return result + bias


def _np_stats(pre, act, family, tanh_thr=0.97, sig_low=0.03, sig_high=0.97):
    """The six statistics written out one by one (units on the last axis)."""
    units = act.reshape(-1, act.shape[-1])
    dead = np.nan
    if family == "relu":
        dead = np.mean([not np.any(units[:, u] > 0) for u in range(units.shape[1])])
    saturation = np.nan
    if family == "tanh":
        saturation = np.mean(np.abs(act) > tanh_thr)
    elif family == "sigmoid":
        saturation = np.mean((act < sig_low) | (act > sig_high))
    return {
        "pre_mean": pre.mean(),
        "pre_std": pre.std(),
        "mean": act.mean(),
        "std": act.std(),
        "dead_fraction": dead,
        "saturation_fraction": saturation,
    }


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------------------
# Shared models (module scope: built once)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_cnn():
    """Conv2D(relu, one dead channel) -> Flatten -> Dense(tanh) -> Dense(sigmoid) -> Dense(relu)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")
    h = conv(inputs)
    # Channel 3 gets a hugely negative bias: dead for every sample and position.
    conv.bias.assign(np.array([0.1, 0.0, -0.1, -100.0], dtype="float32"))
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="tanh", name="tanh_dense")(h)
    h = keras.layers.Dense(5, activation="sigmoid", name="sigmoid_dense")(h)
    outputs = keras.layers.Dense(3, activation="relu", name="relu_dense")(h)
    return keras.Model(inputs, outputs)


def _np_forward(model, x):
    """(pre, act) for each measured layer of ``mixed_cnn``, with NumPy only."""
    conv = model.get_layer("conv")
    pre_conv = _np_conv2d_valid(x, conv.kernel.numpy(), conv.bias.numpy())
    act_conv = np.maximum(pre_conv, 0)
    h = act_conv.reshape(len(x), -1)
    layers = {}
    layers["conv"] = (pre_conv, act_conv, "relu")
    for name, fn, family in (
        ("tanh_dense", np.tanh, "tanh"),
        ("sigmoid_dense", _sigmoid, "sigmoid"),
        ("relu_dense", lambda z: np.maximum(z, 0), "relu"),
    ):
        layer = model.get_layer(name)
        pre = h @ layer.kernel.numpy().astype(np.float64) + layer.bias.numpy()
        h = fn(pre)
        layers[name] = (pre, h, family)
    return layers


# ---------------------------------------------------------------------------------------
# Numbers against NumPy
# ---------------------------------------------------------------------------------------


def test_statistics_equal_numpy_recomputation(mixed_cnn):
    x = _gaussian(64, 6, 6, 2)
    record = activation_statistics(mixed_cnn, x)
    assert record["layers"] == ["conv", "tanh_dense", "sigmoid_dense", "relu_dense"]
    assert record["activations"] == ["relu", "tanh", "sigmoid", "relu"]
    reference = _np_forward(mixed_cnn, x)
    for index, name in enumerate(record["layers"]):
        expected = _np_stats(*reference[name])
        for stat in STATISTICS:
            np.testing.assert_allclose(
                record[stat][index], expected[stat], rtol=2e-5, atol=1e-6, err_msg=f"{name}/{stat}"
            )
    # A conv unit is a channel over all positions and samples: exactly 1 of 4 channels is dead.
    assert record["dead_fraction"][0] == pytest.approx(0.25)


def test_probing_leaves_the_model_unchanged(mixed_cnn):
    x = _gaussian(16, 6, 6, 2, seed=7)
    before = mixed_cnn.predict(x, verbose=0)
    activation_statistics(mixed_cnn, x)
    assert mixed_cnn.get_layer("tanh_dense").activation is keras.activations.tanh
    assert mixed_cnn.get_layer("conv").activation is keras.activations.relu
    np.testing.assert_array_equal(mixed_cnn.predict(x, verbose=0), before)


def test_thresholds_are_used(mixed_cnn):
    x = _gaussian(64, 6, 6, 2)
    loose = activation_statistics(
        mixed_cnn, x, tanh_threshold=0.2, sigmoid_low=0.45, sigmoid_high=0.55
    )
    reference = _np_forward(mixed_cnn, x)
    expected_tanh = _np_stats(*reference["tanh_dense"], tanh_thr=0.2)["saturation_fraction"]
    expected_sig = _np_stats(*reference["sigmoid_dense"], sig_low=0.45, sig_high=0.55)[
        "saturation_fraction"
    ]
    assert loose["saturation_fraction"][1] == pytest.approx(expected_tanh)
    assert loose["saturation_fraction"][2] == pytest.approx(expected_sig)
    assert expected_tanh > 0.3  # the loose threshold really changes the answer


# ---------------------------------------------------------------------------------------
# The diagnostic cases
# ---------------------------------------------------------------------------------------


def _single_dense(activation, **kwargs):
    inputs = keras.Input((32,))
    outputs = keras.layers.Dense(64, activation=activation, **kwargs)(inputs)
    return keras.Model(inputs, outputs)


def test_dead_relu_layer_reads_one():
    model = _single_dense("relu", bias_initializer=keras.initializers.Constant(-100.0))
    record = activation_statistics(model, _gaussian(256, 32))
    assert record["dead_fraction"][0] == 1.0
    assert record["mean"][0] == 0.0 and record["pre_mean"][0] < -50


def test_tanh_with_huge_weights_is_saturated():
    huge = keras.initializers.RandomNormal(stddev=100.0, seed=1)
    model = _single_dense("tanh", kernel_initializer=huge)
    record = activation_statistics(model, _gaussian(256, 32))
    # |z| ~ N(0, 100^2 * 32): P(|z| < atanh(0.97) = 2.09) is about 0.3%.
    assert record["saturation_fraction"][0] > 0.98
    assert math.isnan(record["dead_fraction"][0])


def test_sigmoid_with_huge_weights_is_saturated():
    huge = keras.initializers.RandomNormal(stddev=100.0, seed=2)
    model = _single_dense("sigmoid", kernel_initializer=huge)
    record = activation_statistics(model, _gaussian(256, 32))
    assert record["saturation_fraction"][0] > 0.98


def test_healthy_he_relu_has_few_dead_units():
    model = _single_dense("relu", kernel_initializer="he_normal")
    record = activation_statistics(model, _gaussian(256, 32))
    # z = w.x with symmetric x: a unit is dead with probability 2**-256.
    assert record["dead_fraction"][0] < 0.05
    # He: Var(z) = 2 Var(x) => E[relu(z)^2] = Var(x) = 1 (He et al. 2015, eq. 10).
    second_moment = record["std"][0] ** 2 + record["mean"][0] ** 2
    assert 0.6 < second_moment < 1.6


# ---------------------------------------------------------------------------------------
# Recognition by object
# ---------------------------------------------------------------------------------------


def test_mixed_precision_layers_are_measured_in_float32():
    inputs = keras.Input((12,))
    layer = keras.layers.Dense(16, activation="tanh", dtype="mixed_float16")
    model = keras.Model(inputs, layer(inputs))
    x = _gaussian(128, 12)
    record = activation_statistics(model, x)
    z = x @ layer.kernel.numpy().astype(np.float64) + layer.bias.numpy()
    expected = _np_stats(z, np.tanh(z), "tanh")
    for stat in ("pre_mean", "pre_std", "mean", "std"):
        # float16 has a 2**-11 ~ 5e-4 relative rounding step.
        np.testing.assert_allclose(record[stat][0], expected[stat], rtol=5e-3, atol=2e-3)


# ---------------------------------------------------------------------------------------
# The callback: schedule, fixed probe, history, TensorBoard
# ---------------------------------------------------------------------------------------


def _small_mlp():
    inputs = keras.Input((10,))
    h = keras.layers.Dense(16, activation="relu", name="hidden_relu")(inputs)
    h = keras.layers.Dense(16, activation="tanh", name="hidden_tanh")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    model = keras.Model(inputs, outputs)
    return model


def test_records_at_begin_and_every_n_epochs_across_fits():
    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = _gaussian(128, 10), _gaussian(128, 1, seed=3)
    stats = ActivationStats(x, every_n_epochs=2)
    model.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[stats])
    assert stats.history["epoch"].tolist() == [0, 2, 4]
    probe = stats._probe
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[stats])
    history = stats.history
    # Second fit continues the count: train begin at 5 (epoch 4 was the last record), then 6, 8.
    assert history["epoch"].tolist() == [0, 2, 4, 5, 6, 8]
    assert stats._probe is probe  # feature model and compiled function built once
    assert history["layers"] == ["hidden_relu", "hidden_tanh"]
    assert history["activations"] == ["relu", "tanh"]
    for stat in STATISTICS:
        assert history["per_layer"][stat].shape == (6, 2)
    # The last record is the model's current state on the probe.
    final = activation_statistics(model, x)
    for stat in ("pre_std", "std", "saturation_fraction"):
        np.testing.assert_allclose(history["per_layer"][stat][-1], final[stat], rtol=1e-6)


def test_probe_is_fixed_across_epochs():
    """With a zero learning rate the weights never move, so every record must be identical:
    this only holds if the same samples are probed each time, even from a shuffling dataset."""
    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x, y = _gaussian(600, 10), _gaussian(600, 1, seed=3)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(600, seed=None).batch(50)
    stats = ActivationStats(dataset, max_probe_samples=100)
    assert stats.probe_x.shape == (100, 10)
    model.fit(x, y, epochs=3, batch_size=100, verbose=0, callbacks=[stats])
    table = np.stack([stats.history["per_layer"][s] for s in STATISTICS], axis=-1)
    assert table.shape[0] == 4
    for row in table[1:]:
        np.testing.assert_array_equal(row, table[0])


def test_event_file_tags_and_values(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = _gaussian(96, 10), _gaussian(96, 1, seed=3)
    stats = ActivationStats(x, log_dir=tmp_path)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[stats])
    accumulator = EventAccumulator(str(tmp_path / "activations"), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    for layer in ("hidden_relu", "hidden_tanh"):
        for what in ("mean", "std", "pre_mean", "pre_std", "values"):
            assert f"{layer}/details/activation_{what}" in tags
    assert "hidden_relu/3_dead_fraction" in tags
    assert "hidden_tanh/3_saturated_fraction" in tags
    # NaN statistics (not applicable) are not written.
    assert "hidden_tanh/3_dead_fraction" not in tags
    assert "hidden_relu/3_saturated_fraction" not in tags

    events = accumulator.Tensors("hidden_tanh/details/activation_std")
    # At the global step (3 steps per epoch), the x axis of the gradient statistics.
    assert [e.step for e in events] == [0, 3, 6] == stats.history["step"].tolist()
    written = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]
    np.testing.assert_allclose(written, stats.history["per_layer"]["std"][:, 1], rtol=1e-6)

    last = accumulator.Tensors("hidden_tanh/details/activation_values")[-1]
    histogram = tensor_util.make_ndarray(last.tensor_proto)
    assert histogram.shape == (30, 3)
    assert histogram[:, 2].sum() == 96 * 16  # every activation value counted once
    assert histogram[0, 0] == -1.0 and histogram[-1, 1] == 1.0  # fixed tanh range
    plugin = accumulator.SummaryMetadata(tensorboard_tag("hidden_tanh", "values")).plugin_data
    plugin = plugin.plugin_name
    assert plugin == "histograms"
    assert "custom_scalars__config__" in tags  # the layout grouping the per-layer curves
    assert not stats._writers.runs  # closed at train end
    # Written by the TensorFlow-free writer on every backend (not its tf.summary subclass).
    assert type(stats._writers).__name__ == "EventWriters"


def _read_run(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(path / "activations"), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def test_every_scalar_tag_holds_its_own_statistic(tmp_path):
    """Each ``tensorboard_tag(layer, stat)`` scalar equals that layer's and that statistic's
    history column at every step (a tag fed another statistic or layer fails here)."""
    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = _gaussian(96, 10), _gaussian(96, 1, seed=3)
    stats = ActivationStats(x, log_dir=tmp_path)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[stats])
    accumulator = _read_run(tmp_path)
    history = stats.history
    checked = 0
    for column, layer in enumerate(history["layers"]):
        for stat in STATISTICS:
            expected = history["per_layer"][stat][:, column]
            tag = tensorboard_tag(layer, stat)
            if np.all(np.isnan(expected)):
                continue
            events = accumulator.Tensors(tag)
            assert [e.step for e in events] == history["step"].tolist(), tag
            written = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]
            np.testing.assert_allclose(written, expected, rtol=1e-6, err_msg=tag)
            checked += 1
    assert checked == 2 * 4 + 2  # 4 moments per layer, one dead and one saturation fraction


def test_every_tag_has_a_description_that_survives_a_second_fit(tmp_path):
    """TensorBoard shows a tag's description from its first event: every activation tag
    carries one (with the callback's own thresholds), also after the writers reopen."""
    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = _gaussian(64, 10), _gaussian(64, 1, seed=3)
    stats = ActivationStats(x, log_dir=tmp_path, tanh_threshold=0.9)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[stats])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[stats])
    accumulator = _read_run(tmp_path)
    stat_of = {
        tensorboard_tag(layer, stat): stat
        for layer in ("hidden_relu", "hidden_tanh")
        for stat in (*STATISTICS, "values")
    }
    tags = [t for t in accumulator.Tags()["tensors"] if t in stat_of]
    assert len(tags) == 2 * 5 + 2  # 4 moments + values per layer, dead and saturation
    for tag in tags:
        stat = stat_of[tag]
        description = accumulator.SummaryMetadata(tag).summary_description
        assert description.startswith(TAG_DESCRIPTIONS[stat][:40]), tag
        assert len(accumulator.Tensors(tag)) == 3, tag  # epochs 0, 1, 2
    saturation = accumulator.SummaryMetadata("hidden_tanh/3_saturated_fraction")
    assert "|a| > 0.9 " in saturation.summary_description
    dead = accumulator.SummaryMetadata("hidden_relu/3_dead_fraction")
    # Never blames the initializer's scale for dead ReLUs; names what causes or changes them.
    assert "scale does not change it" in dead.summary_description
    assert "same dead units" in dead.summary_description
    # The one mention of an initializer is that fact, not a blame.
    assert dead.summary_description.count("Glorot") == 1
    assert "He and Glorot on the same draws" in dead.summary_description
    for cause in ("depth", "learning-rate blow-up", "nonzero bias", "BatchNorm", "leaky"):
        assert cause in dead.summary_description, cause
    assert tensorboard_tag("dense", "std") == "dense/details/activation_std"


def test_histogram_counts_the_first_probe_samples_every_record(tmp_path, monkeypatch):
    """The histogram is the bucketing of the first probe samples' activations, identical at
    every record when the weights do not move (the probe is not reordered or resampled)."""
    from keras_init_lab.callbacks import activation_stats as module

    monkeypatch.setattr(module, "HISTOGRAM_MAX_VALUES", 5 * 16)  # 5 samples of 16 units
    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x, y = _gaussian(64, 10), _gaussian(64, 1, seed=3)
    stats = ActivationStats(x, log_dir=tmp_path)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[stats])
    reference = keras.Model(model.inputs, model.get_layer("hidden_tanh").output)
    act = reference.predict(x[:5], verbose=0)
    expected, _ = np.histogram(act, bins=30, range=(-1.0, 1.0))
    events = _read_run(tmp_path).Tensors(tensorboard_tag("hidden_tanh", "values"))
    assert len(events) == 3
    for event in events:
        counts = tensor_util.make_ndarray(event.tensor_proto)[:, 2]
        assert counts.sum() == 5 * 16
        # float32 vs float64 edges may move a value sitting on an edge by one bucket.
        assert np.abs(counts - expected).sum() <= 2


class _ChannelsFirstConvThroughNHWC(keras.layers.Conv2D):
    """A ``data_format="channels_first"`` Conv2D whose convolution runs as NHWC.

    Same outputs as Keras's own channels_first Conv2D (transpose, NHWC convolution, transpose
    back), so the callback sees a channels_first layer on a CPU without an NCHW kernel.
    """

    def convolution_op(self, inputs, kernel):
        nhwc = keras.ops.transpose(inputs, (0, 2, 3, 1))
        out = keras.ops.conv(nhwc, kernel, strides=list(self.strides), padding=self.padding)
        return keras.ops.transpose(out, (0, 3, 1, 2))


def _check_channels_first_unit_axis(conv_class):
    """A channels_first Conv2D(relu) with 1 of 4 channels dead: a unit is axis 1."""
    # Output width 5, not 4 = the channel count: Keras's TensorFlow ops.add reads a bias of
    # shape (1, C, 1, 1) as NHWC when the last axis also has length C (Keras 3.15, eager).
    inputs = keras.Input((2, 6, 7))
    conv = conv_class(4, 3, activation="relu", data_format="channels_first", name="conv")
    model = keras.Model(inputs, conv(inputs))
    conv.bias.assign(np.array([0.1, 0.0, -0.1, -100.0], dtype="float32"))
    x = _gaussian(32, 2, 6, 7)
    record = activation_statistics(model, x)
    # Units on the last axis would count 4 of the 4 output columns alive: 0, not 1/4.
    assert record["dead_fraction"][0] == pytest.approx(0.25)
    pre = _np_conv2d_valid(x.transpose(0, 2, 3, 1), conv.kernel.numpy(), conv.bias.numpy())
    expected = _np_stats(pre, np.maximum(pre, 0), "relu")
    for stat in ("pre_mean", "pre_std", "mean", "std", "dead_fraction"):
        np.testing.assert_allclose(record[stat][0], expected[stat], rtol=2e-5, atol=1e-6)


def test_channels_first_unit_is_the_channel_axis_on_any_cpu():
    """The unit axis of a channels_first layer, without TensorFlow's NCHW convolution kernel."""
    _check_channels_first_unit_axis(_ChannelsFirstConvThroughNHWC)


def test_channels_first_unit_is_the_channel_axis(nchw_convolution):
    """Keras's own channels_first Conv2D, where this TensorFlow build runs NCHW convolution."""
    _check_channels_first_unit_axis(keras.layers.Conv2D)


def test_histogram_of_a_dead_layer_follows_tensorboard(tmp_path):
    """One-value data: TensorBoard's own histogram writes zero-width buckets, count last."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = _single_dense("relu", bias_initializer=keras.initializers.Constant(-100.0))
    stats = ActivationStats(_gaussian(64, 32), log_dir=tmp_path)
    stats.set_model(model)
    stats.record(0)
    stats.on_train_end()
    accumulator = EventAccumulator(str(tmp_path / "activations"), size_guidance={"tensors": 0})
    accumulator.Reload()
    (event,) = accumulator.Tensors(tensorboard_tag(stats.history["layers"][0], "values"))
    table = tensor_util.make_ndarray(event.tensor_proto)
    assert np.all(table[:, :2] == 0.0)  # every edge at the single value, 0
    assert table[-1, 2] == 64 * 64 and table[:-1, 2].sum() == 0


def test_histogram_keeps_whole_samples_up_to_the_cap():
    from keras_init_lab.callbacks.activation_stats import HISTOGRAM_MAX_VALUES, _histogram_slice

    per_sample = HISTOGRAM_MAX_VALUES // 2 + 1  # two samples would exceed the cap
    big = np.zeros([5, per_sample], np.float32)
    assert tuple(_histogram_slice(big).shape) == (1, per_sample)
    small = np.zeros([5, 7, 3], np.float32)
    assert _histogram_slice(small) is small


def test_host_bucket_counts_equal_the_device_bucketing():
    """The NumPy bucketing used off TensorFlow counts exactly as ``uniform_bucket_counts``
    (keras.ops on the backend, eager here): the same float32 formula puts every value in the same
    bucket, values on the edges, +-Inf (first and last bucket) and NaN (dropped) included,
    and a zero-width range puts everything in the last bucket (finite values: there the
    device multiplies Inf by a zero scale). Equal counts, not close: both round the same
    float32 multiply and add."""
    from keras_init_lab.callbacks.activation_stats import _host_bucket_counts
    from keras_init_lab.callbacks.histograms import uniform_bucket_counts

    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            rng.normal(size=5000),
            np.linspace(-1.0, 1.0, 31),  # every edge of 30 buckets on [-1, 1]
            [np.nan, np.inf, -np.inf, 3.0, -3.0],
        ]
    ).astype(np.float32)
    finite = values[np.isfinite(values)]
    cases = [
        (values, -1.0, 1.0),
        (values, 0.0, 1.0),
        (values, finite.min(), finite.max()),
        (np.append(finite, np.float32(np.nan)), 0.5, 0.5),
    ]
    for data, low, high in cases:
        device = keras.ops.convert_to_numpy(uniform_bucket_counts(data, low, high, 30))
        host = _host_bucket_counts(data, low, high, 30)
        np.testing.assert_array_equal(host, device, err_msg=f"[{low}, {high}]")
        assert host.sum() == len(data) - 1  # everything but the NaN
    assert host[-1] == len(finite)  # zero width: all in the last bucket


# ---------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "probe, error, match",
    [
        (np.zeros((0, 4), "float32"), ValueError, "empty"),
        ("not data", TypeError, "probe_data must be"),
        (None, TypeError, "probe_data must be"),
        (object(), TypeError, "probe_data must be"),
        (np.float32(3.0), ValueError, "batch dimension"),
        (np.array(["a", "b"]), TypeError, "numeric"),
        ({"a": np.zeros((3, 1)), "b": np.zeros((4, 1))}, ValueError, "batch dimension"),
        (tf.data.Dataset.from_tensor_slices(np.zeros((0, 4))).batch(2), ValueError, "empty"),
        (tf.data.Dataset.from_tensor_slices(np.zeros(4)), ValueError, "unbatched"),
    ],
)
def test_bad_probe_data(probe, error, match):
    with pytest.raises(error, match=match):
        ActivationStats(probe)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tanh_threshold": 1.0}, ValueError, r"tanh_threshold=1\.0"),
        ({"tanh_threshold": 0}, ValueError, "strictly between 0 and 1"),
        ({"sigmoid_low": -0.1}, ValueError, r"sigmoid_low=-0\.1"),
        ({"sigmoid_high": 1.5}, ValueError, r"sigmoid_high=1\.5"),
        ({"sigmoid_low": 0.8, "sigmoid_high": 0.2}, ValueError, "below sigmoid_high"),
        ({"tanh_threshold": "0.9"}, TypeError, "tanh_threshold='0.9'"),
        ({"every_n_epochs": 0}, ValueError, "every_n_epochs=0"),
        ({"every_n_epochs": 1.5}, TypeError, "every_n_epochs=1.5"),
        ({"max_probe_samples": 0}, ValueError, "max_probe_samples=0"),
        ({"log_dir": 3}, TypeError, "log_dir=3"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ActivationStats(np.zeros((4, 3), "float32"), **kwargs)


def test_activation_statistics_rejects_non_models():
    with pytest.raises(TypeError, match="keras.Model"):
        activation_statistics(keras.layers.Dense(3), np.zeros((2, 3)))


# ---------------------------------------------------------------------------------------
# Plot
# ---------------------------------------------------------------------------------------


def test_plot_activation_stats_writes_png(tmp_path):
    n_records, layers = 4, ["a", "b", "c"]
    per_layer = {stat: np.random.default_rng(0).uniform(size=(n_records, 3)) for stat in STATISTICS}
    per_layer["dead_fraction"][:, 1:] = np.nan
    history = {
        "epoch": np.arange(n_records),
        "layers": layers,
        "activations": ["relu", "tanh", "sigmoid"],
        "per_layer": per_layer,
    }
    path = plot_activation_stats(history, tmp_path / "figs" / "act.png")
    assert path.exists() and path.stat().st_size > 10_000
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_activation_stats_bad_history(tmp_path):
    with pytest.raises(TypeError, match="ActivationStats.history"):
        plot_activation_stats([1, 2], tmp_path / "x.png")
    empty = {"epoch": np.zeros(0), "layers": [], "activations": [], "per_layer": {}}
    with pytest.raises(ValueError, match="no records"):
        plot_activation_stats(empty, tmp_path / "x.png")
    per_layer = {stat: np.zeros((3, 1)) for stat in STATISTICS}
    bad = {"epoch": np.arange(2), "layers": ["a"], "per_layer": per_layer}
    with pytest.raises(ValueError, match="shape"):
        plot_activation_stats(bad, tmp_path / "x.png")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"max_probe_samples": None}, TypeError, "max_probe_samples=None"),
        ({"max_probe_samples": "a"}, TypeError, "max_probe_samples='a'"),
        ({"log_dir": ""}, ValueError, "empty path"),
        ({"log_dir": 3}, TypeError, "log_dir=3"),
    ],
)
def test_bad_constructor_arguments_name_the_value(kwargs, error, message):
    with pytest.raises(error, match=message):
        ActivationStats(np.zeros((4, 3), "float32"), **kwargs)


def test_injected_epoch_schedule_records_exactly_the_scheduled_epochs():
    from keras_init_lab.callbacks import EveryEpochs

    model = _small_mlp()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = _gaussian(64, 10), _gaussian(64, 1, seed=3)
    stats = ActivationStats(x, schedule=EveryEpochs(3))
    model.fit(x, y, epochs=7, batch_size=32, verbose=0, callbacks=[stats])
    assert stats.history["epoch"].tolist() == [0, 3, 6]  # global epochs 3 and 6 end
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[stats])
    # The second fit starts at global epoch 7 (recorded as its start); 8 ends, 9 is due.
    assert stats.history["epoch"].tolist() == [0, 3, 6, 7, 9]
    assert stats.every_n_epochs == 3
    final = activation_statistics(model, x)
    np.testing.assert_allclose(stats.history["per_layer"]["std"][-1], final["std"], rtol=1e-6)
