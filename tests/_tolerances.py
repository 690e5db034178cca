"""Tolerances shared by the tests, each with where it comes from.

Floats that come out of ``exp``/``log``/sums/reductions are never compared with ``==``: their
last bits depend on the CPU's vector math (oneDNN on or off, AVX2 or AVX-512, Eigen's
polynomial ``exp``), on the number of threads (the order of a reduction) and on the
TensorFlow build. These constants say how far from the exact value a result may land.
"""

import numpy as np

#: Spacing of float32 numbers at 1.0: 2**-23 (IEEE 754 binary32, 23 fraction bits).
FLOAT32_EPS = float(np.finfo(np.float32).eps)

#: Spacing of float64 numbers at 1.0: 2**-52 (IEEE 754 binary64, 52 fraction bits).
FLOAT64_EPS = float(np.finfo(np.float64).eps)

#: A one-unit softmax is ``exp(z - z) / exp(z - z) = 1`` in real arithmetic. In floats, a
#: vectorised ``exp(0)`` may land an ulp below 1, and TensorFlow's softmax multiplies by the
#: reciprocal of the sum (two more roundings): a few ulps of the float type below 1 (observed:
#: ``1 - 2**-24 = 0.99999994`` in float32 on an AMD EPYC CPU). Four ulps at 1.0, relative.
ONE_UNIT_SOFTMAX_ULPS = 4


def one_unit_softmax_atol(dtype: str = "float32") -> float:
    """Largest distance from 1 accepted for a one-unit softmax output of ``dtype``."""
    return ONE_UNIT_SOFTMAX_ULPS * float(np.finfo(dtype).eps)
