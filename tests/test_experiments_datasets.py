"""Tests for experiments.datasets.

What they show: generated datasets are seeded, balanced and correctly shaped; digits come
from scikit-learn's bundled file shaped for Conv2D; a user ``.npz`` round-trips exactly; every
kind of bad file (missing keys, wrong shapes, NaN features, labels out of range, pickled
objects, not a zip) gives a ValueError naming the problem; an offline Keras download names the
local ``.npz`` alternative; scaling uses training statistics only.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_init_lab.experiments import datasets  # noqa: E402


def test_spirals_and_xor_are_seeded_balanced_and_shaped():
    a, b, c = (datasets.make_spirals(seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.shape == (800, 2) and a.x_test.shape == (200, 2)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert np.bincount(np.concatenate([a.y_train, a.y_test])).tolist() == [500, 500]
    three = datasets.make_spirals(n_samples=300, n_classes=3, seed=0)
    assert three.num_classes == 3 and set(three.y_train) == {0, 1, 2}
    xor = datasets.make_xor(seed=0)
    clean = np.sign(xor.x_train[:, 0] * xor.x_train[:, 1]) < 0
    # Labels follow the XOR rule except near the axes, where the noise (std 0.1) flips signs.
    assert np.mean(clean == xor.y_train.astype(bool)) > 0.85
    assert 0.4 < xor.chance_accuracy < 0.6


def test_digits_come_from_the_installed_package_shaped_for_conv2d():
    data = datasets.load_dataset("digits", seed=0)
    assert data.x_train.shape[1:] == (8, 8, 1) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_test) == 1797
    assert data.x_train.min() == 0 and data.x_train.max() == 16


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = dict(
        x_train=rng.normal(size=(40, 5)).astype(np.float32),
        y_train=rng.integers(0, 3, 40),
        x_test=rng.normal(size=(10, 5)),
        y_test=rng.integers(0, 3, 10),
    )
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    data = datasets.load_dataset(str(path))
    assert data.name == "mine" and data.num_classes == 3
    for key in arrays:
        np.testing.assert_array_equal(
            getattr(data, key), arrays[key].astype(getattr(data, key).dtype)
        )
    # Without a test split, 20% of the training samples are held out, none lost.
    np.savez(tmp_path / "train_only.npz", x_train=arrays["x_train"], y_train=arrays["y_train"])
    split = datasets.load_npz(tmp_path / "train_only.npz")
    assert (len(split.x_train), len(split.x_test)) == (32, 8)
    np.testing.assert_array_equal(
        np.sort(np.concatenate([split.x_train, split.x_test]), axis=0),
        np.sort(arrays["x_train"], axis=0),
    )


def _write(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


BAD_FILES = [
    (dict(x_train=np.zeros((4, 2))), r"lacks the key\(s\) \['y_train'\]"),
    (dict(x_train=np.zeros((4, 2)), y_train=np.zeros(3, int)), "differ in length: 4 samples vs 3"),
    (dict(x_train=np.zeros(4), y_train=np.zeros(4, int)), r"shape \(n_samples, features...\)"),
    (dict(x_train=np.zeros((4, 2)), y_train=np.eye(4, dtype=int)), "1-D integer class labels"),
    (
        dict(x_train=np.array([[0.0, np.nan]] * 4), y_train=np.arange(4) % 2),
        r"4 NaN/inf value\(s\), the first at index \(0, 1\)",
    ),
    (
        dict(x_train=np.zeros((4, 2)), y_train=np.array([0, 1, -1, 1])),
        r"labels outside \[0, 1\]: \[-1\]",
    ),
    (
        dict(
            x_train=np.zeros((6, 2)),
            y_train=np.array([0, 1, 0, 1, 0, 1]),
            x_test=np.zeros((2, 2)),
            y_test=np.array([0, 5]),
        ),
        r"y_test .* labels outside \[0, 1\]: \[5\]",
    ),
    (
        dict(x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 3]), num_classes=np.array(3)),
        r"labels outside \[0, 2\]: \[3\]",
    ),
    (
        dict(x_train=np.zeros((4, 2)), y_train=np.array([0.0, 1.5, 0.0, 1.0])),
        "integer class labels",
    ),
    (
        dict(
            x_train=np.zeros((4, 2)),
            y_train=np.arange(4) % 2,
            x_test=np.zeros((2, 3)),
            y_test=np.array([0, 1]),
        ),
        r"sample shape \(3,\), x_train has \(2,\)",
    ),
    (
        dict(x_train=np.zeros((4, 2)), y_train=np.arange(4) % 2, x_test=np.zeros((2, 2))),
        "only one of x_test / y_test",
    ),
]


def test_bad_files_are_refused_with_a_clear_message(tmp_path):
    for arrays, fragment in BAD_FILES:
        with pytest.raises(ValueError, match=fragment):
            datasets.load_npz(_write(tmp_path, **arrays))


def test_pickled_objects_and_non_npz_files_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([{"a": 1}] * 4, dtype=object), y_train=np.zeros(4, int))
    with pytest.raises(ValueError, match="pickled Python objects"):
        datasets.load_npz(path)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        datasets.load_npz(text)
    with pytest.raises(ValueError, match="does not exist"):
        datasets.load_npz(tmp_path / "missing.npz")


def test_offline_keras_download_names_the_local_file_alternative(monkeypatch):
    import keras

    def offline():
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/...: "
            "[Errno -2] Name or service not known"
        )

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(datasets.DatasetUnavailableError, match=r"fashion_mnist\.npz") as info:
        datasets.load_dataset("fashion_mnist")
    assert "x_train=..., y_train=..." in str(info.value) and "offline" in str(info.value)


def test_keras_loader_adds_a_channel_axis(monkeypatch):
    import keras

    fake = (
        (np.zeros((6, 28, 28), np.uint8), np.arange(6) % 10),
        (np.zeros((2, 28, 28), np.uint8), np.array([1, 9])),
    )
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: fake)
    data = datasets.load_dataset("mnist")
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10


def test_unknown_name_lists_the_closest():
    with pytest.raises(ValueError, match="Did you mean: 'spirals'"):
        datasets.load_dataset("spiral")


def test_scaling_uses_training_statistics_only():
    data = datasets.make_xor(seed=0)
    data.x_train[:, 1] *= 100.0  # very different ranges, as in lecture 004's example
    std = datasets.scale_inputs(data, "standardize")
    np.testing.assert_allclose(std.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(std.x_train.std(axis=0), 1, rtol=1e-4)
    mean, sd = data.x_train.mean(axis=0), data.x_train.std(axis=0)
    np.testing.assert_allclose(std.x_test, (data.x_test - mean) / sd, rtol=1e-4, atol=1e-5)
    mm = datasets.scale_inputs(data, "minmax")
    assert mm.x_train.min() == 0 and mm.x_train.max() == pytest.approx(1)
    assert datasets.scale_inputs(data, "none") is data
    images = datasets.load_digits()
    per_channel = datasets.scale_inputs(images, "standardize")
    assert per_channel.x_train.mean() == pytest.approx(0, abs=1e-4)
    with pytest.raises(ValueError, match="Did you mean: 'minmax'"):
        datasets.scale_inputs(data, "min-max")


def test_generator_arguments_are_checked():
    for kwargs, fragment in [
        (dict(n_samples=5), "n_samples must be an integer >= 20"),
        (dict(n_classes=1), "n_classes must be an integer >= 2"),
        (dict(noise=-1.0), "noise must be a finite number >= 0"),
        (dict(turns=0), "turns=0"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            datasets.make_spirals(**kwargs)
