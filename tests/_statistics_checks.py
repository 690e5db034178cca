"""The check of recorded statistics against a float64 NumPy reference, on every backend.

Shared by the statistics tests of TensorFlow (``test_callbacks_statistics.py``), JAX
(``test_backend_jax.py``) and PyTorch (``test_backend_torch.py``), whose references differ
(tape, ``jax.grad``, ``torch.autograd``) but whose tolerances do not.
"""

import numpy as np

#: Relative tolerance of a statistic against its float64 reference: float32 reductions over
#: up to ~10^4 chunk rows (rounding ~ sqrt(n) * 2^-24 ~ 1e-5 in the worst row order) and a
#: reference gradient computed by the same float32 ops in a possibly different order (a few
#: units of 2^-24 per element).
STATISTICS_RTOL = 2e-5


def assert_statistics(measured, expected, what, rtol=STATISTICS_RTOL):
    """Every statistic of ``expected`` (``{name: float64 array}``) against ``measured``.

    Counts (``zero_fraction``, ``nonfinite_count``) exactly; a mean within ``rtol`` times
    the entries' RMS (``expected["_rms"]``): a mean near 0 is a float32 sum with
    cancellation, whose rounding scales with the size of the entries, not with the mean, and
    whose last bits move with the order of the sum (the fusion XLA picks, the threads that
    reduce); everything else within ``rtol`` of the reference.
    """
    for stat, reference in expected.items():
        if stat == "_rms":
            continue
        got = np.asarray(measured[stat], dtype=np.float64)
        if stat in ("zero_fraction", "nonfinite_count"):
            np.testing.assert_array_equal(got, reference, err_msg=f"{what} {stat}")
        elif stat == "mean":
            bound = rtol * np.asarray(expected["_rms"]) + 1e-12
            assert np.all(np.abs(got - reference) <= bound), (what, stat, got, reference, bound)
        else:
            np.testing.assert_allclose(
                got, reference, rtol=rtol, atol=1e-12, err_msg=f"{what} {stat}"
            )
