"""Datasets for the experiments: embedded and offline by default, user files checked.

``spirals`` and ``xor`` are generated from a seed, ``digits`` is scikit-learn's bundled copy
of the UCI 8x8 handwritten digits (it ships inside the installed package, no download), and
``mnist``, ``fashion_mnist`` and ``cifar10`` go through Keras's loaders, which download once
into ``~/.keras/datasets``. Any ``.npz`` file with ``x_train``, ``y_train`` (and optionally
``x_test``, ``y_test``) works too; it is read with ``allow_pickle=False`` (no code runs) and
validated before a model sees it.

Example:
    >>> data = load_dataset("spirals", seed=0)
    >>> data.x_train.shape, data.num_classes
    ((800, 2), 2)
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from keras_init_lab._names import unknown_name_error

__all__ = [
    "DIGITS_PIXEL_MAX",
    "EMBEDDED_DATASETS",
    "KERAS_DATASETS",
    "SCALINGS",
    "TEST_FRACTION",
    "Dataset",
    "DatasetUnavailableError",
    "dataset_names",
    "load_dataset",
    "load_digits",
    "load_keras_dataset",
    "load_npz",
    "make_spirals",
    "make_xor",
    "scale_inputs",
]

#: Generated datasets keep 20% of the samples for testing (a common default, e.g.
#: scikit-learn's ``train_test_split`` uses 25%; 20% leaves 800 of 1000 for training).
TEST_FRACTION = 0.2

#: Datasets Keras downloads on first use, with the name of its loader module.
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
#: Datasets that need no network and no file.
EMBEDDED_DATASETS = ("spirals", "xor", "digits")
#: Input scalings of lecture 004 (other network specifications);
#: ``none`` keeps the raw values, ``pixel`` divides by the dataset's declared largest pixel
#: value (the lecture's ``x / 255`` for 8-bit images).
SCALINGS = ("none", "standardize", "minmax", "pixel")
#: Largest pixel value of scikit-learn's digits: 16 (the UCI data counts set pixels in 4x4
#: blocks of a 32x32 bitmap, so each value is an integer 0..16; scikit-learn's
#: ``load_digits`` documentation).
DIGITS_PIXEL_MAX = 16.0


class DatasetUnavailableError(ValueError):
    """A downloadable dataset could not be fetched (offline); the message names the fix."""


@dataclasses.dataclass
class Dataset:
    """A classification dataset split into train and test arrays.

    Attributes:
        name: short name (``"spirals"``, ``"digits"``, or the file name of a user ``.npz``).
        x_train, y_train, x_test, y_test: features (float32) and integer labels (int64).
        num_classes: number of classes; labels lie in ``[0, num_classes)``.
        description: one line for reports.
        pixel_max: the largest value a pixel can take (255 for 8-bit images, 16 for
            ``digits``), used by the ``pixel`` scaling; ``None`` for data that are not pixels.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    description: str = ""
    pixel_max: float | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample (no batch axis)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def chance_accuracy(self) -> float:
        """Test accuracy of always predicting the most frequent training class."""
        majority = np.bincount(self.y_train, minlength=self.num_classes).argmax()
        return float(np.mean(self.y_test == majority))

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """Return the first ``n_train`` / ``n_test`` samples (``None`` keeps all)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )


def _split(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, test_fraction: float):
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def make_spirals(
    n_samples: int = 1000,
    n_classes: int = 2,
    turns: float = 1.5,
    noise: float = 0.08,
    seed: int = 0,
) -> Dataset:
    """Interleaved 2-D spirals, one arm per class: a classic problem no linear model solves.

    Arm ``c`` is ``r (cos(t + 2 pi c / C), sin(t + 2 pi c / C))`` with ``r = t / (2 pi turns)``
    for ``t`` uniform in ``[0, 2 pi turns]``, plus Gaussian noise of std ``noise``.

    Example:
        >>> make_spirals(n_samples=100, seed=1).x_train.shape
        (80, 2)

    Args:
        n_samples: total samples (train + test), at least ``10 * n_classes``.
        n_classes: number of arms (classes), at least 2.
        turns: how many turns each arm makes; more turns need a deeper or wider model.
        noise: standard deviation of the added Gaussian noise (radius 1 is the outer end).
        seed: seed of the NumPy generator; the same seed gives the same arrays.

    Returns:
        A ``Dataset`` with ``x`` of shape ``(n, 2)`` in about ``[-1, 1]``.
    """
    _check_generated(n_samples, n_classes, noise)
    if not turns > 0:
        raise ValueError(f"turns must be positive; received turns={turns!r}.")
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    t = rng.uniform(0.0, 2.0 * np.pi * turns, size=n_samples)
    # sqrt spreads the samples evenly along the arm's length instead of crowding the centre.
    t = 2.0 * np.pi * turns * np.sqrt(t / (2.0 * np.pi * turns))
    radius = t / (2.0 * np.pi * turns)
    angle = t + 2.0 * np.pi * labels / n_classes
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x += rng.normal(0.0, noise, size=x.shape)
    split = _split(x.astype(np.float32), labels.astype(np.int64), rng, TEST_FRACTION)
    return Dataset(
        "spirals",
        *split,
        num_classes=n_classes,
        description=f"{n_classes} interleaved 2-D spirals, {turns} turns, "
        f"noise {noise}, {n_samples} samples (seed {seed})",
    )


def make_xor(n_samples: int = 1000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """The XOR problem in 2-D: class 1 where ``x1 * x2 < 0``, not linearly separable.

    Points are uniform in ``[-1, 1]^2``; labels come from the noiseless points, then Gaussian
    noise of std ``noise`` is added to the features.

    Example:
        >>> make_xor(n_samples=50, seed=3).num_classes
        2

    Args:
        n_samples: total samples (train + test), at least 20.
        noise: standard deviation of the feature noise.
        seed: seed of the NumPy generator.

    Returns:
        A ``Dataset`` with ``x`` of shape ``(n, 2)``.
    """
    _check_generated(n_samples, 2, noise)
    rng = np.random.default_rng(seed)
    clean = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    labels = (clean[:, 0] * clean[:, 1] < 0).astype(np.int64)
    x = clean + rng.normal(0.0, noise, size=clean.shape)
    split = _split(x.astype(np.float32), labels, rng, TEST_FRACTION)
    return Dataset(
        "xor",
        *split,
        num_classes=2,
        description=f"2-D XOR, noise {noise}, {n_samples} samples (seed {seed})",
    )


def _check_generated(n_samples: int, n_classes: int, noise: float) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2; received n_classes={n_classes!r}.")
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, (int, np.integer))
        or n_samples < 10 * n_classes
    ):
        raise ValueError(
            f"n_samples must be an integer >= {10 * n_classes} (10 per class); "
            f"received n_samples={n_samples!r}."
        )
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0; received noise={noise!r}.")


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits, shaped ``(n, 8, 8, 1)`` for Conv2D.

    1797 images, pixel values are integers 0..16 (kept raw; choose a scaling with
    ``scale_inputs``). Shipped inside scikit-learn (``sklearn/datasets/data/digits.csv.gz``),
    so no download is needed.

    Example:
        >>> load_digits().x_train.shape[1:]
        (8, 8, 1)

    Args:
        seed: seed of the train/test shuffle.

    Returns:
        A ``Dataset`` with 10 classes.

    Reference:
        Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI ML Repository
        (1998), https://archive.ics.uci.edu/dataset/80
    """
    from sklearn.datasets import load_digits as _sklearn_digits

    bunch = _sklearn_digits()
    x = bunch.images.astype(np.float32)[..., np.newaxis]
    y = bunch.target.astype(np.int64)
    split = _split(x, y, np.random.default_rng(seed), TEST_FRACTION)
    return Dataset(
        "digits",
        *split,
        num_classes=10,
        description="8x8 handwritten digits from scikit-learn (1797 images, pixels 0..16)",
        pixel_max=DIGITS_PIXEL_MAX,
    )


