"""Softmax where it does not belong: a binary output and a multi-label task, shown by runs.

Lecture 004's table (other network specifications) pairs softmax with
*multi-class* outputs only: softmax makes the ``K`` outputs sum to 1, so

* on **one** output unit (binary task) softmax is the constant 1: its output never depends on
  the input and its gradient is zero, so the network cannot learn at all;
* on a **multi-label** task (several labels true at once) at most one output can exceed 0.5,
  so a sample with two true labels can never be predicted right at threshold 0.5.

The correct pairings (sigmoid + binary cross-entropy, per output for multi-label) are trained
on the same data, from the same hidden layer, for comparison.

Reference:
    Lecture 004, other network specifications (output activation x loss per
    task). Goodfellow, Bengio & Courville, "Deep Learning" 2016, section 6.2.2.3 (softmax
    units), https://www.deeplearningbook.org/contents/mlp.html.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab._validation import check_int

__all__ = ["multilabel_data", "multilabel_softmax_vs_sigmoid", "single_unit_softmax"]

#: Decision threshold on a probability: 0.5, the usual (and Keras's ``binary_accuracy``) one.
THRESHOLD = 0.5


def multilabel_data(samples: int = 1024, features: int = 8, labels: int = 3, seed: int = 0):
    """Inputs with ``labels`` independent yes/no labels (``y_k = [x . w_k > 0]``).

    About half of the samples have two or more true labels.

    Args:
        samples, features: input shape.
        labels: number of labels (>= 2).
        seed: NumPy seed, an int >= 0.

    Returns:
        ``(x float32 (samples, features), y float32 (samples, labels))``.
    """
    samples, features = check_int("samples", samples), check_int("features", features)
    labels = check_int("labels", labels, minimum=2)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    x = rng.normal(size=(samples, features)).astype("float32")
    y = (x @ rng.normal(size=(features, labels)) > 0).astype("float32")
    return x, y


def _model(units: int, activation: str, features: int, seed: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(
                32,
                activation="relu",
                name="hidden",
                kernel_initializer=keras.initializers.HeNormal(seed=seed),
            ),
            keras.layers.Dense(
                units,
                activation=activation,
                name="output",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
        ]
    )


def multilabel_softmax_vs_sigmoid(epochs: int = 20, seed: int = 0) -> dict:
    """Train softmax + categorical cross-entropy and sigmoid + BCE on a multi-label task.

    Formula: a label is predicted present when its output exceeds 0.5; ``exact_match`` = share
    of samples with every label right; ``max_positives`` = most outputs above 0.5 in one
    sample (softmax: at most 1, since the outputs sum to 1).

    Example:
        >>> r = multilabel_softmax_vs_sigmoid(epochs=5)                    # doctest: +SKIP
        >>> r["softmax"]["exact_match_multi"]                              # doctest: +SKIP
        0.0

    Returns:
        ``{"multi_fraction", "softmax": {...}, "sigmoid": {...}, "verdict"}``; each run has
        ``"label_accuracy"``, ``"exact_match"``, ``"exact_match_multi"`` (on samples with >= 2
        true labels) and ``"max_positives"``.
    """
    epochs, seed = check_int("epochs", epochs), check_int("seed", seed, minimum=0)
    x, y = multilabel_data(seed=seed)
    multi = y.sum(axis=1) >= 2
    results = {"multi_fraction": float(multi.mean())}
    for activation, loss in (
        ("softmax", "categorical_crossentropy"),
        ("sigmoid", "binary_crossentropy"),
    ):
        keras.utils.set_random_seed(seed)
        model = _model(y.shape[1], activation, x.shape[1], seed)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
        predicted = keras.ops.convert_to_numpy(model.predict(x, verbose=0)) > THRESHOLD
        right = (predicted == (y > 0.5)).all(axis=1)
        results[activation] = {
            "label_accuracy": float((predicted == (y > 0.5)).mean()),
            "exact_match": float(right.mean()),
            "exact_match_multi": float(right[multi].mean()),
            "max_positives": int(predicted.sum(axis=1).max()),
        }
    soft, sig = results["softmax"], results["sigmoid"]
    results["verdict"] = (
        f"on the {results['multi_fraction']:.0%} of samples with two or more labels, softmax gets "
        f"{soft['exact_match_multi']:.0%} exactly right (never more than "
        f"{soft['max_positives']} output above 0.5, as its outputs sum to 1) and per-output "
        f"sigmoid {sig['exact_match_multi']:.0%}."
    )
    return results


def _bce_on_outputs(y, p):
    """Binary cross-entropy of the probabilities themselves (Keras's 1e-7 clip), no logits."""
    eps = keras.config.epsilon()
    p = tf.clip_by_value(p, eps, 1.0 - eps)
    return -tf.reduce_mean(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))


