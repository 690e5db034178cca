"""Array and sequence arguments under the package's one exception policy.

The scalar checks live in :mod:`keras_init_lab._validation`; these two cover what a lesson or
the loss module takes besides scalars, with the same rule: a value of the wrong **type** (a
string where numbers belong, a number where a list belongs) raises ``TypeError``; the right type
with a wrong **value** (a shape that does not fit, NaN, an empty list) raises ``ValueError``.
Every message names the bad value (its ``repr``, shortened by :mod:`reprlib` for long arrays,
or the offending entry and where it sits).

Example:
    >>> check_array("x", [[1.0, 2.0]], ndim=2).shape
    (1, 2)
    >>> check_array("x", "abc")
    Traceback (most recent call last):
    ...
    TypeError: x must be an array of numbers; received x='abc'.
    >>> check_sequence("starts", 0.3)
    Traceback (most recent call last):
    ...
    TypeError: starts must be a list; received starts=0.3.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable

import numpy as np

__all__ = ["check_array", "check_sequence", "check_tensor_input"]

#: NumPy dtype kinds accepted as numbers: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = "biuf"
#: Axis names used in messages for the common numbers of axes.
_AXES = {1: "(n,)", 2: "(batch, features)"}


def _short(value) -> str:
    return reprlib.repr(value)


def check_array(name: str, value, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """Return ``value`` as a float64 array after checking its type, axes and finiteness.

    Args:
        name: the argument's name, echoed in the message.
        value: what the caller passed: a NumPy array, a nested list, a tensor with
            ``__array__``.
        ndim: required number of axes (``None``: any).
        finite: refuse NaN and infinities.

    Returns:
        ``np.asarray(value, dtype=float64)`` (a copy only where the dtype changes).

    Raises:
        TypeError: a string, ``None``, or anything that is not an array of numbers.
        ValueError: a ragged nested list, the wrong number of axes, a non-finite entry.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers; received {name}={value!r}.")
    try:
        array = np.asarray(value)
    except ValueError as error:  # a ragged list: right type, impossible shape
        raise ValueError(
            f"{name} must be a rectangular array; received {name}={_short(value)} ({error})."
        ) from error
    if array.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(
            f"{name} must be an array of numbers; received {name}={_short(value)} "
            f"(dtype {array.dtype})."
        )
    array = array.astype(np.float64, copy=False)
    if ndim is not None and array.ndim != ndim:
        axes = _AXES.get(ndim, f"{ndim} axes")
        raise ValueError(
            f"{name} must have {ndim} axes {axes}; received {name}.shape={array.shape}."
        )
    if finite and not np.all(np.isfinite(array)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(
            f"{name} must be finite; received {name}[{', '.join(map(str, where))}]="
            f"{float(array[where])!r}."
        )
    return array


def check_sequence(name: str, values, one_string: bool = False) -> list:
    """Return a non-empty list from a list, tuple or other iterable of values.

    Args:
        name: the argument's name, echoed in the message.
        values: what the caller passed.
        one_string: accept a single string as a one-element list (``"batch"`` for
            ``["batch"]``); otherwise a string is refused (its characters are no list).

    Returns:
        ``list(values)``.

    Raises:
        TypeError: not iterable, or a string when ``one_string`` is false.
        ValueError: empty.
    """
    if isinstance(values, str) and one_string:
        return [values]
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list; received {name}={values!r}.")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value; received {name}={values!r}.")
    return values


def check_tensor_input(name: str, value):
    """Refuse what is never a tensor of numbers (a string, bytes, ``None``) with a TypeError.

    One cheap ``isinstance`` test for element-wise functions that take any tensor: it runs
    in Python, so inside a compiled graph it runs once at trace time, never per step. Anything
    else (lists, NumPy arrays, tensors, symbolic Keras tensors) is passed through unchanged.

    Example:
        >>> check_tensor_input("x", [0.5])
        [0.5]
        >>> check_tensor_input("x", "abc")
        Traceback (most recent call last):
        ...
        TypeError: x must be a tensor of numbers (a float tensor, array or list); received x='abc'.

    Args:
        name: the argument's name, echoed in the message.
        value: what the caller passed.

    Returns:
        ``value`` itself.

    Raises:
        TypeError: ``value`` is a ``str``, ``bytes`` or ``None``.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(
            f"{name} must be a tensor of numbers (a float tensor, array or list); "
            f"received {name}={value!r}."
        )
    return value