def load_keras_dataset(name: str) -> Dataset:
    """Load ``mnist``, ``fashion_mnist`` or ``cifar10`` through Keras (downloads once).

    Images get a channel axis (``(n, 28, 28, 1)`` for MNIST); pixel values stay 0..255.

    Example:
        >>> load_keras_dataset("mnist")  # doctest: +SKIP

    Args:
        name: one of ``KERAS_DATASETS``.

    Returns:
        A ``Dataset``.

    Raises:
        DatasetUnavailableError: when the download fails (offline); the message says how to
            use a local ``.npz`` file instead.
    """
    if name not in KERAS_DATASETS:
        raise unknown_name_error("Keras dataset", name, KERAS_DATASETS)
    import keras

    from keras_init_lab.lessons.scaling import PIXEL_MAX

    loader = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # Keras raises a bare Exception on URL failures.
        raise DatasetUnavailableError(
            f"Could not load {name!r} through keras.datasets.{name}.load_data() (offline?): "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}. "
            f"Use a local file instead: save the arrays with numpy.savez('{name}.npz', "
            f"x_train=..., y_train=..., x_test=..., y_test=...) and pass the path "
            f"('--dataset {name}.npz'), or copy Keras's own file to "
            f"~/.keras/datasets/ on a machine that is online."
        ) from error
    x_train, x_test = (a.astype(np.float32) for a in (x_train, x_test))
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., np.newaxis], x_test[..., np.newaxis]
    y_train, y_test = (np.asarray(a).reshape(-1).astype(np.int64) for a in (y_train, y_test))
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(
        name,
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes,
        description=f"{name} via keras.datasets (pixels 0..255)",
        pixel_max=PIXEL_MAX,
    )


