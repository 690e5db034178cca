"""The vanishing/exploding rule on the first-to-last layer gradient-norm ratio, in one place.

``GradientHealth`` applies it during training and ``compare`` to each run's first step; both
read the thresholds and the verdict from here so they can never disagree.

Formula:
    ``ratio = ||dL/dW_first|| / ||dL/dW_last||``; vanishing if ``ratio < VANISHING_RATIO``,
    exploding if ``ratio > EXPLODING_RATIO``, otherwise balanced.

Example:
    >>> gradient_ratio_verdict(1e-5)
    'vanishing'
    >>> gradient_ratio_verdict(0.5)
    'balanced'
"""

from __future__ import annotations

import math

__all__ = ["EXPLODING_RATIO", "VANISHING_RATIO", "gradient_ratio_verdict"]

#: First-layer gradient norm below 1e-3 x the last layer's is "vanishing": three orders of
#: magnitude is where plain SGD on the first layer effectively stops (its updates are 1000x
#: smaller than the output layer's for the same learning rate). A convention, not a law.
VANISHING_RATIO = 1e-3

#: The mirror image: the first layer's gradient 1e3 x the last layer's is "exploding".
EXPLODING_RATIO = 1e3


def gradient_ratio_verdict(
    ratio: float,
    vanishing_ratio: float = VANISHING_RATIO,
    exploding_ratio: float = EXPLODING_RATIO,
) -> str:
    """Classify a first/last layer gradient-norm ratio.

    Args:
        ratio: ``||g_first|| / ||g_last||``.
        vanishing_ratio: below it, ``"vanishing"``.
        exploding_ratio: above it, ``"exploding"``.

    Returns:
        ``"non_finite"``, ``"vanishing"``, ``"exploding"`` or ``"balanced"``.
    """
    if ratio is None or not math.isfinite(ratio):
        return "non_finite"
    if ratio < vanishing_ratio:
        return "vanishing"
    if ratio > exploding_ratio:
        return "exploding"
    return "balanced"
