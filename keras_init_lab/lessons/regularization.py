"""L2 penalty vs decoupled weight decay, and dropout's statistics in training vs inference.

Lecture 004 (other network specifications) writes the L2 penalty as
``L_total = L + lambda sum w^2`` and weight decay as ``w <- w - eta (dL/dw + lambda w)``, and
warns that under Adam the L2 term "passes through the adaptation" and no longer acts as a pure
decay. Both claims are measured here with Keras:

* ``keras.regularizers.L2(l)`` adds ``l * sum(w^2)`` to the loss, whose gradient is ``2 l w``.
* Keras optimizers with ``weight_decay=wd`` apply, before the gradient step and with the
  gradient taken at the old weights, ``w <- w - w * wd * learning_rate`` (Keras's
  ``BaseOptimizer._apply_weight_decay``, the same in Keras 3.3 and 3.15). So plain SGD with
  ``weight_decay = 2 l`` takes exactly the step of SGD on the L2-penalized loss:
  ``w - eta (g + 2 l w)``. Under Adam the L2 gradient ``2 l w`` is divided by
  ``sqrt(v_hat)`` with the data gradient, while AdamW's decay is not, so the two differ
  (Loshchilov & Hutter 2019).

Dropout (inverted, as Keras implements it) zeroes each value with probability ``p`` in
training and scales the survivors by ``1/(1 - p)``: the mean is preserved, the variance grows
to ``E[a^2]/(1 - p) - E[a]^2``; in inference the layer is the identity.

Reference:
    Lecture 004, other network specifications (L2, weight decay, dropout).
    I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
    https://arxiv.org/abs/1711.05101.
    N. Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
    JMLR 15, 2014, https://jmlr.org/papers/v15/srivastava14a.html.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab._validation import check_choice, check_int, check_number

__all__ = [
    "AGREEMENT_TOLERANCE",
    "L2_TO_WEIGHT_DECAY",
    "dropout_statistics",
    "l2_vs_weight_decay",
    "weight_decay_for_l2",
]

#: Keras ``weight_decay`` equivalent to ``L2(l)`` under plain SGD: ``2 l`` (the gradient of
#: ``l w^2`` is ``2 l w``; Keras decays by ``w * weight_decay * learning_rate``).
L2_TO_WEIGHT_DECAY = 2.0
#: Relative difference below which the two runs count as the same updates: 1e-6. Keras keeps the
#: learning rate and weight decay in float32 (``SGD(0.05, weight_decay=0.02)`` on ``w = 1``
#: gives 0.99900000000745, not 0.999), so the runs agree to float64 rounding (~1e-16) on
#: Keras 3.15 and to ~5e-10 on Keras 3.3; a real difference (Adam, a missing factor 2) is
#: above 1e-3.
AGREEMENT_TOLERANCE = 1e-6
#: Optimizers compared by :func:`l2_vs_weight_decay`.
_OPTIMIZERS = ("sgd", "adam")


def weight_decay_for_l2(l2: float) -> float:
    """Keras ``weight_decay`` that matches ``keras.regularizers.L2(l2)`` under plain SGD.

    Formula: ``weight_decay = 2 * l2``.

    Example:
        >>> weight_decay_for_l2(1e-3)
        0.002
    """
    return L2_TO_WEIGHT_DECAY * check_number("l2", l2, minimum=0.0)


def _data(samples: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 8))
    y = x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(samples, 1))
    return x, y


def _run(optimizer, l2: float | None, x, y, steps: int, seed: int) -> np.ndarray:
    """Train a float64 Dense(8 -> 16, tanh) -> Dense(1) model; return the flat final weights."""
    regularizer = (lambda: keras.regularizers.L2(l2)) if l2 else (lambda: None)
    layers = []
    for units, activation, offset in ((16, "tanh", 0), (1, None, 1)):
        layers.append(
            keras.layers.Dense(
                units,
                activation=activation,
                dtype="float64",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + offset),
                bias_initializer=keras.initializers.RandomNormal(
                    stddev=0.1, seed=seed + 10 + offset
                ),
                kernel_regularizer=regularizer(),
                bias_regularizer=regularizer(),
            )
        )
    model = keras.Sequential([keras.Input((x.shape[1],), dtype="float64"), *layers])
    xt, yt = tf.constant(x), tf.constant(y)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(xt, training=True) - yt) ** 2)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return np.concatenate([keras.ops.convert_to_numpy(v).ravel() for v in model.weights])


def l2_vs_weight_decay(
    optimizer: str = "sgd",
    l2: float = 0.01,
    learning_rate: float = 0.05,
    steps: int = 30,
    seed: int = 0,
    weight_decay: float | None = None,
) -> dict:
    """Train twice from the same weights: L2 penalty vs decoupled weight decay ``2 * l2``.

    Formula: run A minimizes ``mse + l2 * sum(w^2)`` with the optimizer; run B minimizes
    ``mse`` with the same optimizer and ``weight_decay = 2 * l2`` (SGD: ``SGD(weight_decay)``,
    Adam: ``AdamW(weight_decay)``). Both in float64, full batch, every weight and bias
    regularized/decayed.

    Example:
        >>> l2_vs_weight_decay("sgd")["relative_difference"] < 1e-10   # doctest: +SKIP
        True

    Args:
        optimizer: ``"sgd"`` or ``"adam"``.
        l2: the L2 coefficient ``l`` (>= 0).
        learning_rate: ``> 0``.
        steps: updates.
        seed: initial weights and data.
        weight_decay: the decay of run B; ``None`` (default) takes ``2 * l2``
            (:func:`weight_decay_for_l2`). Passing ``l2`` shows what forgetting the 2 does.

    Returns:
        ``{"optimizer", "l2", "weight_decay", "weights_l2", "weights_decay",
        "relative_difference", "norm_l2", "norm_decay", "agree", "verdict"}``;
        ``relative_difference = ||w_l2 - w_decay|| / ||w_decay||`` over all weights and
        ``agree`` is ``relative_difference < AGREEMENT_TOLERANCE`` (1e-6).

    Reference:
        Loshchilov & Hutter 2019, sections 2-3 (equivalence for SGD, not for Adam).
    """
    check_choice("optimizer", optimizer, _OPTIMIZERS, kind="optimizer")
    l2 = check_number("l2", l2, minimum=0.0)
    learning_rate = check_number("learning_rate", learning_rate, positive=True)
    steps, seed = check_int("steps", steps), check_int("seed", seed, minimum=0)
    if weight_decay is None:
        decay = weight_decay_for_l2(l2)
    else:
        decay = check_number("weight_decay", weight_decay, minimum=0.0)
    x, y = _data(64, seed)
    if optimizer == "sgd":
        with_penalty = keras.optimizers.SGD(learning_rate=learning_rate)
        with_decay = keras.optimizers.SGD(learning_rate=learning_rate, weight_decay=decay)
    else:
        with_penalty = keras.optimizers.Adam(learning_rate=learning_rate)
        with_decay = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=decay)
    weights_l2 = _run(with_penalty, l2, x, y, steps, seed)
    weights_decay = _run(with_decay, None, x, y, steps, seed)
    difference = float(np.linalg.norm(weights_l2 - weights_decay) / np.linalg.norm(weights_decay))
    agree = difference < AGREEMENT_TOLERANCE
    norm_l2, norm_decay = float(np.linalg.norm(weights_l2)), float(np.linalg.norm(weights_decay))
    verdict = (
        f"{optimizer}: L2({l2:g}) and weight_decay={decay:g} give weights whose relative "
        f"difference ||w_a - w_b|| / ||w_b|| is {difference:.1e}, so they are "
        + (
            "the same update, as 2*l2*w is exactly the penalty's gradient."
            if agree
            else f"different updates (weight norms {norm_l2:.4f} vs {norm_decay:.4f}): "
            + (
                "Adam rescales the penalty's gradient, not the decoupled decay."
                if optimizer == "adam"
                else f"the penalty's gradient is 2*l2*w = {2 * l2:g}*w, not {decay:g}*w."
            )
        )
    )
    return {
        "optimizer": optimizer,
        "l2": l2,
        "weight_decay": decay,
        "weights_l2": weights_l2,
        "weights_decay": weights_decay,
        "relative_difference": difference,
        "norm_l2": norm_l2,
        "norm_decay": norm_decay,
        "agree": agree,
        "verdict": verdict,
    }


def dropout_statistics(
    rate: float = 0.5, samples: int = 4096, units: int = 64, seed: int = 0
) -> dict:
    """Mean and variance of ``keras.layers.Dropout`` outputs in training vs inference.

    Formula: inverted dropout ``out = a * b / (1 - p)``, ``b ~ Bernoulli(1 - p)``; so
    ``E[out] = E[a]`` and ``Var[out] = E[a^2] / (1 - p) - E[a]^2`` in training, ``out = a`` in
    inference.

    Example:
        >>> stats = dropout_statistics(0.5)                  # doctest: +SKIP
        >>> round(stats["train_mean"] / stats["input_mean"], 2)   # doctest: +SKIP
        1.0

    Args:
        rate: dropout probability ``p`` in ``[0, 1)``.
        samples, units: size of the activation batch (ReLU of standard normals).
        seed: data and mask seed.

    Returns:
        ``{"rate", "input_mean", "input_var", "train_mean", "train_var", "predicted_train_var",
        "inference_mean", "inference_var", "zero_fraction", "verdict"}``.
    """
    rate = check_number("rate", rate, minimum=0.0)
    if rate >= 1.0:
        raise ValueError(f"rate must be in [0, 1); received rate={rate!r} (1 drops everything).")
    samples, units = check_int("samples", samples), check_int("units", units)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=(samples, units)), 0.0).astype("float32")
    layer = keras.layers.Dropout(rate, seed=seed)
    train = keras.ops.convert_to_numpy(layer(a, training=True)).astype(np.float64)
    inference = keras.ops.convert_to_numpy(layer(a, training=False)).astype(np.float64)
    a64 = a.astype(np.float64)
    predicted = float(np.mean(a64**2) / (1.0 - rate) - np.mean(a64) ** 2)
    result = {
        "rate": rate,
        "input_mean": float(a64.mean()),
        "input_var": float(a64.var()),
        "train_mean": float(train.mean()),
        "train_var": float(train.var()),
        "predicted_train_var": predicted,
        "inference_mean": float(inference.mean()),
        "inference_var": float(inference.var()),
        "zero_fraction_added": float(np.mean((train == 0) & (a64 != 0))),
    }
    result["verdict"] = (
        f"dropout p={rate:g}: training keeps the mean ({result['input_mean']:.3f} -> "
        f"{result['train_mean']:.3f}) because survivors are scaled by 1/(1-p)={1 / (1 - rate):g}, "
        f"but raises the variance ({result['input_var']:.3f} -> {result['train_var']:.3f}, "
        f"predicted {predicted:.3f}); inference is the identity."
    )
    return result