def single_unit_softmax(epochs: int = 10, seed: int = 0) -> dict:
    """Train a binary classifier whose one output unit uses softmax, and one using sigmoid.

    Formula: ``softmax([z]) = e^z / e^z = 1`` for every ``z``: constant output, and the
    gradient of any loss of that output with respect to the network's weights is 0.

    A Keras trap shows up on the way: ``model.fit`` with ``loss="binary_crossentropy"``
    reports a *falling* loss for the softmax model, identical to the sigmoid model's. Keras's
    binary cross-entropy (TensorFlow backend, ``_get_logits``, in Keras 3.3 and 3.15) takes
    the logits that ``keras.activations.softmax`` caches on its output (see
    ``keras_init_lab._keras_compat.set_logits``) and
    computes a *sigmoid* cross-entropy from them, so the training loss describes a model that
    ``predict`` never returns. Evaluated on the actual outputs the loss does not move.

    Example:
        >>> r = single_unit_softmax(epochs=2)                 # doctest: +SKIP
        >>> soft = r["softmax"]                                  # doctest: +SKIP
        >>> round(soft["output_min"], 6), round(soft["output_max"], 6)  # doctest: +SKIP
        (1.0, 1.0)

    The outputs are 1 up to float32 rounding (``exp(0) / exp(0)`` can land one ulp, 6e-8,
    below 1 on some CPUs), so the verdict prints them with 6 significant digits (``:g``).

    Returns:
        ``{"positive_fraction", "softmax": {...}, "sigmoid": {...}, "verdict"}``; each with
        ``"output_min"``, ``"output_max"``, ``"fit_first_loss"``, ``"fit_last_loss"`` (what
        ``fit`` reports), ``"loss_on_outputs"`` (BCE of the predicted probabilities after
        training), ``"gradient_norm"`` (of that loss, all weights, at the end) and
        ``"accuracy"``.
    """
    epochs, seed = check_int("epochs", epochs), check_int("seed", seed, minimum=0)
    x, y = multilabel_data(labels=2, seed=seed)
    y = y[:, :1]
    results = {"positive_fraction": float(y.mean())}
    for activation in ("softmax", "sigmoid"):
        keras.utils.set_random_seed(seed)
        model = _model(1, activation, x.shape[1], seed)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Keras's own size-1 softmax warning
            history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
            with tf.GradientTape() as tape:
                loss = _bce_on_outputs(y, model(x, training=False))
            grads = tape.gradient(loss, model.trainable_variables)
            p = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
        norm = float(np.sqrt(sum(float(tf.reduce_sum(g**2)) for g in grads if g is not None)))
        results[activation] = {
            "output_min": float(p.min()),
            "output_max": float(p.max()),
            "fit_first_loss": float(history.history["loss"][0]),
            "fit_last_loss": float(history.history["loss"][-1]),
            "loss_on_outputs": float(loss),
            "gradient_norm": norm,
            "accuracy": float(((p > THRESHOLD) == (y > 0.5)).mean()),
        }
    soft, sig = results["softmax"], results["sigmoid"]
    results["verdict"] = (
        f"a one-unit softmax outputs {soft['output_min']:g} for every input: accuracy "
        f"{soft['accuracy']:.0%} (the share of positives), loss on its outputs "
        f"{soft['loss_on_outputs']:.2f} with gradient {soft['gradient_norm']:g}, although fit "
        f"reported {soft['fit_first_loss']:.3f} -> {soft['fit_last_loss']:.3f} (computed from "
        f"cached logits); sigmoid reaches {sig['accuracy']:.0%}."
    )
    return results
