"""A run's optimizer and loss: the ``optimizers`` and ``losses`` axis values, checked, and what
``model.compile`` gets for one run (a fresh optimizer, the loss and the metric).

Every run starts with empty optimizer state (names are built, objects cloned from their
config, factories called), and every loss reads the same network's logits, so what the
callbacks see is the same network for every loss. ``grid`` checks its ``optimizers`` and
``losses`` axes with :func:`optimizer_choices` and :func:`loss_pairs`.

Reference:
    I. Loshchilov & F. Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019),
    https://arxiv.org/abs/1711.05101
"""

from __future__ import annotations

from collections.abc import Iterable

from keras_init_lab import losses as _losses
from keras_init_lab._validation import check_choice
from keras_init_lab.experiments._json import json_safe

__all__ = [
    "DEFAULT_LOSS",
    "DEFAULT_OPTIMIZER",
    "as_list",
    "learning_rate_of",
    "loss_pairs",
    "make_loss",
    "make_run_optimizer",
    "optimizer_choices",
    "optimizer_description",
    "optimizer_key",
    "optimizer_label",
]

#: The presets' optimizer: SGD with momentum 0.9 (``lessons.optimizers.make_optimizer``).
DEFAULT_OPTIMIZER = "momentum"
#: The default loss and output activation: softmax + categorical cross-entropy, computed fused
#: from the logits with integer labels (``SparseCategoricalCrossentropy(from_logits=True)``:
#: the same value and gradient ``p - y`` as softmax + CCE on one-hot targets, numerically
#: stable); lecture 004's row for multi-class tasks (``losses.recipe("multi-class")``).
DEFAULT_LOSS = ("categorical_crossentropy", "softmax")
#: Output activation each loss gets when none is named: the task table's row using it
#: (``losses.recipe``): regression losses linear, binary cross-entropy sigmoid, categorical
#: cross-entropy softmax.
_LOSS_TASK = {
    "mse": "regression",
    "mae": "regression",
    "huber": "regression",
    "binary_crossentropy": "binary",
    "categorical_crossentropy": "multi-class",
}


