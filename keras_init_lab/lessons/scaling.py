"""Input scaling: z-score, min-max and /255, fitted on the training split, saved in the model.

Lecture 004 (other network specifications) gives three scalings (z-score
``(x - mu) / sigma``, min-max ``(x - min) / (max - min)``, a constant ``x / 255`` for 8-bit
images) and three rules: fit the scaler on the training split only (``scaler.fit(X_train)``,
then transform the test split with it: anything else leaks test information), scale before
training, and keep the scaler for inference. It also explains why: the first layer's
gradient is ``dL/dW1 = delta1 a0^T`` with ``a0 = x``, so raw inputs in the thousands (or
0..255) give huge first-layer gradients and push ``z1`` into the flat part of tanh/sigmoid.

Keras keeps the scaler *inside* the model, so a saved ``.keras`` file carries it:
``keras.layers.Normalization().adapt(x_train)`` (z-score; min-max as a ``Normalization``
with ``mean=min`` and ``variance=(max - min)^2``) or ``keras.layers.Rescaling(1/255)``.

Reference:
    Lecture 004, other network specifications (input scaling, good
    practices).
    Y. LeCun, L. Bottou, G. B. Orr, K.-R. Mueller, "Efficient BackProp", in Neural Networks:
    Tricks of the Trade, 1998, section 4.3 ("Normalizing the inputs"),
    http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab._arrays import check_array
from keras_init_lab._validation import check_choice, check_int

__all__ = [
    "PIXEL_MAX",
    "SCALINGS",
    "fit_scaler",
    "image_like_data",
    "raw_vs_scaled",
    "saved_model_round_trip",
    "scaler_layer",
    "transform",
]

#: Scalings: "zscore" (x - mean) / std, "minmax" (x - min) / (max - min), "constant" x / 255.
SCALINGS = ("zscore", "minmax", "constant")
#: Largest value of an 8-bit channel: 2^8 - 1 = 255, the constant of lecture 004's ``x / 255``.
PIXEL_MAX = 255.0


def fit_scaler(kind: str, train) -> dict:
    """Fit a scaler's parameters on the training split only (per feature).

    Formula: zscore ``mean``, ``std`` (population, as ``Normalization.adapt``); minmax ``min``,
    ``max``; constant ``scale = 1/255`` (nothing to fit).

    Example:
        >>> fit_scaler("minmax", [[0.0], [4.0]])
        {'kind': 'minmax', 'min': array([0.]), 'max': array([4.])}

    Args:
        kind: one of :data:`SCALINGS`.
        train: ``(samples, features)`` training inputs (unused by ``"constant"``).

    Returns:
        ``{"kind", ...parameters}``.

    Raises:
        TypeError: ``kind`` not a string, ``train`` not numbers.
        ValueError: unknown kind (closest valid names listed), ``train`` not 2-D or not finite.
    """
    check_choice("scaling", kind, SCALINGS, kind="scaling")
    if kind == "constant":
        return {"kind": kind, "scale": 1.0 / PIXEL_MAX}
    train = check_array("train", train, ndim=2)
    if kind == "zscore":
        return {"kind": kind, "mean": train.mean(axis=0), "std": train.std(axis=0)}
    return {"kind": kind, "min": train.min(axis=0), "max": train.max(axis=0)}


def transform(params: dict, x) -> np.ndarray:
    """Apply fitted parameters to any split (train, validation, test or new data).

    Formula: as :func:`fit_scaler`; a constant feature (``std`` or ``max - min`` of 0) is
    divided by 1e-7 like Keras's ``Normalization`` (``max(sqrt(var), epsilon)``).

    Example:
        >>> transform(fit_scaler("constant", [[0.0]]), [[255.0]])
        array([[1.]])

    Args:
        params: what :func:`fit_scaler` returned.
        x: inputs of any split, ``(samples, features)``.

    Returns:
        The scaled inputs, float64.

    Raises:
        TypeError: ``params`` not a dict, ``x`` not numbers.
        ValueError: ``params["kind"]`` unknown (closest valid names listed), ``x`` not finite.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be the dict fit_scaler returns; received params={params!r}.")
    check_choice("params['kind']", params.get("kind"), SCALINGS, kind="scaling")
    x = check_array("x", x)
    eps = keras.config.epsilon()
    if params["kind"] == "zscore":
        return (x - params["mean"]) / np.maximum(params["std"], eps)
    if params["kind"] == "minmax":
        return (x - params["min"]) / np.maximum(params["max"] - params["min"], eps)
    return x * params["scale"]


