"""Fused sufficient statistics of gradients and updates, on the device, on every backend.

Written once in ``keras.ops``: the same code runs inside TensorFlow's train step (graph,
XLA, ``tf.distribute`` replicas) and inside JAX's jitted one. One recorded step reduces every
gradient and weight to ``10 x n_vars`` numbers on the device
(:func:`gradient_sufficient_statistics`); the host turns them into the reported statistics
per variable (:func:`variable_statistics`) and per layer (:func:`layer_statistics`). All
variables are handled at once: each gradient (and weight) is flattened and cut into whole rows of
:data:`CHUNK_SIZE` elements plus a short tail. One concat makes a ``[rows, CHUNK_SIZE]`` matrix of
the whole rows of every variable (no padding, no mask), another a small ``[n_vars, CHUNK_SIZE]``
matrix of zero-padded tails. Row reductions give per-row partial sums, and one
``segment_sum``/``segment_max`` over the rows gives per-variable sums: a constant number of ops
whatever the number of variables, all XLA-compatible. The few largest variables
(:data:`INPLACE_VARIABLES`, at least :data:`INPLACE_MIN_ROWS` rows) are not copied: their whole
rows are reduced from a ``[rows, CHUNK_SIZE]`` view of their own (a reshape), which bounds the op
count (a dozen more per such variable) and saves the copy of most of the bytes; on JAX the view
is the variable's own rows (``natural_views``: a reshape of the whole tensor, which XLA reads in
place). Spreads (``M2``)
come from the row sums already taken; only rows whose ``|mean|`` is large next to their spread are
centred and summed again, so a gradient or a bias with ``|mean| >> std`` keeps its standard
deviation.

Example:
    >>> layout = describe_variables(model)
    >>> raw = gradient_sufficient_statistics(grads, w_before, w_after, layout)
    >>> variable_statistics(keras.ops.convert_to_numpy(raw), layout.sizes)["norm"]

Reference:
    Chan, Golub & LeVeque (1983), "Algorithms for computing the sample variance: analysis
    and recommendations", The American Statistician 37(3) (pooling means and M2).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_init_lab._validation import check_int

__all__ = [
    "CHUNK_SIZE",
    "STATISTICS",
    "Chunks",
    "StepRecord",
    "VariableLayout",
    "describe_variables",
    "gradient_sufficient_statistics",
    "gradients_by_column",
    "layer_statistics",
    "split_chunks",
    "variable_statistics",
    "view_weight_rows",
]

#: Elements per row of the chunked view: the per-row partial sums stay short (3M parameters
#: -> ~12k rows, so the one segment reduction over rows is cheap), the padded tail matrix is
#: small (n_vars x 256), and every per-row count is exact in float32 (< 2**24).
CHUNK_SIZE = 256

#: Largest variables reduced from their own view instead of being copied into the shared
#: chunk matrix (:class:`VariableLayout` ``inplace``): each costs its own dozen or so
#: reduction ops per recorded step, so the count stays bounded (4 per model whatever its
#: depth) while the copies of the largest tensors, most of a model's bytes in an MLP or a
#: CNN's head, are saved.
INPLACE_VARIABLES = 4

#: Fewest whole rows (``CHUNK_SIZE`` elements each) of a variable reduced in place: 1024 rows
#: = 262,144 elements = 1 MB of float32. Below that, the copy into the shared matrix costs
#: less than the launches of its own reduction ops (a few microseconds each on a CPU).
INPLACE_MIN_ROWS = 1024

#: A chunk row's ``M2 = sumsq - sum^2 / C`` is trusted when ``sumsq <= 16 M2``, i.e. when its
#: ``|mean| <= sqrt(15) std ~ 3.9 std``: float32 rounding of ``sumsq`` (a few units of 2^-24
#: relative) is then magnified at most 16x, ~1e-6 relative in M2, under the 2e-5 the tests
#: ask of every statistic against a float64 reference. Rows past it are recomputed centred
#: (:func:`_precise_row_m2`). 16 = 2^4, so the comparison itself is exact in float32.
NAIVE_M2_RATIO = 16.0

#: Statistics reported per variable and per layer (the ``history`` layout of GradientStats).
STATISTICS = (
    "norm",
    "mean",
    "std",
    "max_abs",
    "zero_fraction",
    "nonfinite_count",
    "update_ratio",
)

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
        full_variable: ``[n_full]`` variable index of each whole row of the shared matrix.
        inplace: indices of the variables whose whole rows are not copied into the shared
            matrix but reduced from their own ``[full_chunks_j, W_j]`` view of the tensor (a
            reshape of its first ``full_chunks_j * W_j`` elements: no copy), the few largest
            (:data:`INPLACE_VARIABLES`); ``full_variable`` then has no rows of theirs.
        view_widths: the row width ``W_j`` of each view, in ``inplace`` order: empty means
            :data:`CHUNK_SIZE` for all; with natural views, a variable's trailing
            dimensions (its whole rows: ``full_chunks_j * W_j`` is then every element and
            its tail is empty).
    """

    variables: tuple
    names: tuple
    layers: tuple
    layer_index: np.ndarray
    sizes: np.ndarray
    full_chunks: np.ndarray
    tail_sizes: np.ndarray
    full_variable: np.ndarray
    inplace: tuple = ()
    view_widths: tuple = ()

    @property
    def num_variables(self) -> int:
        return len(self.variables)

    def view_width(self, index: int) -> int:
        """Row width of the view of variable ``index`` (one of ``inplace``): ``CHUNK_SIZE``,
        or its natural row (see :func:`describe_variables`'s ``natural_views``)."""
        if self.view_widths:
            return int(self.view_widths[self.inplace.index(index)])
        return CHUNK_SIZE

    @property
    def num_full_chunks(self) -> int:
        return int(self.full_variable.shape[0])