def as_list(values, name: str) -> list:
    """One value becomes a one-element list; any other iterable but a string is listed.

    Raises:
        ValueError: an empty iterable (an axis needs at least one value).
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return [values]
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty; give at least one value.")
    return values


def optimizer_choices(values) -> tuple:
    """Names from ``lessons.optimizers.OPTIMIZERS``, Keras optimizer objects or factories."""
    import keras

    from keras_init_lab.lessons.optimizers import OPTIMIZERS

    for value in (values := as_list(DEFAULT_OPTIMIZER if values is None else values, "optimizers")):
        if isinstance(value, str):
            check_choice("optimizers", value, OPTIMIZERS, kind="optimizer")
        elif not (isinstance(value, keras.optimizers.Optimizer) or callable(value)):
            raise TypeError(
                f"optimizers must hold names ({', '.join(OPTIMIZERS)}), Keras optimizer "
                f"objects or functions returning one; received optimizers={value!r}."
            )
    return tuple(values)


def loss_pairs(values) -> tuple:
    """``(loss, output activation)`` pairs from names, ``"loss:activation"`` or tuples."""
    values = [DEFAULT_LOSS] if values is None else as_list(values, "losses")
    if len(values) == 2 and all(isinstance(v, str) for v in values):
        # A bare ("mse", "softmax") tuple is one pair, not two losses.
        if values[1] in _losses.OUTPUT_ACTIVATIONS and values[0] not in _losses.OUTPUT_ACTIVATIONS:
            values = [tuple(values)]
    pairs = []
    for value in values:
        if isinstance(value, str):
            name, _, activation = value.partition(":")
            name, activation = name.strip(), activation.strip() or None
        elif isinstance(value, tuple) and len(value) == 2:
            name, activation = value
        else:
            raise TypeError(
                "losses must hold loss names ('mse'), 'loss:output_activation' strings "
                f"('mse:softmax') or (loss, output_activation) tuples; received losses={value!r}."
            )
        name = _losses._loss_name(name)
        if activation is None:
            activation = _losses.recipe(_LOSS_TASK[name]).output_activation
        _losses._check_pair(name, activation)
        pairs.append((name, activation))
    return tuple(dict.fromkeys(pairs))


def optimizer_key(choice):
    """An optimizer choice as plain JSON: its name, ``{class, config}`` or ``{factory}``."""
    if isinstance(choice, str):
        return choice
    if hasattr(choice, "get_config") and not isinstance(choice, type):
        # Keras numbers the names of its objects ("adam", "adam_1"): not a setting.
        config = {k: v for k, v in choice.get_config().items() if k != "name"}
        return {"class": type(choice).__qualname__, "config": json_safe(config)}
    module = getattr(choice, "__module__", "") or ""
    return {"factory": f"{module}.{getattr(choice, '__qualname__', repr(choice))}"}


def optimizer_label(choice) -> str:
    """A name for an optimizer choice: the name itself, or the class / function name, lowercase."""
    if isinstance(choice, str):
        return choice
    if isinstance(choice, type) or not hasattr(choice, "get_config"):
        return getattr(choice, "__name__", type(choice).__name__).lower()
    return type(choice).__name__.lower()


def make_run_optimizer(choice, learning_rate, weight_decay, preset_learning_rate):
    """A fresh optimizer for one run: every run starts with empty optimizer state.

    Names go through ``lessons.optimizers.make_optimizer``; objects are cloned from their
    config (``from_config(get_config())``), factories are called. ``learning_rate`` and
    ``weight_decay`` override the optimizer's own when not ``None``. Without an explicit
    learning rate, ``"momentum"`` (the presets' optimizer) uses the preset's rate and the
    other names Keras's defaults (``lessons.optimizers.DEFAULT_LEARNING_RATES``).

    Example:
        >>> round(learning_rate_of(make_run_optimizer("adam", None, None, 0.05)), 6)
        0.001
        >>> round(learning_rate_of(make_run_optimizer("momentum", None, None, 0.05)), 6)
        0.05

    Args:
        choice: an optimizer name, a ``keras.optimizers.Optimizer`` or a function returning one.
        learning_rate: the rate to use, or ``None``.
        weight_decay: decoupled weight decay, or ``None`` (the optimizer's own).
        preset_learning_rate: the rate ``"momentum"`` gets when ``learning_rate`` is ``None``.

    Returns:
        A new ``keras.optimizers.Optimizer``.

    Raises:
        TypeError: a factory that does not return an optimizer.
    """
    import keras

    from keras_init_lab.lessons.optimizers import make_optimizer

    if isinstance(choice, str):
        if learning_rate is None and choice == DEFAULT_OPTIMIZER:
            learning_rate = preset_learning_rate
        optimizer = make_optimizer(choice, learning_rate)
    elif isinstance(choice, keras.optimizers.Optimizer):
        optimizer = type(choice).from_config(choice.get_config())
    else:
        optimizer = choice()
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                f"an optimizer factory must return a keras.optimizers.Optimizer; "
                f"{optimizer_label(choice)}() returned {optimizer!r}."
            )
    config = optimizer.get_config()
    changes = {}
    if learning_rate is not None and not isinstance(choice, str):
        changes["learning_rate"] = learning_rate
    if weight_decay is not None:
        changes["weight_decay"] = weight_decay
    if changes:
        optimizer = type(optimizer).from_config({**config, **changes})
    return optimizer


def learning_rate_of(optimizer) -> float:
    """The optimizer's current learning rate as a Python float."""
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def optimizer_description(optimizer) -> str:
    """``SGD(learning_rate=0.05, momentum=0.9)``-style text of an optimizer's settings."""
    config = optimizer.get_config()
    parts = [f"learning_rate={learning_rate_of(optimizer):g}"]
    if config.get("momentum"):
        parts.append(f"momentum={config['momentum']:g}")
    if config.get("weight_decay"):
        parts.append(f"weight_decay={config['weight_decay']:g}")
    return f"{type(optimizer).__name__}({', '.join(parts)})"


def make_loss(loss: str, activation: str, num_classes: int):
    """``(keras loss, accuracy metric)`` for a loss and output activation on integer labels.

    The model outputs logits; the output activation is applied inside the loss, which gives
    the same loss value and the same gradient ``dL/dz`` as an activation on the output layer,
    while the network (and what GradientStats / ActivationStats see) is the same for every
    loss. Targets are the one-hot vectors of the integer labels (lecture 004's "MSE on
    one-hot"). Softmax + categorical and sigmoid + binary cross-entropy are computed from the
    logits (``from_logits=True``, numerically stable); the mismatched cross-entropy pairings
    (binary on softmax, categorical on sigmoid) are written out as ``losses.loss_value``
    states them, with probabilities clipped to ``[eps, 1 - eps]`` (``keras.config.epsilon()``):
    Keras's own cross-entropies (TensorFlow backend) read a sigmoid's or softmax's logits back and
    compute the matching pairing instead. Accuracy is the argmax of the logits, which softmax
    and sigmoid do not change.

    Args:
        loss: a name from ``losses.LOSSES``.
        activation: the output activation (``linear``, ``sigmoid`` or ``softmax``).
        num_classes: the number of classes (the one-hot width).

    Returns:
        ``(loss, metric)`` for ``model.compile``.
    """
    import keras

    if (loss, activation) == DEFAULT_LOSS:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), "accuracy"
    ops = keras.ops
    output = {
        "linear": lambda z: z,
        "sigmoid": keras.activations.sigmoid,
        "softmax": keras.activations.softmax,
    }[activation]

    def loss_fn(y_true, logits):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        target = ops.one_hot(labels, num_classes, dtype=logits.dtype)
        if loss == "binary_crossentropy" and activation == "sigmoid":
            return keras.losses.binary_crossentropy(target, logits, from_logits=True)
        if loss == "categorical_crossentropy" and activation == "softmax":
            return keras.losses.categorical_crossentropy(target, logits, from_logits=True)
        p = output(logits)
        if loss == "mse":
            return keras.losses.mean_squared_error(target, p)
        if loss == "mae":
            return keras.losses.mean_absolute_error(target, p)
        if loss == "huber":
            return keras.losses.huber(target, p, delta=_losses.DEFAULT_HUBER_DELTA)
        eps = keras.config.epsilon()
        p = ops.clip(p, eps, 1.0 - eps)
        if loss == "binary_crossentropy":
            return -ops.mean(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p), axis=-1)
        return -ops.sum(target * ops.log(p), axis=-1)

    loss_fn.__name__ = f"{loss}_{activation}"
    return loss_fn, keras.metrics.SparseCategoricalAccuracy(name="accuracy")
