"""Run code around the first import of one module (``keras``, ``tensorflow``), no earlier.

The package's public face (``keras_init_lab/__init__.py``) and its command line stay light:
they import neither TensorFlow nor Keras. Two things must still happen exactly when Keras or
TensorFlow is imported, by whoever imports it:

- ``import keras_init_lab`` then ``import keras``: the package's initializer and activation
  names are registered with Keras as soon as ``keras`` has loaded, so
  ``keras.layers.Dense(3, kernel_initializer="he_avg_normal")`` and loading a saved model work
  as if the package had imported Keras itself.
- the command line: TensorFlow's start-up lines (absl, oneDNN, CUDA probing) are kept off the
  terminal while ``tensorflow`` loads, whichever command imports it and only if one does.

:func:`around_first_import` installs a one-shot finder at the front of ``sys.meta_path``: when
the module is first imported it finds the module's spec with the other finders and wraps the
loader's ``exec_module`` in a context manager (code before ``yield`` runs before the module's
body, code after it once the module has fully loaded; an import error propagates unchanged).
This is the standard import protocol (PEP 451), the same mechanism as lazy loaders.

Example:
    >>> import contextlib
    >>> @contextlib.contextmanager
    ... def announce(module):
    ...     yield
    ...     print("loaded", module.__name__)
    >>> hook = around_first_import("json", announce)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager

__all__ = ["around_first_import", "remove_hook"]


class _FirstImportHook(importlib.abc.MetaPathFinder):
    """A one-shot ``sys.meta_path`` finder that wraps one module's ``exec_module``."""

    def __init__(self, name: str, around: Callable[[object], AbstractContextManager]):
        self.name = name
        self.around = around

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        remove_hook(self)  # one shot, and the find_spec below must not come back here
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original, around = loader.exec_module, self.around

        def exec_module(module):
            with around(module):
                original(module)

        loader.exec_module = exec_module  # this spec's loader instance only
        return spec

    def __repr__(self) -> str:
        return f"<keras_init_lab hook on the first import of {self.name!r}>"


def around_first_import(name: str, around: Callable[[object], AbstractContextManager]):
    """Run ``around(module)`` (a context manager) around the first import of ``name``.

    Args:
        name: a top-level module name, e.g. ``"keras"``.
        around: called with the new module; its ``with`` block wraps the module's execution.

    Returns:
        The installed hook (pass it to :func:`remove_hook` to cancel), or ``None`` when the
        module is already imported (nothing to wrap: the caller does its work directly).
    """
    if name in sys.modules:
        return None
    hook = _FirstImportHook(name, around)
    sys.meta_path.insert(0, hook)
    return hook


def remove_hook(hook) -> None:
    """Remove a hook from ``sys.meta_path`` if it is still there (``None`` is ignored)."""
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(hook)
