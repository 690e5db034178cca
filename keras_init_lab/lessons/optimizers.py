"""SGD, momentum, RMSProp, Adam and AdamW on one small problem: loss curves and update sizes.

Every optimizer starts from the same weights and sees the same batches; only the update rule
differs. Besides the loss, each step records the **update-to-weight ratio**
``||w_{t+1} - w_t|| / ||w_t||`` of the first layer's kernel, the health check CS231n
recommends ("the ratio of the update magnitudes to the value magnitudes ... should be
somewhere around 1e-3"): much larger and the learning rate is probably too high, much smaller
and it is probably too low.

Reference:
    Lecture 003, fundamentals of deep neural networks (the optimizers named as the next step after
    mini-batch gradient descent).
    A. Karpathy, CS231n "Neural Networks Part 3: Learning and Evaluation", section "Ratio of
    weights:updates", https://cs231n.github.io/neural-networks-3/#ratio.
    D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    https://arxiv.org/abs/1412.6980. I. Loshchilov, F. Hutter, "Decoupled Weight Decay
    Regularization", ICLR 2019, https://arxiv.org/abs/1711.05101 (AdamW).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab._arrays import check_sequence
from keras_init_lab._validation import check_choice, check_int, check_number

__all__ = [
    "DEFAULT_LEARNING_RATES",
    "MOMENTUM",
    "OPTIMIZERS",
    "UPDATE_RATIO_RULE_OF_THUMB",
    "compare_optimizers",
    "make_optimizer",
    "update_ratio_verdict",
]

#: Optimizer names accepted here (and by the ``compare`` optimizers axis).
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")
#: Default learning rate per optimizer: Keras's own defaults (``SGD`` 0.01, ``RMSprop``,
#: ``Adam`` and ``AdamW`` 0.001), so the comparison is "each optimizer out of the box".
DEFAULT_LEARNING_RATES = {
    "sgd": 0.01,
    "momentum": 0.01,
    "rmsprop": 0.001,
    "adam": 0.001,
    "adamw": 0.001,
}
#: Momentum coefficient of "momentum": 0.9, the usual value (Sutskever et al. 2013; CS231n).
MOMENTUM = 0.9
#: CS231n's rule of thumb for ||update|| / ||weights|| per step ("somewhere around 1e-3").
UPDATE_RATIO_RULE_OF_THUMB = 1e-3
#: Band read as "around 1e-3": within one decade either side.
UPDATE_RATIO_BAND = (1e-4, 1e-2)


def make_optimizer(name: str, learning_rate: float | None = None) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer by lesson name.

    Formula (``g`` = gradient, ``eta`` = learning rate): sgd ``w -= eta g``; momentum
    ``v = 0.9 v - eta g; w += v``; rmsprop ``s = rho s + (1-rho) g^2; w -= eta g/sqrt(s+eps)``;
    adam/adamw: bias-corrected first and second moments ``w -= eta m_hat/(sqrt(v_hat)+eps)``,
    adamw also ``w -= eta lambda w`` (Keras's default ``weight_decay=0.004``).

    Example:
        >>> make_optimizer("momentum").momentum
        0.9

    Args:
        name: one of :data:`OPTIMIZERS`.
        learning_rate: ``> 0``; ``None`` takes :data:`DEFAULT_LEARNING_RATES`.

    Returns:
        A fresh ``keras.optimizers.Optimizer``.

    Raises:
        TypeError: ``name`` not a string, ``learning_rate`` not a number.
        ValueError: unknown name (closest valid names listed) or ``learning_rate <= 0``.
    """
    check_choice("optimizer", name, OPTIMIZERS, kind="optimizer")
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[name]
    learning_rate = check_number(
        "learning_rate",
        learning_rate,
        positive=True,
        hint="A learning rate is a step size, e.g. 0.001.",
    )
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=MOMENTUM)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    return keras.optimizers.AdamW(learning_rate=learning_rate)


def update_ratio_verdict(ratio: float) -> str:
    """One sentence on a median update-to-weight ratio against CS231n's ~1e-3.

    Formula: within :data:`UPDATE_RATIO_BAND` ``[1e-4, 1e-2]`` (a decade either side of
    1e-3) the steps are of the usual size; above, too large; below, too small.

    Example:
        >>> update_ratio_verdict(2e-3)
        'update/weight 2.0e-03 is within a decade of the ~1e-3 rule of thumb.'

    Args:
        ratio: ``||update|| / ||weights||``, ``>= 0`` (``inf`` reads as too large).

    Returns:
        One sentence naming the ratio and what it suggests.

    Raises:
        TypeError: not a number.
        ValueError: negative or NaN (a norm ratio is neither).
    """
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real):
        raise TypeError(f"ratio must be a number; received ratio={ratio!r}.")
    if math.isnan(ratio) or ratio < 0:
        raise ValueError(
            f"ratio is a ratio of norms, a number >= 0; received ratio={float(ratio)!r}."
        )
    low, high = UPDATE_RATIO_BAND
    if ratio > high:
        return (
            f"update/weight {ratio:.1e} is above {high:g}: steps this large suggest the "
            "learning rate is too high."
        )
    if ratio < low:
        return (
            f"update/weight {ratio:.1e} is below {low:g}: steps this small mean a learning "
            "rate too low or gradients that vanish before they reach these layers."
        )
    return f"update/weight {ratio:.1e} is within a decade of the ~1e-3 rule of thumb."