def load_npz(path: str | os.PathLike, seed: int = 0) -> Dataset:
    """Load and validate a user ``.npz`` file: ``x_train``, ``y_train`` [, ``x_test``, ``y_test``].

    The file is read with ``allow_pickle=False``, so an object array (which would run code
    when unpickled) is refused. Labels are integers ``0..K-1``; an optional scalar key
    ``num_classes`` fixes ``K``, otherwise ``K = max(y_train) + 1``. Without a test split,
    ``TEST_FRACTION`` of the training samples are held out (shuffled with ``seed``).

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "toy.npz")
        >>> np.savez(path, x_train=np.random.rand(50, 3), y_train=np.arange(50) % 2)
        >>> load_npz(path).num_classes
        2

    Args:
        path: path to the ``.npz`` file.
        seed: seed of the held-out split when the file has no test arrays.

    Returns:
        A ``Dataset`` (features float32, labels int64).

    Raises:
        ValueError: missing file or keys, pickled objects, mismatched lengths or feature
            shapes, NaN/inf features, non-integer or out-of-range labels; the message names the
            key and the bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"Dataset file {str(path)!r} does not exist. Pass an existing .npz file "
            f"or a dataset name ({', '.join(EMBEDDED_DATASETS + KERAS_DATASETS)})."
        )
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive (numpy.savez)
        raise ValueError(
            f"{str(path)!r} is not a readable .npz file (not a zip archive, "
            f"starts with {magic!r}). Write it with numpy.savez(path, "
            f"x_train=..., y_train=...)."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:
        raise ValueError(
            f"{str(path)!r} holds pickled Python objects, which are refused for "
            f"safety (allow_pickle=False): {error}. Save plain numeric arrays "
            f"with numpy.savez."
        ) from error
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:  # truncated/corrupt
        raise ValueError(f"{str(path)!r} is not a readable .npz file: {error}") from error
    return _validate_arrays(arrays, name=path.stem, source=str(path), seed=seed)


def _validate_arrays(arrays: dict, name: str, source: str, seed: int) -> Dataset:
    missing = [key for key in ("x_train", "y_train") if key not in arrays]
    if missing:
        raise ValueError(
            f"{source!r} lacks the key(s) {missing}; found {sorted(arrays)}. "
            f"Needed: x_train, y_train (optional: x_test, y_test, num_classes)."
        )
    has_test = [key in arrays for key in ("x_test", "y_test")]
    if any(has_test) and not all(has_test):
        raise ValueError(
            f"{source!r} has only one of x_test / y_test; give both or neither "
            f"(found {sorted(arrays)})."
        )
    splits = ["train", "test"] if all(has_test) else ["train"]
    x, y = {}, {}
    for split in splits:
        xs, ys = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if xs.dtype.kind not in "biuf":
            raise ValueError(f"x_{split} in {source!r} must be numeric; received dtype {xs.dtype}.")
        if xs.ndim < 2 or xs.shape[0] == 0:
            raise ValueError(
                f"x_{split} in {source!r} must have shape (n_samples, features...) "
                f"with n_samples > 0; received shape {xs.shape}."
            )
        if ys.ndim == 2 and ys.shape[1] == 1:
            ys = ys[:, 0]
        if ys.ndim != 1:
            raise ValueError(
                f"y_{split} in {source!r} must be 1-D integer class labels (not "
                f"one-hot); received shape {ys.shape}."
            )
        if len(ys) != len(xs):
            raise ValueError(
                f"x_{split} and y_{split} in {source!r} differ in length: "
                f"{len(xs)} samples vs {len(ys)} labels."
            )
        xs = xs.astype(np.float32)
        bad = ~np.isfinite(xs)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"x_{split} in {source!r} has {int(bad.sum())} NaN/inf value(s), "
                f"the first at index {first}; clean or impute them first."
            )
        if ys.dtype.kind == "f":
            if not np.all(np.isfinite(ys)) or np.any(ys != np.round(ys)):
                raise ValueError(
                    f"y_{split} in {source!r} must hold integer class labels; "
                    f"received non-integer values such as "
                    f"{ys[~np.isfinite(ys) | (ys != np.round(ys))][:3].tolist()}."
                )
        elif ys.dtype.kind not in "biu":
            raise ValueError(
                f"y_{split} in {source!r} must hold integer class labels; "
                f"received dtype {ys.dtype}."
            )
        x[split], y[split] = xs, ys.astype(np.int64)
    if "test" in x and x["test"].shape[1:] != x["train"].shape[1:]:
        raise ValueError(
            f"x_test in {source!r} has sample shape {x['test'].shape[1:]}, "
            f"x_train has {x['train'].shape[1:]}; they must match."
        )
    if "num_classes" in arrays:
        num_classes = arrays["num_classes"]
        if num_classes.ndim != 0 or num_classes.dtype.kind not in "iu" or int(num_classes) < 2:
            raise ValueError(
                f"num_classes in {source!r} must be an integer scalar >= 2; "
                f"received {num_classes!r}."
            )
        num_classes = int(num_classes)
    else:
        num_classes = max(int(y["train"].max()) + 1, 2)
    for split in splits:
        out = (y[split] < 0) | (y[split] >= num_classes)
        if out.any():
            raise ValueError(
                f"y_{split} in {source!r} has labels outside [0, {num_classes - 1}]: "
                f"{np.unique(y[split][out])[:5].tolist()} (num_classes="
                f"{num_classes}). Labels must be 0..num_classes-1."
            )
    if "test" not in x:
        x["train"], y["train"], x["test"], y["test"] = _split(
            x["train"], y["train"], np.random.default_rng(seed), TEST_FRACTION
        )
        if len(x["test"]) == 0 or len(x["train"]) == 0:
            raise ValueError(
                f"{source!r} has too few samples ({len(arrays['x_train'])}) to hold "
                f"out a test split; give at least 5 or add x_test / y_test."
            )
    return Dataset(
        name,
        x["train"],
        y["train"],
        x["test"],
        y["test"],
        num_classes,
        description=f"user file {source} ({len(x['train'])} train / "
        f"{len(x['test'])} test samples, {num_classes} classes)",
        # 8-bit images (uint8 x_train) declare their largest value, 255, for ``pixel``.
        pixel_max=(float(np.iinfo(np.uint8).max) if arrays["x_train"].dtype == np.uint8 else None),
    )


def load_dataset(name_or_path: str | os.PathLike, seed: int = 0) -> Dataset:
    """Load a dataset by name (``spirals``, ``xor``, ``digits``, ``mnist``, ...) or ``.npz`` path.

    Example:
        >>> load_dataset("xor", seed=1).input_shape
        (2,)

    Args:
        name_or_path: a name from ``dataset_names()`` or a path ending in ``.npz``.
        seed: seed of generation and of the train/test shuffle.

    Returns:
        A ``Dataset``.

    Raises:
        ValueError: unknown name (with the closest valid names) or a bad file.
        DatasetUnavailableError: a Keras dataset could not be downloaded.
    """
    text = os.fspath(name_or_path)
    if text.lower().endswith(".npz") or os.sep in text:
        return load_npz(text, seed=seed)
    key = text.lower()
    if key == "spirals":
        return make_spirals(seed=seed)
    if key == "xor":
        return make_xor(seed=seed)
    if key == "digits":
        return load_digits(seed=seed)
    if key in KERAS_DATASETS:
        return load_keras_dataset(key)
    raise unknown_name_error("dataset", text, dataset_names())


def dataset_names() -> list[str]:
    """Every dataset name ``load_dataset`` accepts (besides ``.npz`` paths)."""
    return list(EMBEDDED_DATASETS + KERAS_DATASETS)


def scale_inputs(data: Dataset, method: str = "none") -> Dataset:
    """Scale features with statistics of the *training* split only (lecture 004: no leakage).

    ``standardize``: ``x' = (x - mean) / std``; ``minmax``: ``x' = (x - min) / (max - min)``;
    ``pixel``: ``x' = x / pixel_max``, a constant fixed by the data format, not fitted (255 for
    8-bit images such as mnist and cifar10, 16 for digits; lecture 004's ``x / 255``), so
    pixels land in ``[0, 1]``; ``none`` returns ``data`` unchanged. Statistics are per feature
    for flat inputs and per channel (last axis) for images, as lecture 004 advises for RGB. A
    constant feature keeps a divisor of 1 instead of dividing by zero.

    Example:
        >>> scaled = scale_inputs(make_xor(seed=0), "standardize")
        >>> bool(abs(scaled.x_train.mean()) < 1e-6)
        True
        >>> float(scale_inputs(load_digits(), "pixel").x_train.max())
        1.0

    Args:
        data: the dataset.
        method: one of ``SCALINGS``.

    Returns:
        A new ``Dataset`` with scaled ``x_train`` and ``x_test``.

    Raises:
        ValueError: an unknown method (closest names listed), or ``pixel`` on a dataset
            without a declared ``pixel_max`` (generated points, most ``.npz`` files).
    """
    if method not in SCALINGS:
        raise unknown_name_error("input scaling", method, SCALINGS)
    if method == "none":
        return data
    if method == "pixel":
        if data.pixel_max is None:
            raise ValueError(
                f"scaling 'pixel' divides by the dataset's largest pixel value, and "
                f"{data.name!r} declares none (Dataset.pixel_max=None); use it on digits "
                f"(x / 16), mnist, fashion_mnist or cifar10 (x / 255), or choose "
                f"'standardize' or 'minmax'."
            )
        scale = float(data.pixel_max)
        return dataclasses.replace(
            data,
            x_train=(data.x_train / scale).astype(np.float32),
            x_test=(data.x_test / scale).astype(np.float32),
            description=f"{data.description}; inputs: pixel (x / {scale:g})",
        )
    axes = tuple(range(data.x_train.ndim - 1)) if data.x_train.ndim > 2 else (0,)
    x = data.x_train.astype(np.float64)
    if method == "standardize":
        shift, divisor = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
    else:
        shift = x.min(axis=axes, keepdims=True)
        divisor = x.max(axis=axes, keepdims=True) - shift
    divisor = np.where(divisor > 0, divisor, 1.0)

    def apply(values: np.ndarray) -> np.ndarray:
        return ((values - shift) / divisor).astype(np.float32)

    return dataclasses.replace(
        data,
        x_train=apply(data.x_train),
        x_test=apply(data.x_test),
        description=f"{data.description}; inputs: {method}",
    )
