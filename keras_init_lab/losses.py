"""Loss x output activation: the gradient each pairing sends back to the output layer's logits.

The output layer computes logits ``z`` (its pre-activation), applies an output activation
``p = a(z)`` (linear, sigmoid or softmax) and the loss ``L(y, p)`` compares ``p`` with the
targets ``y``. Backpropagation starts with ``dL/dz``: everything below the output layer is
multiplied by it, so a pairing whose ``dL/dz`` vanishes where the prediction is wrong stalls
the whole network (lecture 004, other network specifications).

Formula (per sample, ``K`` output units; the regression losses and binary cross-entropy are
averaged over the ``K`` outputs and categorical cross-entropy is summed, as ``keras.losses``
does)::

    dL/dz = J_a(z)^T dL/dp
    dL/dp:  MSE 2(p - y)/K,  MAE sign(p - y)/K,
            Huber (p - y)/K if |p - y| <= delta else delta sign(p - y)/K,
            BCE (p - y) / (p (1 - p) K),  CCE -y/p
    J_a:    linear 1,  sigmoid p(1 - p) (diagonal),  softmax diag(p) - p p^T

so the notable pairs simplify to: sigmoid + MSE ``2(p - y) p (1 - p) / K`` (vanishes when
``p`` is near 0 or 1, right *or wrong*), sigmoid + BCE ``(p - y)/K`` and softmax + CCE
``p - y`` (for one-hot ``y``): proportional to the error, never vanishing when wrong.

Example:
    >>> logit_gradient("binary_crossentropy", "sigmoid", [[-8.0]], [[1.0]])   # p ~ 3e-4
    array([[-0.99966465]])
    >>> logit_gradient("mse", "sigmoid", [[-8.0]], [[1.0]])                   # stalls
    array([[-0.00067025]])

Reference:
    Lecture 004, other network specifications (loss formulas and the table
    of output activation x loss per task).
    I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, section 6.2.2.2
    (sigmoid output units: "the loss saturates only when the model already has the right
    answer" with cross-entropy, while mean squared error saturates whenever sigma saturates),
    https://www.deeplearningbook.org/contents/mlp.html.
    P. J. Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 35(1), 1964.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_init_lab._arrays import check_array
from keras_init_lab._validation import check_choice, check_number

__all__ = [
    "LOSSES",
    "OUTPUT_ACTIVATIONS",
    "TASKS",
    "TaskRecipe",
    "activate",
    "format_task_table",
    "logit_gradient",
    "loss_value",
    "recipe",
]

#: Loss names, as ``keras.losses`` spells them (the short aliases are accepted too).
LOSSES = ("mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy")
#: Aliases accepted for the loss names (Keras's own long names and acronyms).
LOSS_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
}
#: Output activations of the output layer.
OUTPUT_ACTIVATIONS = ("linear", "sigmoid", "softmax")
#: Huber's default delta: 1.0, the default of ``keras.losses.Huber`` and ``torch.nn.HuberLoss``.
DEFAULT_HUBER_DELTA = 1.0
#: Cross-entropies need probabilities strictly inside (0, 1): a linear output can be <= 0.
_PROBABILITY_LOSSES = ("binary_crossentropy", "categorical_crossentropy")
#: Valid targets per cross-entropy: BCE's ``y log p + (1 - y) log(1 - p)`` is a cross-entropy
#: only for ``y`` in [0, 1]; CCE's ``-sum y log p`` for ``y >= 0`` (a negative weight rewards
#: a wrong class). The regression losses take any finite target.
_TARGET_RANGE = {"binary_crossentropy": (0.0, 1.0), "categorical_crossentropy": (0.0, np.inf)}


@dataclass(frozen=True)
class TaskRecipe:
    """One row of the task table: what the targets are and which output/loss goes with them."""

    task: str
    targets: str
    output_units: str
    output_activation: str
    loss: str
    why: str


#: Output activation x loss per task: the table of lecture 004 (activation functions, losses
#: and normalization), with Keras names instead of PyTorch's (``BCEWithLogitsLoss`` is
#: ``binary_crossentropy`` with ``from_logits=True``, ``CrossEntropyLoss`` is
#: ``categorical_crossentropy``/``sparse_categorical_crossentropy`` with ``from_logits=True``).
TASKS = (
    TaskRecipe(
        "regression",
        "real, dim d",
        "d",
        "linear",
        "mse (mae, huber: outliers)",
        "a linear output covers every real value; dL/dz = 2(p - y)/K is the error",
    ),
    TaskRecipe(
        "binary",
        "0 or 1",
        "1",
        "sigmoid",
        "binary_crossentropy",
        "sigmoid gives P(y=1); with BCE dL/dz = p - y never vanishes when wrong",
    ),
    TaskRecipe(
        "multi-class",
        "one of K (one-hot)",
        "K",
        "softmax",
        "categorical_crossentropy",
        "softmax gives K probabilities summing to 1; with CCE dL/dz = p - y",
    ),
    TaskRecipe(
        "multi-label",
        "K-dim 0/1 vector",
        "K",
        "sigmoid (per output)",
        "binary_crossentropy (per output)",
        "each output is its own yes/no; softmax would force the K outputs to sum to 1",
    ),
)


def _loss_name(loss) -> str:
    if isinstance(loss, str) and loss in LOSS_ALIASES:
        return LOSS_ALIASES[loss]
    return check_choice("loss", loss, LOSSES, kind="loss")


def _check_pair(loss: str, activation: str) -> None:
    check_choice("activation", activation, OUTPUT_ACTIVATIONS, kind="output activation")
    if loss in _PROBABILITY_LOSSES and activation == "linear":
        raise ValueError(
            f"loss={loss!r} needs probabilities in (0, 1); received activation='linear'. Use "
            "activation='sigmoid' (binary, multi-label) or 'softmax' (multi-class), or a Keras "
            "loss with from_logits=True."
        )


def _arrays(loss: str, logits, y) -> tuple[np.ndarray, np.ndarray]:
    z = np.atleast_2d(check_array("logits", logits))
    t = np.atleast_2d(check_array("y", y))
    if z.shape != t.shape:
        raise ValueError(
            f"logits and y must have the same shape (batch, K); received logits.shape={z.shape}, "
            f"y.shape={t.shape}."
        )
    # Cross-entropies compare probabilities: BCE targets are probabilities in [0, 1] (soft
    # labels allowed), CCE targets are non-negative weights (soft, not necessarily summing to 1).
    low, high = _TARGET_RANGE.get(loss, (-np.inf, np.inf))
    outside = (t < low) | (t > high)
    if np.any(outside):
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"{loss} needs targets in [{low:g}, {high:g}]; received y[{where[0]}, {where[1]}]="
            f"{float(t[where])!r}."
        )
    return z, t


def activate(activation: str, logits) -> np.ndarray:
    """Apply an output activation to ``logits`` (float64, last axis = output units).

    Formula: linear ``p = z``; sigmoid ``p = 1 / (1 + exp(-z))``; softmax
    ``p_k = exp(z_k - max z) / sum_j exp(z_j - max z)`` (shifted for stability).

    Example:
        >>> activate("softmax", [[0.0, 0.0]])
        array([[0.5, 0.5]])

    Args:
        activation: one of :data:`OUTPUT_ACTIVATIONS`.
        logits: array-like ``(batch, K)``.

    Returns:
        ``p``, a float64 array of the shape of ``logits``.

    Raises:
        TypeError: ``activation`` is not a string or ``logits`` not numbers.
        ValueError: unknown activation (closest valid names listed), non-finite logits.
    """
    check_choice("activation", activation, OUTPUT_ACTIVATIONS, kind="output activation")
    z = np.atleast_2d(check_array("logits", logits))
    if activation == "linear":
        return z
    if activation == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1/(1+exp(-z)) without overflow
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def loss_value(loss: str, activation: str, logits, y, delta: float = DEFAULT_HUBER_DELTA):
    """Per-sample loss of ``activation(logits)`` against ``y`` (Keras's reduction over outputs).

    Formula (``r = p - y``, mean over the ``K`` outputs unless said):
    MSE ``mean r^2``; MAE ``mean |r|``; Huber ``mean(r^2/2 if |r| <= delta else
    delta (|r| - delta/2))``; BCE ``mean -(y log p + (1 - y) log(1 - p))``;
    CCE ``-sum y log p``.

    Example:
        >>> loss_value("huber", "linear", [[3.0]], [[0.0]], delta=1.0)
        array([2.5])

    Args:
        loss: one of :data:`LOSSES` (or an alias such as ``"mean_squared_error"``, ``"bce"``).
        activation: one of :data:`OUTPUT_ACTIVATIONS`.
        logits: ``(batch, K)`` pre-activations of the output layer.
        y: ``(batch, K)`` targets: any finite value for the regression losses,
            probabilities in ``[0, 1]`` for binary cross-entropy, non-negative weights for
            categorical cross-entropy (soft targets need not sum to 1).
        delta: Huber's threshold between the quadratic and linear regimes (> 0).

    Returns:
        A float64 array ``(batch,)``.

    Raises:
        TypeError: a name that is not a string, logits or targets that are not numbers, a
            non-numeric ``delta``.
        ValueError: unknown names (closest valid ones listed), a cross-entropy on a linear
            output, mismatched shapes, non-finite logits or targets, targets outside
            ``[0, 1]`` for binary or below 0 for categorical cross-entropy, ``delta <= 0``.
    """
    loss = _loss_name(loss)
    _check_pair(loss, activation)
    delta = check_number("delta", delta, positive=True)
    z, t = _arrays(loss, logits, y)
    p = activate(activation, z)
    r = p - t
    if loss == "mse":
        return np.mean(r**2, axis=-1)
    if loss == "mae":
        return np.mean(np.abs(r), axis=-1)
    if loss == "huber":
        small = np.abs(r) <= delta
        return np.mean(np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)), axis=-1)
    if loss == "binary_crossentropy":
        return np.mean(-(t * np.log(p) + (1.0 - t) * np.log1p(-p)), axis=-1)
    return -np.sum(t * np.log(p), axis=-1)


def _loss_gradient_wrt_output(loss: str, p, t, delta: float) -> np.ndarray:
    """``dL/dp`` for one sample row-wise (the first factor of the chain rule)."""
    k = p.shape[-1]
    r = p - t
    if loss == "mse":
        return 2.0 * r / k
    if loss == "mae":
        return np.sign(r) / k
    if loss == "huber":
        return np.where(np.abs(r) <= delta, r, delta * np.sign(r)) / k
    if loss == "binary_crossentropy":
        return r / (p * (1.0 - p) * k)
    return -t / p


def logit_gradient(loss: str, activation: str, logits, y, delta: float = DEFAULT_HUBER_DELTA):
    """Analytic ``dL/dz``: the gradient of the per-sample loss with respect to the logits.

    Formula: ``dL/dz = J_a(z)^T dL/dp`` (see the module docstring); closed forms used for the
    pairs where the product simplifies: sigmoid + BCE ``(p - y)/K`` and softmax + CCE
    ``p sum(y) - y`` (``= p - y`` for one-hot or soft targets summing to 1), which also avoid
    dividing by ``p (1 - p)`` when a probability rounds to 0 or 1.

    Soft categorical targets that do not sum to 1 (label weights, a smoothing that forgot to
    renormalize) are where this differs from Keras: ``keras.losses.categorical_crossentropy``
    with ``from_logits=True`` runs TensorFlow's fused ``softmax_cross_entropy_with_logits``,
    whose gradient is ``p - y`` whatever ``sum(y)`` is (TensorFlow documents the gradient as
    incorrect for labels that are not a probability distribution). Here, as in the slope of
    Keras's own loss value, it is ``p sum(y) - y``.

    Example:
        >>> logit_gradient("categorical_crossentropy", "softmax", [[0.0, 0.0]], [[1.0, 0.0]])
        array([[-0.5,  0.5]])

    Args:
        loss: one of :data:`LOSSES` (or an alias).
        activation: one of :data:`OUTPUT_ACTIVATIONS`.
        logits: ``(batch, K)`` pre-activations of the output layer.
        y: ``(batch, K)`` targets.
        delta: Huber's threshold (> 0).

    Returns:
        A float64 array of the shape of ``logits``; row ``i`` is the gradient of sample
        ``i``'s loss (not divided by the batch size).

    Raises:
        TypeError, ValueError: as :func:`loss_value`.

    Reference:
        Goodfellow, Bengio & Courville 2016, sections 6.2.2.2-6.2.2.3 (sigmoid and softmax
        output units with cross-entropy).
    """
    loss = _loss_name(loss)
    _check_pair(loss, activation)
    delta = check_number("delta", delta, positive=True)
    z, t = _arrays(loss, logits, y)
    p = activate(activation, z)
    if activation == "sigmoid" and loss == "binary_crossentropy":
        return (p - t) / p.shape[-1]
    if activation == "softmax" and loss == "categorical_crossentropy":
        return p * t.sum(axis=-1, keepdims=True) - t
    upstream = _loss_gradient_wrt_output(loss, p, t, delta)
    if activation == "linear":
        return upstream
    if activation == "sigmoid":
        return upstream * p * (1.0 - p)
    # softmax Jacobian-vector product: (diag(p) - p p^T) g = p * (g - <p, g>)
    return p * (upstream - np.sum(upstream * p, axis=-1, keepdims=True))


def recipe(task: str) -> TaskRecipe:
    """Return the row of :data:`TASKS` for ``task`` (regression, binary, multi-class, ...).

    Example:
        >>> recipe("binary").loss
        'binary_crossentropy'

    Args:
        task: ``"regression"``, ``"binary"``, ``"multi-class"`` or ``"multi-label"``.

    Returns:
        The :class:`TaskRecipe` (targets, output units, output activation, loss, why).

    Raises:
        TypeError: ``task`` is not a string.
        ValueError: unknown task (closest valid names listed).
    """
    by_name = {row.task: row for row in TASKS}
    return by_name[check_choice("task", task, by_name, kind="task")]


def format_task_table() -> str:
    """Format :data:`TASKS` as a plain-text table (task, targets, units, activation, loss).

    Example:
        >>> print(format_task_table().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
        task  targets  units  output activation  loss

    Returns:
        One header line and one line per task, columns padded to their widest cell.
    """
    header = ("task", "targets", "units", "output activation", "loss")
    rows = [header] + [
        (r.task, r.targets, r.output_units, r.output_activation, r.loss) for r in TASKS
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )
