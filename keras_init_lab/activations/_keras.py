"""Plain-string names in Keras layers: the package's names that Keras lacks, added once.

``keras.activations.get("name")`` (which every Keras layer calls) only looks in Keras's own
table of activations (``keras_init_lab._keras_compat.activation_registry()``); registering a
function with ``keras.saving.register_keras_serializable`` does not make its *string* name
work. :func:`register_keras_names` adds the names of the facts table that Keras does **not**
define, never overriding a Keras name, and reads each one back through
``keras.activations.get``.

Example:
    >>> "gelu_tanh" in register_keras_names()
    True
"""

from __future__ import annotations

import keras

from keras_init_lab import _keras_compat
from keras_init_lab._backend import loaded_tensorflow
from keras_init_lab.activations._facts import FACTS

__all__ = ["KERAS_STRING_NAMES", "SAVED_UNDER_REGISTERED_NAMES", "register_keras_names"]


def register_keras_names() -> list[str]:
    """Make the package's names that Keras lacks usable as strings in Keras layers.

    Adds to Keras's activation table the names and aliases of the facts table's functions
    that Keras does not define (``step``, ``heaviside``, ``binary_step``, ``logistic``,
    ``identity``, ``gelu_tanh``, ``gelu_exact``, ...), and nothing else: a name Keras defines
    keeps Keras's meaning. Each addition is read back through ``keras.activations.get`` and
    removed again if Keras does not return it (e.g. a future Keras that resolves strings
    differently), so this never leaves Keras half-patched. Called once when the package is
    imported; calling it again is harmless.

    Example:
        >>> "heaviside" in register_keras_names()
        True

    Returns:
        The names that now work as ``activation="name"`` (empty if Keras's table is gone).
    """
    table = _keras_compat.activation_registry()
    if not table:
        return []
    candidates = [
        (name, row.function)
        for row in FACTS
        if row.kind == "function"  # prelu is a layer
        for name in (row.name, *row.aliases)
    ]
    # Canonical names first, then aliases, as before the table existed.
    candidates.sort(key=lambda pair: pair[0] not in {row.name for row in FACTS})
    registered = []
    for name, function in candidates:
        if name in table and table[name] is not function:
            continue  # Keras's own name: keep Keras's meaning
        added = name not in table
        table[name] = function
        try:
            works = keras.activations.get(name) is function
        except (ValueError, TypeError):
            works = False
        if works:
            registered.append(name)
        elif added:
            del table[name]
    return registered


#: Names of this package usable as plain strings in Keras layers after import.
KERAS_STRING_NAMES: list[str] = register_keras_names()

#: Functions whose names Keras also defines, which Keras 3.3-3.5 would save under the bare
#: (Keras) name: saved under ``keras_init_lab>name`` instead, so ``leaky_relu`` keeps its 0.01
#: slope when the model is loaded. Empty on newer Keras, which does this itself. Found at
#: import where TensorFlow is loaded (the TensorFlow backend); elsewhere at Keras's first
#: serialization of an activation, since probing calls Keras's serializer, which imports
#: TensorFlow wherever it is installed
#: (:func:`keras_init_lab._keras_compat.keep_registered_function_names_later`).
SAVED_UNDER_REGISTERED_NAMES: list = []
if loaded_tensorflow() is not None:
    SAVED_UNDER_REGISTERED_NAMES.extend(
        _keras_compat.keep_registered_function_names(
            [row.function for row in FACTS if row.kind == "function"]
        )
    )
else:
    _keras_compat.keep_registered_function_names_later(
        [row.function for row in FACTS if row.kind == "function"], SAVED_UNDER_REGISTERED_NAMES
    )
