"""In-step gradient capture: the gradients the optimizer really applies, at no cost elsewhere.

How it works (DESIGN decision 2):

* Keras's fit loop calls ``model.train_function(iterator)`` afresh at every step. A
  :class:`GradientCapture` (one per model, shared by every callback that wants gradients)
  replaces ``model.train_function`` with a host-side selector for the duration of ``fit``.
* On steps nobody asked for, the selector runs the model's own compiled train function,
  untouched: no ``tf.cond``, no extra op, no extra host work.
* On recorded steps it runs a second, *instrumented* train function built with Keras's own
  ``model._make_function(model.train_step)`` (same ``jit_compile``, ``steps_per_execution``
  and ``tf.distribute`` handling), traced while ``optimizer.apply`` of the optimizer
  *instance* is wrapped. Under a ``LossScaleOptimizer`` the inner optimizer is wrapped, so the
  gradients are unscaled; an optimizer ``loss_scale_factor`` is divided out as Keras does.
  The wrapper snapshots the weights, calls the real ``apply``, and computes every statistic
  on the device inside the same compiled step (no extra forward or backward pass), writing
  them into a few non-trainable buffer variables that the host reads after the step.
  The wrap is in place only while the instrumented function runs (and is traced) and is
  removed in a ``finally``, so the optimizer is restored even when a step raises. The
  instrumented function is traced once per model/configuration and reused across ``fit`` calls.
* Statistics of all variables at once: each gradient (and weight) is flattened and cut into
  whole rows of :data:`CHUNK_SIZE` elements plus a short tail. One concat makes a
  ``[rows, CHUNK_SIZE]`` matrix of the whole rows of every variable (no padding, no mask),
  another a small ``[n_vars, CHUNK_SIZE]`` matrix of zero-padded tails. Row reductions (fast,
  multi-threaded) give per-row partial sums, and one ``unsorted_segment_sum``/``max`` over
  the few thousand rows gives per-variable sums: a constant number of ops whatever the
  number of variables, all XLA-compatible. (A plain ``unsorted_segment_sum`` over every
  element took 125 ms for 3M elements on this 2-core CPU; the row reductions a few ms.)

Distribution: under ``tf.distribute.MirroredStrategy``, ``optimizer.apply`` sees each
replica's share of the gradient (the loss is already divided by the number of replicas).
The wrapper all-reduces (sums) the gradients across replicas before computing statistics, so
the reported statistics are those of the **all-reduced gradient of the global batch**, the
one the optimizer applies, equal to the single-device gradient of the same global batch.
This costs one extra all-reduce on recorded steps only.

Reference:
    Keras TF trainer (``keras/src/backend/tensorflow/trainer.py``: ``_make_function``,
    ``train_step``); Chan, Golub & LeVeque (1983), "Algorithms for computing the sample
    variance" (pooling per-variable means and M2 into per-layer ones).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import weakref
from typing import Any

import numpy as np
import tensorflow as tf

from keras_init_lab.callbacks.tensorboard import DEFAULT_HISTOGRAM_BUCKETS

__all__ = [
    "CHUNK_SIZE",
    "STATISTICS",
    "GradientCapture",
    "StepRecord",
    "VariableLayout",
    "describe_variables",
    "gradient_sufficient_statistics",
    "get_capture",
    "layer_statistics",
    "variable_statistics",
]

#: Elements per row of the chunked view: the per-row partial sums stay short (3M parameters
#: -> ~12k rows, so the one segment reduction over rows is cheap), the padded tail matrix is
#: small (n_vars x 256), and every per-row count is exact in float32 (< 2**24).
CHUNK_SIZE = 256

#: Statistics reported per variable and per layer (CONTRACTS.md).
STATISTICS = (
    "norm",
    "mean",
    "std",
    "max_abs",
    "zero_fraction",
    "nonfinite_count",
    "update_ratio",
)

#: Gradient magnitude histogram: one bucket per binade [2^e, 2^(e+1)) for e in
#: [GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT), read straight from the float32 exponent
#: bits (exact edges, no log, half the cost of a log10 + arithmetic index on this CPU).
#: 2^-34 ~ 5.8e-11 sits just under 1e-10 (see tensorboard.LOG10_MIN_EXPONENT for why that is
#: far enough below any gradient that still moves a float32 weight); 2^14 ~ 1.6e4 is past
#: GradientHealth's exploding norm (1e3). Smaller magnitudes (exact zeros included) are
#: counted in the first bucket, larger ones (+-Inf included) in the last: 48 buckets.
GRADIENT_MIN_EXPONENT = -34
GRADIENT_MAX_EXPONENT = 14


def gradient_log10_edges() -> np.ndarray:
    """Edges (log10 units) of the gradient histogram: ``e * log10(2)`` for the binades."""
    return np.arange(GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT + 1) * math.log10(2.0)


# Rows of the sufficient-statistics buffer computed on the device, per variable.
(
    _SUM,
    _SUMSQ,
    _M2,
    _MAXABS,
    _ZEROS,
    _NONFINITE,
    _DELTA_SUMSQ,
    _WEIGHT_SUMSQ,
    _WEIGHT_SUM,
    _WEIGHT_M2,
) = range(10)
_NUM_ROWS = 10


@dataclasses.dataclass(frozen=True)
class VariableLayout:
    """Static description of the trainable variables of a model, in model (forward) order.

    Each variable (flattened) is split into ``full_chunks`` whole rows of :data:`CHUNK_SIZE`
    elements and a tail of ``tail_size < CHUNK_SIZE`` elements. The whole rows of all
    variables form one ``[n_full, CHUNK_SIZE]`` matrix that needs no masking at all; the
    tails form a small ``[n_vars, CHUNK_SIZE]`` matrix, zero-padded, row ``j`` = variable ``j``.

    Attributes:
        variables: the Keras variables, in ``model.trainable_variables`` order.
        names: variable paths (``"dense/kernel"``), unique.
        layers: layer paths in forward order (the parent path of each variable).
        layer_index: ``[n_vars]`` index into ``layers`` of each variable.
        sizes: ``[n_vars]`` number of elements of each variable.
        full_chunks: ``[n_vars]`` whole rows of each variable.
        tail_sizes: ``[n_vars]`` elements of each variable in its tail row.
        full_variable: ``[n_full]`` variable index of each whole row.
    """

    variables: tuple
    names: tuple
    layers: tuple
    layer_index: np.ndarray
    sizes: np.ndarray
    full_chunks: np.ndarray
    tail_sizes: np.ndarray
    full_variable: np.ndarray

    @property
    def num_variables(self) -> int:
        return len(self.variables)

    @property
    def num_full_chunks(self) -> int:
        return int(self.full_variable.shape[0])


def describe_variables(model, chunk_size: int = CHUNK_SIZE) -> VariableLayout:
    """Describe ``model.trainable_variables`` for the capture: names, owning layers, chunks.

    A variable's layer is its path without the last component (``"inner/dense/kernel"`` ->
    ``"inner/dense"``), so layers of nested models keep their full path and come out in
    forward order, first layer first, as ``model.trainable_variables`` lists them.

    Example:
        >>> layout = describe_variables(model)
        >>> layout.layers
        ('dense', 'dense_1')

    Args:
        model: a built Keras model.
        chunk_size: elements per chunk row (default :data:`CHUNK_SIZE`).

    Returns:
        A :class:`VariableLayout`.

    Raises:
        ValueError: if the model has no trainable variables (is it built?).
    """
    variables = list(model.trainable_variables)
    if not variables:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} has no trainable variables; build it "
            "(call it on data or give it an Input) and keep at least one layer trainable."
        )
    names, seen = [], {}
    for variable in variables:
        name = str(getattr(variable, "path", None) or variable.name)
        if name in seen:  # paths are unique in Keras 3; guard against custom variables
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    layers, layer_index = [], []
    for name in names:
        layer = name.rsplit("/", 1)[0] if "/" in name else name
        if layer not in layers:
            layers.append(layer)
        layer_index.append(layers.index(layer))
    sizes = np.array([max(int(np.prod(v.shape)), 0) for v in variables], dtype=np.int64)
    full_chunks = sizes // chunk_size
    return VariableLayout(
        variables=tuple(variables),
        names=tuple(names),
        layers=tuple(layers),
        layer_index=np.asarray(layer_index, dtype=np.int32),
        sizes=sizes,
        full_chunks=full_chunks,
        tail_sizes=sizes - full_chunks * chunk_size,
        full_variable=np.repeat(np.arange(len(variables), dtype=np.int32), full_chunks),
    )


def _split(tensors, layout: VariableLayout, chunk_size: int = CHUNK_SIZE):
    """``(full [n_full, C] or None, tail [n_vars, C])`` float32 views of ``tensors``.

    One concat for the whole rows of every variable and one for the zero-padded tails.
    """
    full_parts, tail_parts = [], []
    for tensor, full, tail in zip(tensors, layout.full_chunks, layout.tail_sizes):
        flat = tf.reshape(tf.cast(tensor, tf.float32), [-1])
        cut = int(full) * chunk_size
        if full:
            full_parts.append(flat[:cut] if tail else flat)
        if tail:
            tail_parts.append(flat[cut:] if full else flat)
        if chunk_size - tail:
            tail_parts.append(tf.zeros([chunk_size - int(tail)], tf.float32))
    full = (
        tf.reshape(tf.concat(full_parts, 0), [layout.num_full_chunks, chunk_size])
        if full_parts
        else None
    )
    tail = tf.reshape(tf.concat(tail_parts, 0), [layout.num_variables, chunk_size])
    return full, tail


class Chunks(tuple):
    """``(full, tail)`` chunk matrices of a list of tensors (see :func:`split_chunks`)."""

    __slots__ = ()

    def __new__(cls, full, tail):
        return super().__new__(cls, (full, tail))


def split_chunks(tensors, layout: VariableLayout) -> Chunks:
    """Copy ``tensors`` once into the whole-row and tail chunk matrices of ``layout``."""
    return Chunks(*_split(tensors, layout))


def _as_chunks(tensors, layout: VariableLayout) -> Chunks:
    return tensors if isinstance(tensors, Chunks) else split_chunks(tensors, layout)


def _row_sumsq(matrix, xla: bool):
    # EuclideanNorm reads once and writes nothing (~2x faster than square + sum on CPU) but
    # has no XLA kernel; under XLA, square + sum fuse into one loop anyway.
    if xla:
        return tf.reduce_sum(tf.square(matrix), axis=1)
    return tf.square(tf.math.reduce_euclidean_norm(matrix, axis=1))


def _row_statistics(matrix, xla):
    """Per-row ``[sum, sumsq, nonzero]`` and ``max|x|`` of a chunk matrix, one read each.

    Zero padding adds nothing to any of them.
    """
    row_sum = tf.reduce_sum(matrix, axis=1)
    row_sumsq = _row_sumsq(matrix, xla)
    # sign(x)^2 is 1 for x != 0 and 0 for x == 0 (and for the zero padding).
    row_nonzero = tf.round(_row_sumsq(tf.sign(matrix), xla))
    row_max = tf.maximum(tf.reduce_max(matrix, axis=1), -tf.reduce_min(matrix, axis=1))
    return tf.stack([row_sum, row_sumsq, row_nonzero], axis=1), row_max


def gradient_sufficient_statistics(
    gradients, before, after, layout: VariableLayout, xla: bool = True
) -> tf.Tensor:
    """Per-variable sufficient statistics of gradients and updates, XLA-safe, constant op count.

    Formula, per variable ``j`` with ``n_j`` elements ``g``, weights ``w`` before and ``w'``
    after the update:
    ``sum g``, ``sum g^2``, ``M2 = sum (g - mean g)^2`` (per 256-element row from the row's
    own sums, rows pooled exactly with Chan et al.'s rule), ``max |g|``, ``#{g == 0}``, ``#{g not finite}``,
    ``sum (w' - w)^2``, ``sum w^2``, ``sum w``, ``M2 of w``. Everything else (norm, std, ratios, per-layer
    pooling) follows on the host from these ``10 x n_vars`` numbers.

    Example:
        >>> rows = gradient_sufficient_statistics(grads, w_before, w_after, layout)
        >>> rows.shape
        TensorShape([10, 4])

    Args:
        gradients: dense gradient tensors, one per variable of ``layout`` (or their
            :class:`Chunks` from :func:`split_chunks`).
        before: weight values read before the update, one per variable (or their Chunks).
        after: weight values read after the update, one per variable (or their Chunks).
        layout: the :class:`VariableLayout` of the variables.
        xla: True when traced for XLA (only ops with XLA kernels); False allows faster
            non-XLA kernels (``EuclideanNorm``).

    Returns:
        float32 tensor ``[10, n_vars]`` (row order ``sum, sumsq, M2, max_abs, zeros,
        nonfinite, delta_sumsq, weight_sumsq, weight_sum, weight_M2``).
    """
    n = layout.num_variables
    full_variable = tf.constant(layout.full_variable)
    sizes = tf.constant(layout.sizes.astype(np.float32))
    grad_full, grad_tail = _as_chunks(gradients, layout)
    before_full, before_tail = _as_chunks(before, layout)
    after_full, after_tail = _as_chunks(after, layout)

    def per_variable(full_rows, tail_rows):
        """Sum whole-row partials per variable (one segment op) and add the tail rows."""
        if full_rows is None:
            return tail_rows
        return tf.math.unsorted_segment_sum(full_rows, full_variable, n) + tail_rows

    # One pass over the gradients: per-row sum, sum of squares, nonzero count and max|g|.
    tail_rows, tail_max = _row_statistics(grad_tail, xla=True)  # small: exact square + sum
    tail_count = tf.constant(layout.tail_sizes.astype(np.float32))
    if grad_full is not None:
        full_rows, full_max = _row_statistics(grad_full, xla)
        max_abs = tf.maximum(tf.math.unsorted_segment_max(full_max, full_variable, n), tail_max)
    else:
        full_rows, max_abs = None, tail_max
    grad_stats = per_variable(full_rows, tail_rows)  # [n, 3]: sum, sumsq, nonzero
    mean = grad_stats[:, 0] / tf.maximum(sizes, 1.0)

    valid = tf.range(CHUNK_SIZE)[None, :] < tf.cast(tail_count, tf.int32)[:, None]

    def centred_m2(full, tail, full_sum, variable_mean):
        """``M2 = sum (x - mean)^2`` per variable, precise also when ``|mean| >> std``.

        Each whole row's own M2 comes from the row shifted by its first element
        (``d = x - x_0``: ``M2_r = sum d^2 - (sum d)^2 / C``), so the rounding of a large
        common offset never enters; the rows are pooled exactly with Chan et al.:
        ``M2 = sum_r [M2_r + C (mean_r - mean)^2]``. The small tail matrix is centred
        exactly on each variable's mean (two passes, masked), so tiny variables (a
        1-element bias) get an exact 0 instead of rounding residue.
        """
        tail_m2 = tf.reduce_sum(
            tf.square(tf.where(valid, tail - variable_mean[:, None], 0.0)), axis=1
        )
        if full is None:
            return tail_m2
        shifted = full - full[:, :1]
        shifted_sum = tf.reduce_sum(shifted, axis=1)
        own = tf.maximum(
            _row_sumsq(shifted, xla) - tf.square(shifted_sum) / float(CHUNK_SIZE), 0.0
        )
        row_mean = full_sum / float(CHUNK_SIZE)
        between = float(CHUNK_SIZE) * tf.square(row_mean - tf.gather(variable_mean, full_variable))
        return tf.math.unsorted_segment_sum(own + between, full_variable, n) + tail_m2

    m2 = centred_m2(
        grad_full, grad_tail, None if full_rows is None else full_rows[:, 0], mean
    )
    zeros = sizes - grad_stats[:, 2]

    # Non-finite entries make their variable's sum of squares non-finite; count them (and
    # the zeros, whose count NaN spoils) exactly only then: a branch that almost never runs.
    def exact_counts():
        def counts(matrix):
            bad = tf.reduce_sum(tf.cast(~tf.math.is_finite(matrix), tf.float32), axis=1)
            zero = tf.reduce_sum(tf.cast(tf.equal(matrix, 0.0), tf.float32), axis=1)
            return tf.stack([bad, zero], axis=1)

        result = per_variable(
            None if grad_full is None else counts(grad_full), counts(grad_tail)
        )
        padding = tf.constant((CHUNK_SIZE - layout.tail_sizes).astype(np.float32))
        return result[:, 0], result[:, 1] - padding

    nonfinite, zeros = tf.cond(
        tf.reduce_all(tf.math.is_finite(grad_stats[:, 1])),
        lambda: (tf.zeros([n], tf.float32), zeros),
        exact_counts,
    )

    def weight_rows(w_before, w_after, row_xla):
        return tf.stack(
            [
                _row_sumsq(w_after - w_before, row_xla),
                _row_sumsq(w_before, row_xla),
                tf.reduce_sum(w_before, axis=1),
            ],
            axis=1,
        )

    full_weight_rows = None if before_full is None else weight_rows(before_full, after_full, xla)
    weight_stats = per_variable(full_weight_rows, weight_rows(before_tail, after_tail, True))
    weight_m2 = centred_m2(
        before_full,
        before_tail,
        None if full_weight_rows is None else full_weight_rows[:, 2],
        weight_stats[:, 2] / tf.maximum(sizes, 1.0),
    )
    return tf.stack(
        [
            grad_stats[:, 0],
            grad_stats[:, 1],
            m2,
            max_abs,
            zeros,
            nonfinite,
            weight_stats[:, 0],
            weight_stats[:, 1],
            weight_stats[:, 2],
            weight_m2,
        ],
        axis=0,
    )


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
    # Only the upper clamp is needed: the range is each variable's own [min, max], so the
    # position is >= base up to rounding (a -1e-7 truncates to base when cast), and only
    # x == max (or a zero-width range) reaches base + k.
    position = tf.minimum(position, base + float(num_buckets - 1))
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
    NaN and tail padding go to a dropped bin. Bit and arithmetic bucket indices (no
    ``searchsorted``, which took 140 ms for 3M elements on this CPU) and one
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
            [tf.reduce_all(tf.math.is_finite(m)) for m in (grad_full, grad_tail, weight_full, weight_tail) if m is not None]
        )

    def count(full, tail, full_scale, full_offset, tail_scale, tail_offset, buckets):
        dump = n * buckets

        def ids(matrix, scale, offset, group, mask=None):
            def clean():
                return _bucket_ids(matrix, scale, offset, group, buckets, finite)

            def with_nan():
                safe = tf.where(tf.math.is_nan(matrix), tf.zeros_like(matrix), matrix)
                result = _bucket_ids(safe, scale, offset, group, buckets, finite)
                return tf.where(tf.math.is_nan(matrix), dump, result)

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
        low = tf.minimum(low, tf.math.unsorted_segment_min(tf.reduce_min(weight_full, 1), full_variable, n))
        high = tf.maximum(high, tf.math.unsorted_segment_max(tf.reduce_max(weight_full, 1), full_variable, n))
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


def variable_statistics(raw: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Turn ``[10, n]`` sufficient statistics into the reported per-variable statistics.

    Formula: ``norm = sqrt(sum g^2)``, ``mean = sum g / n``, ``std = sqrt(M2 / n)``, ``weight_std = sqrt(M2_w / n)``
    (population std, as ``np.std``), ``zero_fraction = #zeros / n``,
    ``update_ratio = ||w' - w|| / ||w||`` (``inf`` when ``||w|| = 0`` and the update is not).

    Returns:
        dict ``stat -> float64 [n]`` for every name in :data:`STATISTICS`, plus
        ``"weight_norm"`` and ``"weight_std"``.
    """
    raw = np.asarray(raw, dtype=np.float64)
    n = np.maximum(np.asarray(sizes, dtype=np.float64), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight_norm = np.sqrt(raw[_WEIGHT_SUMSQ])
        delta_norm = np.sqrt(raw[_DELTA_SUMSQ])
        ratio = np.where(delta_norm == 0, 0.0, delta_norm / weight_norm)
        return {
            "norm": np.sqrt(raw[_SUMSQ]),
            "mean": raw[_SUM] / n,
            "std": np.sqrt(raw[_M2] / n),
            "max_abs": raw[_MAXABS],
            "zero_fraction": raw[_ZEROS] / n,
            "nonfinite_count": raw[_NONFINITE],
            "update_ratio": ratio,
            "weight_norm": weight_norm,
            "weight_std": np.sqrt(raw[_WEIGHT_M2] / n),
        }


def layer_statistics(raw: np.ndarray, layout: VariableLayout) -> dict[str, np.ndarray]:
    """Pool per-variable sufficient statistics into per-layer statistics (host, tiny arrays).

    Formula: sums add up; ``max_abs`` is the max; the layer's M2 pools the variables' with
    Chan et al.'s rule ``M2 = sum_j (M2_j + n_j (mean_j - mean)^2)``; the update ratio is
    ``sqrt(sum_j ||dw_j||^2) / sqrt(sum_j ||w_j||^2)``.

    Returns:
        dict ``stat -> float64 [n_layers]`` like :func:`variable_statistics`.
    """
    raw = np.asarray(raw, dtype=np.float64)
    n_layers = len(layout.layers)
    index = layout.layer_index
    sizes = layout.sizes.astype(np.float64)

    def pooled(row):
        return np.bincount(index, weights=row, minlength=n_layers)

    layer_sizes = pooled(sizes)
    pooled_raw = np.stack([pooled(raw[r]) for r in range(_NUM_ROWS)])
    var_mean = raw[_SUM] / np.maximum(sizes, 1.0)
    layer_mean = pooled_raw[_SUM] / np.maximum(layer_sizes, 1.0)
    pooled_raw[_M2] = pooled(raw[_M2] + sizes * (var_mean - layer_mean[index]) ** 2)
    var_weight_mean = raw[_WEIGHT_SUM] / np.maximum(sizes, 1.0)
    layer_weight_mean = pooled_raw[_WEIGHT_SUM] / np.maximum(layer_sizes, 1.0)
    pooled_raw[_WEIGHT_M2] = pooled(
        raw[_WEIGHT_M2] + sizes * (var_weight_mean - layer_weight_mean[index]) ** 2
    )
    max_abs = np.full(n_layers, -np.inf)
    with np.errstate(invalid="ignore"):  # NaN max (non-finite gradients) stays NaN
        np.maximum.at(max_abs, index, raw[_MAXABS])
    pooled_raw[_MAXABS] = max_abs
    return variable_statistics(pooled_raw, layer_sizes)


@dataclasses.dataclass
class StepRecord:
    """What one instrumented execution measured (host numpy arrays).

    Attributes:
        raw: ``[10, n_vars]`` sufficient statistics (see :func:`gradient_sufficient_statistics`).
        layout: the :class:`VariableLayout` the columns refer to.
        gradient_histograms: ``[n_vars, k]`` counts of ``log10|g|`` or None.
        gradient_edges: the ``k + 1`` fixed edges (log10 units) or None.
        weight_histograms: ``[n_vars, b]`` counts or None.
        weight_range: ``[2, n_vars]`` (min, max) of each variable's weights, or None.
    """

    raw: np.ndarray
    layout: VariableLayout
    gradient_histograms: np.ndarray | None = None
    gradient_edges: np.ndarray | None = None
    weight_histograms: np.ndarray | None = None
    weight_range: np.ndarray | None = None

    def per_variable(self) -> dict[str, np.ndarray]:
        return variable_statistics(self.raw, self.layout.sizes)

    def per_layer(self) -> dict[str, np.ndarray]:
        return layer_statistics(self.raw, self.layout)


class _Buffers:
    """Non-trainable variables that carry the statistics out of the compiled step.

    They are created under the model's distribution strategy with
    ``aggregation=ONLY_FIRST_REPLICA`` (every replica computes the same all-reduced values),
    and are never attached to the model, so saving the model is unaffected.
    """

    def __init__(self, layout: VariableLayout, strategy, gradient_buckets: int, weight_buckets: int):
        n = layout.num_variables
        kwargs = dict(
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        with tf.init_scope(), strategy.scope():
            # One extra row carries a capture counter, so the host reads one buffer per record.
            self.raw = tf.Variable(tf.zeros([_NUM_ROWS + 1, n], tf.float32), name="kil_raw", **kwargs)
            self.count = tf.Variable(tf.zeros([], tf.int32), name="kil_count", **kwargs)
            self.gradient_histograms = tf.Variable(
                tf.zeros([n, gradient_buckets], tf.int64), name="kil_ghist", **kwargs
            )
            self.weight_histograms = tf.Variable(
                tf.zeros([n, weight_buckets], tf.int64), name="kil_whist", **kwargs
            )
            self.weight_range = tf.Variable(tf.zeros([2, n], tf.float32), name="kil_wrange", **kwargs)
        self.host_count = 0  # value of ``count`` last read on the host


def _read(variable) -> np.ndarray:
    return np.asarray(variable.numpy())


def _instance_optimizer(model):
    """The optimizer whose ``apply`` receives unscaled gradients (inner one under loss scaling)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("The model has no optimizer; call model.compile(optimizer=...) first.")
    inner = getattr(optimizer, "inner_optimizer", None)
    return inner if inner is not None else optimizer


class GradientCapture:
    """Per-model controller that swaps between the plain and the instrumented train function.

    Several callbacks (``GradientStats``, ``GradientHealth``) share one controller per model:
    each ``attach``es in ``on_train_begin``, ``request``s the next execution in
    ``on_train_batch_begin`` and reads :attr:`last_record` in ``on_train_batch_end``. The
    optimizer is wrapped once, by the controller, so they never double-wrap.

    Get it with :func:`get_capture`; callbacks normally do not use it directly.
    """

    def __init__(self, model):
        self._model_ref = weakref.ref(model)
        self._subscribers: list = []
        self._requests: dict[int, bool] = {}
        self._original = None
        self._history_token = None
        # config key -> (instrumented function, the buffers it was traced to write into)
        self._functions: dict[tuple, tuple[Any, _Buffers]] = {}
        self.last_record: StepRecord | None = None
        self._fit_layout: VariableLayout | None = None  # frozen while a fit is running
        self._fit_keys: dict[bool, tuple] = {}
        self.record_serial = 0
        self.failed_in_step = False
        self.gradient_edges = gradient_log10_edges()
        self.weight_buckets = DEFAULT_HISTOGRAM_BUCKETS
        self.traces = 0

    # ----------------------------------------------------------------- lifecycle
    @property
    def model(self):
        model = self._model_ref()
        if model is None:
            raise RuntimeError("The model of this GradientCapture has been garbage-collected.")
        return model

    @property
    def installed(self) -> bool:
        return self._original is not None

    def attach(self, subscriber) -> None:
        """Start serving ``subscriber``; installs the selector on the first attach of a fit."""
        model = self.model
        if self.installed and self._history_token is not getattr(model, "history", None):
            # Left over from a fit that raised outside the train function: start afresh.
            # The other subscribers of that fit are told (they re-attach if they take part
            # in this fit); the one attaching now is not, or it would be reset mid-attach.
            self._uninstall(abort=True, keep=subscriber)
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)
        if not self.installed:
            if getattr(model, "train_function", None) is None:
                model.make_train_function()
            self._original = model.train_function
            self._history_token = getattr(model, "history", None)
            model.train_function = self._train_function
            self._fit_layout, self._fit_keys = None, {}
            self._fit_layout = self.layout()
        self.layout()  # validates the model early (has trainable variables, optimizer)
        _instance_optimizer(model)

    def detach(self, subscriber) -> None:
        """Stop serving ``subscriber``; restores the model's train function after the last one."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
        self._requests.pop(id(subscriber), None)
        if not self._subscribers:
            self._uninstall(abort=False)

    def _uninstall(self, abort: bool, keep=None, in_step: bool = False) -> None:
        # Read by subscribers in ``_on_capture_abort``: True when the step itself raised.
        self.failed_in_step = in_step
        model = self._model_ref()
        if self._original is not None and model is not None:
            if getattr(model, "train_function", None) == self._train_function:
                model.train_function = self._original
        self._original = None
        self._history_token = None
        self._fit_layout, self._fit_keys = None, {}
        self._requests.clear()
        subscribers, self._subscribers = self._subscribers, []
        if abort:
            for subscriber in subscribers:
                if subscriber is keep:
                    continue
                on_abort = getattr(subscriber, "_on_capture_abort", None)
                if on_abort is not None:
                    on_abort()

    def request(self, subscriber, histograms: bool = False) -> None:
        """Ask for the next execution to be instrumented (with histograms if asked)."""
        self._requests[id(subscriber)] = bool(histograms) or self._requests.get(id(subscriber), False)

    # ----------------------------------------------------------------- functions
    def layout(self) -> VariableLayout:
        """The :class:`VariableLayout` of the model (fixed for the duration of a fit)."""
        if self._fit_layout is not None:
            return self._fit_layout
        model = self.model
        key = tuple(id(v) for v in model.trainable_variables)
        cached = getattr(self, "_layout", None)
        if cached is None or cached[0] != key:
            self._layout = (key, describe_variables(model))
        return self._layout[1]

    def _config_key(self, histograms: bool) -> tuple:
        if histograms in self._fit_keys:
            return self._fit_keys[histograms]
        model = self.model
        layout = self.layout()
        key = (
            bool(histograms),
            id(_instance_optimizer(model)),
            tuple(id(v) for v in layout.variables),
            bool(model.run_eagerly),
            str(model.jit_compile),
            int(model.steps_per_execution),
            id(model.distribute_strategy),
        )
        if self._fit_layout is not None:
            self._fit_keys[histograms] = key
        return key

    def _instrumented(self, histograms: bool) -> tuple[Any, _Buffers]:
        """``(function, buffers)`` for the model's current configuration (cached together).

        A traced function writes into the buffer variables it captured when it was traced,
        so each function keeps its own buffers: a function taken back from the cache (e.g.
        after freezing and unfreezing a layer) and the host then read the same variables.
        """
        key = self._config_key(histograms)
        entry = self._functions.get(key)
        if entry is None:
            model = self.model
            buffers = _Buffers(
                self.layout(),
                model.distribute_strategy,
                len(self.gradient_edges) - 1,
                self.weight_buckets,
            )
            entry = self._functions[key] = (model._make_function(model.train_step), buffers)
        return entry

    def instrumented_function(self, histograms: bool = False):
        """The instrumented train function for the model's current configuration (cached)."""
        return self._instrumented(histograms)[0]

    @contextlib.contextmanager
    def _wrapped_optimizer(self, histograms: bool, buffers: _Buffers):
        """Wrap ``apply`` of the optimizer instance for the duration of one execution.

        ``buffers`` are those cached with the function that runs (see :meth:`_instrumented`).
        """
        model = self.model
        optimizer = _instance_optimizer(model)
        layout = self.layout()
        original_apply = optimizer.apply
        had_instance_attribute = "apply" in vars(optimizer)
        capture = self
        position = {id(v): i for i, v in enumerate(layout.variables)}
        weight_buckets = self.weight_buckets
        xla = bool(model.jit_compile) and not model.run_eagerly

        def apply(grads, trainable_variables=None):
            capture.traces += 1 if not tf.executing_eagerly() else 0
            variables = list(
                trainable_variables
                if trainable_variables is not None
                else optimizer._trainable_variables
            )
            grads = list(grads)
            scale = getattr(optimizer, "loss_scale_factor", None)
            slots = [None] * layout.num_variables
            for grad, variable in zip(grads, variables):
                index = position.get(id(variable))
                if index is not None and grad is not None:
                    slots[index] = grad
            present = [g is not None for g in slots]
            dense = []
            for index, grad in enumerate(slots):
                if grad is None:  # no gradient: statistics of zeros, reported as such
                    grad = tf.zeros(layout.variables[index].shape, tf.float32)
                elif isinstance(grad, tf.IndexedSlices):  # Embedding: sparse -> dense
                    grad = tf.convert_to_tensor(grad)
                grad = tf.cast(grad, tf.float32)
                if scale is not None:
                    grad = grad / scale
                dense.append(grad)
            context = tf.distribute.get_replica_context()
            if context is not None and context.num_replicas_in_sync > 1:
                dense = context.all_reduce(tf.distribute.ReduceOp.SUM, dense)
            # Snapshot the weights straight into the chunk matrices (one copy), and make the
            # update wait for it: the variables' buffers are then free to update in place
            # instead of being copied on write while a read of them is still alive.
            before = split_chunks([v.value for v in layout.variables], layout)
            dense = split_chunks(dense, layout)
            if tf.executing_eagerly():
                result = original_apply(grads, trainable_variables)
            else:
                snapshot = [t for t in before if t is not None]
                with tf.control_dependencies(snapshot):
                    result = original_apply(grads, trainable_variables)
            after = split_chunks([v.value for v in layout.variables], layout)
            raw = gradient_sufficient_statistics(dense, before, after, layout, xla=xla)
            if not all(present):
                missing = tf.constant([not p for p in present])[None, :]
                raw = tf.where(missing, tf.constant(np.nan, tf.float32), raw)
            # Stateful assigns: automatic control dependencies run them inside the compiled
            # step (also inside the LossScaleOptimizer's finite-step branch).
            # Counter modulo 2**20: exact in float32 (< 2**24), only compared for change.
            serial = buffers.count.assign((buffers.count + 1) % (1 << 20))
            serial_row = tf.fill([1, layout.num_variables], tf.cast(serial, tf.float32))
            buffers.raw.assign(tf.concat([raw, serial_row], axis=0))
            if histograms:
                finite = tf.reduce_all(tf.math.is_finite(raw[_SUMSQ])) & tf.reduce_all(
                    tf.math.is_finite(raw[_WEIGHT_SUMSQ])
                )
                g_counts, w_counts, low, high = gradient_histograms(
                    dense, after, layout, weight_buckets, finite
                )
                buffers.gradient_histograms.assign(g_counts)
                buffers.weight_histograms.assign(w_counts)
                buffers.weight_range.assign(tf.stack([low, high]))
            return result

        object.__setattr__(optimizer, "apply", apply)
        try:
            yield buffers
        finally:
            if had_instance_attribute:
                object.__setattr__(optimizer, "apply", original_apply)
            else:
                vars(optimizer).pop("apply", None)

    # ----------------------------------------------------------------- the selector
    def _stale(self) -> bool:
        return self._history_token is not getattr(self.model, "history", None)

    def _train_function(self, iterator):
        """Installed as ``model.train_function``: plain step unless someone asked for this one."""
        original = self._original
        if original is None or self._stale():
            # A fit without any subscriber (an earlier one raised outside the train
            # function): put the model back as it was and run its own function.
            self._uninstall(abort=True)
            return self.model.train_function(iterator)
        if not self._requests:
            try:
                return original(iterator)
            except (StopIteration, tf.errors.OutOfRangeError):
                raise
            except BaseException:
                self._uninstall(abort=True, in_step=True)
                raise
        histograms = any(self._requests.values())
        self._requests.clear()
        function, buffers = self._instrumented(histograms)
        try:
            with self._wrapped_optimizer(histograms, buffers):
                count_before = buffers.host_count
                logs = function(iterator)
            self._collect(buffers, count_before, histograms)
        except (StopIteration, tf.errors.OutOfRangeError):
            raise
        except BaseException:
            self._uninstall(abort=True, in_step=True)
            raise
        return logs

    def _collect(self, buffers: _Buffers, count_before: int, histograms: bool) -> None:
        self.record_serial += 1
        values = _read(buffers.raw)
        serial = int(values[_NUM_ROWS, 0]) if values.shape[1] else buffers.host_count
        unchanged = serial == count_before
        buffers.host_count = serial
        if unchanged:
            # apply() was not reached (e.g. LossScaleOptimizer skipped a non-finite step).
            self.last_record = None
            self._deliver(None)
            return
        layout = self._fit_layout or self.layout()
        record = StepRecord(raw=values[:_NUM_ROWS], layout=layout)
        if histograms:
            record.gradient_histograms = _read(buffers.gradient_histograms)
            record.gradient_edges = np.asarray(self.gradient_edges)
            record.weight_histograms = _read(buffers.weight_histograms)
            record.weight_range = _read(buffers.weight_range)
        self.last_record = record
        self._deliver(record)

    def _deliver(self, record) -> None:
        """Hand the execution's record (None: the optimizer skipped it) to every subscriber."""
        for subscriber in list(self._subscribers):
            done = getattr(subscriber, "_capture_done", None)
            if done is not None:
                done(record)


#: Attribute of the model holding its capture. The capture's cached instrumented functions
#: hold ``model.train_step`` (a strong reference to the model), so the capture lives on the
#: model itself: model -> capture -> function -> model is an ordinary cycle that the garbage
#: collector frees with the model. (A module-level ``WeakKeyDictionary`` keyed by the model
#: would keep the model alive through its own value.) Set with ``object.__setattr__`` so
#: Keras's attribute tracking neither wraps nor serializes it.
_CAPTURE_ATTRIBUTE = "_kil_gradient_capture"


def get_capture(model) -> GradientCapture:
    """Return the one :class:`GradientCapture` of ``model`` (created on first use)."""
    capture = vars(model).get(_CAPTURE_ATTRIBUTE)
    if capture is None or capture._model_ref() is not model:  # none yet, or a copy's
        capture = GradientCapture(model)
        object.__setattr__(model, _CAPTURE_ATTRIBUTE, capture)
    return capture
