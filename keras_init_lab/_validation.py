"""Argument checks shared by every module, with one exception policy.

* a value of the wrong **type** (a string where an int belongs, ``True`` for a count) raises
  ``TypeError``;
* a value of the right type but **out of range** or **not among the choices** raises
  ``ValueError``.

Every message echoes the bad value as ``name=value`` (Keras's ``Received: scale=...`` habit)
and says what would be right. Unknown names go through
:func:`keras_init_lab._names.unknown_name_error` (closest valid names first).

Example:
    >>> check_int("every_n_steps", 10)
    10
    >>> check_int("every_n_steps", 0)
    Traceback (most recent call last):
    ...
    ValueError: every_n_steps must be an integer >= 1; received every_n_steps=0.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable

from keras_init_lab._names import unknown_name_error

__all__ = ["check_choice", "check_int", "check_ints", "check_log_dir", "check_number"]


def check_int(
    name: str,
    value,
    minimum: int | None = 1,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """Return ``value`` as an ``int`` after checking its type and range.

    Args:
        name: the argument's name, echoed in the message.
        value: what the caller passed. ``bool`` is refused (``True`` is not a count).
        minimum: smallest allowed value (``None``: no lower bound). Default 1.
        maximum: largest allowed value (``None``: no upper bound).
        allow_none: accept ``None`` and return it.

    Returns:
        ``int(value)``, or ``None`` when allowed.

    Raises:
        TypeError: not an integer (NumPy integers are accepted).
        ValueError: outside ``[minimum, maximum]``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; received {name}={value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; received {name}={value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}; received {name}={value!r}.")
    return int(value)


def check_ints(name: str, values, minimum: int | None = 1) -> list[int]:
    """Check a non-empty sequence of integers with :func:`check_int`; returns a list."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of integers; received {name}={values!r}.")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one integer; received {name}=[].")
    return [check_int(name, value, minimum=minimum) for value in values]


def check_number(
    name: str,
    value,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    allow_none: bool = False,
    hint: str = "",
) -> float | None:
    """Return ``value`` as a finite ``float`` after checking its type and range.

    Args:
        name: the argument's name, echoed in the message.
        value: what the caller passed (``bool`` is refused).
        minimum: smallest allowed value, inclusive.
        maximum: largest allowed value, inclusive.
        positive: require ``value > 0``.
        allow_none: accept ``None`` and return it.
        hint: one more sentence for the message (e.g. an example of a good value).

    Returns:
        ``float(value)``, or ``None`` when allowed.

    Raises:
        TypeError: not a real number.
        ValueError: not finite, or out of range.
    """
    if value is None and allow_none:
        return None
    tail = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; received {name}={value!r}.{tail}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; received {name}={value!r}.{tail}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0; received {name}={value!r}.{tail}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; received {name}={value!r}.{tail}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; received {name}={value!r}.{tail}")
    return value


def check_choice(name: str, value, allowed: Iterable[str], kind: str | None = None) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise name the closest choices.

    Args:
        name: the argument's name.
        value: what the caller passed.
        allowed: the valid strings.
        kind: what is looked up, for the message (defaults to ``name``).

    Raises:
        TypeError: not a string.
        ValueError: not among ``allowed`` (lists the closest valid names).
    """
    allowed = list(allowed)
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; received {name}={value!r}."
        )
    if value not in allowed:
        raise unknown_name_error(kind or name, value, allowed)
    return value


def check_log_dir(name: str, value, allow_none: bool = True):
    """Return ``value`` after checking it is a usable folder path (a TensorBoard ``log_dir``).

    Example:
        >>> check_log_dir("log_dir", "logs/run1")
        'logs/run1'
        >>> check_log_dir("log_dir", "")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: log_dir is an empty path; pass a folder such as 'logs/run1', or None ...

    Args:
        name: the argument's name, echoed in the message.
        value: a ``str`` or ``os.PathLike`` (``pathlib.Path``); bytes are refused.
        allow_none: accept ``None`` (no event files) and return it.

    Returns:
        ``value`` itself (not converted), or ``None`` when allowed.

    Raises:
        TypeError: not a ``str`` or ``os.PathLike`` (or ``None`` when not allowed).
        ValueError: an empty path (``""``).
    """
    if value is None and allow_none:
        return None
    none = " or None" if allow_none else ""
    if not isinstance(value, (str, os.PathLike)) or not isinstance(os.fspath(value), str):
        raise TypeError(
            f"{name} must be a path (str or os.PathLike){none}; received {name}={value!r}."
        )
    if not os.fspath(value):
        tail = ", or None for no TensorBoard output" if allow_none else ""
        raise ValueError(
            f"{name} is an empty path; pass a folder such as 'logs/run1'{tail}; "
            f"received {name}={value!r}."
        )
    return value