def scaler_layer(kind: str, train) -> keras.layers.Layer:
    """The Keras layer that applies :func:`fit_scaler`'s scaling inside a model.

    zscore: ``Normalization(axis=-1)`` adapted on ``train``; minmax: ``Normalization`` with
    ``mean = min`` and ``variance = (max - min)^2``; constant: ``Rescaling(1/255)``. All three
    are saved with the model in a ``.keras`` file.

    Example:
        >>> layer = scaler_layer("constant", None)
        >>> float(layer.scale)
        0.00392156862745098

    Args:
        kind: one of :data:`SCALINGS`.
        train: ``(samples, features)`` training inputs (unused by ``"constant"``).

    Returns:
        A ``keras.layers.Normalization`` or ``keras.layers.Rescaling`` named ``"scaler"``.

    Raises:
        TypeError, ValueError: as :func:`fit_scaler`.
    """
    check_choice("scaling", kind, SCALINGS, kind="scaling")
    if kind == "constant":
        return keras.layers.Rescaling(1.0 / PIXEL_MAX, name="scaler")
    params = fit_scaler(kind, train)
    if kind == "zscore":
        layer = keras.layers.Normalization(axis=-1, name="scaler")
        layer.adapt(np.asarray(train, dtype="float32"))
        return layer
    spread = params["max"] - params["min"]
    return keras.layers.Normalization(
        axis=-1, mean=params["min"], variance=spread**2, name="scaler"
    )


def image_like_data(samples: int = 512, features: int = 64, seed: int = 0):
    """Synthetic 8-bit "pixels" in 0..255 (float32) with a binary label from a linear rule.

    Args:
        samples: rows (>= 8), split 3:1 into train and test.
        features: pixels per sample.
        seed: NumPy seed.

    Returns:
        ``(x_train, y_train, x_test, y_test)``, a 3:1 split.
    """
    samples = check_int("samples", samples, minimum=8)
    features = check_int("features", features)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    x = rng.integers(0, 256, size=(samples, features)).astype("float32")
    w = rng.normal(size=features)
    score = (x / PIXEL_MAX - 0.5) @ w
    y = (score > np.median(score)).astype("float32")[:, None]
    cut = samples * 3 // 4
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _model(scaler, features: int, seed: int) -> keras.Model:
    layers = [keras.Input((features,))]
    if scaler is not None:
        layers.append(scaler)
    layers += [
        keras.layers.Dense(
            32,
            activation="tanh",
            name="hidden",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        ),
        keras.layers.Dense(
            1,
            activation="sigmoid",
            name="output",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
        ),
    ]
    return keras.Sequential(layers)


