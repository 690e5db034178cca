"""In-step gradient capture: the gradients the optimizer really applies, at no cost elsewhere.

Two parts: the **controller** :class:`GradientCapture` (one per model, :func:`get_capture`)
that chooses, on the host, between the model's own train function and an instrumented one;
and the public subscriber base :class:`CaptureCallback`, a Keras callback on an injected
:class:`~keras_init_lab.callbacks.EverySteps` schedule that asks the controller for the
executions it wants and receives their records (``GradientStats`` and ``GradientHealth`` are
two subscribers; several subscribers of one model share one controller).

How it works:

* Keras's fit loop calls ``model.train_function(iterator)`` afresh at every step. The
  controller replaces ``model.train_function`` with a host-side selector for the duration of
  ``fit`` (:func:`keras_init_lab._keras_compat.install_train_function`).
* On steps nobody asked for, the selector runs the model's own compiled train function,
  untouched: no ``tf.cond``, no extra op, no extra host work.
* On recorded steps it runs a second, *instrumented* train function built the way ``fit``
  builds its own (:func:`keras_init_lab._keras_compat.make_train_function`: same
  ``jit_compile``, ``steps_per_execution`` and ``tf.distribute`` handling), traced while
  ``optimizer.apply`` of the optimizer *instance* is wrapped. Under a ``LossScaleOptimizer`` the
  inner optimizer is wrapped, so the gradients are unscaled; an optimizer ``loss_scale_factor`` is
  divided out as Keras does. The wrapper snapshots the weights, calls the real ``apply``, and
  computes every statistic on the device inside the same compiled step (no extra forward or
  backward pass), writing them into a few non-trainable buffer variables that the host reads after
  the step. The wrap is in place only while the instrumented function runs (and is traced) and is
  removed in a ``finally``, so the optimizer is restored even when a step raises. The
  instrumented function is traced once per model/configuration and reused across ``fit`` calls.
* Statistics of all variables at once, with a constant number of XLA-compatible ops
  (:mod:`keras_init_lab.callbacks.statistics`), histograms bucketed on the device
  (:mod:`keras_init_lab.callbacks.histograms`). In a graph-mode step on one replica with an
  accelerator they run as one ``tf.function(jit_compile=True)`` called from inside the step,
  so XLA fuses the chunking and the reductions even when the model itself is not
  XLA-compiled; a model compiled with XLA already fuses them. On CPU only, in eager steps and
  in ``tf.distribute`` replicas they use the plain ops: on CPU, TensorFlow's multi-threaded
  reduction kernels are about 3x faster than one XLA:CPU cluster for a 3M-parameter model
  (BENCHMARKS.md). There, in a graph step on one replica, the largest variables' weights
  are reduced before the update, which waits for them and so runs in place, and the
  update's sum of squares is taken from the tensors the optimizer adds to them
  (:func:`_applied_updates`; ``w' - w`` when an optimizer writes otherwise): no copy of a
  variable is made per step.

Distribution: under ``tf.distribute.MirroredStrategy``, ``optimizer.apply`` sees each
replica's share of the gradient (the loss is already divided by the number of replicas).
The wrapper all-reduces (sums) the gradients across replicas before computing statistics, so
the reported statistics are those of the **all-reduced gradient of the global batch**, the
one the optimizer applies, equal to the single-device gradient of the same global batch.
This costs one extra all-reduce on recorded steps only.

Backends: the above is the TensorFlow controller. On JAX, :func:`get_capture` returns the
controller of :mod:`keras_init_lab.callbacks._capture_jax` (the same subscribers and records;
the statistics leave the jitted step in an optimizer-state buffer, read at the next step's
start); on PyTorch, that of :mod:`keras_init_lab.callbacks._capture_torch` (the model's own
step at every step, ``apply`` wrapped for each step and measured when a host flag is set);
all compute with the one ``keras.ops`` implementation of
:mod:`keras_init_lab.callbacks.statistics`. Other backends raise ``NotImplementedError``
(:func:`check_capture_backend`).

Reference:
    Keras TF trainer (``keras/src/backend/tensorflow/trainer.py``: ``make_train_function``,
    ``train_step``); Chan, Golub & LeVeque (1983), "Algorithms for computing the sample
    variance" (pooling per-variable means and M2 into per-layer ones).
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from typing import Any

import keras
import numpy as np

from keras_init_lab._backend import tensorflow as tf  # imported at first use
from keras_init_lab._keras_compat import (
    JAX_ASYNC_KERAS,
    fit_history,
    fit_params,
    install_train_function,
    jax_fit_syncs_every_step,
    make_train_function,
    optimizer_variables,
    patched,
    restore_train_function,
    set_untracked_attribute,
    untracked_attribute,
)
from keras_init_lab.callbacks._scheduled import EverySteps, ScheduledCallback, _steps_per_execution
from keras_init_lab.callbacks.histograms import (
    DEFAULT_HISTOGRAM_BUCKETS,
    DEFAULT_HISTOGRAM_SAMPLE_SIZE,
    gradient_histograms,
    gradient_log10_edges,
)
from keras_init_lab.callbacks.statistics import (  # re-exported: their home before the split
    _NUM_ROWS,
    CHUNK_SIZE,
    STATISTICS,
    Chunks,
    StepRecord,
    VariableLayout,
    describe_variables,
    gradient_sufficient_statistics,
    gradients_by_column,
    layer_statistics,
    split_chunks,
    variable_statistics,
    view_weight_rows,
)

__all__ = [
    "CHUNK_SIZE",
    "STATISTICS",
    "CaptureCallback",
    "GradientCapture",
    "StepRecord",
    "VariableLayout",
    "describe_variables",
    "gradient_sufficient_statistics",
    "get_capture",
    "layer_statistics",
    "variable_statistics",
]


def _applied_gradients(optimizer, grads, trainable_variables, layout, densify=None):
    """``(dense, present)`` of the gradients ``optimizer.apply(grads, trainable_variables)``
    received (every backend's wrapped ``apply`` calls this): the variables are
    ``trainable_variables`` or, when ``apply`` got none, the optimizer's own list; the
    optimizer's ``loss_scale_factor`` is divided out
    (:func:`keras_init_lab.callbacks.statistics.gradients_by_column`)."""
    variables = (
        trainable_variables if trainable_variables is not None else optimizer_variables(optimizer)
    )
    return gradients_by_column(
        grads,
        list(variables),
        layout,
        scale=getattr(optimizer, "loss_scale_factor", None),
        densify=densify,
    )


def _dense_if_sliced(grad):
    """An ``Embedding``'s ``tf.IndexedSlices`` gradient as a dense tensor; others as given."""
    return tf.convert_to_tensor(grad) if isinstance(grad, tf.IndexedSlices) else grad


def _has_accelerator() -> bool:
    """True when TensorFlow sees a GPU or TPU (read at trace time; no placement is set)."""
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


class _Buffers:
    """Non-trainable variables that carry the statistics out of the compiled step.

    They are created under the model's distribution strategy with
    ``aggregation=ONLY_FIRST_REPLICA`` (every replica computes the same all-reduced values),
    and are never attached to the model, so saving the model is unaffected.
    """

    def __init__(
        self,
        layout: VariableLayout,
        strategy,
        gradient_buckets: int,
        weight_buckets: int,
    ):
        n = layout.num_variables
        kwargs = dict(
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        with tf.init_scope(), strategy.scope():
            # One extra row carries a capture counter, so the host reads one buffer per record.
            self.raw = tf.Variable(
                tf.zeros([_NUM_ROWS + 1, n], tf.float32), name="kil_raw", **kwargs
            )
            self.count = tf.Variable(tf.zeros([], tf.int32), name="kil_count", **kwargs)
            self.gradient_histograms = tf.Variable(
                tf.zeros([n, gradient_buckets], tf.int64), name="kil_ghist", **kwargs
            )
            self.weight_histograms = tf.Variable(
                tf.zeros([n, weight_buckets], tf.int64), name="kil_whist", **kwargs
            )
            self.weight_range = tf.Variable(
                tf.zeros([2, n], tf.float32), name="kil_wrange", **kwargs
            )
        self.host_count = 0  # value of ``count`` last read on the host


#: Ops that add their second input to the variable their first input is the handle of,
#: with the sign of that input (``w' = w + value``, ``w' = w - value``): TensorFlow's own
#: ``assign_add`` and ``assign_sub``, through which Keras's optimizers write their updates.
_ADDING_OPS = {"AssignAddVariableOp": 1.0, "AssignSubVariableOp": -1.0}

#: Ops that take a variable's handle and only read it.
_READING_OPS = frozenset(
    {"ReadVariableOp", "ResourceGather", "ResourceGatherNd", "VariableShape", "VarIsInitializedOp"}
)


def _applied_updates(graph, first_op: int, variables) -> list:
    """What the update traced into ``graph`` since op ``first_op`` adds to each variable.

    Formula: when the only ops of that stretch that write variable ``j`` are
    ``assign_add(u_k)`` / ``assign_sub(u_k)`` (Keras's optimizers write their updates so:
    Adam subtracts ``alpha m / (sqrt(v) + eps)``, SGD with momentum adds its velocity, AdamW's
    weight decay subtracts ``lr wd w`` first), the update is ``delta_j = sum_k (+-u_k)``,
    the tensors the optimizer computed. ``w' - w`` differs from it only by the float32
    rounding of each write (half a unit in the last place of its result), so its sum of
    squares can be taken from ``delta_j`` without keeping ``w`` alive across the update: the
    update then runs in place, where a live read of ``w`` makes TensorFlow copy the whole
    variable first (``benchmarks/callbacks.py``, BENCHMARKS.md).

    Anything else that takes the variable's handle (an ``assign``, a scatter, a
    conditional or a function call it is passed to), or no write at all, gives None for
    that variable: the caller then takes ``w' - w``.

    Example:
        >>> first = len(graph.get_operations())
        >>> optimizer.apply(grads)
        >>> deltas = _applied_updates(graph, first, [layout.variables[j] for j in layout.inplace])

    Args:
        graph: the graph being traced (``tf.compat.v1.get_default_graph()`` in a
            ``tf.function``).
        first_op: ``len(graph.get_operations())`` before the update was traced.
        variables: Keras variables.

    Returns:
        One tensor (the variable's shape and dtype) or None per variable.
    """
    handles = {id(graph.capture(v.value.handle)): j for j, v in enumerate(variables)}
    writes: list[list | None] = [[] for _ in variables]
    for op in graph.get_operations()[first_op:]:
        for tensor in op.inputs:
            j = handles.get(id(tensor)) if tensor.dtype == tf.resource else None
            if j is None or op.type in _READING_OPS or writes[j] is None:
                continue
            sign = _ADDING_OPS.get(op.type)
            if sign is None or tensor is not op.inputs[0]:
                writes[j] = None
            else:
                writes[j].append(op.inputs[1] if sign > 0 else -op.inputs[1])
    return [tf.add_n(terms) if terms else None for terms in writes]


def _read(variable) -> np.ndarray:
    """A buffer's value on the host, read by one ``ReadVariableOp``.

    ``variable.numpy()`` wraps the same op in ``read_value``'s Python layers (an identity,
    the handle's bookkeeping): about three times the host time of the op called directly
    (``benchmarks/callbacks.py --kernels``). A distributed variable (``MirroredVariable``)
    has no handle inside its strategy's scope (``ValueError``; outside it, the handle of its
    first replica, the one ``ONLY_FIRST_REPLICA`` keeps): it is then read through
    ``numpy()``.
    """
    try:
        handle = variable.handle
    except (AttributeError, ValueError):
        return np.asarray(variable.numpy())
    return tf.raw_ops.ReadVariableOp(resource=handle, dtype=variable.dtype).numpy()


def _measure(
    dense,
    before,
    after,
    layout,
    histograms,
    weight_buckets,
    xla,
    gather_rows=None,
    sample_size=DEFAULT_HISTOGRAM_SAMPLE_SIZE,
    draw=0,
    view_weights=None,
    view_deltas=None,
    slices=False,
):
    """Statistics (and histograms) of one step: ``(raw,)`` or ``(raw, g, w, low, high)``.

    ``dense`` and ``after`` are per-variable tensors (or ``after`` its :class:`Chunks`),
    ``before`` their weights' chunk snapshot; called as is or wrapped in one
    ``tf.function(jit_compile=True)``. ``gather_rows``, ``view_weights`` and
    ``view_deltas``: see :func:`gradient_sufficient_statistics`; ``sample_size``, ``draw``
    and ``slices``: see :func:`~keras_init_lab.callbacks.histograms.gradient_histograms`.
    """
    dense = split_chunks(dense, layout)
    if not isinstance(after, Chunks):
        after = split_chunks(after, layout)
    raw = gradient_sufficient_statistics(
        dense,
        before,
        after,
        layout,
        xla=xla,
        gather_rows=gather_rows,
        view_weights=view_weights,
        view_deltas=view_deltas,
    )
    if not histograms:
        return (raw,)
    return (
        raw,
        *gradient_histograms(dense, after, layout, weight_buckets, sample_size, draw, slices),
    )


def _instance_optimizer(model):
    """The optimizer whose ``apply`` receives unscaled gradients (inner one under loss scaling)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("The model has no optimizer; call model.compile(optimizer=...) first.")
    inner = getattr(optimizer, "inner_optimizer", None)
    return inner if inner is not None else optimizer


class GradientCapture:
    """Per-model controller that swaps between the plain and the instrumented train function.

    Several subscribers (:class:`CaptureCallback` subclasses: ``GradientStats``,
    ``GradientHealth``) share one controller per model: each ``attach``es in
    ``on_train_begin`` and ``request``s the coming execution in ``on_train_batch_begin``. The
    selector, called by ``fit`` in place of the model's train function, runs the plain
    function when nobody asked, and otherwise the instrumented one, reads the buffers right
    after it and hands the :class:`StepRecord` to every subscriber's ``_capture_done``, all
    on the host inside ``model.train_function``; no subscriber overrides
    ``on_train_batch_end`` (which would make Keras synchronize every step). The optimizer is
    wrapped once, by the controller, so subscribers never double-wrap. :attr:`last_record`
    keeps the latest record. A ``fit`` is recognised by the ``params`` dict Keras hands all
    its callbacks (:func:`keras_init_lab._keras_compat.fit_params`), so the selector left
    behind by a ``fit`` that raised outside the step is removed by the next one.

    Get it with :func:`get_capture`; callbacks normally do not use it directly.
    """

    def __init__(self, model):
        self._model_ref = weakref.ref(model)
        self._subscribers: list = []
        self._requests: dict[int, bool] = {}
        self._original = None
        self._fit_params = None  # the params dict of the fit the selector serves
        self._fit_history = None  # model.history when it was installed
        # config key -> (instrumented function, the buffers it was traced to write into)
        self._functions: dict[tuple, tuple[Any, _Buffers]] = {}
        self.last_record: StepRecord | None = None
        self._fit_layout: VariableLayout | None = None  # frozen while a fit is running
        self._fit_keys: dict[bool, tuple] = {}
        self.record_serial = 0
        self.failed_in_step = False
        self.gradient_edges = gradient_log10_edges()
        self.weight_buckets = DEFAULT_HISTOGRAM_BUCKETS
        # Elements histogrammed per variable (None: all); set by the subscriber that asks
        # for histograms (GradientStats) before the fit's first step, read at trace time.
        self.histogram_sample_size: int | None = DEFAULT_HISTOGRAM_SAMPLE_SIZE
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
        params = fit_params(subscriber)
        if self.installed and params is not self._fit_params:
            # Left over from a fit that raised outside the train function: start afresh.
            # The other subscribers of that fit are told (they re-attach if they take part
            # in this fit); the one attaching now is not, or it would be reset mid-attach.
            self._uninstall(abort=True, keep=subscriber)
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)
        if not self.installed:
            self._original = install_train_function(model, self._train_function)
            self._fit_params = params
            self._fit_history = fit_history(model)
            self._fit_layout, self._fit_keys = None, {}
            self._fit_layout = self.layout()
            try:
                self._on_install()
            except BaseException:
                self._uninstall(abort=False)
                raise
        self.layout()  # validates the model early (has trainable variables, optimizer)
        _instance_optimizer(model)

    def _on_install(self) -> None:
        """Backend hook, called once the selector is installed for a ``fit`` (TF: nothing)."""

    def _on_uninstall(self) -> None:
        """Backend hook, called when the selector is removed (TF: nothing)."""

    def collect_pending(self) -> None:
        """Deliver a record whose read was deferred to the next step's start (TF: none).

        The TensorFlow selector reads its buffers right after the instrumented execution;
        the JAX one leaves the statistics in the returned state and reads them here, called
        by each subscriber's ``_execution_end`` (at the next ``on_train_batch_begin``, epoch
        end or train end), so the host waits for the device only on recorded steps.
        """

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
            restore_train_function(model, self._train_function, self._original)
        self._original = None
        self._fit_params = None
        self._fit_history = None
        self._on_uninstall()
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
        self._requests[id(subscriber)] = bool(histograms) or self._requests.get(
            id(subscriber), False
        )

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
            self.histogram_sample_size if histograms else None,
            id(_instance_optimizer(model)),
            tuple(id(v) for v in layout.variables),
            bool(model.run_eagerly),
            str(model.jit_compile),
            _steps_per_execution(model),
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
            entry = self._functions[key] = (make_train_function(model), buffers)
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
        capture = self
        weight_buckets = self.weight_buckets
        sample_size = self.histogram_sample_size
        xla = bool(model.jit_compile) and not model.run_eagerly

        def apply(grads, trainable_variables=None):
            capture.traces += 1 if not tf.executing_eagerly() else 0
            grads = list(grads)  # passed on to the real apply below
            dense, present = _applied_gradients(
                optimizer, grads, trainable_variables, layout, densify=_dense_if_sliced
            )  # densify: an Embedding's sparse gradient -> dense
            context = tf.distribute.get_replica_context()
            if context is not None and context.num_replicas_in_sync > 1:
                dense = context.all_reduce(tf.distribute.ReduceOp.SUM, dense)
            if not optimizer.built and trainable_variables is not None:
                # Built here, as ``apply`` would build it at its first call, but before the
                # snapshot below: a variable (an Adam moment) created under the snapshot's
                # control dependencies cannot be lifted out of an XLA-compiled step.
                with keras.name_scope(optimizer.name, caller=optimizer):
                    optimizer.build(list(trainable_variables))
                optimizer.built = True
            # The sample of the histograms moves with the optimizer's step count (read
            # before the update increments it): another sample at every record.
            draw = tf.identity(optimizer.iterations.value)
            one_replica = context is None or context.num_replicas_in_sync == 1
            accelerator = _has_accelerator()
            eager = tf.executing_eagerly()
            # A graph step on one CPU replica outside XLA updates the largest variables in
            # place: their views are reduced before the update and the update's sum of
            # squares is taken from what the optimizer adds (_applied_updates).
            in_place = not (xla or eager or accelerator) and one_replica
            # Snapshot the weights straight into the chunk matrices (one copy) and make the
            # update wait for it and for every read of the largest variables' views: their
            # buffers are then free to update in place instead of being copied on write
            # while a read of them is still alive.
            before = split_chunks([v.value for v in layout.variables], layout)
            view_weights = view_deltas = None
            if eager:
                result = original_apply(grads, trainable_variables)
            else:
                waits = [t for t in (before[0], before[1]) if t is not None]
                if in_place:
                    # With the arguments _measure gets below, as its statistics require.
                    view_weights = view_weight_rows(before[2], xla=xla, gather_rows=not accelerator)
                    waits += [t for rows in view_weights for t in rows]
                else:
                    waits += list(before[2])
                graph = tf.compat.v1.get_default_graph()
                first_op = len(graph.get_operations())
                with tf.control_dependencies(waits):
                    result = original_apply(grads, trainable_variables)
                if in_place:
                    inplace_variables = [layout.variables[j] for j in layout.inplace]
                    view_deltas = _applied_updates(graph, first_op, inplace_variables)
            after = [v.value for v in layout.variables]
            if xla or eager or not one_replica or not accelerator:
                # Already one XLA cluster (the model is compiled with XLA), eager, under
                # tf.distribute (XLA clusters inside replica functions are not relied on), or
                # on CPU only, where TensorFlow's multi-threaded reduction kernels beat one
                # XLA:CPU cluster (benchmarks/callbacks.py, BENCHMARKS.md): plain ops.
                # On an accelerator, no gather of data-dependent size (its host read-back
                # would stall the device mid-step).
                after = split_chunks(after, layout)
                measured = _measure(
                    dense,
                    before,
                    after,
                    layout,
                    histograms,
                    weight_buckets,
                    xla,
                    gather_rows=not accelerator,
                    sample_size=sample_size,
                    draw=draw,
                    view_weights=view_weights,
                    view_deltas=view_deltas,
                    # On a CPU outside XLA the sample is read by strided slices, whose
                    # lengths (set by the draw) a graph may leave dynamic.
                    slices=not xla and not accelerator,
                )
            else:
                # One XLA cluster for all statistics and histograms of the step: XLA fuses
                # the chunking and the reductions into a few passes over memory, although
                # the model's own step is not XLA-compiled.
                def fused(dense, before, after, draw):
                    chunks = Chunks(*before)
                    return _measure(
                        dense,
                        chunks,
                        after,
                        layout,
                        histograms,
                        weight_buckets,
                        True,
                        sample_size=sample_size,
                        draw=draw,
                    )

                fused = tf.function(fused, jit_compile=True, autograph=False)
                measured = fused(dense, tuple(before), after, draw)
            raw = measured[0]
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
                g_counts, w_counts, low, high = measured[1:]
                buffers.gradient_histograms.assign(g_counts)
                buffers.weight_histograms.assign(w_counts)
                buffers.weight_range.assign(tf.stack([low, high]))
            return result

        # Restored in a ``finally`` by ``patched``, also when the step raises.
        with patched(optimizer, "apply", apply):
            yield buffers

    # ----------------------------------------------------------------- the selector
    def _stale(self) -> bool:
        """True when the selector runs in a ``fit`` none of its subscribers takes part in.

        Seen through ``model.history`` (:func:`keras_init_lab._keras_compat.fit_history`):
        it belongs to the fit served when it is the value seen at install or shares that
        fit's ``params``. (On Keras releases that set ``model.history`` only at epoch end,
        a new fit is seen from the end of its first epoch; the next subscriber's ``attach``
        sees it at once.)
        """
        history = fit_history(self.model)
        return history is not self._fit_history and fit_params(history) is not self._fit_params

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
#: would keep the model alive through its own value.) Set untracked
#: (:func:`keras_init_lab._keras_compat.set_untracked_attribute`) so Keras's attribute
#: tracking neither wraps nor serializes it.
_CAPTURE_ATTRIBUTE = "_kil_gradient_capture"


#: Backends the capture runs on (PyTorch: :mod:`keras_init_lab.callbacks._capture_torch`).
CAPTURE_BACKENDS = ("tensorflow", "jax", "torch")


#: The controller class of each backend other than TensorFlow, registered by its module
#: (``_capture_jax`` registers ``"jax"``, ``_capture_torch`` ``"torch"``; ``gradient_stats``
#: and ``health`` import both, so importing ``keras_init_lab.callbacks`` registers them: no
#: import circle with this module).
BACKEND_CAPTURES: dict[str, type] = {}


def check_capture_backend(what: str) -> None:
    """Raise where the capture cannot run; warn where it runs but saves no synchronization.

    Args:
        what: the class name to put in the message.

    Raises:
        NotImplementedError: (a ``RuntimeError``) on a backend other than TensorFlow, JAX
            or PyTorch, naming the backend and the Keras version.
    """
    backend = keras.backend.backend()
    if backend not in CAPTURE_BACKENDS:
        raise NotImplementedError(
            f"{what} captures gradients inside the train step on the TensorFlow, JAX and "
            f"PyTorch backends only; the {backend!r} backend (Keras {keras.__version__}) is "
            "not supported yet. Run with KERAS_BACKEND=tensorflow, jax or torch."
        )
    if backend == "jax" and jax_fit_syncs_every_step():
        warnings.warn(
            f"{what} on the JAX backend with Keras {keras.__version__}: Keras releases before "
            f"{'.'.join(map(str, JAX_ASYNC_KERAS))} synchronize the host with the device at "
            "every step of fit (with or without this callback), so the steps that are not "
            "recorded are not asynchronous either; upgrade Keras to overlap them.",
            RuntimeWarning,
            stacklevel=3,
        )


def get_capture(model) -> GradientCapture:
    """Return the one :class:`GradientCapture` of ``model`` (created on first use)."""
    capture = untracked_attribute(model, _CAPTURE_ATTRIBUTE)
    if capture is None or capture._model_ref() is not model:  # none yet, or a copy's
        check_capture_backend("GradientCapture")
        backend = keras.backend.backend()
        if backend != "tensorflow" and backend not in BACKEND_CAPTURES:
            raise NotImplementedError(
                f"No gradient capture is registered for the {backend!r} backend; import "
                "keras_init_lab.callbacks (it registers the JAX and PyTorch captures) before "
                "training."
            )
        capture = BACKEND_CAPTURES.get(backend, GradientCapture)(model)
        set_untracked_attribute(model, _CAPTURE_ATTRIBUTE, capture)
    return capture


class CaptureCallback(ScheduledCallback):
    """Base of the callbacks that read the gradients of the train step, on a step schedule.

    A subscriber of the model's :class:`GradientCapture`. The schedule is injected
    (:class:`~keras_init_lab.callbacks.EverySteps`); the base class
    (:class:`~keras_init_lab.callbacks._scheduled.ScheduledCallback`) counts global steps
    and decides which executions are recorded: the first of every ``fit`` and those holding
    a step ``s`` with ``s % n == 0``. This class asks the capture to instrument them (with
    histograms when :meth:`_histograms_wanted` says so) and hands the result to the
    subclass, which only computes:

    * ``_on_record(step, record)`` (required): a :class:`StepRecord` of the execution whose
      last global step is ``step``; called by the capture on the host, inside
      ``model.train_function``, right after the instrumented execution ran;
    * ``_on_skipped(step)``: a requested execution whose update the optimizer skipped
      (non-finite gradients under a ``LossScaleOptimizer``);
    * ``_histograms_wanted(first, last)``: ask for histograms of this execution (default
      never);
    * ``_reads_others_records`` (class attribute, default False): also receive records
      another subscriber of the same model asked for (they cost nothing more);
    * ``_on_capture_abort()``: training raised; the capture already restored the model
      (call ``super()``).

    Cost: steps that are not recorded run the model's own compiled train function, with no
    extra op and no host synchronization (no ``on_train_batch_end`` hook).

    Example:
        >>> class FirstLayerNorm(CaptureCallback):
        ...     def _on_record(self, step, record):
        ...         print(step, record.per_layer()["norm"][0])
        >>> model.fit(x, y, callbacks=[FirstLayerNorm(EverySteps(10))])  # doctest: +SKIP

    Args:
        schedule: an :class:`~keras_init_lab.callbacks.EverySteps`.

    Raises:
        TypeError: ``schedule`` is not an ``EverySteps``.

    Reference:
        Cockpit's quantities on an injected ``track_schedule`` (Schneider, Dangel & Hennig
        2021, https://arxiv.org/abs/2102.06604).
    """

    schedule_types = (EverySteps,)

    #: Whether records asked for by another subscriber of the same capture are read too.
    _reads_others_records = False

    def __init__(self, schedule: EverySteps):
        check_capture_backend(type(self).__name__)
        super().__init__(schedule)
        self._capture = None
        self._requested = False
        self._step: int | None = None  # last step of the running execution

    @property
    def every_n_steps(self) -> int:
        """``schedule.n``: record every this many steps."""
        return self.schedule.n

    def _histograms_wanted(self, first: int, last: int) -> bool:
        """Whether the execution ``first..last`` should also count histograms (default no)."""
        return False

    def _fit_begin(self):
        capture = get_capture(self.model)
        capture.attach(self)
        # Set only once attached: attaching may first clean up a fit that raised outside
        # the train function, which resets that fit's subscribers (``_on_capture_abort``).
        self._capture = capture
        self._requested = False
        self._step = None

    def _execution_begin(self, first, last, recorded):
        if self._capture is None:
            return
        self._step = last
        histograms = self._histograms_wanted(first, last)
        self._requested = recorded or histograms
        if self._requested:
            self._capture.request(self, histograms=histograms)

    def _execution_end(self, first, last, recorded):
        if self._capture is not None:
            self._capture.collect_pending()  # JAX: the record of the execution that ended
        self._step = None

    def _capture_done(self, record) -> None:
        """Called by the capture after an instrumented execution (``record`` None: skipped)."""
        requested, self._requested = self._requested, False
        step = self._step
        if step is None:
            return
        if record is None:
            if requested:
                self._on_skipped(step)
            return
        if requested or self._reads_others_records:
            self._on_record(step, record)

    def _fit_end(self):
        if self._capture is not None:
            self._capture.detach(self)
            self._capture = None

    def _on_capture_abort(self):
        """Called by the capture when training raised: it already restored the model."""
        if self._capture is not None and self._capture.failed_in_step:
            self._abandon_execution()
        self._capture = None
        self._requested = False
        self._step = None

    def _on_skipped(self, step):
        """A requested step the optimizer skipped (non-finite gradients under loss scaling)."""

    def _on_record(self, step, record):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _on_record(step, record) to use the "
            "records it asks for."
        )
