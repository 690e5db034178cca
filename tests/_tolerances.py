"""Tolerances shared by the tests, each with where it comes from.

Floats that come out of ``exp``/``log``/sums/reductions are never compared with ``==``: their
last bits depend on the CPU's vector math (oneDNN on or off, AVX2 or AVX-512, Eigen's
polynomial ``exp`` on whole vector registers and the C library's on the leftover elements), on
the number of threads (the order of a reduction) and on the TensorFlow build. These constants
say how far from the exact value such a result may land.
"""

import numpy as np

#: Smallest normal float32, 2**-126 (IEEE 754 binary32): where ``exp`` of a very negative
#: number lands when it does not underflow to exactly 0 (a vectorised ``exp`` may clamp its
#: input near ``log(2**-126)``; with flush-to-zero the result is 0).
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

#: Ulps a result of ``exp`` followed by a sum and a division may be off by: a vectorised
#: ``exp`` is within 1-2 ulps (``exp(0)`` itself can come out one ulp below 1), and
#: TensorFlow's softmax multiplies by the reciprocal of the sum, two more roundings of half an
#: ulp each. Observed: a one-unit softmax (``exp(0) / exp(0)``) of ``1 - 2**-24 =
#: 0.99999994`` in float32 on an AMD EPYC CPU, exactly 1 on an Intel Xeon.
EXP_ULPS = 4


def exp_rtol(dtype: str = "float32") -> float:
    """Relative tolerance of a value computed by ``exp``, a sum and a division in ``dtype``.

    ``EXP_ULPS`` times the spacing of ``dtype`` at 1.0 (``np.finfo(dtype).eps``):
    ``4 * 2**-23 = 4.8e-7`` in float32, ``4 * 2**-52 = 8.9e-16`` in float64. For a value near
    1 (a saturated softmax or sigmoid) it is also the absolute tolerance.
    """
    return EXP_ULPS * float(np.finfo(dtype).eps)
