"""TensorFlow only where the TensorFlow backend needs it: a lazy ``tf`` and a no-import probe.

On the JAX and PyTorch backends Keras never imports TensorFlow, and neither does the package
on the path of its callbacks (importing TensorFlow costs seconds and about a gigabyte of
memory, and pulls its own thread pools into a JAX or PyTorch process). Two tools keep it so:

* :data:`tensorflow`, imported as ``tf`` by the modules whose TensorFlow-only code sits next
  to backend-free code (the TensorFlow gradient capture, its device histograms, the
  ``tf.summary`` writers): ``tensorflow`` is imported at the first attribute read
  (``tf.function``, ``tf.Variable``...), which only code that runs on the TensorFlow backend
  does. On the TensorFlow backend Keras has imported it already, so nothing changes there.
* :func:`loaded_tensorflow`, for code that runs on every backend but must recognise
  TensorFlow objects (a ``tf.data.Dataset`` probe, a ``tf.nn`` activation): an object of a
  module that was never imported cannot exist, so the module is looked up in
  ``sys.modules``, never imported.

Example:
    >>> from keras_init_lab._backend import loaded_tensorflow, tensorflow as tf
    >>> tf  # nothing imported yet
    <lazily imported module 'tensorflow'>
    >>> dataset_type = getattr(loaded_tensorflow(), "data", None)  # None unless imported

Reference:
    PEP 562 (module ``__getattr__``) for the same idea applied to the package's public
    names (``keras_init_lab/__init__.py``); Keras's own lazy ``tensorflow`` module
    (``keras/src/utils/module_utils.py``).
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["loaded_tensorflow", "tensorflow"]


class _LazyModule:
    """A module imported at the first attribute read, then read through.

    Not entered in ``sys.modules`` and not a module object: ``"tensorflow" in sys.modules``
    stays False until some code really uses it.
    """

    __slots__ = ("_name", "_module")

    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attribute: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "lazily imported"
        return f"<{state} module {self._name!r}>"


#: ``tensorflow``, imported at the first attribute read (``from ... import tensorflow as tf``).
tensorflow = _LazyModule("tensorflow")


def loaded_tensorflow():
    """The ``tensorflow`` module if some code already imported it, else None; never imports it.

    Example:
        >>> tf = loaded_tensorflow()
        >>> is_dataset = tf is not None and isinstance(obj, tf.data.Dataset)  # doctest: +SKIP

    Returns:
        ``sys.modules["tensorflow"]`` or None.
    """
    return sys.modules.get("tensorflow")
