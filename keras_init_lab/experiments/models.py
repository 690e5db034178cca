"""Small MLP and CNN builders configured by initializer and activation *names*.

Both builders resolve names through ``keras_init_lab.initializers.get`` and
``keras_init_lab.activations.get`` (so ``"leaky_relu"`` is the package's slope-0.01 version,
not Keras's 0.2) and pass callables to the layers: Keras's ``Dense(activation="my_name")``
only knows Keras's own strings. Every weight layer, output included, uses the
same initializer, so "initialized with zeros" means all kernels are zero. Biases start at 0.

A hidden block is ``Dense/Conv -> [BatchNorm] -> activation -> [Dropout]``; with
``residual=True`` every block after the first whose input has the block's output shape
adds its input back (``h_{k+1} = h_k + block(h_k)``, He et al. 2016), so gradients have a
path that skips the block. With BatchNorm the Dense/Conv layer has no bias (BatchNorm's beta
replaces it), and normalisation comes before the activation, as in lecture 004 and Ioffe &
Szegedy (2015).
The output layer is linear (logits); train with ``from_logits=True``.

Example:
    >>> model = build_mlp((2,), 2, depth=3, width=16, initializer="he_normal",
    ...                   activation="relu")
    >>> [layer.name for layer in model.layers][:3]
    ['input', 'dense_1', 'dense_2']

Reference:
    K. He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
    https://arxiv.org/abs/1512.03385 ; S. Ioffe & C. Szegedy, "Batch Normalization" (ICML
    2015), https://arxiv.org/abs/1502.03167
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from keras_init_lab._validation import check_int

__all__ = ["build_cnn", "build_mlp"]


def _check_common(input_shape, num_classes, depth, width, dropout):
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise ValueError(
            f"input_shape must be a tuple of positive ints such as (2,) or "
            f"(8, 8, 1); received input_shape={input_shape!r}."
        ) from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(
            f"input_shape must be a tuple of positive ints such as (2,) or "
            f"(8, 8, 1); received input_shape={input_shape!r}."
        )
    if check_int("num_classes", num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2; received num_classes={num_classes!r}.")
    check_int("depth", depth)
    check_int("width", width)
    if not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1); received dropout={dropout!r}.")
    return shape


def _resolve(initializer, activation):
    from keras_init_lab import activations, initializers

    # Resolve once up front so a bad name fails before any layer is built.
    initializers.get(initializer)
    return (lambda: initializers.get(initializer)), activations.get(activation)


def _display_name(identifier) -> str:
    return (
        identifier
        if isinstance(identifier, str)
        else getattr(identifier, "__name__", type(identifier).__name__)
    )


def _block(keras, h, layer, index, activation, batchnorm, dropout, residual):
    z = layer(h)
    if batchnorm:
        z = keras.layers.BatchNormalization(name=f"batchnorm_{index}")(z)
        z = keras.layers.Activation(activation, name=f"activation_{index}")(z)
    if dropout > 0:
        z = keras.layers.Dropout(dropout, name=f"dropout_{index}")(z)
    if residual and index > 1 and tuple(h.shape[1:]) == tuple(z.shape[1:]):
        z = keras.layers.Add(name=f"residual_{index}")([h, z])
    return z


def _with_output(keras, inputs, h, num_classes, initializer, kernel_regularizer, name):
    """The logits layer both builders end with, and the model from ``inputs`` to it."""
    outputs = keras.layers.Dense(
        num_classes,
        kernel_initializer=initializer,
        kernel_regularizer=kernel_regularizer,
        name="output",
    )(h)
    return keras.Model(inputs, outputs, name=name)


def build_mlp(
    input_shape: Sequence[int],
    num_classes: int,
    depth: int = 4,
    width: int = 64,
    initializer="he_normal",
    activation="relu",
    batchnorm: bool = False,
    residual: bool = False,
    dropout: float = 0.0,
    name: str | None = None,
    kernel_regularizer=None,
):
    """Build a fully connected classifier: ``depth`` hidden layers of ``width`` units.

    Formula: ``h_k = a(W_k h_{k-1})`` (``+ h_{k-1}`` with ``residual``, BatchNorm before
    ``a`` with ``batchnorm``), logits ``= W_out h_depth``. Inputs of rank > 1 are flattened.

    Example:
        >>> m = build_mlp((2,), 3, depth=2, width=8)
        >>> m.output_shape
        (None, 3)

    Args:
        input_shape: shape of one sample, e.g. ``(2,)`` or ``(8, 8, 1)``.
        num_classes: number of output logits, >= 2.
        depth: number of hidden layers, >= 1.
        width: units per hidden layer, >= 1.
        initializer: initializer name (``initializers.get``) for every kernel.
        activation: activation name or callable (``activations.get``) for every hidden layer.
        batchnorm: insert ``BatchNormalization`` before each activation.
        residual: add each hidden layer's input to its output when shapes match (layers 2+).
        dropout: dropout rate after each activation, in ``[0, 1)``.
        name: model name (default ``mlp_<initializer>_<activation>``).
        kernel_regularizer: regularizer of every kernel, output included (e.g.
            ``keras.regularizers.L2(1e-4)``); ``None`` (default) for none.

    Returns:
        An uncompiled ``keras.Model`` with layers named ``dense_1..dense_<depth>``, ``output``.

    Raises:
        ValueError: bad sizes or rates (echoing the value), unknown names (closest valid ones).
    """
    import keras

    shape = _check_common(input_shape, num_classes, depth, width, dropout)
    make_initializer, act = _resolve(initializer, activation)
    inputs = keras.Input(shape=shape, name="input")
    h = keras.layers.Flatten(name="flatten")(inputs) if len(shape) > 1 else inputs
    for index in range(1, depth + 1):
        dense = keras.layers.Dense(
            width,
            activation=None if batchnorm else act,
            use_bias=not batchnorm,
            kernel_initializer=make_initializer(),
            kernel_regularizer=kernel_regularizer,
            name=f"dense_{index}",
        )
        h = _block(keras, h, dense, index, act, batchnorm, dropout, residual)
    return _with_output(
        keras,
        inputs,
        h,
        num_classes,
        make_initializer(),
        kernel_regularizer,
        name or f"mlp_{_display_name(initializer)}_{_display_name(activation)}",
    )


def build_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    depth: int = 3,
    width: int = 16,
    initializer="he_normal",
    activation="relu",
    batchnorm: bool = False,
    residual: bool = False,
    dropout: float = 0.0,
    kernel_size: int = 3,
    name: str | None = None,
    kernel_regularizer=None,
):
    """Build a small convolutional classifier: ``depth`` 3x3 ``Conv2D`` layers of ``width`` filters.

    Formula: ``h_k = a(conv(h_{k-1}, W_k))`` with "same" padding (``+ h_{k-1}`` with
    ``residual`` when shapes match), a 2x2 max-pool after every second layer while the image is
    at least 8 pixels wide, then ``Flatten`` and a linear ``Dense`` to the logits.

    Example:
        >>> m = build_cnn((8, 8, 1), 10, depth=2, width=8)
        >>> m.output_shape
        (None, 10)

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: number of output logits, >= 2.
        depth: number of convolution layers, >= 1.
        width: filters per convolution, >= 1.
        initializer: initializer name for every kernel.
        activation: activation name or callable for every convolution.
        batchnorm: BatchNormalization before each activation.
        residual: skip connections around convolutions 2+ whose input and output shapes match.
        dropout: dropout rate after each activation.
        kernel_size: square kernel side, >= 1.
        name: model name (default ``cnn_<initializer>_<activation>``).
        kernel_regularizer: regularizer of every kernel, output included; ``None`` for none.

    Returns:
        An uncompiled ``keras.Model`` with layers ``conv_1..conv_<depth>``, ``output``.

    Raises:
        ValueError: input_shape not of rank 3, bad sizes, unknown names.
    """
    import keras

    shape = _check_common(input_shape, num_classes, depth, width, dropout)
    if len(shape) != 3:
        raise ValueError(
            f"build_cnn needs images shaped (height, width, channels); received "
            f"input_shape={tuple(input_shape)!r}. Use build_mlp for flat inputs."
        )
    check_int("kernel_size", kernel_size)
    make_initializer, act = _resolve(initializer, activation)
    inputs = keras.Input(shape=shape, name="input")
    h = inputs
    for index in range(1, depth + 1):
        conv = keras.layers.Conv2D(
            width,
            kernel_size,
            padding="same",
            activation=None if batchnorm else act,
            use_bias=not batchnorm,
            kernel_initializer=make_initializer(),
            kernel_regularizer=kernel_regularizer,
            name=f"conv_{index}",
        )
        h = _block(keras, h, conv, index, act, batchnorm, dropout, residual)
        if index % 2 == 0 and index < depth and min(h.shape[1:3]) >= 8:
            h = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return _with_output(
        keras,
        inputs,
        h,
        num_classes,
        make_initializer(),
        kernel_regularizer,
        name or f"cnn_{_display_name(initializer)}_{_display_name(activation)}",
    )