_PREDICT_SCRIPT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, keras
model = keras.models.load_model(sys.argv[1])
np.save(sys.argv[3], keras.ops.convert_to_numpy(model.predict(np.load(sys.argv[2]), verbose=0)))
"""


def saved_model_round_trip(
    kind: str = "zscore", directory: str | os.PathLike | None = None, epochs: int = 3, seed: int = 0
) -> dict:
    """Train with the scaler inside the model, save ``.keras``, predict raw inputs elsewhere.

    The scaler is fitted on the training split only; the model is saved and then loaded by a
    **fresh Python process** (``subprocess``, nothing of this process's state), which
    predicts on the *raw* test inputs.

    Example:
        >>> saved_model_round_trip("zscore")["max_abs_difference"]   # doctest: +SKIP
        0.0

    Args:
        kind: one of :data:`SCALINGS`.
        directory: where to write the model (a temporary folder by default).
        epochs: training epochs.
        seed: data and weights, an int >= 0.

    Returns:
        ``{"kind", "path", "in_process", "fresh_process", "max_abs_difference", "verdict"}``.

    Raises:
        TypeError: ``directory`` not a path, non-integer ``epochs`` or ``seed``.
        ValueError: unknown kind, ``directory=""`` (it would write into the current
            folder), ``epochs < 1``, ``seed < 0``.
    """
    check_choice("scaling", kind, SCALINGS, kind="scaling")
    epochs, seed = check_int("epochs", epochs), check_int("seed", seed, minimum=0)
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"directory must be a folder path or None; received directory={directory!r}."
        )
    if directory is not None and not os.fspath(directory):
        raise ValueError(
            "directory must name a folder (an empty path would write into the current one); "
            f"received directory={directory!r}. Pass None for a temporary folder."
        )
    x_train, y_train, x_test, _ = image_like_data(seed=seed)
    keras.utils.set_random_seed(seed)
    model = _model(scaler_layer(kind, x_train), x_train.shape[1], seed)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    in_process = keras.ops.convert_to_numpy(model.predict(x_test, verbose=0))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(directory) if directory is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"scaled_{kind}.keras"
        model.save(path)
        np.save(folder / "raw_inputs.npy", x_test)
        out = folder / "fresh_predictions.npy"
        subprocess.run(
            [
                sys.executable,
                "-c",
                _PREDICT_SCRIPT,
                str(path),
                str(folder / "raw_inputs.npy"),
                str(out),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        fresh = np.load(out)
    difference = float(np.max(np.abs(fresh - in_process)))
    return {
        "kind": kind,
        "path": str(path),
        "in_process": in_process,
        "fresh_process": fresh,
        "max_abs_difference": difference,
        "verdict": (
            f"{kind}: the reloaded model predicts on raw inputs in a fresh process "
            f"within {difference:.1e} of the original, because the scaler fitted on "
            "the training split is a layer saved in the .keras file."
        ),
    }


def raw_vs_scaled(kind: str = "constant", epochs: int = 5, seed: int = 0) -> dict:
    """Same network and initial weights on raw 0..255 inputs vs scaled inputs.

    Formula: first-layer gradient ``||dL/dW1|| = ||delta1 x^T||`` on the training split at
    initialization (binary cross-entropy, ``tf.GradientTape``); saturation = share of
    first-layer tanh values with ``|a| > 0.97`` (``activation_statistics``); then the
    training loss after ``epochs`` of Adam.

    Example:
        >>> r = raw_vs_scaled()                                         # doctest: +SKIP
        >>> r["raw"]["saturation"] > 0.5 > r["scaled"]["saturation"]    # doctest: +SKIP
        True

    Returns:
        ``{"raw": {...}, "scaled": {...}, "verdict"}``; each with ``"gradient_norm"``,
        ``"saturation"``, ``"initial_loss"``, ``"final_loss"``.
    """
    from keras_init_lab.callbacks import activation_statistics

    check_choice("scaling", kind, SCALINGS, kind="scaling")
    epochs, seed = check_int("epochs", epochs), check_int("seed", seed, minimum=0)
    x_train, y_train, _, _ = image_like_data(seed=seed)
    loss_fn = keras.losses.BinaryCrossentropy()
    results = {}
    for label, scaler in (("raw", None), ("scaled", scaler_layer(kind, x_train))):
        keras.utils.set_random_seed(seed)
        model = _model(scaler, x_train.shape[1], seed)
        kernel = model.get_layer("hidden").kernel
        with tf.GradientTape() as tape:
            loss = loss_fn(y_train, model(x_train, training=True))
        gradient = tape.gradient(loss, kernel)
        saturation = float(activation_statistics(model, x_train)["saturation_fraction"][0])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
        history = model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
        results[label] = {
            "gradient_norm": float(tf.norm(gradient)),
            "saturation": saturation,
            "initial_loss": float(loss),
            "final_loss": float(history.history["loss"][-1]),
        }
    raw, scaled = results["raw"], results["scaled"]
    results["verdict"] = (
        f"raw 0..255 inputs give a first-layer gradient norm of {raw['gradient_norm']:.3g} "
        f"(scaled: {scaled['gradient_norm']:.3g}; dL/dW1 = delta1 x^T grows with x), saturate "
        f"{raw['saturation']:.0%} of the first tanh layer (scaled: {scaled['saturation']:.0%}) "
        f"and reach a training loss of {raw['final_loss']:.3f} after "
        f"{epochs} epochs against {scaled['final_loss']:.3f} when scaled ({kind})."
    )
    return results
