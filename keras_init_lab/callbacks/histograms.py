"""The one device-side bucketing of the package: gradient and weight histograms, in ``keras.ops``.

Gradients are counted per binade of ``|g|`` (fixed power-of-two edges), weights in
equal-width buckets between each variable's exact min and max. Written once in
``keras.ops``: the same code runs inside TensorFlow's train step (graph, XLA,
``tf.distribute`` replicas) and inside a JAX or PyTorch step; every shape is static and
nothing is read back by the host inside the step.

**Sampled by default.** A histogram draws the same picture from a sample as from every
element, so each variable larger than ``sample_size`` (:data:`DEFAULT_HISTOGRAM_SAMPLE_SIZE`
= 16384) is histogrammed from a fixed-size systematic sample of its elements (every
``s``-th one from a start that moves at each record, :func:`sample_plan`): the cost no
longer grows with the layer, and what stays exact comes
from the statistics (the zero count, ``max |g|``, the weights' min and max). Variables of at
most ``sample_size`` elements are counted whole. ``sample_size=None`` (or 0) counts every
element of every variable, from the chunk matrices of
:mod:`keras_init_lab.callbacks.statistics`. The sample is read by a gather; in a TensorFlow
graph step on a CPU (no XLA) the largest variables' samples are read by strided slices
instead (:func:`_strided_sample`: the same values, runs of every ``s``-th element).

Example:
    >>> g_counts, w_counts, low, high = gradient_histograms(grads, weights, layout, 30)

Reference:
    IEEE 754 binary32 (the powers of two from 2^-34 to 2^14 are exact float32 edges);
    Cochran (1977), "Sampling Techniques", 3rd ed., ch. 8 (systematic sampling: unbiased
    with a random start; its variance against simple random sampling by the population's
    order: the same for a random order, smaller where neighbours are alike, larger only
    for values that repeat with the period of the stride).
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_init_lab._arrays import check_tensor_input
from keras_init_lab._backend import tensorflow as tf  # imported at first use (TensorFlow only)
from keras_init_lab._validation import check_int, check_number
from keras_init_lab.callbacks.statistics import CHUNK_SIZE, VariableLayout, _as_chunks

__all__ = [
    "DEFAULT_HISTOGRAM_BUCKETS",
    "DEFAULT_HISTOGRAM_SAMPLE_SIZE",
    "GRADIENT_MAX_EXPONENT",
    "GRADIENT_MIN_EXPONENT",
    "SamplePlan",
    "gradient_histograms",
    "gradient_log10_edges",
    "sample_plan",
    "uniform_bucket_counts",
]

#: Buckets of a linear (min..max) histogram: 30 is TensorBoard's own default
#: (``DEFAULT_BUCKET_COUNT`` in ``tensorboard/plugins/histogram/summary_v2.py``).
DEFAULT_HISTOGRAM_BUCKETS = 30

#: Elements histogrammed per variable by default: 2^14 = 16384. The share of the sample in
#: a bucket then has a binomial standard error of at most ``0.5 / sqrt(16384)`` = 0.4
#: percentage points (at a share of 1/2) for ``S`` independent draws, which the systematic
#: sample matches or beats on a variable's rows and columns (:func:`sample_plan`), and the
#: Dvoretzky-Kiefer-Wolfowitz bound puts the whole sampled CDF within
#: ``sqrt(ln(2 / 0.001) / (2 * 16384))`` = 1.5 points of the exact one with probability
#: 0.999: finer than a TensorBoard histogram chart shows. A variable this small or smaller
#: is counted whole.
DEFAULT_HISTOGRAM_SAMPLE_SIZE = 2**14

#: Gradient magnitude histogram: one bucket per binade [2^e, 2^(e+1)) for e in
#: [GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT).
#: 2^-34 ~ 5.8e-11 sits just under 1e-10: float32 keeps ~7 significant digits, so with a
#: learning rate near 1e-3 a gradient below ~1e-4 no longer changes a weight of size ~1,
#: and 1e-10 leaves six more decades of view below that; 2^14 ~ 1.6e4 is past
#: GradientHealth's exploding norm (1e3). Smaller magnitudes (exact zeros included) are
#: counted in the first bucket, larger ones (+-Inf included) in the last: 48 buckets.
GRADIENT_MIN_EXPONENT = -34
GRADIENT_MAX_EXPONENT = 14

#: The per-record shift of the sample positions is ``(r mod 2^15) * 40503 mod n`` for the
#: record's draw number ``r`` (the optimizer's iteration count): 40503 ~ 2^16 / phi (the
#: golden ratio, Fibonacci hashing: consecutive draws land far apart) and
#: ``(2^15 - 1) * 40503 < 2^31``, so the product is exact in int32 on every backend.
_DRAW_PERIOD = 2**15
_DRAW_MULTIPLIER = 40503


def gradient_log10_edges() -> np.ndarray:
    """Edges (log10 units) of the gradient histogram: ``e * log10(2)`` for the binades."""
    return np.arange(GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT + 1) * math.log10(2.0)


def _count_dtype() -> str:
    """int64 counts on TensorFlow (its buffers); int32 elsewhere (JAX without x64 has no
    int64). A bucket holds at most one variable's elements, far below 2^31."""
    return "int64" if keras.backend.backend() == "tensorflow" else "int32"


