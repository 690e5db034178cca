"""Look-ups by name or by object: every function here reads the facts table (``_facts.FACTS``).

:func:`get`, :func:`spec` and :func:`as_layer` resolve names and objects to functions, facts
rows and layers; :func:`classify` and :func:`activation_layer_classes` give the one
classification of units (family, dying) that the statistics callbacks and ``check_model`` use.

Example:
    >>> get("silu").__name__, names()[:3]
    ('swish', ['linear', 'step', 'sigmoid'])
    >>> classify(keras.layers.ELU(alpha=0.5))
    UnitKind(name='elu', family='relu', can_die=False)
"""

from __future__ import annotations

import dataclasses
import functools

import keras

from keras_init_lab import _keras_compat
from keras_init_lab._names import unknown_name_error
from keras_init_lab.activations import _functions as f
from keras_init_lab.activations._constants import PACKAGE
from keras_init_lab.activations._facts import (
    ActivationSpec,
    UnitKind,
    alias_map,
    by_name,
    function_names,
    layer_names,
    leaky_relu_spec,
)
from keras_init_lab.fans import DEFAULT_NEGATIVE_SLOPE

__all__ = [
    "activation_layer_classes",
    "aliases",
    "as_layer",
    "canonical_name",
    "classify",
    "get",
    "names",
    "spec",
]


def names(include_layers: bool = False) -> list[str]:
    """Return the canonical names of the activation functions, in the order of the course.

    Example:
        >>> names()[:3]
        ['linear', 'step', 'sigmoid']

    Args:
        include_layers: also list ``"prelu"``, which is a layer (:func:`prelu`), not a
            function usable as ``activation=``.

    Returns:
        A list of names.

    Raises:
        TypeError: ``include_layers`` is not a bool.
    """
    if not isinstance(include_layers, bool):
        raise TypeError(
            f"include_layers must be True or False; received include_layers={include_layers!r}."
        )
    if include_layers:
        return list(by_name())
    return function_names()


def aliases() -> dict[str, str]:
    """Return ``{alias: canonical name}`` (e.g. ``silu -> swish``, ``heaviside -> step``)."""
    return alias_map()


def _all_names() -> list[str]:
    return [*by_name(), *alias_map()]


def canonical_name(name: str) -> str | None:
    """The canonical name of a name, alias or ``keras_init_lab>name``; ``None`` if unknown.

    Example:
        >>> canonical_name("keras_init_lab>SiLU")
        'swish'
    """
    key = name.strip().lower()
    prefix = PACKAGE + ">"
    if key.startswith(prefix):
        key = key[len(prefix) :]
    key = alias_map().get(key, key)
    return key if key in by_name() else None


def get(identifier):
    """Resolve an activation from a name, an alias or a callable.

    The package's names come first (``"leaky_relu"`` is this package's slope-0.01 version),
    then Keras's own names (``"mish"``, ``"hard_sigmoid"``...). Callables are returned
    unchanged; ``None`` gives :func:`linear` (as Keras).

    Example:
        >>> get("silu") is f.swish
        True
        >>> get("leaky_relu") is f.leaky_relu
        True

    Args:
        identifier: a name or alias (case-insensitive), a registered name such as
            ``"keras_init_lab>gelu_tanh"``, a callable, or ``None``.

    Returns:
        The activation callable.

    Raises:
        ValueError: for an unknown name (with the closest valid names), or ``"prelu"``, which
            is a layer: use :func:`prelu` or :func:`as_layer`.
        TypeError: for anything that is neither a string nor a callable.
    """
    if identifier is None:
        return f.linear
    if isinstance(identifier, str):
        name = canonical_name(identifier)
        if name in layer_names():
            raise ValueError(
                f"Activation {identifier!r} is a layer with a learnable slope, not a function "
                "usable as activation=...: add keras_init_lab.activations.prelu() (a "
                "keras.layers.PReLU starting at slope 0.01) after a layer without activation, "
                f"or use keras_init_lab.activations.as_layer({identifier!r})."
            )
        if name is not None:
            return by_name()[name].function
        keras_table = _keras_compat.activation_registry()
        if identifier in keras_table:
            return keras_table[identifier]
        raise unknown_name_error("activation", identifier, [*_all_names(), *keras_table])
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret activation identifier {identifier!r} of type "
        f"{type(identifier).__name__}: pass a name such as 'relu' or 'gelu_tanh', or a "
        "callable such as keras_init_lab.activations.relu."
    )


def as_layer(identifier, **kwargs) -> keras.layers.Layer:
    """Return the activation as a Keras layer: ``Activation(fn)``, or ``PReLU`` for ``"prelu"``.

    Example:
        >>> type(as_layer("prelu")).__name__, type(as_layer("tanh")).__name__
        ('PReLU', 'Activation')

    Args:
        identifier: anything :func:`get` accepts, or ``"prelu"``.
        **kwargs: passed to the layer (e.g. ``name=``; for prelu also ``alpha_initializer``).

    Returns:
        A Keras layer.
    """
    if isinstance(identifier, str) and canonical_name(identifier) in layer_names():
        return by_name()[canonical_name(identifier)].layer_factory(**kwargs)
    return keras.layers.Activation(get(identifier), **kwargs)


#: Slope of ``keras.activations.leaky_relu(x)`` called with its default argument.
KERAS_LEAKY_RELU_SLOPE = 0.2


def _keras_builtin_specs() -> dict:
    """``{id(keras function): row name or leaky slope}``, from the rows' ``keras_functions``.

    Only names the installed ``keras.activations`` has are looked up. Keras's ``leaky_relu``
    defaults to slope 0.2, so it maps to that slope, not to the course's 0.01 row.
    """
    table = {}
    for row in by_name().values():
        for keras_name in row.keras_functions:
            function = getattr(keras.activations, keras_name, None)
            if function is not None:
                table[id(function)] = row.name
    leaky = getattr(keras.activations, "leaky_relu", None)
    if leaky is not None:
        table[id(leaky)] = KERAS_LEAKY_RELU_SLOPE
    return table


def spec(identifier) -> ActivationSpec | None:
    """Return the :class:`ActivationSpec` (function, derivative, facts) of an activation.

    Accepts the package's names and aliases, its functions, a :class:`LeakyReLUActivation`,
    Keras's built-in activation functions (``keras.activations.relu``...; Keras's
    ``leaky_relu`` is described with its slope 0.2) and Keras activation layers
    (``Activation``, ``ReLU`` with default arguments, ``LeakyReLU``, ``ELU`` with alpha 1,
    ``PReLU``, ``Softmax``).

    Example:
        >>> spec("sigmoid").max_slope
        0.25
        >>> spec(keras.activations.tanh).name
        'tanh'

    Args:
        identifier: a name, alias, callable or Keras activation layer.

    Returns:
        The spec, or ``None`` for a callable or layer this package does not know.

    Raises:
        TypeError: ``identifier`` is neither a string nor callable (a number, ``None``).
        ValueError: for an unknown *name* (with the closest valid names).
    """
    rows = by_name()
    if isinstance(identifier, str):
        name = canonical_name(identifier)
        if name is None:
            raise unknown_name_error("activation", identifier, _all_names())
        return rows[name]
    if not callable(identifier):  # a number, None, a list: no activation at all
        raise TypeError(
            "identifier must be an activation name (e.g. 'relu'), an activation function or "
            f"a Keras activation layer; received identifier={identifier!r}."
        )
    if isinstance(identifier, f.LeakyReLUActivation):
        if identifier.negative_slope == DEFAULT_NEGATIVE_SLOPE:
            return dataclasses.replace(rows["leaky_relu"], function=identifier)
        return leaky_relu_spec(identifier.negative_slope, identifier)
    for row in rows.values():
        if row.kind == "function" and identifier is row.function:
            return row
    builtin = _keras_builtin_specs().get(id(identifier))
    if isinstance(builtin, str):
        return dataclasses.replace(rows[builtin], function=identifier)
    if isinstance(builtin, float):
        return leaky_relu_spec(builtin, identifier)
    return _layer_spec(identifier)


def _layer_spec(layer) -> ActivationSpec | None:
    if not isinstance(layer, keras.layers.Layer):
        return None
    rows = by_name()
    if isinstance(layer, keras.layers.Activation):
        return spec(layer.activation)
    if isinstance(layer, keras.layers.PReLU):
        return rows["prelu"]
    if isinstance(layer, keras.layers.LeakyReLU):
        return leaky_relu_spec(float(layer.negative_slope), layer)
    if isinstance(layer, keras.layers.ELU) and float(layer.alpha) == 1.0:
        return dataclasses.replace(rows["elu"], function=layer)
    if isinstance(layer, keras.layers.ReLU):
        plain = (
            layer.max_value is None
            and float(layer.negative_slope) == 0.0
            and float(layer.threshold) == 0.0
        )
        return dataclasses.replace(rows["relu"], function=layer) if plain else None
    if isinstance(layer, keras.layers.Softmax):
        return dataclasses.replace(rows["softmax"], function=layer)
    return None


@functools.cache
def _layer_rows() -> tuple[tuple[type, ActivationSpec], ...]:
    """``(keras layer class, row)`` from the rows' ``keras_layers``, classes this Keras has."""
    found = []
    for row in by_name().values():
        for class_name in row.keras_layers:
            cls = getattr(keras.layers, class_name, None)
            if isinstance(cls, type):
                found.append((cls, row))
    return tuple(found)


def activation_layer_classes() -> tuple[type, ...]:
    """The ``keras.layers`` classes that *are* an activation (their input is the pre-activation).

    Derived from the facts rows' ``keras_layers``: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``
    and ``Softmax`` (``keras.layers.Activation`` wraps any function and is not among them).

    Example:
        >>> [cls.__name__ for cls in activation_layer_classes()]
        ['ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'Softmax']
    """
    return tuple(cls for cls, _ in _layer_rows())


def classify(obj) -> UnitKind | None:
    """Return the :class:`UnitKind` (name, family, dying) of an activation function or layer.

    Whatever :func:`spec` knows gets its facts row's kind. A Keras activation layer whose
    parameters no row describes (``ReLU(max_value=6)``, ``ELU(alpha=0.5)``) gets the kind of
    the row its class belongs to; a ``ReLU`` layer with a negative slope is a leaky ReLU.

    Example:
        >>> classify(keras.layers.ReLU(max_value=6.0))
        UnitKind(name='relu', family='relu', can_die=True)
        >>> classify(keras.layers.ReLU(negative_slope=0.1)).name
        'leaky_relu'

    Args:
        obj: an activation function, a ``keras.layers.Activation`` or an activation layer.

    Returns:
        The kind, or ``None`` for an object the facts table cannot place (a custom function,
        a Keras function without a row: see ``_facts.KERAS_ONLY``).
    """
    found = spec(obj)
    if found is not None:
        return found.unit_kind
    row = next((row for cls, row in _layer_rows() if isinstance(obj, cls)), None)
    if row is None:
        return None
    slope = float(getattr(obj, "negative_slope", 0.0))
    if slope > 0:
        return leaky_relu_spec(slope, obj).unit_kind
    return row.unit_kind