def describe_variables(
    model,
    chunk_size: int = CHUNK_SIZE,
    inplace: int = INPLACE_VARIABLES,
    natural_views: bool | None = None,
) -> VariableLayout:
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
        inplace: most variables reduced from their own view (the largest ones with at least
            :data:`INPLACE_MIN_ROWS` whole rows; default :data:`INPLACE_VARIABLES`).
        natural_views: give each view the variable's own rows (its smallest run of trailing
            dimensions with at least ``chunk_size`` elements: a ``784 x 1500`` kernel is
            viewed as 784 rows of 1500) instead of ``chunk_size``-wide rows of its flat
            prefix. A compiled JAX step then reads the view straight from the variable (a
            reshape of the whole tensor); the prefix slice of the ``chunk_size`` view is
            recomputed, with its index arithmetic, inside every reduction XLA fuses it into,
            which cost more than the statistics themselves (``benchmarks/callbacks.py
            --backend jax``). None (the default): natural views on JAX only.

    Returns:
        A :class:`VariableLayout`.

    Raises:
        ValueError: if the model has no trainable variables (is it built?).
    """
    inplace = check_int("inplace", inplace, minimum=0)
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
    by_size = sorted(range(len(variables)), key=lambda i: (-int(sizes[i]), i))
    own_view = sorted(i for i in by_size[:inplace] if full_chunks[i] >= INPLACE_MIN_ROWS)
    shared_rows = np.where(np.isin(np.arange(len(variables)), own_view), 0, full_chunks)
    tail_sizes = sizes - full_chunks * chunk_size
    if natural_views is None:
        natural_views = _natural_views_by_default()
    widths = []
    for j in own_view:
        width = _natural_row(variables[j].shape, chunk_size) if natural_views else None
        if width is None:
            widths.append(chunk_size)
            continue
        widths.append(width)
        full_chunks[j], tail_sizes[j] = sizes[j] // width, 0
    return VariableLayout(
        variables=tuple(variables),
        names=tuple(names),
        layers=tuple(layers),
        layer_index=np.asarray(layer_index, dtype=np.int32),
        sizes=sizes,
        full_chunks=full_chunks,
        tail_sizes=tail_sizes,
        full_variable=np.repeat(np.arange(len(variables), dtype=np.int32), shared_rows),
        inplace=tuple(own_view),
        view_widths=tuple(widths) if natural_views else (),
    )


def _natural_views_by_default() -> bool:
    """Natural views on JAX, where they were measured to pay (see :func:`describe_variables`);
    ``chunk_size`` rows elsewhere (TensorFlow's prefix slice is a view already)."""
    return keras.backend.backend() == "jax"


def _natural_row(shape, chunk_size: int) -> int | None:
    """Elements of the smallest run of trailing dimensions of ``shape``, the first one left
    out, holding at least ``chunk_size`` of them (None: no such run, e.g. a vector)."""
    width = 1
    for dim in reversed(tuple(int(d) for d in shape)[1:]):
        width *= dim
        if width >= chunk_size:
            return width
    return None


def _split(tensors, layout: VariableLayout, chunk_size: int = CHUNK_SIZE, snapshot: bool = False):
    """``(full [n_full, C] or None, tail [n_vars, C], views, flats)`` float32 views of
    ``tensors`` (``flats``: the whole flat tensor of each variable of ``layout.inplace``,
    none with ``snapshot``).

    One concat for the whole rows of every variable not in ``layout.inplace``, one for the
    zero-padded tails, and for each variable in ``layout.inplace`` a reshape of its whole
    rows into ``[full_chunks_j, C]`` (the first ``full_chunks_j * C`` elements, a prefix of
    the flat tensor: no copy on TensorFlow or under XLA). ``snapshot``: the tensors are
    weights read before an update that PyTorch's optimizers make in place, so on PyTorch
    the views are copied (the concatenated matrices are copies anyway); gradients and the
    weights read after the update stay views.
    """
    inplace = set(layout.inplace)
    full_parts, tail_parts, views, flats = [], [], [], []
    for index, (tensor, full, tail) in enumerate(
        zip(tensors, layout.full_chunks, layout.tail_sizes)
    ):
        flat = ops.reshape(ops.cast(tensor, "float32"), [-1])
        width = layout.view_width(index) if index in inplace else chunk_size
        cut = int(full) * width
        if full:
            rows = flat[:cut] if tail else flat
            if index in inplace:
                view = ops.reshape(rows, [int(full), width])
                if snapshot and keras.backend.backend() == "torch":
                    # PyTorch updates weights in place: a view of a weight read before the
                    # update would change under it. Copied, as the shared matrix is.
                    view = ops.copy(view)
                views.append(view)
                if not snapshot:
                    flats.append(flat)
            else:
                full_parts.append(rows)
        if tail:
            tail_parts.append(flat[cut:] if full else flat)
        if chunk_size - tail:
            tail_parts.append(ops.zeros([chunk_size - int(tail)], "float32"))
    full = (
        ops.reshape(ops.concatenate(full_parts, 0), [layout.num_full_chunks, chunk_size])
        if full_parts
        else None
    )
    tail = ops.reshape(ops.concatenate(tail_parts, 0), [layout.num_variables, chunk_size])
    return full, tail, tuple(views), tuple(flats)


class Chunks(tuple):
    """``(full, tail, views)`` chunk matrices of a list of tensors (see :func:`split_chunks`).

    ``full``: the whole rows of the variables not reduced in place (or None), ``tail``: the
    zero-padded tails, ``views``: one ``[full_chunks_j, C]`` matrix per variable of
    ``layout.inplace``, in that order. Attribute ``flats``: the same variables' whole flat
    tensors (a view's rows and its tail in one, no copy), for readers of single elements
    (the histograms' sample), or ``()`` when not kept.
    """

    def __new__(cls, full, tail, views=(), flats=()):
        chunks = super().__new__(cls, (full, tail, tuple(views)))
        chunks.flats = tuple(flats)
        return chunks


def gradients_by_column(grads, variables, layout: VariableLayout, scale=None, densify=None):
    """The gradients ``optimizer.apply`` received, one float32 tensor per layout column.

    Every backend's capture wraps ``apply(grads, trainable_variables)``; this puts each
    gradient in its variable's column (matched by identity, variables outside the layout
    dropped), a missing gradient as zeros (flagged in ``present``, reported as NaN or as
    zeros by the caller), each cast to float32 and divided by the optimizer's
    ``loss_scale_factor`` when it has one: ``g_column = g / scale``.

    Example:
        >>> dense, present = gradients_by_column(grads, model.trainable_variables, layout)

    Args:
        grads: the gradients, in the order of ``variables``; ``None`` for a variable with none.
        variables: the variables the gradients belong to (``trainable_variables``, or the
            optimizer's own list when ``apply`` was called without it).
        layout: the model's :class:`VariableLayout` (the columns).
        scale: the optimizer's ``loss_scale_factor``, or ``None``.
        densify: called on each present gradient first (TensorFlow: ``IndexedSlices`` of an
            ``Embedding`` to a dense tensor), or ``None``.

    Returns:
        ``(dense, present)``: ``layout.num_variables`` float32 tensors, and per column whether
        a gradient was given.

    Reference:
        ``BaseOptimizer.apply(grads, trainable_variables=None)``, Keras 3.
    """
    position = {id(v): i for i, v in enumerate(layout.variables)}
    slots = [None] * layout.num_variables
    for grad, variable in zip(grads, variables):
        index = position.get(id(variable))
        if index is not None and grad is not None:
            slots[index] = grad
    present = [g is not None for g in slots]
    dense = []
    for index, grad in enumerate(slots):
        if grad is None:
            grad = ops.zeros(layout.variables[index].shape, "float32")
        elif densify is not None:
            grad = densify(grad)
        grad = ops.cast(grad, "float32")
        if scale is not None:
            grad = grad / scale
        dense.append(grad)
    return dense, present


def split_chunks(tensors, layout: VariableLayout, snapshot: bool = False) -> Chunks:
    """Copy ``tensors`` once into the shared whole-row and tail chunk matrices of ``layout``
    (the variables of ``layout.inplace`` keep their whole rows in a view of their own; with
    ``snapshot``, weights about to be updated in place, that view is a copy on PyTorch)."""
    return Chunks(*_split(tensors, layout, snapshot=snapshot))


def _as_chunks(tensors, layout: VariableLayout) -> Chunks:
    return tensors if isinstance(tensors, Chunks) else split_chunks(tensors, layout)


def _torch_kernels():
    """``torch`` on the PyTorch backend, else None: its one-read row kernels are used there.

    PyTorch runs ``keras.ops`` one op at a time, each writing its result out: ``square`` then
    ``sum`` writes and reads a whole temporary. Its own ``linalg.vector_norm`` reads the rows
    once and writes nothing; ``torch.compile`` traces it too.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch

    return torch


def _row_sumsq(matrix, xla: bool):
    """Per-row ``sum x^2`` of a ``[rows, C]`` matrix.

    On TensorFlow outside XLA, ``EuclideanNorm`` squared (~2x faster than square + sum on
    CPU, ``benchmarks/callbacks.py``), and on PyTorch ``linalg.vector_norm`` squared: they
    read once and write nothing, but have no XLA kernel and no ``keras.ops`` name. Elsewhere
    (XLA, JAX) square + sum, which the compiler fuses into one loop.
    """
    if not xla and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.square(tf.math.reduce_euclidean_norm(matrix, axis=1))
    torch = _torch_kernels()
    if torch is not None:
        return torch.square(torch.linalg.vector_norm(matrix, dim=1))
    return ops.sum(ops.square(matrix), axis=1)


def _row_nonzero(matrix, xla: bool):
    """Per-row count of the nonzero entries of a ``[rows, C]`` matrix, as float32.

    ``sum sign(x)^2`` (1 for ``x != 0``, 0 for a zero and for the zero padding), which a
    compiler fuses into one read. On TensorFlow outside XLA, where ``sign`` writes a float32
    matrix as large as the input, ``x != 0`` (one byte per entry) is cast to ``uint8`` (one
    byte again) and summed in ``uint8`` over pieces of at most :data:`UINT8_PIECE` entries
    (a free reshape of each row into ``C / k`` pieces, ``k`` the smallest divisor of ``C``
    that fits; a piece's count never wraps), then the ``k`` piece counts of a row are added
    in float32: a quarter of the bytes of a float32 count, half those of an int16 one
    (``benchmarks/callbacks.py --kernels``). Rows that no divisor cuts into such pieces are
    summed in int16, or int32 from ``2^15`` entries per row. A NaN entry counts as nonzero
    there (NaN in the sign form); either way a step with a NaN or an Inf takes its counts
    from :func:`_exact_row_counts`.
    """
    if not xla and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        width = int(matrix.shape[1])
        nonzero = tf.not_equal(matrix, 0.0)
        pieces = _uint8_pieces(width)
        if pieces:
            narrow = tf.reshape(tf.cast(nonzero, tf.uint8), [-1, width // pieces])
            counts = tf.cast(tf.reduce_sum(narrow, axis=1), tf.float32)
            return tf.reduce_sum(tf.reshape(counts, [-1, pieces]), axis=1)
        count = tf.int16 if width < 2**15 else tf.int32
        return tf.cast(tf.reduce_sum(tf.cast(nonzero, count), axis=1), tf.float32)
    return ops.round(_row_sumsq(ops.sign(matrix), xla))


#: Most entries of one ``uint8`` piece count in :func:`_row_nonzero`: 255, the largest
#: count a ``uint8`` holds.
UINT8_PIECE = 255

#: Most pieces one row is cut into for ``uint8`` counts (:func:`_uint8_pieces`): a bound
#: chosen, not tuned, so that the float32 piece counts stay small next to the bytes they
#: count (8 x 4 bytes per row of up to 8 x 255 = 2040 entries, under 2% of them); rows that
#: need more pieces are counted in int16. The package's own rows (``CHUNK_SIZE`` = 256) take 2.
MAX_UINT8_PIECES = 8


def _uint8_pieces(width: int) -> int:
    """The fewest pieces ``k`` (a divisor of ``width``, at most :data:`MAX_UINT8_PIECES`) of
    at most :data:`UINT8_PIECE` entries each that a row of ``width`` entries splits into,
    or 0 when there is none (``width = 256`` -> 2 pieces of 128)."""
    for pieces in range(1, MAX_UINT8_PIECES + 1):
        if width % pieces == 0 and width // pieces <= UINT8_PIECE:
            return pieces
    return 0


def _row_statistics(matrix, xla, centred: bool = False):
    """Per-row ``(sum, sumsq, nonzero)`` and ``max|x|`` of a chunk matrix (and its own M2).

    The per-row statistics stay three separate ``[rows]`` vectors: stacked into one
    ``[rows, 3]`` matrix, TensorFlow's CPU kernel copies them element by element (tens of
    thousands of 4-byte copies per matrix, ``benchmarks/callbacks.py``); they are summed per
    variable first and only the ``[n_vars]`` results are stacked.

    Zero padding adds nothing to any of them. Two forms, the same numbers:

    * ``centred=False`` (TensorFlow outside XLA, where every op writes its result out and
      only risky rows are centred again): ``sum x``, ``sum x^2``, ``max x`` and ``min x``,
      one read each; returns ``((sum, sumsq, nonzero), row_max, None)``.
    * ``centred=True`` (every row is centred anyway: XLA, JAX, PyTorch): ``sum x``,
      ``max |x|``, and the row's own ``M2`` (:func:`_centred_row_m2`); the sum of squares
      then follows without another pass, ``sumsq = M2 + sum^2 / C`` (two non-negative terms,
      so no cancellation). XLA:CPU runs each reduction as its own pass over memory, so one
      fewer reduction is one fewer pass (``benchmarks/callbacks.py --kernels``).
      Returns ``((sum, sumsq, nonzero), row_max, row_m2)``.
    """
    row_sum = ops.sum(matrix, axis=1)
    row_nonzero = _row_nonzero(matrix, xla)
    # max |x|: one fused reduction under a compiler; max and min (two reads, no temporary)
    # where every op writes its result out (TensorFlow graphs, PyTorch).
    fused = centred and _torch_kernels() is None
    if fused:
        row_max = ops.max(ops.abs(matrix), axis=1)
    else:
        row_max = ops.maximum(ops.max(matrix, axis=1), -ops.min(matrix, axis=1))
    if centred:
        row_m2 = _centred_row_m2(matrix, row_sum)
        width = float(ops.shape(matrix)[1])
        row_sumsq = row_m2 + ops.square(row_sum) / width
        return (row_sum, row_sumsq, row_nonzero), row_max, row_m2
    row_sumsq = _row_sumsq(matrix, xla)
    return (row_sum, row_sumsq, row_nonzero), row_max, None


def _centred_row_m2(matrix, row_sum):
    """Per-row ``M2 = sum (x - c)^2 - (sum (x - c))^2 / C`` around ``c = sum / C``.

    The second term corrects for the rounding of ``c``, so the result is precise for any
    ``|mean| / std``. The two sums are written with two different broadcasts of the centre
    (``x - c`` and ``x + (-c)``): with one shared ``x - c``, XLA:CPU writes that difference
    out as a full matrix and reads it twice, instead of fusing it into each reduction
    (1.5x the time over the gradients of a 3M-parameter MLP,
    ``benchmarks/callbacks.py --backend jax --kernels``). On PyTorch, which writes every
    op's result out anyway, the one difference is shared.

    Args:
        matrix: ``[rows, C]`` chunk matrix (or rows of it).
        row_sum: its per-row sum, ``[rows]``.

    Returns:
        float32 ``[rows]``, never negative.
    """
    width = float(ops.shape(matrix)[1])  # CHUNK_SIZE, or a natural view's row
    centre = row_sum / width
    if _torch_kernels() is not None:
        # Op by op: one difference written out, read by both sums.
        d = matrix - ops.expand_dims(centre, 1)
        squares, offset = _row_sumsq(d, True), ops.sum(d, axis=1)
    else:
        squares = ops.sum(ops.square(matrix - ops.expand_dims(centre, 1)), axis=1)
        offset = ops.sum(matrix + ops.expand_dims(-centre, 1), axis=1)
    return ops.maximum(squares - ops.square(offset) / width, 0.0)


def _precise_row_m2(matrix, row_sum, row_sumsq, xla: bool, gather_rows: bool):
    """Per-row ``M2 = sum (x - row mean)^2`` of a chunk matrix, precise for any ``|mean|/std``.

    Formula: ``M2 = sumsq - sum^2 / C`` from the sums already taken, when
    ``sumsq <= NAIVE_M2_RATIO * M2`` (the float32 cancellation then costs a few rounding
    units of ``sumsq``); rows past that (near-constant rows: a bias of 2 +- 0.01, a
    gradient with ``|mean| >> std``) are centred on their own mean and summed again:
    ``d = x - sum / C``, ``M2 = sum d^2 - (sum d)^2 / C``. With ``gather_rows`` only those
    rows are gathered and recomputed (usually none: no extra pass over memory); otherwise
    every row is: under XLA and JAX (static shapes; the extra pass fuses into the others)
    and on an accelerator (the row count of a gather is read back by the host mid-step).

    Args:
        matrix: ``[rows, C]`` chunk matrix.
        row_sum, row_sumsq: its per-row sum and sum of squares.
        xla: True when traced for XLA.
        gather_rows: recompute only the rows at risk (dynamic shapes; not under XLA).

    Returns:
        float32 ``[rows]``, never negative.
    """

    width = float(ops.shape(matrix)[1])  # CHUNK_SIZE, or a natural view's row
    if xla or not gather_rows:
        return _centred_row_m2(matrix, row_sum)
    naive = ops.maximum(row_sumsq - ops.square(row_sum) / width, 0.0)
    # NaN rows compare False and keep their NaN; all-zero rows (0 > 0) are exact already.
    (risky,) = ops.nonzero(row_sumsq > NAIVE_M2_RATIO * naive)
    return ops.scatter_update(
        naive,
        ops.expand_dims(risky, 1),
        _centred_row_m2(ops.take(matrix, risky, axis=0), ops.take(row_sum, risky, axis=0)),
    )


#: Rows per block of :func:`_exact_row_counts`: its temporaries hold this many rows, not a
#: whole matrix. Compilers size a step's scratch memory for every branch of a conditional,
#: taken or not: counting a 1500 x 1200 gradient in one go added two full float32 copies of
#: it (14 MB) to every instrumented XLA step, which then no longer fit the C library's
#: reusable heap and paid fresh page faults each step (``benchmarks/callbacks.py``,
#: BENCHMARKS.md). 32 rows of a natural view (at most a few thousand elements each) keep the
#: branch's scratch memory in the hundreds of kilobytes.
COUNT_BLOCK_ROWS = 32


def _exact_row_counts(matrix):
    """Per-row ``[#non-finite, #zeros]`` of a chunk matrix, ``COUNT_BLOCK_ROWS`` rows at a time.

    The exact counts of the rare step with a NaN or an Inf (see
    :func:`gradient_sufficient_statistics`). Blocks start at ``min(i k, rows - k)``, so the
    last block overlaps the one before it and rewrites the same counts: every block has the
    static shape ``[k, C]``, ``k = min(COUNT_BLOCK_ROWS, rows)``.

    Example:
        >>> counts = _exact_row_counts(ops.convert_to_tensor([[0.0, np.inf], [1.0, 2.0]]))
        >>> ops.convert_to_numpy(counts).tolist()
        [[1.0, 1.0], [0.0, 0.0]]

    Args:
        matrix: ``[rows, C]`` float32 chunk matrix (or view).

    Returns:
        float32 ``[rows, 2]``.
    """

    def counts(block):
        bad = ops.sum(ops.cast(ops.logical_not(ops.isfinite(block)), "float32"), axis=1)
        zero = ops.sum(ops.cast(ops.equal(block, 0.0), "float32"), axis=1)
        return ops.stack([bad, zero], axis=1)

    rows, width = (int(d) for d in ops.shape(matrix))
    k = max(min(COUNT_BLOCK_ROWS, rows), 1)  # the same ops for a matrix of any size

    def body(i, total):
        start = ops.minimum(i * k, rows - k)
        block = ops.slice(matrix, [start, 0], [k, width])
        return ops.slice_update(total, [start, 0], counts(block))

    initial = ops.convert_to_tensor(np.zeros((rows, 2), np.float32))
    return ops.fori_loop(0, -(-rows // k), body, initial)


def _static_shapes_only() -> bool:
    """True on backends whose step is always compiled with static shapes (JAX: ``jit``).

    TensorFlow and PyTorch also run eagerly or in graphs of dynamic shapes: their callers
    say which (``xla``, ``gather_rows``).
    """
    return keras.backend.backend() not in ("tensorflow", "torch")


def _view(tensor, layout: VariableLayout, index: int):
    """The ``[full_chunks_j, W_j]`` view of variable ``index``'s tensor (one of
    ``layout.inplace``), as :func:`split_chunks` makes it: its first ``full_chunks_j * W_j``
    elements reshaped, no copy."""
    rows, width = int(layout.full_chunks[index]), layout.view_width(index)
    flat = ops.reshape(ops.cast(tensor, "float32"), [-1])
    if rows * width < int(layout.sizes[index]):
        flat = flat[: rows * width]
    return ops.reshape(flat, [rows, width])


def view_weight_rows(views, xla: bool = True, gather_rows: bool | None = None) -> list:
    """Per-row ``(sum w^2, sum w, M2 of w)`` of the weights' views, for
    :func:`gradient_sufficient_statistics`'s ``view_weights``.

    Everything :func:`gradient_sufficient_statistics` reads from the views of the weights
    before the update, so that a caller can take it before an in-place update and let the
    update wait for it (see there). Formula as there: ``sum w^2`` and ``sum w`` per row,
    ``M2`` per row centred on the row's own mean (every row under a compiler; on
    TensorFlow's CPU graphs only the rows at risk, :func:`_precise_row_m2`).

    Example:
        >>> before = split_chunks(weights, layout)
        >>> rows = view_weight_rows(before[2], xla=False)
        >>> len(rows) == len(layout.inplace)
        True

    Args:
        views: the views of :class:`Chunks` of the weights (``chunks[2]``).
        xla: as in :func:`gradient_sufficient_statistics`.
        gather_rows: as in :func:`gradient_sufficient_statistics`.

    Returns:
        One ``(row_sumsq, row_sum, row_m2)`` tuple of ``[rows_j]`` tensors per view.
    """
    xla = bool(xla) or _static_shapes_only()
    gather_rows = (not xla) if gather_rows is None else bool(gather_rows) and not xla
    centred = xla or not gather_rows
    rows = []
    for view in views:
        row_sum = ops.sum(view, axis=1)
        if centred:
            row_m2 = _centred_row_m2(view, row_sum)
            row_sumsq = row_m2 + ops.square(row_sum) / float(ops.shape(view)[1])
        else:
            row_sumsq = _row_sumsq(view, xla)
            row_m2 = _precise_row_m2(view, row_sum, row_sumsq, xla, gather_rows)
        rows.append((row_sumsq, row_sum, row_m2))
    return rows


def gradient_sufficient_statistics(
    gradients,
    before,
    after,
    layout: VariableLayout,
    xla: bool = True,
    gather_rows: bool | None = None,
    view_weights=None,
    view_deltas=None,
):
    """Per-variable sufficient statistics of gradients and updates, XLA-safe, bounded op count.

    One implementation in ``keras.ops`` for every backend (TensorFlow, also under
    ``tf.distribute`` and XLA; JAX inside ``jit``), with one TensorFlow-only fast kernel
    (:func:`_row_sumsq`) outside XLA.

    Formula, per variable ``j`` with ``n_j`` elements ``g``, weights ``w`` before and ``w'``
    after the update:
    ``sum g``, ``sum g^2``, ``M2 = sum (g - mean g)^2`` (per 256-element row from the row's
    own sums, rows pooled exactly with Chan et al.'s rule), ``max |g|``, ``#{g == 0}``,
    ``#{g not finite}``, ``sum (w' - w)^2``, ``sum w^2``, ``sum w``, ``M2 of w``. Everything
    else (norm, std, ratios, per-layer pooling) follows on the host from these
    ``10 x n_vars`` numbers.

    Example:
        >>> rows = gradient_sufficient_statistics(grads, w_before, w_after, layout)
        >>> tuple(rows.shape)
        (10, 4)

    Args:
        gradients: dense gradient tensors, one per variable of ``layout`` (or their
            :class:`Chunks` from :func:`split_chunks`).
        before: weight values read before the update, one per variable (or their Chunks).
        after: weight values read after the update, one per variable (or their Chunks).
        layout: the :class:`VariableLayout` of the variables.
        xla: True when traced for XLA (only ops with XLA kernels); False allows faster
            non-XLA kernels (``EuclideanNorm`` on TensorFlow). JAX always compiles with XLA.
        gather_rows: recompute the spread only of the chunk rows whose ``|mean|`` is large
            next to their spread (a gather of dynamic size: TensorFlow and PyTorch on a CPU,
            not XLA, not ``torch.compile``, not JAX); False recomputes every row (static
            shapes, no mid-step host read on an accelerator). None means ``not xla``.
        view_weights: the weight rows of the views of ``before`` taken earlier by
            :func:`view_weight_rows` (same ``xla`` and ``gather_rows``), or None to take
            them here. A caller that updates the weights in place takes them before the
            update, so that no read of a weight's buffer is alive when the update runs
            (TensorFlow would then copy the whole variable first); the views of ``before``
            are then read here only for an update that ``view_deltas`` leaves to
            ``after - before``.
        view_deltas: one entry per variable of ``layout.inplace``: the tensor the update
            added to that variable (its shape; e.g. ``-lr * g`` for plain SGD, as the
            optimizer computed it), or None for ``w' - w`` from ``after`` and ``before``.
            None (the default) is None for every variable. The update's sum of squares
            over the view's rows is then taken from that tensor (the tails still from
            ``after - before``).

    Returns:
        float32 backend tensor ``[10, n_vars]`` (row order ``sum, sumsq, M2, max_abs,
        zeros, nonfinite, delta_sumsq, weight_sumsq, weight_sum, weight_M2``).

    Reference:
        Chan, Golub & LeVeque (1983) (the pooled M2).
    """
    n = layout.num_variables
    xla = bool(xla) or _static_shapes_only()
    gather_rows = (not xla) if gather_rows is None else bool(gather_rows) and not xla
    full_variable = ops.convert_to_tensor(layout.full_variable.astype(np.int32))
    sizes = ops.convert_to_tensor(layout.sizes.astype(np.float32))
    grad_full, grad_tail, grad_views = _as_chunks(gradients, layout)
    before_full, before_tail, before_views = _as_chunks(before, layout)
    after_full, after_tail, after_views = _as_chunks(after, layout)
    # [n_vars] True at each in-place variable, one mask per view.
    own = [ops.convert_to_tensor(np.arange(n) == j) for j in layout.inplace]

    def place(mask, value, fill=0.0):
        """``value`` (a scalar or a ``[m]`` row) at the masked variable, ``fill`` elsewhere:
        a select, so a NaN or Inf in one variable never reaches another."""
        if len(ops.shape(value)) == 0:
            return ops.where(mask, value, fill)
        return ops.where(ops.expand_dims(mask, 1), ops.expand_dims(value, 0), fill)

    def per_variable(full_rows, view_rows, tail_rows):
        """Sum whole-row partials per variable and add the tail rows: ``[n_vars, k]``.

        Each argument holds ``k`` per-row vectors (``view_rows``: one such tuple per view):
        one segment op per vector of the shared matrix, one sum per vector of a view; only
        the ``[n_vars]`` results are stacked."""
        total = ops.stack(tail_rows, axis=1)
        if full_rows is not None:
            total = total + ops.stack(
                [ops.segment_sum(rows, full_variable, num_segments=n) for rows in full_rows],
                axis=1,
            )
        for mask, rows in zip(own, view_rows):
            total = total + place(mask, ops.stack([ops.sum(row) for row in rows]))
        return total

    # Every whole row is centred on its own mean (all but TensorFlow's CPU graphs, which
    # centre only the rows at risk): its M2 comes with the per-row statistics.
    centred = xla or not gather_rows
    # Per-row sum, sum of squares, nonzero count and max|g| (and the rows' own M2).
    tail_rows, max_abs, _ = _row_statistics(grad_tail, xla=True)  # small: exact square + sum
    full_rows = full_m2 = None
    if grad_full is not None:
        full_rows, full_max, full_m2 = _row_statistics(grad_full, xla, centred)
        max_abs = ops.maximum(ops.segment_max(full_max, full_variable, num_segments=n), max_abs)
    view_rows, view_m2 = [], []
    for mask, view in zip(own, grad_views):
        rows, view_max, rows_m2 = _row_statistics(view, xla, centred)
        view_rows.append(rows)
        view_m2.append(rows_m2)
        max_abs = ops.maximum(max_abs, place(mask, ops.max(view_max), -np.inf))
    grad_stats = per_variable(full_rows, view_rows, tail_rows)  # [n, 3]: sum, sumsq, nonzero
    mean = grad_stats[:, 0] / ops.maximum(sizes, 1.0)

    # [n_vars, C]: True on the real elements of each tail row (a constant of the layout).
    valid = ops.convert_to_tensor(
        np.arange(CHUNK_SIZE)[None, :] < layout.tail_sizes[:, None], dtype="bool"
    )

    def centred_m2(full, views, tail, full_sums, view_sums, variable_mean, full_own, views_own):
        """``M2 = sum (x - mean)^2`` per variable, precise also when ``|mean| >> std``.

        Whole rows: the own M2 of a row is ``sumsq - sum^2 / C`` when that form is safe
        (see :data:`NAIVE_M2_RATIO`); otherwise it is recomputed from the row centred on
        its own mean (:func:`_precise_row_m2`). Rows are pooled exactly with Chan et al.:
        ``M2 = sum_r [M2_r + C (mean_r - mean)^2]``. The small tail matrix is centred
        exactly on each variable's mean (two passes, masked), so tiny variables (a
        1-element bias) get an exact 0 instead of rounding residue. ``full_sums`` and each
        of ``view_sums`` are ``(row sum, row sum of squares)`` of that matrix; ``full_own``
        and ``views_own`` the rows' own M2 when already computed (else None).
        """
        total = ops.sum(ops.square(ops.where(valid, tail - variable_mean[:, None], 0.0)), axis=1)
        if full is not None:
            own_m2 = full_own
            if own_m2 is None:
                own_m2 = _precise_row_m2(full, *full_sums, xla, gather_rows)
            row_mean = full_sums[0] / float(CHUNK_SIZE)
            between = float(CHUNK_SIZE) * ops.square(
                row_mean - ops.take(variable_mean, full_variable, axis=0)
            )
            total = ops.segment_sum(own_m2 + between, full_variable, num_segments=n) + total
        for j, mask, view, (row_sum, row_sumsq), own_m2 in zip(
            layout.inplace, own, views, view_sums, views_own
        ):
            if own_m2 is None:
                own_m2 = _precise_row_m2(view, row_sum, row_sumsq, xla, gather_rows)
            width = float(layout.view_width(j))
            between = width * ops.square(row_sum / width - variable_mean[j])
            total = total + place(mask, ops.sum(own_m2 + between))
        return total

    m2 = centred_m2(
        grad_full,
        grad_views,
        grad_tail,
        None if full_rows is None else full_rows[:2],
        [rows[:2] for rows in view_rows],
        mean,
        full_m2,
        view_m2,
    )
    zeros = sizes - grad_stats[:, 2]

    # Non-finite entries make their variable's sum of squares non-finite; count them (and
    # the zeros, whose count NaN spoils) exactly only then: a branch that almost never runs.
    def exact_counts():
        def columns(matrix):
            counts = _exact_row_counts(matrix)
            return counts[:, 0], counts[:, 1]

        result = per_variable(
            None if grad_full is None else columns(grad_full),
            [columns(view) for view in grad_views],
            columns(grad_tail),
        )
        padding = ops.convert_to_tensor((CHUNK_SIZE - layout.tail_sizes).astype(np.float32))
        return result[:, 0], result[:, 1] - padding

    nonfinite, zeros = ops.cond(
        ops.all(ops.isfinite(grad_stats[:, 1])),
        lambda: (ops.zeros([n], "float32"), zeros),
        exact_counts,
    )

    def weight_rows(w_before, w_after, row_xla, centre=False):
        """Per-row ``(sum (w' - w)^2, sum w^2, sum w)`` (and the own M2 of ``w`` when
        ``centre``: then ``sum w^2 = M2 + (sum w)^2 / C``, as for the gradients)."""
        row_sum = ops.sum(w_before, axis=1)
        delta = _row_sumsq(w_after - w_before, row_xla)
        if centre:
            row_m2 = _centred_row_m2(w_before, row_sum)
            width = float(ops.shape(w_before)[1])
            row_sumsq = row_m2 + ops.square(row_sum) / width
        else:
            row_m2, row_sumsq = None, _row_sumsq(w_before, row_xla)
        return (delta, row_sumsq, row_sum), row_m2

    full_weight_rows = full_weight_m2 = None
    if before_full is not None:
        full_weight_rows, full_weight_m2 = weight_rows(before_full, after_full, xla, centred)
    if view_weights is None:
        view_weights = view_weight_rows(before_views, xla, gather_rows)
    if view_deltas is None:
        view_deltas = [None] * len(layout.inplace)
    view_weight_sums, view_weight_m2 = [], []
    for j, (row_sumsq, row_sum, row_m2), delta, b, a in zip(
        layout.inplace, view_weights, view_deltas, before_views, after_views
    ):
        if delta is None:
            delta = _row_sumsq(a - b, xla)
        else:
            delta = _row_sumsq(_view(delta, layout, j), xla)
        view_weight_sums.append((delta, row_sumsq, row_sum))
        view_weight_m2.append(row_m2)
    weight_stats = per_variable(
        full_weight_rows, view_weight_sums, weight_rows(before_tail, after_tail, True)[0]
    )
    weight_m2 = centred_m2(
        before_full,
        before_views,
        before_tail,
        None if full_weight_rows is None else (full_weight_rows[2], full_weight_rows[1]),
        [(rows[2], rows[1]) for rows in view_weight_sums],
        weight_stats[:, 2] / ops.maximum(sizes, 1.0),
        full_weight_m2,
        view_weight_m2,
    )
    return ops.stack(
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


def variable_statistics(raw: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Turn ``[10, n]`` sufficient statistics into the reported per-variable statistics.

    Formula: ``norm = sqrt(sum g^2)``, ``mean = sum g / n``, ``std = sqrt(M2 / n)``,
    ``weight_std = sqrt(M2_w / n)`` (population std, as ``np.std``), ``zero_fraction = #zeros / n``,
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
