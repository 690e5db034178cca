"""Text for the command line: one line width and one way to wrap a sentence to it.

Every table and sentence the experiments print (``compare``'s tables and progress lines,
``propagate``'s reasons, the demo's parts) fits in :data:`LINE_WIDTH` columns; a test runs
every command and checks it.
"""

from __future__ import annotations

import textwrap

__all__ = ["LINE_WIDTH", "wrap"]

#: The widest line the command line prints: a terminal of 100 columns, the width the tests of
#: every command's output hold it to.
LINE_WIDTH = 100


def wrap(text: str, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` wrapped at :data:`LINE_WIDTH` columns, never breaking at a hyphen.

    Example:
        >>> wrap("a " * 60, indent="  why: ", subsequent="       ")[1][:9]
        '       a '

    Args:
        text: one paragraph.
        indent: the first line's prefix.
        subsequent: the following lines' prefix (default: ``indent``).

    Returns:
        The lines, each at most :data:`LINE_WIDTH` characters.
    """
    return textwrap.wrap(
        text,
        LINE_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_on_hyphens=False,
    )
