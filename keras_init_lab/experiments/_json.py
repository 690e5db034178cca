"""Turn experiment results into plain JSON: NumPy scalars to Python, non-finite numbers to null."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["json_safe"]


def json_safe(value):
    """Return ``value`` with NumPy scalars made Python and NaN/Inf made ``None`` (JSON null).

    JSON has no NaN or Infinity; an overflowed variance (``inf``) or a statistic that does not
    apply (``nan``) is written as ``null`` so every JSON reader accepts the file.

    Example:
        >>> json_safe({"v": [np.float32(1.5), float("inf")], 3: np.int64(2)})
        {'v': [1.5, None], '3': 2}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
