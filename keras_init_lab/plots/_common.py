"""What every figure module shares: the Agg backend and a save that leaks no pyplot state.

Figures are built with ``matplotlib.figure.Figure`` directly (object API), never through
``pyplot``'s global figure registry, so a long experiment or a notebook does not accumulate
open figures and nothing needs a display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Dots per inch of saved PNGs: 110 keeps a 10x6 inch figure near 1100x660 pixels, legible
#: in a report and small enough (~100 kB) to embed in a self-contained HTML page.
DEFAULT_DPI = 110


def new_figure(width: float = 8.0, height: float = 5.0) -> Figure:
    """Return a new figure attached to an Agg canvas (no pyplot, no display)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = DEFAULT_DPI) -> Path:
    """Save ``figure`` as PNG at ``path`` (parent folders created) and return the path.

    Raises:
        ValueError: if ``path`` does not end in ``.png``.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Figures are saved as PNG; got path={str(path)!r}. Use a '.png' name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path


def require_history(history: Any, keys: Sequence[str], source: str) -> Mapping[str, Any]:
    """Check that ``history`` is a mapping with ``keys`` (a callback's ``history``).

    Raises:
        TypeError: if ``history`` is not a mapping (the message names ``source``).
        ValueError: if keys are missing (the message lists them and the keys received).
    """
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history must be {source} (a dict with {', '.join(repr(k) for k in keys)}); "
            f"received {type(history).__name__}."
        )
    missing = [key for key in keys if key not in history]
    if missing:
        raise ValueError(
            f"history lacks keys {missing}; pass {source} or the same layout "
            f"(received keys {sorted(history)})."
        )
    return history
