"""keras-init-lab: see and diagnose weight initialization and activation functions in Keras 3.

Importing the package registers its initializer and activation names with Keras, so
``keras.layers.Dense(8, kernel_initializer="he_avg_normal")``,
``keras.layers.Dense(8, activation="gelu_tanh")`` and loading a model saved with the package's
objects work without ``custom_objects``. Names that Keras already defines keep Keras's meaning
inside Keras (see ``initializers`` and ``activations``).

Example:
    >>> import keras_init_lab
    >>> import keras
    >>> keras.layers.Dense(3, kernel_initializer="he_avg_normal").kernel_initializer.name
    'he_avg_normal'

How the import stays light (the command line starts in a fraction of a second):

- The public names below are loaded on first access (PEP 562 module ``__getattr__``):
  ``keras_init_lab.activations``, ``keras_init_lab.lsuv(...)`` import their submodule then.
- Registration needs Keras, so it happens when Keras is there: at once if ``keras`` is
  already imported, otherwise right after ``keras`` finishes loading, by whoever imports it
  (a one-shot import hook, :mod:`keras_init_lab._import_hooks`). ``import keras_init_lab``
  followed by any use of Keras therefore behaves exactly as an eager import would, while
  ``keras-init-lab --help`` never loads TensorFlow. Registration also checks, once, that a
  Keras newer than the newest tested one still has the internals the package uses
  (:func:`keras_init_lab._keras_compat.warn_if_moved`).

Public face only: implementations live in the submodules.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types

from keras_init_lab._import_hooks import around_first_import

__version__ = "0.1.0"

__all__ = [
    "activations",
    "calculate_gain",
    "callbacks",
    "check_model",
    "compute_fans",
    "experiments",
    "initializers",
    "lessons",
    "losses",
    "lsuv",
    "plots",
]

#: Public name -> (submodule, attribute in it; ``None`` for the submodule itself).
_PUBLIC = {
    "activations": ("keras_init_lab.activations", None),
    "callbacks": ("keras_init_lab.callbacks", None),
    "experiments": ("keras_init_lab.experiments", None),
    "initializers": ("keras_init_lab.initializers", None),
    "plots": ("keras_init_lab.plots", None),
    "lessons": ("keras_init_lab.lessons", None),
    "losses": ("keras_init_lab.losses", None),
    "check_model": ("keras_init_lab.diagnostics", "check_model"),
    "calculate_gain": ("keras_init_lab.fans", "calculate_gain"),
    "compute_fans": ("keras_init_lab.fans", "compute_fans"),
    "lsuv": ("keras_init_lab.lsuv", "lsuv"),
}


def __getattr__(name: str):
    """Load a public name on first access (PEP 562) and keep it as a module global."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'keras_init_lab' has no attribute {name!r}")
    module_name, attribute = _PUBLIC[name]
    value = importlib.import_module(module_name)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module; keeps ``keras_init_lab.lsuv`` the function, as the eager face did.

    Importing the submodule ``keras_init_lab.lsuv`` makes Python set the package attribute
    ``lsuv`` to that submodule; the public name is the function of the same name in it.
    """

    def __setattr__(self, name, value):
        if name == "lsuv" and isinstance(value, types.ModuleType) and hasattr(value, "lsuv"):
            value = value.lsuv
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def _register_with_keras() -> None:
    """Register the package's names with Keras (the submodules do it on import) and check
    once that a Keras newer than the newest tested one has every internal the package uses."""
    for module_name in ("keras_init_lab.initializers", "keras_init_lab.activations"):
        importlib.import_module(module_name)
    from keras_init_lab import _keras_compat

    _keras_compat.warn_if_moved()


@contextlib.contextmanager
def _register_after_keras_loads(module):
    yield
    _register_with_keras()


if around_first_import("keras", _register_after_keras_loads) is None:
    _register_with_keras()  # keras was imported first
