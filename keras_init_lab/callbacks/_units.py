"""Which layers apply a nonlinearity, and which one: recognition by object, never by string.

A layer is measured when it applies an activation *function object* that can be identified:
the ``activation`` of ``Dense``/``EinsumDense``/``Conv*`` layers and of
``keras.layers.Activation`` (compared by identity with ``keras.activations.*``,
``keras.ops.*``, ``tf.nn.*``/``tf.math.*`` and, through
:func:`keras_init_lab.activations.spec`, the package's own functions), and the *layer class*
of ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU`` and ``Softmax``. A string in a config is never
read: a custom function named ``"relu"`` is not a ReLU.

Every name, family and layer class comes from the activations' facts table
(``keras_init_lab.activations._facts``: its rows, ``KERAS_ONLY`` and ``FAMILIES``); this
module only looks the names up. The identity table is built from the names the installed
Keras and TensorFlow actually have (``getattr`` with a default), so a function added in a
later Keras (``keras.activations.celu`` and ``hard_tanh`` are not in Keras 3.3) is recognised
where it exists and skipped elsewhere.

Example:
    >>> classify_activation(keras.activations.tanh).family
    'tanh'
    >>> describe_activation_layer(keras.layers.Dense(4, activation="relu")).fused
    True

Reference:
    X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural
    networks", AISTATS 2010 (saturating tanh/sigmoid units),
    https://proceedings.mlr.press/v9/glorot10a.html.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from keras_init_lab._backend import loaded_tensorflow
from keras_init_lab._layers import KERNEL_LAYERS
from keras_init_lab.activations._facts import FAMILIES as _FAMILY_FACTS
from keras_init_lab.activations._facts import keras_function_kinds
from keras_init_lab.activations._lookup import activation_layer_classes, classify
from keras_init_lab.activations._lookup import get as get_activation

__all__ = [
    "FAMILIES",
    "ActivationKind",
    "LayerActivation",
    "classify_activation",
    "describe_activation_layer",
]

#: The activation families of :func:`keras_init_lab.activations.spec` (the keys of the facts
#: table's ``FAMILIES``).
FAMILIES = tuple(_FAMILY_FACTS)


@dataclass(frozen=True)
class ActivationKind:
    """What a layer's nonlinearity is, as far as these statistics care.

    Attributes:
        name: short name shown in the history and plots (``"relu"``, ``"tanh"``...).
        family: one of ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"linear"``, ``"softmax"``,
            ``"other"`` (the families of :func:`keras_init_lab.activations.spec`).
        can_die: whether a unit can stop outputting positive values for good.
    """

    name: str
    family: str
    can_die: bool

    @property
    def has_dead_fraction(self) -> bool:
        """Dead fraction applies to the ReLU family (units stuck at z <= 0) and to dying units.

        Read from the family's ``dead_units`` in the facts table's ``FAMILIES``.
        """
        return _FAMILY_FACTS[self.family].dead_units or self.can_die

    @property
    def has_saturation_fraction(self) -> bool:
        """Saturation fraction applies to the bounded squashing families, tanh and sigmoid.

        Read from the family's ``saturation_bounds`` in the facts table's ``FAMILIES``.
        """
        return _FAMILY_FACTS[self.family].saturation_bounds is not None


def _builtin_activation_table() -> dict[int, ActivationKind]:
    """Identity table ``id(function) -> ActivationKind`` for Keras's and TensorFlow's built-ins.

    Keys are ``id`` of the function objects found under each name of the facts table's
    ``keras_function_kinds()`` (its rows' ``keras_functions``, then ``KERAS_ONLY``) in
    ``keras.activations``, ``keras.ops``, ``tf.nn`` and ``tf.math`` (module-level objects live
    as long as the process, so their ids are stable). A name a module does not have in the
    installed version is skipped (``getattr`` with a default), never an import error.
    ``tf.nn`` and ``tf.math`` only where TensorFlow is loaded (the TensorFlow backend loads it
    with Keras): on another backend no TensorFlow function can be a layer's activation.
    """
    tf = loaded_tensorflow()
    modules = (keras.activations, keras.ops, *((tf.nn, tf.math) if tf is not None else ()))
    table: dict[int, ActivationKind] = {}
    for unit, names in keras_function_kinds():
        kind = ActivationKind(unit.name, unit.family, unit.can_die)
        for module in modules:
            for name in names:
                function = getattr(module, name, None)
                if callable(function):
                    table.setdefault(id(function), kind)
    return table


_BUILTIN_ACTIVATIONS = _builtin_activation_table()


def _package_kind(obj) -> ActivationKind | None:
    """Kind from the facts table (``keras_init_lab.activations._lookup.classify``): a function
    or layer its rows describe, or an activation layer of a row's class. None otherwise."""
    unit = classify(obj)
    if unit is None:
        return None
    return ActivationKind(unit.name, unit.family, unit.can_die)


def classify_activation(function: Callable | None) -> ActivationKind:
    """Classify an activation *function object* (never a string).

    The package's own :func:`keras_init_lab.activations.spec` is asked first (one source of
    truth for the package's functions and Keras's built-ins); then the identity table of
    Keras/TensorFlow built-ins; anything else is ``family="other"`` (means and standard
    deviations are still recorded, dead and saturation fractions are NaN).

    Example:
        >>> classify_activation(keras.activations.relu)
        ActivationKind(name='relu', family='relu', can_die=True)

    Args:
        function: the callable a layer applies (``None`` means identity).

    Returns:
        An :class:`ActivationKind`.

    Raises:
        TypeError: if ``function`` is a string or another non-callable.
    """
    if function is None:
        function = get_activation(None)  # no activation is the identity (Keras's convention)
    if isinstance(function, str) or not callable(function):
        raise TypeError(
            "Activations are recognised by their function object, not by name; received "
            f"{function!r}. Pass the callable (e.g. keras.activations.relu)."
        )
    kind = _package_kind(function)
    if kind is not None:
        return kind
    kind = _BUILTIN_ACTIVATIONS.get(id(function))
    if kind is not None:
        return kind
    return ActivationKind(getattr(function, "__name__", type(function).__name__), "other", False)


#: Layers that apply ``self.activation`` to their linear output as the last step of ``call``
#: (checked with ``isinstance``, so subclasses count too).
_FUSED_LAYER_CLASSES = (
    *KERNEL_LAYERS,
    keras.layers.EinsumDense,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)


#: Layers that *are* an activation (their input is the pre-activation): the facts table's
#: layer classes.
_ACTIVATION_LAYER_CLASSES = activation_layer_classes()


@dataclass(frozen=True)
class LayerActivation:
    """How a layer applies its nonlinearity.

    Attributes:
        kind: the :class:`ActivationKind`.
        fused: True for ``Dense``/``Conv`` with ``activation=...`` (the pre-activation is the
            layer's linear part); False when the layer *is* the activation (its input is the
            pre-activation).
        channels_first: the unit axis is 1 instead of the last one (for outputs of rank > 2).
    """

    kind: ActivationKind
    fused: bool
    channels_first: bool


def describe_activation_layer(layer: keras.layers.Layer) -> LayerActivation | None:
    """Return what nonlinearity ``layer`` applies, or None if it applies none.

    Recognised by object: ``Activation`` layers (their ``.activation`` function, see
    :func:`classify_activation`), ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU`` and ``Softmax``
    layers (described by the facts row of their parameters when there is one, else of their
    class), and ``Dense``/``EinsumDense``/``Conv*`` layers whose ``.activation``
    is not the identity. The unit (channel) axis is the last one, or axis 1 for a layer with
    ``data_format="channels_first"``; standalone activation layers on rank > 2 tensors follow
    ``keras.config.image_data_format()``, the default that ``Conv`` layers use too.

    Example:
        >>> describe_activation_layer(keras.layers.Dense(4, activation="tanh")).kind.family
        'tanh'
        >>> describe_activation_layer(keras.layers.Dense(4)) is None
        True
    """
    global_channels_first = keras.config.image_data_format() == "channels_first"
    if isinstance(layer, _ACTIVATION_LAYER_CLASSES):
        kind = _package_kind(layer)
        return LayerActivation(kind, False, global_channels_first)
    if isinstance(layer, keras.layers.Activation):
        kind = classify_activation(layer.activation)
        if kind.family == "linear":
            return None
        return LayerActivation(kind, False, global_channels_first)
    if isinstance(layer, _FUSED_LAYER_CLASSES):
        kind = classify_activation(getattr(layer, "activation", None))
        if kind.family == "linear":
            return None
        channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
        return LayerActivation(kind, True, channels_first)
    return None
