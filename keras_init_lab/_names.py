"""Name look-up shared by every registry of the package (initializers, activations, CLI).

One place decides how a mistyped name is reported, so every module says it the same way:
the bad value, then the closest valid names (``difflib``'s ratio, the same measure
``argparse`` uses for its own suggestions), then the full list when it is short.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: ``difflib.get_close_matches`` cut-off: 0.6 is difflib's own default; 0.5 also catches
#: one-word slips such as ``'kaimng'`` for ``'kaiming_normal'`` prefixes.
CLOSE_MATCH_CUTOFF = 0.5


def closest_names(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``valid`` that look most like ``name``.

    Example:
        >>> closest_names("he_nromal", ["he_normal", "he_uniform", "zeros"])
        ['he_normal', 'he_uniform']
    """
    valid = sorted(set(valid))
    key = str(name).lower()
    matches = difflib.get_close_matches(key, valid, n=n, cutoff=CLOSE_MATCH_CUTOFF)
    if not matches:
        # Fall back on shared prefixes so 'xavier' still points at 'xavier_normal'.
        matches = [v for v in valid if v.startswith(key[:3])][:n]
    return matches


def unknown_name_error(kind: str, name: object, valid: Iterable[str]) -> ValueError:
    """Build the ``ValueError`` raised for an unknown ``kind`` name.

    The message echoes the bad value, lists the closest valid names, and the whole list.

    Example:
        >>> str(unknown_name_error("initializer", "he_nromal", ["he_normal", "zeros"]))
        "Unknown initializer 'he_nromal'. Did you mean: 'he_normal'? Valid names: he_normal, zeros."

    Args:
        kind: what was looked up ("initializer", "activation", ...).
        name: the value the user passed.
        valid: every accepted name.

    Returns:
        A ``ValueError`` ready to raise.
    """
    valid = sorted(set(valid))
    close = closest_names(str(name), valid)
    hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Valid names: {', '.join(valid)}.")