# ----------------------------------------------------------------------------- sampling
@dataclasses.dataclass(frozen=True)
class SamplePlan:
    """Where the histograms of each variable read: host constants of a layout.

    Attributes:
        sample_size: the most elements histogrammed per variable.
        counted: ``[n_vars]`` elements histogrammed per variable, ``min(n_j, sample_size)``.
        group: ``[P]`` variable of each sample slot (``P = sum(counted)``).
        base: ``[P]`` position of each slot in its flattened variable, before the shift.

    Only ``group`` and ``base`` become constants of the traced step (``P`` is at most
    ``n_vars * sample_size``); everything per variable is gathered from ``[n_vars]`` vectors.
    """

    sample_size: int
    counted: np.ndarray
    group: np.ndarray
    base: np.ndarray


def sample_plan(layout: VariableLayout, sample_size: int) -> SamplePlan:
    """The sample positions of every variable (computed once, on the host).

    Formula: a variable of ``n <= S`` elements is counted whole (positions ``0..n-1``); a
    larger one gets ``S`` slots, slot ``i`` at ``i s mod n`` with the stride ``s`` the
    smallest integer ``>= n / S`` that has no common factor with ``n``
    (:func:`sample_stride`), so the ``S`` positions are distinct. At each record they all
    move by the same shift ``r`` (mod ``n``; see :func:`gradient_histograms`): a
    systematic sample with a moving start, in which every element is drawn at ``S`` of
    the ``n`` shifts, so with probability ``S / n`` and the bucket shares are unbiased
    (Cochran, ch. 8). The row length and every trailing product of the variable's shape
    divide ``n``, so ``s`` has no common factor with them either: the sample takes each
    column of a kernel equally often (within one) and spreads evenly over its rows, and its
    error is that of ``S`` independent draws or smaller unless the values repeat with the
    period of the stride. A stride of exactly ``n / S`` could be a multiple of the row
    length and read one column only (a 4096 x 256 kernel with ``S = 4096``: 256; here
    ``s = 257``). A constant stride is also what a CPU's prefetcher follows: the gathers
    of the sample take half the time of positions jittered within their strata
    (``benchmarks/callbacks.py``, BENCHMARKS.md).

    Example:
        >>> plan = sample_plan(layout, 4096)
        >>> plan.counted            # a 300 x 7 kernel (2100 elements) and its 7 biases
        array([2100,    7])

    Args:
        layout: the :class:`VariableLayout`.
        sample_size: ``S``, at least 1.

    Returns:
        A :class:`SamplePlan`.
    """
    groups, bases, counted = [], [], []
    for index, size in enumerate(int(n) for n in layout.sizes):
        if size <= sample_size:
            base = np.arange(size, dtype=np.int64)
        else:
            stride = sample_stride(size, sample_size)
            base = np.arange(sample_size, dtype=np.int64) * stride % size
        counted.append(base.size)
        bases.append(base)
        groups.append(np.full(base.size, index, np.int64))
    concat = lambda parts: np.concatenate(parts).astype(np.int32)  # noqa: E731
    return SamplePlan(
        sample_size=int(sample_size),
        counted=np.asarray(counted, dtype=np.int64),
        group=concat(groups),
        base=concat(bases),
    )


