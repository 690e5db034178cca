"""Gradient descent itself: the learning rate, the starting point, the chain rule, the batch.

Lecture 003 (fundamentals of deep neural networks) introduces gradient descent on ``f(x) = x^2``
(``x <- x - eta f'(x)``), warns about too small and too large learning rates, shows that the
start decides the minimum on ``f(x) = x^4 - 2x^2 + x - 1``, works backpropagation through a
chain of three sigmoid neurons, and compares batch, mini-batch and stochastic updates. Each
function below measures one of these claims.

Reference:
    Lecture 003, fundamentals of deep neural networks.
    L. Bottou, F. E. Curtis, J. Nocedal, "Optimization Methods for Large-Scale Machine
    Learning", SIAM Review 60(2), 2018, section 4 (variance of the stochastic gradient,
    mini-batching), https://arxiv.org/abs/1606.04838.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from keras_init_lab._arrays import check_array, check_sequence
from keras_init_lab._validation import check_int, check_number

__all__ = [
    "LEARNING_RATES",
    "NONCONVEX_STARTS",
    "backprop_by_hand",
    "batch_size_runs",
    "descend",
    "gradient_noise",
    "learning_rate_regimes",
    "nonconvex_starts",
    "quadratic_closed_form",
    "regression_problem",
]

#: Learning rates on f(x) = x^2, one per regime of the factor 1 - 2 eta: 0.01 too small
#: (factor 0.98, 1% of the way per step), 0.4 good (0.2), 0.75 oscillating (-0.5: sign flips,
#: still converges), 1.05 too large (-1.1: diverges, |factor| > 1).
LEARNING_RATES = (0.01, 0.4, 0.75, 1.05)
#: Starts on f(x) = x^4 - 2x^2 + x - 1 from lecture 003: the maximum of f sits at x = 0.2696,
#: so 0.3 rolls right into the local minimum and 0.0 rolls left into the global one.
NONCONVEX_STARTS = (0.3, 0.0)


def _check_learning_rate(learning_rate) -> float:
    return check_number(
        "learning_rate",
        learning_rate,
        positive=True,
        hint="A learning rate is a step size, e.g. 0.01.",
    )


def descend(
    gradient: Callable[[float], float], x0: float, learning_rate: float, steps: int
) -> np.ndarray:
    """Run 1-D gradient descent and return the whole trajectory.

    Formula: ``x_{t+1} = x_t - eta f'(x_t)``.

    Example:
        >>> descend(lambda x: 2 * x, 1.0, 0.25, 2)
        array([1.  , 0.5 , 0.25])

    Args:
        gradient: ``f'``.
        x0: start.
        learning_rate: ``eta > 0``.
        steps: number of updates (>= 1).

    Returns:
        ``(steps + 1,)`` float64 array ``x_0 .. x_steps``.
    """
    if not callable(gradient):
        raise TypeError(
            f"gradient must be a function f'(x) -> float; received gradient={gradient!r}."
        )
    learning_rate = _check_learning_rate(learning_rate)
    steps = check_int("steps", steps)
    x = np.empty(steps + 1)
    x[0] = check_number("x0", x0)
    for t in range(steps):
        x[t + 1] = x[t] - learning_rate * gradient(x[t])
    return x


def quadratic_closed_form(x0: float, learning_rate: float, steps: int) -> np.ndarray:
    """Closed form of gradient descent on ``f(x) = x^2``: ``x_t = (1 - 2 eta)^t x_0``.

    Since ``f'(x) = 2x``, each step multiplies ``x`` by ``1 - 2 eta``: it converges when
    ``|1 - 2 eta| < 1`` (``0 < eta < 1``), monotonically for ``eta < 0.5`` and oscillating in
    sign for ``0.5 < eta < 1``; it diverges for ``eta > 1``.

    Example:
        >>> quadratic_closed_form(1.0, 0.75, 3)
        array([ 1.   , -0.5  ,  0.25 , -0.125])
    """
    learning_rate = _check_learning_rate(learning_rate)
    steps = check_int("steps", steps)
    x0 = check_number("x0", x0)
    return (1.0 - 2.0 * learning_rate) ** np.arange(steps + 1) * x0


def _quadratic_regime(learning_rate: float) -> str:
    factor = 1.0 - 2.0 * learning_rate
    if abs(factor) > 1.0:
        return "diverges"
    if abs(factor) == 1.0:
        return "oscillates forever"
    return "oscillates and converges" if factor < 0 else "converges monotonically"


def learning_rate_regimes(
    learning_rates: Sequence[float] = LEARNING_RATES, x0: float = 1.0, steps: int = 20
) -> dict:
    """Gradient descent on ``x^2`` for several learning rates, checked against the closed form.

    Formula: ``x_t = (1 - 2 eta)^t x_0``; regime from ``|1 - 2 eta|`` (see
    :func:`quadratic_closed_form`).

    Example:
        >>> learning_rate_regimes([0.4], steps=5)[0.4]["regime"]
        'converges monotonically'

    Args:
        learning_rates: ``eta`` values (> 0).
        x0: start.
        steps: number of updates.

    Returns:
        ``{eta: {"trajectory", "closed_form", "max_abs_difference", "factor", "regime",
        "verdict"}}``.
    """
    learning_rates = [
        _check_learning_rate(v) for v in check_sequence("learning_rates", learning_rates)
    ]
    x0, steps = check_number("x0", x0), check_int("steps", steps)
    results = {}
    for learning_rate in learning_rates:
        trajectory = descend(lambda x: 2.0 * x, x0, learning_rate, steps)
        closed = quadratic_closed_form(x0, learning_rate, steps)
        regime = _quadratic_regime(learning_rate)
        final = trajectory[-1]
        results[float(learning_rate)] = {
            "trajectory": trajectory,
            "closed_form": closed,
            "max_abs_difference": float(np.max(np.abs(trajectory - closed))),
            "factor": 1.0 - 2.0 * learning_rate,
            "regime": regime,
            "verdict": (
                f"eta={learning_rate:g}: each step multiplies x by "
                f"{1 - 2 * learning_rate:+.2f}, so after {steps} steps "
                f"x={final:.3g} ({regime})."
            ),
        }
    return results


def _quartic(x):
    return x**4 - 2 * x**2 + x - 1


def nonconvex_starts(
    starts: Sequence[float] = NONCONVEX_STARTS, learning_rate: float = 0.05, steps: int = 100
) -> dict:
    """Gradient descent on lecture 003's ``f(x) = x^4 - 2x^2 + x - 1`` from several starts.

    Formula: ``f'(x) = 4x^3 - 4x + 1``; critical points are its real roots (global minimum
    ``-1.1072``, maximum ``0.2696``, local minimum ``0.8376``).

    Example:
        >>> nonconvex_starts()[0.0]["minimum"]
        'global'

    Returns:
        ``{"critical_points": roots, start: {"x", "f", "minimum", "verdict"}}``.
    """
    starts = [check_number("starts", v) for v in check_sequence("starts", starts)]
    learning_rate, steps = _check_learning_rate(learning_rate), check_int("steps", steps)
    roots = np.sort(np.roots([4.0, 0.0, -4.0, 1.0]).real)
    global_min, local_min = roots[0], roots[2]
    results = {"critical_points": roots}
    for start in starts:
        x = descend(lambda v: 4 * v**3 - 4 * v + 1, start, learning_rate, steps)[-1]
        if abs(x - global_min) < 1e-3:
            kind = "global"
        elif abs(x - local_min) < 1e-3:
            kind = "local"
        else:
            kind = "none (not converged)"
        results[float(start)] = {
            "x": float(x),
            "f": float(_quartic(x)),
            "minimum": kind,
            "verdict": f"from x0={start:g} descent ends at x={x:.4f}, the {kind} minimum.",
        }
    return results


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def backprop_by_hand(
    x1: float = 1.5, y: float = 1.0, w1: float = 0.5, w2: float = -1.2, w3: float = 2.0
) -> dict:
    """Lecture 003's chain of three sigmoid neurons, differentiated by hand and by the tape.

    Formula: ``z1 = w1 x1, h1 = s(z1), z2 = w2 h1, h2 = s(z2), z3 = w3 h2, y_hat = s(z3)``,
    ``L = (y_hat - y)^2`` and, by the chain rule (``s' = s (1 - s)``)::

        dL/dw3 = 2(y_hat - y) s'(z3) h2
        dL/dw2 = 2(y_hat - y) s'(z3) w3 s'(z2) h1
        dL/dw1 = 2(y_hat - y) s'(z3) w3 s'(z2) w2 s'(z1) x1

    The lecture's slide writes ``dz1/dw1 = w1``; since ``z1 = w1 x1`` the factor is ``x1``
    (the two agree only when ``x1 = w1``), which is what the tape confirms.

    Example:
        >>> r = backprop_by_hand()
        >>> abs(r["hand"]["w1"] - r["tape"]["w1"]) < 1e-12
        True

    Returns:
        ``{"forward": {...}, "hand": {w: grad}, "tape": {w: grad}, "slide_w1": the value with
        the slide's factor w1, "max_abs_difference", "verdict"}``.
    """
    x1, y, w1, w2, w3 = (
        check_number(n, v) for n, v in (("x1", x1), ("y", y), ("w1", w1), ("w2", w2), ("w3", w3))
    )
    z1 = w1 * x1
    h1 = _sigmoid(z1)
    z2 = w2 * h1
    h2 = _sigmoid(z2)
    z3 = w3 * h2
    y_hat = _sigmoid(z3)
    loss = (y_hat - y) ** 2
    d_y_hat = 2.0 * (y_hat - y)
    d_z3 = d_y_hat * y_hat * (1 - y_hat)
    d_z2 = d_z3 * w3 * h2 * (1 - h2)
    d_z1 = d_z2 * w2 * h1 * (1 - h1)
    hand = {"w3": d_z3 * h2, "w2": d_z2 * h1, "w1": d_z1 * x1}

    weights = {
        name: tf.Variable(value, dtype=tf.float64)
        for name, value in (("w1", w1), ("w2", w2), ("w3", w3))
    }
    with tf.GradientTape() as tape:
        out = tf.sigmoid(
            weights["w3"]
            * tf.sigmoid(weights["w2"] * tf.sigmoid(weights["w1"] * tf.constant(x1, tf.float64)))
        )
        tape_loss = (out - y) ** 2
    grads = tape.gradient(tape_loss, list(weights.values()))
    tape_grads = {name: float(g.numpy()) for name, g in zip(weights, grads)}
    difference = max(abs(hand[k] - tape_grads[k]) for k in hand)
    slide_w1 = d_z1 * w1
    return {
        "forward": {"z1": z1, "h1": h1, "z2": z2, "h2": h2, "z3": z3, "y_hat": y_hat, "loss": loss},
        "hand": {k: float(v) for k, v in hand.items()},
        "tape": tape_grads,
        "slide_w1": float(slide_w1),
        "max_abs_difference": float(difference),
        "verdict": (
            f"the chain rule by hand equals tf.GradientTape to {difference:.1e}; "
            f"with dz1/dw1 = x1 = {x1:g}, dL/dw1 = {hand['w1']:.6f}, while the slide's "
            f"factor w1 = {w1:g} would give {slide_w1:.6f}."
        ),
    }


def regression_problem(
    samples: int = 256, features: int = 4, noise: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small linear regression ``y = X w* + noise`` (float64) for the batch-size lesson.

    Args:
        samples: rows (>= 2).
        features: columns (>= 1).
        noise: standard deviation of the Gaussian noise on ``y`` (>= 0).
        seed: NumPy seed.

    Returns:
        ``(x (samples, features), y (samples,))``; ``w* = (1, -2, 3, -4, ...)``.
    """
    samples = check_int("samples", samples, minimum=2)
    features = check_int("features", features)
    noise = check_number("noise", noise, minimum=0.0)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    x = rng.normal(size=(samples, features))
    w_true = np.array([(-1) ** i * (i + 1) for i in range(features)], dtype=np.float64)
    return x, x @ w_true + noise * rng.normal(size=samples)


def _mse_gradient(w, x, y):
    """Gradient of ``mean((x w - y)^2)`` with respect to ``w``: ``2 x^T (x w - y) / n``."""
    return 2.0 * x.T @ (x @ w - y) / len(y)


def _batch_size(batch_size, samples: int) -> int:
    if batch_size is None:
        return samples
    return check_int("batch_size", batch_size, minimum=1, maximum=samples)


def _regression_data(x, y, batch_sizes, seed) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    """Check the arguments shared by :func:`gradient_noise` and :func:`batch_size_runs`."""
    x = check_array("x", x, ndim=2)
    y = check_array("y", y, ndim=1)
    if len(y) != len(x):
        raise ValueError(
            f"y must hold one target per row of x; received x.shape={x.shape}, y.shape={y.shape}."
        )
    sizes = [_batch_size(b, len(y)) for b in check_sequence("batch_sizes", batch_sizes)]
    return x, y, sizes, check_int("seed", seed, minimum=0)


def gradient_noise(
    x: np.ndarray,
    y: np.ndarray,
    batch_sizes: Sequence = (None, 32, 1),
    permutations: int = 20,
    seed: int = 0,
) -> dict:
    """Variance of the mini-batch gradient around the full-batch one, at ``w = 0``.

    Formula: ``noise(B) = mean over batches ||g_B - g||^2`` with ``g`` the full-batch MSE
    gradient and ``g_B`` the gradient of a batch of ``B`` samples drawn without replacement
    (all ``n/B`` batches of ``permutations`` shuffles). Sampling theory predicts
    ``tr(S) / B * (n - B) / (n - 1)`` with ``S`` the population covariance of the per-sample
    gradients: 1/B noise, zero for the full batch.

    Example:
        >>> x, y = regression_problem()
        >>> gradient_noise(x, y, [None])["full"]["measured"] < 1e-20   # rounding only
        True

    Args:
        x, y: the regression data.
        batch_sizes: sizes (``None`` = full batch; each in ``[1, n]``).
        permutations: shuffles averaged over.
        seed: shuffle seed.

    Returns:
        ``{label: {"batch_size", "measured", "predicted", "relative_noise", "updates_per_epoch"}}``
        with ``label`` ``"full"`` or ``"B=<size>"``; ``relative_noise`` is
        ``measured / ||g||^2``.
    """
    x, y, sizes, seed = _regression_data(x, y, batch_sizes, seed)
    permutations = check_int("permutations", permutations)
    n = len(y)
    w = np.zeros(x.shape[1])
    full = _mse_gradient(w, x, y)
    per_sample = 2.0 * x * (x @ w - y)[:, None]
    trace = float(np.sum(np.var(per_sample, axis=0)))
    rng = np.random.default_rng(seed)
    results = {}
    for size in sizes:
        deviations = []
        for _ in range(permutations if size < n else 1):
            order = rng.permutation(n)
            for start in range(0, n - size + 1, size):
                idx = order[start : start + size]
                deviations.append(np.sum((_mse_gradient(w, x[idx], y[idx]) - full) ** 2))
        measured = float(np.mean(deviations))
        label = "full" if size == n else f"B={size}"
        results[label] = {
            "batch_size": size,
            "measured": measured,
            "predicted": trace / size * (n - size) / (n - 1),
            "relative_noise": measured / float(np.sum(full**2)),
            "updates_per_epoch": n // size,
        }
    return results


def batch_size_runs(
    x: np.ndarray,
    y: np.ndarray,
    batch_sizes: Sequence = (None, 32, 1),
    learning_rate: float = 0.01,
    epochs: int = 5,
    seed: int = 0,
) -> dict:
    """Batch, mini-batch and stochastic gradient descent on the same regression, same epochs.

    Formula: ``w <- w - eta * 2 x_B^T (x_B w - y_B) / B`` for each batch of a shuffled epoch;
    the loss ``mean((x w - y)^2)`` on the whole set is recorded after every epoch.

    Example:
        >>> x, y = regression_problem()
        >>> runs = batch_size_runs(x, y, [None, 1], epochs=2)
        >>> runs["B=1"]["updates"], runs["full"]["updates"]
        (512, 2)

    Args:
        x, y: the regression data.
        batch_sizes: sizes (``None`` = full batch; each in ``[1, n]``).
        learning_rate: ``eta > 0``, the same for every batch size.
        epochs: passes over the data (>= 1).
        seed: shuffle seed (every batch size gets the same shuffles).

    Returns:
        ``{label: {"batch_size", "updates", "losses" (epochs + 1,)}}``.
    """
    x, y, sizes, seed = _regression_data(x, y, batch_sizes, seed)
    learning_rate = _check_learning_rate(learning_rate)
    epochs = check_int("epochs", epochs)
    n = len(y)
    results = {}
    for size in sizes:
        rng = np.random.default_rng(seed)
        w = np.zeros(x.shape[1])
        losses = [float(np.mean((x @ w - y) ** 2))]
        updates = 0
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n - size + 1, size):
                idx = order[start : start + size]
                w = w - learning_rate * _mse_gradient(w, x[idx], y[idx])
                updates += 1
            losses.append(float(np.mean((x @ w - y) ** 2)))
        label = "full" if size == n else f"B={size}"
        results[label] = {"batch_size": size, "updates": updates, "losses": np.array(losses)}
    return results
