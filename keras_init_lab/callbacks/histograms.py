"""The one device-side bucketing of the package: gradient and weight histograms.

Gradients are counted per binade of ``|g|`` (fixed edges read from the float32 exponent
bits), weights in equal-width buckets between each variable's min and max; all variables at
once from the chunk matrices of :mod:`keras_init_lab.callbacks.statistics`, one
``DenseBincount`` per matrix, XLA-compatible. TensorBoard's own ``tf.summary.histogram``
buckets on the host with a float64 one-hot of N x buckets; this does not.

Example:
    >>> g_counts, w_counts, low, high = gradient_histograms(grads, weights, layout, 30)

Reference:
    IEEE 754 binary32 layout (sign bit, 8 exponent bits biased by 127, 23 fraction bits).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from keras_init_lab._arrays import check_tensor_input
from keras_init_lab._backend import tensorflow as tf  # imported at first use
from keras_init_lab._validation import check_int, check_number
from keras_init_lab.callbacks.statistics import CHUNK_SIZE, VariableLayout, _as_chunks

__all__ = [
    "DEFAULT_HISTOGRAM_BUCKETS",
    "GRADIENT_MAX_EXPONENT",
    "GRADIENT_MIN_EXPONENT",
    "gradient_histograms",
    "gradient_log10_edges",
    "uniform_bucket_counts",
]

#: Buckets of a linear (min..max) histogram: 30 is TensorBoard's own default
#: (``DEFAULT_BUCKET_COUNT`` in ``tensorboard/plugins/histogram/summary_v2.py``).
DEFAULT_HISTOGRAM_BUCKETS = 30

#: Gradient magnitude histogram: one bucket per binade [2^e, 2^(e+1)) for e in
#: [GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT), read straight from the float32 exponent
#: bits (exact edges, no log: cheaper than a log10 and an arithmetic index).
#: 2^-34 ~ 5.8e-11 sits just under 1e-10: float32 keeps ~7 significant digits, so with a
#: learning rate near 1e-3 a gradient below ~1e-4 no longer changes a weight of size ~1,
#: and 1e-10 leaves six more decades of view below that; 2^14 ~ 1.6e4 is past
#: GradientHealth's exploding norm (1e3). Smaller magnitudes (exact zeros included) are
#: counted in the first bucket, larger ones (+-Inf included) in the last: 48 buckets.
GRADIENT_MIN_EXPONENT = -34
GRADIENT_MAX_EXPONENT = 14


def gradient_log10_edges() -> np.ndarray:
    """Edges (log10 units) of the gradient histogram: ``e * log10(2)`` for the binades."""
    return np.arange(GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT + 1) * math.log10(2.0)


# Rows of the sufficient-statistics buffer computed on the device, per variable.
def _bucket_ids(matrix, scale, offset, group, num_buckets, finite):
    """Bin ids ``group * k + min(floor(x * scale + offset), k - 1)`` per chunk row.

    For values inside ``[low, high]`` (``scale = k / (high - low)``, ``offset = -low * scale``).
    ``scale``/``offset``/``group`` are per row. The group offset is folded into the float
    position, so the whole index costs four elementwise ops (exact in float32 while
    ``groups * k < 2**24``). NaN entries would cast to garbage: when the
    gradients are not all finite (``finite`` False) they are routed to the dropped bin
    ``-1 -> dump`` by an extra ``where`` that healthy steps never run.
    """
    base = tf.cast(group * num_buckets, tf.float32)[:, None]
    position = matrix * scale[:, None] + (offset[:, None] + base)
    # Clamped at both ends of the variable's own buckets: the range is its own [min, max],
    # but rounding (a fused multiply-add under XLA) can put x == min a hair below ``base``,
    # which the cast would truncate into the previous variable's last bucket; x == max (or
    # a zero-width range) reaches base + k.
    position = tf.clip_by_value(position, base, base + float(num_buckets - 1))
    return tf.cast(position, tf.int32)


def _bincount(ids, size):
    return tf.raw_ops.DenseBincount(
        input=tf.reshape(ids, [-1]), size=size, weights=tf.zeros([0], tf.int32), binary_output=False
    )


def gradient_histograms(gradients, weights, layout: VariableLayout, weight_buckets, finite=None):
    """Per-variable histograms of ``log10|g|`` (fixed binade edges) and of the weights.

    Formula: ``|g|`` is counted per binade ``[2^e, 2^(e+1))``, i.e. ``log10|g|`` into the
    fixed edges :func:`gradient_log10_edges` (``e * log10 2``), read from the float32
    exponent bits (magnitudes below ``2^GRADIENT_MIN_EXPONENT``, exact zeros included, in the
    first bucket; above the last edge in the last one); weights into ``weight_buckets`` equal-width buckets between each
    variable's min and max (all in the last bucket when min == max, as TensorBoard does).
    NaN gradients, non-finite weights and tail padding go to a dropped bin. Bit and arithmetic bucket indices (no
    ``searchsorted``, several times slower on a CPU) and one
    ``DenseBincount`` per matrix; everything stays on the device.

    Args:
        gradients, weights: tensors per variable of ``layout``, or their :class:`Chunks`.
        layout: the :class:`VariableLayout`.
        weight_buckets: buckets of each weight histogram.
        finite: optional scalar bool tensor, True when every gradient and weight is finite
            (skips the NaN routing); None checks it here.

    Returns:
        ``(gradient_counts [n_vars, k], weight_counts [n_vars, weight_buckets],
        weight_min [n_vars], weight_max [n_vars])`` (counts int64).
    """
    n = layout.num_variables
    k = GRADIENT_MAX_EXPONENT - GRADIENT_MIN_EXPONENT
    full_variable = tf.constant(layout.full_variable)
    tail_variable = tf.range(n, dtype=tf.int32)
    valid = tf.range(CHUNK_SIZE)[None, :] < tf.constant(layout.tail_sizes.astype(np.int32))[:, None]
    grad_full, grad_tail = _as_chunks(gradients, layout)
    weight_full, weight_tail = _as_chunks(weights, layout)
    if finite is None:
        finite = tf.reduce_all(
            [
                tf.reduce_all(tf.math.is_finite(m))
                for m in (grad_full, grad_tail, weight_full, weight_tail)
                if m is not None
            ]
        )

    def count(full, tail, full_scale, full_offset, tail_scale, tail_offset, buckets):
        dump = n * buckets

        def ids(matrix, scale, offset, group, mask=None):
            def clean():
                return _bucket_ids(matrix, scale, offset, group, buckets, finite)

            def with_nan():
                # Non-finite weights are dropped, and a non-finite range (an Inf weight)
                # puts that variable's finite weights in its last bucket.
                bad = ~tf.math.is_finite(matrix)
                safe = tf.where(bad, tf.zeros_like(matrix), matrix)
                usable = tf.math.is_finite(scale) & tf.math.is_finite(offset)
                result = _bucket_ids(
                    safe,
                    tf.where(usable, scale, 0.0),
                    tf.where(usable, offset, float(buckets)),
                    group,
                    buckets,
                    finite,
                )
                return tf.where(bad, dump, result)

            result = tf.cond(finite, clean, with_nan)
            return result if mask is None else tf.where(mask, result, dump)

        counts = _bincount(ids(tail, tail_scale, tail_offset, tail_variable, valid), dump + 1)
        if full is not None:
            counts += _bincount(ids(full, full_scale, full_offset, full_variable), dump + 1)
        return tf.cast(tf.reshape(counts[:dump], [n, buckets]), tf.int64)

    # |g| -> binade from the float32 exponent bits. An arithmetic shift of the int32 bits by
    # 23 leaves sign and exponent: e (biased by 127) for x >= 0 and e - 256 for x < 0, so
    # ``(bits >> 23) + 256`` is a bin in [0, 512) without masking the sign (2 ops). The
    # biased exponent is 0 for zeros and denormals, 255 for Inf and NaN.
    bins = 512

    def exponent_ids(matrix, group, mask=None):
        def clean():
            shifted = tf.bitwise.right_shift(tf.bitcast(matrix, tf.int32), 23)
            return shifted + (group * bins + 256)[:, None]

        def with_nan():  # NaN shares the exponent 255 with Inf: drop it
            return tf.where(tf.math.is_nan(matrix), n * bins, clean())

        result = tf.cond(finite, clean, with_nan)
        return result if mask is None else tf.where(mask, result, n * bins)

    by_exponent = _bincount(exponent_ids(grad_tail, tail_variable, valid), n * bins + 1)
    if grad_full is not None:
        by_exponent += _bincount(exponent_ids(grad_full, full_variable), n * bins + 1)
    # Fold sign and the 256 biased exponents into the k binade buckets (clamped at both ends).
    fold = np.clip(np.arange(bins) % 256 - 127 - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(np.int32)
    gradient_counts = tf.transpose(
        tf.math.unsorted_segment_sum(
            tf.transpose(tf.reshape(by_exponent[: n * bins], [n, bins])), tf.constant(fold), k
        )
    )
    gradient_counts = tf.cast(gradient_counts, tf.int64)

    low = tf.reduce_min(tf.where(valid, weight_tail, np.inf), axis=1)
    high = tf.reduce_max(tf.where(valid, weight_tail, -np.inf), axis=1)
    if weight_full is not None:
        low = tf.minimum(
            low, tf.math.unsorted_segment_min(tf.reduce_min(weight_full, 1), full_variable, n)
        )
        high = tf.maximum(
            high, tf.math.unsorted_segment_max(tf.reduce_max(weight_full, 1), full_variable, n)
        )
    width = high - low
    # Zero width (constant weights, e.g. a zero-initialised bias): scale 0 and an offset past
    # the last edge, so the clip puts every value in the last bucket.
    scale = tf.where(width > 0, weight_buckets / tf.where(width > 0, width, 1.0), 0.0)
    offset = tf.where(width > 0, -low * scale, float(weight_buckets))
    weight_counts = count(
        weight_full,
        weight_tail,
        None if weight_full is None else tf.gather(scale, full_variable),
        None if weight_full is None else tf.gather(offset, full_variable),
        scale,
        offset,
        weight_buckets,
    )
    return gradient_counts, weight_counts, low, high


def uniform_bucket_counts(
    values, low, high, num_buckets=DEFAULT_HISTOGRAM_BUCKETS, segment_ids=None, num_segments=None
) -> tf.Tensor:
    """Count ``values`` into ``num_buckets`` equal-width buckets on ``[low, high]`` (XLA-safe).

    The same bucket index and ``DenseBincount`` as the weight histograms of
    :func:`gradient_histograms`, for any tensor (activations, a probe's outputs).

    Formula: ``i = clip(floor((x - low) / (high - low) * num_buckets), 0, num_buckets - 1)``,
    the bucketing of ``tf.summary.histogram`` without its ``N x k`` one-hot. ``low`` and
    ``high`` may be per-segment vectors, so one call histograms every segment. When
    ``high == low`` every value goes to the last bucket, as in TensorBoard. NaN is not counted.

    Example:
        >>> uniform_bucket_counts(tf.constant([0.0, 0.1, 0.9, 1.0]), 0.0, 1.0, 2).numpy()
        array([2, 2])

    Args:
        values: float tensor of any shape (flattened).
        low: left edge, a scalar or a ``[num_segments]`` tensor.
        high: right edge, same shape as ``low``.
        num_buckets: buckets per histogram, a positive int (default 30).
        segment_ids: optional int tensor shaped like ``values``.
        num_segments: number of segments (int), required with ``segment_ids``.

    Returns:
        int64 tensor ``[num_buckets]`` or ``[num_segments, num_buckets]``; the edges are
        ``low + (high - low) * j / num_buckets`` for ``j = 0..num_buckets``.

    Raises:
        TypeError: ``num_buckets`` or ``num_segments`` is not an int; ``values``, ``low``,
            ``high`` or ``segment_ids`` is a string, bytes or ``None``; a Python ``low`` or
            ``high`` that is not a real number.
        ValueError: ``num_buckets < 1``, ``segment_ids`` without ``num_segments``, a Python
            ``low`` or ``high`` that is not finite.
    """
    num_buckets = check_int("num_buckets", num_buckets, minimum=1)
    check_tensor_input("values", values)
    if segment_ids is not None:
        check_tensor_input("segment_ids", segment_ids)
    # Python numbers are checked here (finite); tensors (per-segment edges computed inside a
    # compiled step) pass through. Both checks run at trace time only, never per step.
    for name, edge in (("low", low), ("high", high)):
        check_tensor_input(name, edge)
        if isinstance(edge, numbers.Real):
            check_number(name, edge)
    values = tf.reshape(tf.cast(tf.convert_to_tensor(values), tf.float32), [-1])
    if segment_ids is None:
        if num_segments is not None:
            raise ValueError(
                f"num_segments is only used with segment_ids; received num_segments={num_segments!r}."
            )
        groups, count = tf.zeros(tf.shape(values), tf.int32), 1
    else:
        if num_segments is None:
            raise ValueError("segment_ids needs num_segments (the number of segments, an int).")
        count = check_int("num_segments", num_segments, minimum=1)
        groups = tf.reshape(tf.cast(segment_ids, tf.int32), [-1])
    low = tf.broadcast_to(tf.reshape(tf.cast(low, tf.float32), [-1]), [count])
    high = tf.broadcast_to(tf.reshape(tf.cast(high, tf.float32), [-1]), [count])
    width = high - low
    # Zero width: scale 0 and an offset past the last edge, so every value lands in the last
    # bucket (TensorBoard's choice for one-value data).
    scale = tf.where(width > 0, num_buckets / tf.where(width > 0, width, 1.0), 0.0)
    offset = tf.where(width > 0, -low * scale, float(num_buckets))
    nan = tf.math.is_nan(values)
    ids = _bucket_ids(
        tf.where(nan, tf.zeros_like(values), values)[:, None],
        tf.gather(scale, groups),
        tf.gather(offset, groups),
        groups,
        num_buckets,
        None,
    )[:, 0]
    dump = count * num_buckets
    counts = _bincount(tf.where(nan, dump, ids), dump + 1)[:dump]
    counts = tf.reshape(tf.cast(counts, tf.int64), [count, num_buckets])
    return counts[0] if segment_ids is None else counts