def sample_stride(size: int, sample_size: int) -> int:
    """The stride of a variable's systematic sample: the smallest ``s >= n / S`` coprime
    with ``n``.

    Example:
        >>> sample_stride(4096 * 256, 4096), sample_stride(1500 * 1200, 16384)
        (257, 113)

    Args:
        size: ``n``, the variable's number of elements.
        sample_size: ``S``, at least 1.

    Returns:
        ``s``: with ``gcd(s, n) = 1``, the positions ``i s mod n`` for ``i < S <= n`` are
        distinct.
    """
    stride = max(1, -(-size // sample_size))
    while math.gcd(stride, size) != 1:
        stride += 1
    return stride


def _take(values, indices):
    """``values[indices]`` along axis 0 for indices known to be in range (never negative).

    On TensorFlow a plain ``tf.gather``: ``keras.ops.take`` first maps negative indices
    with three more ops over the indices (a compare, an add and a select), which a graph
    runs one by one over every sample slot. Elsewhere ``keras.ops.take`` (fused by XLA).
    """
    if keras.backend.backend() == "tensorflow":
        return tf.gather(values, indices, axis=0)
    return ops.take(values, indices, axis=0)


def _sample_pieces(size: int, sample_size: int, stride: int) -> int:
    """The most runs of a systematic sample's positions between two wraps around ``n``.

    Formula: position ``i s + r`` (``i < S``, shift ``r < n``) lies in run
    ``floor((i s + r) / n)``, so there are at most ``floor(((S - 1) s + n - 1) / n) + 1``.
    """
    return ((sample_size - 1) * stride + size - 1) // size + 1


def _strided_sample(flat, shift, size: int, sample_size: int):
    """``flat[(i s + r) mod n]`` for ``i < S``, read by strided slices instead of a gather.

    The positions of a systematic sample (:func:`sample_plan`) rise by the stride ``s`` from
    ``r`` and wrap around ``n`` once or twice, so they are a few runs of every ``s``-th
    element: run ``p`` begins at ``i_p = ceil((p n - r) / s)``, at position
    ``r + i_p s - p n``, and holds the positions up to the next wrap. Each run is one
    ``strided_slice`` and the runs are concatenated in order: the same values in the same
    order as :func:`_take` at the plan's positions, without the gather kernel's work per
    index (from cold memory the two cost the same, ``benchmarks/callbacks.py --kernels``;
    on the warm variables of a step the sampled histograms of the 3M MLP took 10% less
    host time, BENCHMARKS.md). The runs' lengths depend on ``r``, so
    this is for TensorFlow graphs outside XLA on a CPU only (on an accelerator the slices'
    bounds would be read back by the host mid-step; XLA needs static shapes).

    Args:
        flat: the variable's flat tensor, ``[n]``.
        shift: int scalar tensor ``r`` in ``[0, n)``.
        size: ``n``.
        sample_size: ``S``; a variable of ``n <= S`` elements is read whole (``s = 1``).

    Returns:
        ``[min(n, S)]`` tensor.
    """
    count = min(size, sample_size)
    stride = sample_stride(size, sample_size) if size > sample_size else 1
    r = tf.cast(shift, tf.int64)
    starts = [tf.zeros([], tf.int64)]  # i_p of each run, the first at 0
    for p in range(1, _sample_pieces(size, count, stride)):
        starts.append(tf.clip_by_value(-((r - p * size) // stride), 0, count))
    starts.append(tf.constant(count, tf.int64))
    pieces = []
    for p, (first, last) in enumerate(zip(starts[:-1], starts[1:])):
        begin = r + first * stride - p * size
        # end = begin + length * s may pass n by less than s; strided_slice clamps it.
        pieces.append(tf.strided_slice(flat, [begin], [begin + (last - first) * stride], [stride]))
    return tf.reshape(tf.concat(pieces, 0), [count])


def _gather_sample(
    chunks,
    layout: VariableLayout,
    plan: SamplePlan,
    draw,
    flats=(),
    variables=None,
    slices: bool = False,
):
    """``(values [P], group [P])``: the sampled values of a ``(full, tail, views)`` chunk
    triple and the variable of each (a host array), by gathers: no copy of a variable.

    Slot positions are shifted by ``s_j = (draw mod 2^15) * 40503 mod n_j`` and mapped to
    their place: a variable's whole rows (positions below ``full_chunks_j * C``, or
    ``full_chunks_j * W_j`` for a view of width ``W_j``) are in the shared whole-row matrix
    or, for a variable of ``layout.inplace``, in its own view; the rest is in the tail matrix.
    Everything but the shift is a host constant of the plan, and each view is read only at
    its own variable's slots, so the gathers read ``P`` values (plus ``S`` for a view with a
    tail), whatever the number of views; with ``flats`` (:class:`Chunks` ``flats``: the whole
    flat tensor of each view's variable), a view's slots are one gather from its flat
    tensor. The slots of the variables of ``layout.inplace`` come last, view by view; the
    others keep the plan's order. ``variables`` (host indices, default all) restricts the
    gather to those variables' slots. ``slices`` (TensorFlow graphs outside XLA on a CPU):
    with ``flats``, each view's slots are read by strided slices (:func:`_strided_sample`),
    the same values in the same order.
    """
    full, tail, views = chunks
    n = layout.num_variables
    row_width = np.full(n, CHUNK_SIZE, dtype=np.int64)
    for j in layout.inplace:
        row_width[j] = layout.view_width(j)
    full_elements = (layout.full_chunks * row_width).astype(np.int64)
    shared_elements = np.where(np.isin(np.arange(n), layout.inplace), 0, full_elements)
    full_start = np.cumsum(shared_elements) - shared_elements  # in the shared matrix
    tail_start = np.arange(n, dtype=np.int64) * CHUNK_SIZE - full_elements  # in the tails
    sizes = np.maximum(layout.sizes, 1).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(plan.counted)])

    def constant(values):
        return ops.convert_to_tensor(np.asarray(values).astype(np.int32))

    draw = ops.cast(ops.mod(ops.convert_to_tensor(draw), _DRAW_PERIOD), "int32")
    shift = ops.mod(draw * _DRAW_MULTIPLIER, constant(sizes))  # [n_vars], each < n_j
    tail_flat = ops.reshape(tail, [-1])
    full_flat = None if full is None else ops.reshape(full, [-1])

    def shifted(slots, variable_shift):
        """Positions ``(base + s) mod n`` of ``slots``: base and shift are both below
        ``n``, so one conditional subtraction wraps their sum."""
        size = constant(sizes[plan.group[slots]])
        position = constant(plan.base[slots]) + variable_shift
        return ops.where(position >= size, position - size, position)

    def from_rows_or_tail(rows, position, variables, offset=0):
        """Each position read from ``rows`` (flat whole rows, its variable's first at
        ``offset``) below its variable's whole rows, else from the tail matrix."""
        in_rows = position < constant(full_elements[variables])
        in_tail = _take(
            tail_flat, ops.where(in_rows, 0, position + constant(tail_start[variables]))
        )
        if rows is None:
            return in_tail
        in_full = _take(rows, ops.where(in_rows, position + offset, 0))
        return ops.where(in_rows, in_full, in_tail)

    # Each part is assigned before it is appended: torch.compile can break its graph
    # inside an op, and a break while a list's bound ``append`` is on the stack made it
    # recompile the rest at every call (its guard on that short-lived method object).
    chosen = np.ones(n, bool) if variables is None else np.isin(np.arange(n), variables)
    values, groups = [], []
    shared = np.flatnonzero(~np.isin(plan.group, layout.inplace) & chosen[plan.group])
    if shared.size:
        owners = plan.group[shared]
        position = shifted(shared, _take(shift, constant(owners)))
        part = from_rows_or_tail(full_flat, position, owners, constant(full_start[owners]))
        values.append(part)
        groups.append(owners)
    for k, (j, view) in enumerate(zip(layout.inplace, views)):
        if not chosen[j]:
            continue
        slots = np.arange(starts[j], starts[j + 1])
        owners = plan.group[slots]
        if flats and slices:  # every s-th element, a few runs of strided slices
            part = _strided_sample(flats[k], shift[j], int(sizes[j]), plan.sample_size)
        elif flats:  # the variable's rows and tail in one tensor
            part = _take(flats[k], shifted(slots, shift[j]))
        elif layout.tail_sizes[j]:
            part = from_rows_or_tail(ops.reshape(view, [-1]), shifted(slots, shift[j]), owners)
        else:  # a natural view, or whole rows only: every element is in the view
            part = _take(ops.reshape(view, [-1]), shifted(slots, shift[j]))
        values.append(part)
        groups.append(owners)
    return ops.concatenate(values, 0), np.concatenate(groups).astype(np.int32)


# ----------------------------------------------------------------------------- bucketing
def _binade_ids(values, k):
    """Bucket ``i`` of ``|x|`` with ``2^(e0 + i) <= |x| < 2^(e0 + i + 1)``, clamped to [0, k).

    Formula: for a normal float32 ``x`` the binade is its unbiased exponent
    ``floor(log2 |x|) = E - 127`` (``E``: the 8 exponent bits), so the bucket is
    ``clip(E - 127 - e0, 0, k - 1)``: read from the bits (:func:`_biased_exponent`), exact at
    every edge with no ``log2`` and no edge lookup. Zeros and subnormals (``E = 0``) clamp
    into the first bucket, ``+-Inf`` (``E = 255``) into the last. NaN must be masked by the
    caller. On a backend without a bitcast here, ``floor(log2 |x|)`` corrected by one
    comparison with the exact float32 edges on each side (the same buckets).

    Example:
        >>> int(_binade_ids(ops.convert_to_tensor([2.0**-3], "float32"), 48)[0])  # e0 = -34
        31
    """
    values = ops.cast(values, "float32")
    exponent = _biased_exponent(values)
    if exponent is not None:
        position = ops.clip(exponent - (127 + GRADIENT_MIN_EXPONENT), 0, k - 1)
        return ops.cast(position, "int32")
    edges = ops.convert_to_tensor(
        np.exp2(np.arange(GRADIENT_MIN_EXPONENT, GRADIENT_MAX_EXPONENT + 1)).astype(np.float32)
    )
    magnitude = ops.abs(values)
    guess = ops.floor(ops.log2(magnitude)) - float(GRADIENT_MIN_EXPONENT)
    index = ops.cast(ops.clip(guess, 0.0, float(k - 1)), "int32")
    low_edge = ops.take(edges, index, axis=0)
    high_edge = ops.take(edges, index + 1, axis=0)
    down = ops.logical_and(magnitude < low_edge, index > 0)
    up = ops.logical_and(magnitude >= high_edge, index < k - 1)
    return index - ops.cast(down, "int32") + ops.cast(up, "int32")


def _biased_exponent(values):
    """The 8 exponent bits ``E`` of each float32 (int32, sign dropped), or None.

    A bitcast of the backend (``keras.ops`` has none): TensorFlow's ``bitcast``, JAX's
    ``lax.bitcast_convert_type``, PyTorch's ``Tensor.view``; then ``(bits >> 23) & 255``.
    None on any other backend (the caller falls back to ``log2``).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        bits = tf.bitcast(values, tf.int32)
        return tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 23), 255)
    if backend == "jax":
        import jax

        bits = jax.lax.bitcast_convert_type(values, "int32")
        return (bits >> 23) & 255
    if backend == "torch":
        import torch

        bits = values.contiguous().view(torch.int32)
        return (bits >> 23) & 255
    return None


def _uniform_ids(values, scale, offset, k):
    """Bucket ``min(floor(x * scale + offset), k - 1)``, clamped below at 0 too.

    For values in ``[low, high]`` (``scale = k / (high - low)``, ``offset = -low * scale``).
    Clamped at both ends: rounding (a fused multiply-add under XLA) can put ``x == low`` a
    hair below 0, and ``x == high`` (or a zero-width range) reaches ``k``.
    """
    position = ops.clip(values * scale + offset, 0.0, float(k - 1))
    return ops.cast(position, "int32")


def _scale_and_offset(low, high, k):
    """Per-group ``(scale, offset)`` of :func:`_uniform_ids` for the range ``[low, high]``.

    Zero width (constant values, e.g. a zero-initialised bias): scale 0 and offset ``k``, so
    the clamp puts everything in the last bucket, as TensorBoard does for one-value data. A
    non-finite range (an Inf weight) does the same for the finite values.
    """
    width = high - low
    positive = width > 0
    scale = ops.where(positive, float(k) / ops.where(positive, width, 1.0), 0.0)
    offset = ops.where(positive, -low * scale, float(k))
    usable = ops.logical_and(ops.isfinite(scale), ops.isfinite(offset))
    return ops.where(usable, scale, 0.0), ops.where(usable, offset, float(k))


def _count(parts, num_groups, k):
    """``[num_groups, k]`` counts of ``(ids [R, W], group [R], keep [R, W])`` parts.

    One ``segment_sum`` of int32 ones per part into ``num_groups * k`` bins plus one dropped
    bin for the entries ``keep`` is False on (NaN, padding).
    """
    dump = num_groups * k
    counts = None
    for ids, group, keep in parts:
        flat = ops.reshape(ops.where(keep, ids + ops.expand_dims(group * k, 1), dump), [-1])
        part = _bincount(flat, dump + 1)
        counts = part if counts is None else counts + part
    return ops.cast(ops.reshape(counts[:dump], [num_groups, k]), _count_dtype())


def _bincount(ids, size: int):
    """``[size]`` counts of the int32 ``ids`` (each in ``[0, size)``).

    On TensorFlow its ``DenseBincount`` kernel (XLA-compatible): it counts in place, where a
    ``segment_sum`` of ones first materializes a ones tensor as large as ``ids`` (4 bytes
    per element counted: 200 MB for a 50M-element histogram) and is slower on CPU
    (``benchmarks/callbacks.py``, isolated kernels). Elsewhere ``segment_sum`` of ones, the
    ``keras.ops`` count with a static output size on every backend.
    """
    if keras.backend.backend() == "tensorflow":
        return tf.raw_ops.DenseBincount(
            input=ids, size=size, weights=tf.zeros([0], tf.int32), binary_output=False
        )
    return ops.segment_sum(ops.ones_like(ids), ids, num_segments=size)


def gradient_histograms(
    gradients,
    weights,
    layout: VariableLayout,
    weight_buckets: int = DEFAULT_HISTOGRAM_BUCKETS,
    sample_size: int | None = DEFAULT_HISTOGRAM_SAMPLE_SIZE,
    draw=0,
    slices: bool = False,
):
    """Per-variable histograms of ``log10|g|`` (fixed binade edges) and of the weights.

    Formula: ``|g|`` is counted per binade ``[2^e, 2^(e+1))``, i.e. ``log10|g|`` into the
    fixed edges :func:`gradient_log10_edges` (``e * log10 2``; magnitudes below
    ``2^GRADIENT_MIN_EXPONENT``, exact zeros included, in the first bucket, above the last
    edge in the last one); weights into ``weight_buckets`` equal-width buckets between each
    variable's exact min and max (all in the last bucket when min == max, as TensorBoard
    does). NaN gradients, non-finite weights and padding are not counted. With
    ``sample_size = S``, a variable of more than ``S`` elements is counted from the ``S``
    positions of its systematic sample (:func:`sample_plan`) shifted per record by
    ``(draw mod 2^15) * 40503 mod n``; its counts then sum to ``S``, not ``n``. The weight
    range is always exact (a min and a max over every weight).

    Example:
        >>> g, w, low, high = gradient_histograms(grads, weights, layout, 30, 4096, step)
        >>> int(g[0].sum())         # a 784 x 1500 kernel: 4096 sampled gradients
        4096

    Args:
        gradients, weights: tensors per variable of ``layout``, or their :class:`Chunks`.
        layout: the :class:`VariableLayout`.
        weight_buckets: buckets of each weight histogram.
        sample_size: elements histogrammed per variable (:data:`DEFAULT_HISTOGRAM_SAMPLE_SIZE`);
            ``None`` or 0 counts every element.
        draw: int scalar (tensor) that moves the sample from record to record, e.g. the
            optimizer's iteration count; ignored when counting every element.
        slices: read the sample of the largest variables (their whole flat tensors, given
            as :class:`Chunks` with ``flats``) by strided slices of dynamic length instead
            of a gather (:func:`_strided_sample`): the same counts, for TensorFlow graphs
            outside XLA on a CPU only.

    Returns:
        ``(gradient_counts [n_vars, k], weight_counts [n_vars, weight_buckets],
        weight_min [n_vars], weight_max [n_vars])``, counts int64 on TensorFlow, int32
        elsewhere.

    Raises:
        TypeError: ``weight_buckets`` or ``sample_size`` not an int.
        ValueError: ``weight_buckets < 1`` or ``sample_size < 0``.
    """
    weight_buckets = check_int("weight_buckets", weight_buckets, minimum=1)
    sample_size = check_int("sample_size", sample_size, minimum=0, allow_none=True)
    n = layout.num_variables
    k = GRADIENT_MAX_EXPONENT - GRADIENT_MIN_EXPONENT
    gradients, weights = _as_chunks(gradients, layout), _as_chunks(weights, layout)
    grad_full, grad_tail, grad_views = gradients
    weight_full, weight_tail, weight_views = weights
    own = [ops.convert_to_tensor(np.arange(n) == j) for j in layout.inplace]
    full_variable = ops.convert_to_tensor(layout.full_variable.astype(np.int32))
    real = np.arange(CHUNK_SIZE)[None, :] < layout.tail_sizes[:, None]  # not padding
    valid = ops.convert_to_tensor(real, dtype="bool")

    # The exact weight range: per-row min and max, pooled per variable (a segment max of
    # -min gives the min; a variable without whole rows gets the identity from it).
    low = ops.min(ops.where(valid, weight_tail, np.inf), axis=1)
    high = ops.max(ops.where(valid, weight_tail, -np.inf), axis=1)
    if weight_full is not None:
        row_low, row_high = ops.min(weight_full, axis=1), ops.max(weight_full, axis=1)
        low = ops.minimum(low, -ops.segment_max(-row_low, full_variable, num_segments=n))
        high = ops.maximum(high, ops.segment_max(row_high, full_variable, num_segments=n))
    for mask, view in zip(own, weight_views):
        low = ops.where(mask, ops.minimum(low, ops.min(view)), low)
        high = ops.where(mask, ops.maximum(high, ops.max(view)), high)
    scale, offset = _scale_and_offset(low, high, weight_buckets)

    if sample_size:
        plan = sample_plan(layout, sample_size)
        sampled = plan.counted < layout.sizes  # [n_vars] host flags; the rest counted whole
        grad_parts = _whole_parts(gradients, layout, ~sampled, real)
        weight_parts = _whole_parts(weights, layout, ~sampled, real)
        if sampled.any():
            # Every sampled variable has exactly S slots, contiguous in the gathered order:
            # one [m, S] part, a row per variable, so bucketing looks up each variable's
            # weight range once per row instead of once per slot.
            chosen = np.flatnonzero(sampled)
            grads, order = _gather_sample(
                gradients, layout, plan, draw, gradients.flats, chosen, slices
            )
            weights, _ = _gather_sample(weights, layout, plan, draw, weights.flats, chosen, slices)
            shape = [chosen.size, sample_size]
            group = ops.convert_to_tensor(order[::sample_size])
            # Assigned before appended (see _gather_sample: torch.compile's guards).
            grads, weights = ops.reshape(grads, shape), ops.reshape(weights, shape)
            grad_parts.append((grads, group, None))
            weight_parts.append((weights, group, None))
    else:
        tail_group = ops.arange(n, dtype="int32")
        grad_parts = [(grad_tail, tail_group, valid)]
        weight_parts = [(weight_tail, tail_group, valid)]
        if grad_full is not None:
            grad_parts.append((grad_full, full_variable, None))
            weight_parts.append((weight_full, full_variable, None))
        for j, g_view, w_view in zip(layout.inplace, grad_views, weight_views):
            view_group = ops.convert_to_tensor(np.full(int(layout.full_chunks[j]), j, np.int32))
            grad_parts.append((g_view, view_group, None))
            weight_parts.append((w_view, view_group, None))

    def gradient_ids(values, group, mask):
        nan = ops.isnan(values)
        keep = ops.logical_not(nan) if mask is None else ops.logical_and(mask, ops.logical_not(nan))
        return _binade_ids(ops.where(nan, 0.0, values), k), group, keep

    def weight_ids(values, group, mask):
        finite = ops.isfinite(values)
        keep = finite if mask is None else ops.logical_and(mask, finite)
        row_scale = ops.expand_dims(_take(scale, group), 1)
        row_offset = ops.expand_dims(_take(offset, group), 1)
        ids = _uniform_ids(ops.where(finite, values, 0.0), row_scale, row_offset, weight_buckets)
        return ids, group, keep

    gradient_counts = _count([gradient_ids(*part) for part in grad_parts], n, k)
    weight_counts = _count([weight_ids(*part) for part in weight_parts], n, weight_buckets)
    return gradient_counts, weight_counts, low, high


def _whole_parts(chunks, layout: VariableLayout, whole: np.ndarray, real: np.ndarray) -> list:
    """The ``(values, group, keep)`` parts that count the variables flagged ``whole``.

    Read in place from the chunk matrices, with no gather of single elements: the tail
    matrix under a mask of those variables' real elements, their rows of the shared
    whole-row matrix (all of it, or one gather of whole rows) and their views. The others
    (sampled) are masked out of the tail matrix: their tails are reached by the sample.
    ``real``: ``[n_vars, C]`` host mask of the tail matrix's real elements (not padding).
    """
    full, tail, views = chunks
    n = layout.num_variables
    parts = []
    if not whole.any():
        return parts
    # Every tensor is assigned before it is appended (see _gather_sample: torch.compile).
    keep = ops.convert_to_tensor(real & whole[:, None])
    group = ops.arange(n, dtype="int32")
    parts.append((tail, group, keep))
    if full is not None:
        rows = whole[layout.full_variable]
        owners = layout.full_variable.astype(np.int32)
        if rows.all():
            group = ops.convert_to_tensor(owners)
            parts.append((full, group, None))
        elif rows.any():
            index = np.flatnonzero(rows).astype(np.int32)
            taken = _take(full, ops.convert_to_tensor(index))
            group = ops.convert_to_tensor(owners[index])
            parts.append((taken, group, None))
    for j, view in zip(layout.inplace, views):
        if whole[j]:
            group = ops.convert_to_tensor(np.full(int(layout.full_chunks[j]), j, np.int32))
            parts.append((view, group, None))
    return parts


def uniform_bucket_counts(
    values, low, high, num_buckets=DEFAULT_HISTOGRAM_BUCKETS, segment_ids=None, num_segments=None
):
    """Count ``values`` into ``num_buckets`` equal-width buckets on ``[low, high]`` (XLA-safe).

    The same bucket index and counting as the weight histograms of
    :func:`gradient_histograms`, for any tensor (activations, a probe's outputs), in
    ``keras.ops`` (any backend).

    Formula: ``i = clip(floor((x - low) / (high - low) * num_buckets), 0, num_buckets - 1)``,
    the bucketing of ``tf.summary.histogram`` without its ``N x k`` one-hot. ``low`` and
    ``high`` may be per-segment vectors, so one call histograms every segment. When
    ``high == low`` every value goes to the last bucket, as in TensorBoard. NaN is not counted.

    Example:
        >>> keras.ops.convert_to_numpy(uniform_bucket_counts([0.0, 0.1, 0.9, 1.0], 0.0, 1.0, 2))
        array([2, 2])

    Args:
        values: float tensor of any shape (flattened).
        low: left edge, a scalar or a ``[num_segments]`` tensor.
        high: right edge, same shape as ``low``.
        num_buckets: buckets per histogram, a positive int (default 30).
        segment_ids: optional int tensor shaped like ``values``.
        num_segments: number of segments (int), required with ``segment_ids``.

    Returns:
        int tensor (int64 on TensorFlow, int32 elsewhere) ``[num_buckets]`` or
        ``[num_segments, num_buckets]``; the edges are
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
    values = ops.reshape(ops.cast(ops.convert_to_tensor(values), "float32"), [-1])
    if segment_ids is None:
        if num_segments is not None:
            raise ValueError(
                "num_segments is only used with segment_ids; received "
                f"num_segments={num_segments!r}."
            )
        groups, count = ops.zeros(ops.shape(values), "int32"), 1
    else:
        if num_segments is None:
            raise ValueError("segment_ids needs num_segments (the number of segments, an int).")
        count = check_int("num_segments", num_segments, minimum=1)
        groups = ops.reshape(ops.cast(segment_ids, "int32"), [-1])
    low = ops.broadcast_to(ops.reshape(ops.cast(low, "float32"), [-1]), [count])
    high = ops.broadcast_to(ops.reshape(ops.cast(high, "float32"), [-1]), [count])
    scale, offset = _scale_and_offset(low, high, num_buckets)
    nan = ops.isnan(values)
    ids = _uniform_ids(
        ops.where(nan, 0.0, values),
        ops.take(scale, groups, axis=0),
        ops.take(offset, groups, axis=0),
        num_buckets,
    )
    parts = [(ops.expand_dims(ids, 1), groups, ops.expand_dims(ops.logical_not(nan), 1))]
    counts = _count(parts, count, num_buckets)
    return counts[0] if segment_ids is None else counts