def _problem(samples: int, seed: int):
    """Two-moons-like binary task: 2 noisy features, a curved boundary, float32."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 2)).astype("float32")
    y = (x[:, 1] > np.sin(2.0 * x[:, 0])).astype("float32")[:, None]
    return x, y


def _model(seed: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                32,
                activation="tanh",
                name="hidden_1",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            ),
            keras.layers.Dense(
                32,
                activation="tanh",
                name="hidden_2",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
            keras.layers.Dense(
                1,
                activation="sigmoid",
                name="output",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
            ),
        ]
    )


def compare_optimizers(
    optimizers: Sequence = OPTIMIZERS,
    learning_rates: dict | None = None,
    steps: int = 100,
    batch_size: int = 64,
    samples: int = 512,
    seed: int = 0,
) -> dict:
    """Train the same small network with each optimizer; record loss and update ratio per step.

    Formula: per step ``t``, ``loss_t`` = binary cross-entropy of the batch before the update
    and ``ratio_t = ||W1_{t+1} - W1_t|| / ||W1_t||`` for the first layer's kernel ``W1``.

    Example:
        >>> runs = compare_optimizers(["sgd", "adam"], steps=10)   # doctest: +SKIP
        >>> runs["adam"]["median_update_ratio"]                     # doctest: +SKIP
        0.0011

    Args:
        optimizers: names from :data:`OPTIMIZERS` or Keras optimizer objects (labelled by
            their class name in lower case); one name alone is a list of one.
        learning_rates: ``{name: eta}`` overriding :data:`DEFAULT_LEARNING_RATES`.
        steps: updates (>= 1).
        batch_size: samples per update, in ``[1, samples]``.
        samples: training set size.
        seed: weights and batch order seed (every optimizer gets the same), an int >= 0.

    Returns:
        ``{label: {"learning_rate", "losses" (steps,), "update_ratios" (steps,),
        "median_update_ratio", "final_loss", "verdict"}}``; the median is over the finite
        ratios (NaN when the weights became non-finite at every step).

    Raises:
        TypeError: an optimizer that is neither a name nor a Keras optimizer,
            ``learning_rates`` not a dict, non-integer sizes or seed.
        ValueError: unknown names (closest valid ones listed), a learning rate <= 0, sizes
            out of range, a negative seed.
    """
    optimizers = check_sequence("optimizers", optimizers, one_string=True)
    for choice in optimizers:
        if isinstance(choice, str):
            check_choice("optimizers", choice, OPTIMIZERS, kind="optimizer")
        elif not isinstance(choice, keras.optimizers.Optimizer):
            raise TypeError(
                f"optimizers must hold names ({', '.join(OPTIMIZERS)}) or Keras optimizer "
                f"objects; received optimizers={choice!r}."
            )
    steps = check_int("steps", steps)
    samples = check_int("samples", samples, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1, maximum=samples)
    seed = check_int("seed", seed, minimum=0)
    if learning_rates is not None and not isinstance(learning_rates, dict):
        raise TypeError(
            "learning_rates must be a dict {optimizer name: learning rate}; received "
            f"learning_rates={learning_rates!r}."
        )
    learning_rates = dict(learning_rates or {})
    for name, rate in learning_rates.items():
        check_choice("learning_rates key", name, OPTIMIZERS, kind="optimizer")
        check_number(f"learning_rates[{name!r}]", rate, positive=True)
    x, y = _problem(samples, seed)
    order = np.random.default_rng(seed + 1).integers(0, samples, size=(steps, batch_size))
    bce = keras.losses.BinaryCrossentropy()
    results = {}
    for choice in optimizers:
        if isinstance(choice, keras.optimizers.Optimizer):
            optimizer, label = choice, type(choice).__name__.lower()
        else:
            optimizer, label = make_optimizer(choice, learning_rates.get(choice)), choice
        keras.utils.set_random_seed(seed)
        model = _model(seed)
        kernel = model.get_layer("hidden_1").kernel

        @tf.function
        def train_step(xb, yb, model=model, optimizer=optimizer):
            with tf.GradientTape() as tape:
                loss = bce(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        losses, ratios = np.empty(steps), np.empty(steps)
        before = keras.ops.convert_to_numpy(kernel.value).copy()
        for t in range(steps):
            losses[t] = float(train_step(x[order[t]], y[order[t]]))
            after = keras.ops.convert_to_numpy(kernel.value).copy()
            ratios[t] = np.linalg.norm(after - before) / np.linalg.norm(before)
            before = after
        finite = ratios[np.isfinite(ratios)]
        median = float(np.median(finite)) if finite.size else math.nan
        verdict = (
            update_ratio_verdict(median)
            if finite.size
            else "the weights became non-finite: the run diverged."
        )
        results[label] = {
            "learning_rate": round(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 7),
            "losses": losses,
            "update_ratios": ratios,
            "median_update_ratio": median,
            "final_loss": float(np.mean(losses[-10:])),
            "verdict": f"{label}: {verdict}",
        }
    return results
