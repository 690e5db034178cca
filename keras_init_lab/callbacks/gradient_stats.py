"""``GradientStats``: statistics of the gradients the optimizer really applies, during ``fit``.

Example:
    >>> stats = GradientStats(schedule=EverySteps(10), log_dir="logs/run1")
    >>> model.fit(x, y, epochs=3, callbacks=[stats])
    >>> stats.history["per_layer"]["norm"][:, 0]     # first layer's gradient norm over time
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import numpy as np

import keras_init_lab.callbacks._capture_torch  # noqa: F401 (registers the PyTorch capture)
from keras_init_lab import _tags
from keras_init_lab._event_writer import EventWriters
from keras_init_lab._validation import check_int, check_log_dir
from keras_init_lab.callbacks import _capture_jax  # noqa: F401 (registers the JAX capture)
from keras_init_lab.callbacks._chief import writes_files
from keras_init_lab.callbacks._scheduled import EverySteps, resolve_schedule
from keras_init_lab.callbacks.capture import STATISTICS, CaptureCallback, get_capture
from keras_init_lab.callbacks.histograms import DEFAULT_HISTOGRAM_SAMPLE_SIZE, GRADIENT_MIN_EXPONENT

__all__ = [
    "DEFAULT_EVERY_N_STEPS",
    "DEFAULT_HISTOGRAM_EVERY_N_STEPS",
    "GradientStats",
    "HISTORY_STATISTICS",
]

#: Statistics kept in ``history`` plus the weights' norm and std.
HISTORY_STATISTICS = STATISTICS + ("weight_norm", "weight_std")

#: Default statistics schedule, ``EverySteps(100)``: a recorded step costs about 1.5-2x a
#: plain one on a 3M-parameter MLP on a CPU (``benchmarks/callbacks.py``), so 1 step in 100
#: keeps the average overhead near 1%.
DEFAULT_EVERY_N_STEPS = 100

#: Default histogram schedule with ``log_dir``: one every 100 steps. Histograms were the
#: costly part of a record when every element was counted (a recorded step with histograms
#: and TensorBoard cost about 2.8x a plain step on a 3M-parameter MLP on a CPU,
#: ``benchmarks/callbacks.py``); sampled (``histogram_sample_size``) they cost a fixed amount
#: per variable, and one every 100 steps keeps them in the statistics' own budget.
DEFAULT_HISTOGRAM_EVERY_N_STEPS = 100

#: Smallest magnitude the gradient histograms resolve (their first edge, 2^-34 ~ 5.8e-11).
_FLOOR = 2.0**GRADIENT_MIN_EXPONENT


class _TagPlan(NamedTuple):
    """What every record of one set of variables writes under: built at its first record.

    Attributes:
        layout: the :class:`VariableLayout` it was built for (compared by identity).
        layer_tags: the tag prefix of each layer, in the layout's order.
        variables: ``(layer tag prefix, variable's own name)`` of each variable, e.g.
            ``("dense", "kernel")``.
        scalars: ``(tag, level, statistic, index)`` of each scalar, ``level`` ``"layer"``
            or ``"variable"``, in writing order.
        gradient_tags: the gradient histogram tag of each variable.
        descriptions: the description of every scalar and gradient histogram tag.
        weight_descriptions: ``{(variable index, unit): description}`` of the weight
            histograms, filled as units are chosen (their tags depend on the unit).
    """

    layout: Any
    layer_tags: list
    variables: list
    scalars: list
    gradient_tags: list
    descriptions: dict
    weight_descriptions: dict


class GradientStats(CaptureCallback):
    """Record per-variable and per-layer gradient statistics from inside the train step.

    The gradients are the ones ``optimizer.apply`` receives in the compiled train step (see
    :mod:`keras_init_lab.callbacks.capture`): no extra forward or backward pass, and steps
    that are not recorded run the model's own, untouched train function.

    Statistics per trainable variable ``g`` (flattened, ``n`` elements) and per layer (all
    its variables pooled): ``norm = ||g||_2``, ``mean``, ``std`` (population),
    ``max_abs = max|g|``, ``zero_fraction = #{g == 0}/n``, ``nonfinite_count = #{NaN, Inf}``
    (counted, never dropped; norm/mean/std become NaN or Inf with them), and
    ``update_ratio = ||w_after - w_before|| / ||w_before||`` (the size of the update the
    optimizer applied relative to the weights; ~1e-3 per step is the classic healthy value;
    on TensorFlow's CPU graph steps the largest variables' ``w_after - w_before`` is the sum
    of the tensors the optimizer adds to them, which differs from the stored difference
    only by the float32 rounding of each write).

    Which steps are recorded: the schedule is injected, ``schedule=EverySteps(n)`` (or the
    older ``every_n_steps=n``): the first execution of each ``fit`` and every execution that
    contains a global step ``s`` with ``s % n == 0``. Global steps are counted by the
    callback itself: ``s`` is the number of training steps run before this one in all the
    ``fit`` calls this callback took part in (0 for the first step it sees; a ``fit`` that
    raised counts the steps it ran). They continue across epochs and ``fit`` calls and never
    restart, also when the model is recompiled with a new optimizer; they are not
    ``optimizer.iterations`` (which a new optimizer restarts at 0, and which counts steps
    trained without this callback). With
    ``steps_per_execution = k > 1`` Keras runs ``k`` steps in one compiled call and only the
    **last** step of a recorded execution is visible; it is recorded under its own step
    number (so with ``k = 4, n = 8`` the recorded steps are 3, 11, 19, ...).
    Under ``MirroredStrategy`` the statistics are those of the all-reduced gradient (the
    global-batch gradient the optimizer applies; Keras 3.3, which does not divide the loss
    by the number of replicas, applies that many times it), not of one replica's share;
    under ``MultiWorkerMirroredStrategy`` too, on every worker, and only the chief (as
    TensorFlow decides it, :func:`keras_init_lab.callbacks._chief.is_chief`) writes event
    files: the other workers keep the same ``history`` in memory and write nothing.
    Under mixed
    precision they are of the unscaled gradient; a step the ``LossScaleOptimizer`` skips
    (overflow) is not recorded and its number is appended to :attr:`skipped_steps`.

    Memory: on TensorFlow graph steps (one replica, no XLA) the capture keeps a float32 copy
    of the whole rows of the few largest variables (up to 4) in buffer variables of its own,
    written at each recorded step before the update, so that the optimizer updates those
    variables in place instead of copying them into fresh memory; they live as long as the
    model.

    ``history``::

        {"step": int64 [n_recorded], "variables": [str] (n_vars), "layers": [str] (n_layers,
         forward order), "per_variable": {stat: [n_recorded, n_vars]},
         "per_layer": {stat: [n_recorded, n_layers]}}

    with every stat of ``STATISTICS`` plus ``weight_norm`` and ``weight_std``. At most
    ``max_history`` records are kept: when full, every second record is dropped (the first is
    kept), so the history still spans the whole run at half the resolution.

    TensorBoard (with ``log_dir``, run ``train``; names from
    :mod:`keras_init_lab.callbacks._tags`), every tag under its layer's name (the model's own
    name dropped from the front, as ActivationStats's tags) and with a description
    TensorBoard shows. First in each layer's group (a leading digit sorts them first):
    ``<layer>/1_gradient_log10_norm`` and ``<layer>/2_update_ratio_log10`` (log10 units, -3
    is 1e-3). Under ``<layer>/details/``: ``gradient_norm``, ``gradient_zero_count``,
    ``gradient_nonfinite_count``, ``weight_std``, ``update_ratio``; per variable
    ``<layer>/details/<variable>/gradient_norm``, ``gradient_log10_norm``,
    ``gradient_zero_count``, ``gradient_nonfinite_count``, ``weight_std``, ``update_ratio``;
    histograms ``<layer>/details/<variable>/gradient_log10_abs`` (x axis log10|g|, fixed
    edges: one bucket per power of two from 2^-34 to 2^14; magnitudes below 2^-34, exact
    zeros included, in the first bucket, so exact zeros are also counted apart in
    ``gradient_zero_count``) and ``<layer>/details/<variable>/weights`` (30 buckets between
    the variable's min and max; values below 0.01 in magnitude in units of ``10^k`` under
    ``weights_in_1e<k>``, see ``_tags.HistogramUnits``), both bucketed on the device. Each
    histogram of a variable larger than ``histogram_sample_size`` (16384 by default) counts a
    systematic sample of that many of its elements (evenly spaced), another at every record
    (:func:`~keras_init_lab.callbacks.histograms.sample_plan`): the same picture at a cost
    that does not grow with the layer; its description says so, and what must be exact comes
    from the statistics (``gradient_zero_count``, the weights' min and max as the x range). A
    custom-scalars layout with one category per quantity (gradient norm and update ratio in
    log10, weight std), each chart holding at most 10 layers (``_tags.per_layer_layout``).
    Writers are created lazily. Records reach the disk on a time basis (a flush when at
    least ``FLUSH_SECONDS`` = 2 s passed since the last one, see
    :mod:`keras_init_lab._event_writer`, the TensorFlow-free writer used on every backend),
    at every epoch end, and when the writers
    are closed: at train end and when training raises inside a step (``KeyboardInterrupt``
    included). An exception raised outside the step (e.g. by another callback; Keras calls
    no callback hook then) leaves the last records in memory until :meth:`flush`, the next
    ``fit`` (which closes the writers) or the interpreter's exit (an ``atexit`` hook
    flushes every live writer): nothing recorded is lost.

    Example:
        >>> stats = GradientStats(schedule=EverySteps(10))   # or every_n_steps=10
        >>> model.fit(x, y, epochs=2, callbacks=[stats])
        >>> stats.history["per_layer"]["norm"].shape
        (n_recorded, n_layers)

    Args:
        every_n_steps: record every this many steps, the same as
            ``schedule=EverySteps(every_n_steps)``; ``None`` (default) with no ``schedule``
            means :data:`DEFAULT_EVERY_N_STEPS` = 100 (a recorded step costs about 1.5-2x a
            plain one on a 3M-parameter MLP on a CPU, ``benchmarks/callbacks.py``, so 1 step
            in 100 keeps the average overhead near 1%).
        histogram_every_n_steps: compute histograms every this many global steps (on the
            executions holding such a step); ``None`` means ``max(100, n)``
            (:data:`DEFAULT_HISTOGRAM_EVERY_N_STEPS`) when ``log_dir`` is given and never
            otherwise, on every backend; ``0`` never.
        histogram_sample_size: elements histogrammed per variable (default
            :data:`~keras_init_lab.callbacks.histograms.DEFAULT_HISTOGRAM_SAMPLE_SIZE` = 16384:
            each bucket's share within 0.4 percentage points, one binomial standard error
            of as many independent draws); a variable of at most that many elements is
            counted whole. ``None`` or ``0`` counts every element of every variable (exact,
            costlier: a pass per bucketing op over all gradients and weights).
        log_dir: TensorBoard log folder, or None for no event files.
        max_history: most records kept in memory (default 10000).
        schedule: an :class:`~keras_init_lab.callbacks.EverySteps`, the statistics schedule.
            Give ``schedule`` or ``every_n_steps``, not both.

    Backends: TensorFlow, JAX and PyTorch, statistics and histograms on each (see
    :mod:`keras_init_lab.callbacks._capture_jax` and
    :mod:`keras_init_lab.callbacks._capture_torch`); other backends raise at construction.

    Raises:
        TypeError: an argument of the wrong type (``every_n_steps=1.5``, ``log_dir=3``,
            ``schedule=EveryEpochs(2)``, ``histogram_sample_size=1.5``).
        NotImplementedError: (a ``RuntimeError``) a backend other than TensorFlow, JAX or
            PyTorch.
        ValueError: a value out of range (``every_n_steps=0``, ``max_history=1``, an empty
            ``log_dir``, ``histogram_sample_size=-1``), or both ``every_n_steps`` and
            ``schedule``.

    Reference:
        Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward
        neural networks", http://proceedings.mlr.press/v9/glorot10a.html (per-layer gradient
        norms as the diagnostic of vanishing gradients).
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        histogram_every_n_steps: int | None = None,
        log_dir: str | os.PathLike | None = None,
        max_history: int = 10_000,
        schedule: EverySteps | None = None,
        histogram_sample_size: int | None = DEFAULT_HISTOGRAM_SAMPLE_SIZE,
    ):
        super().__init__(
            resolve_schedule(
                EverySteps, schedule, "every_n_steps", every_n_steps, DEFAULT_EVERY_N_STEPS
            )
        )
        histogram_every_n_steps = check_int(
            "histogram_every_n_steps", histogram_every_n_steps, minimum=0, allow_none=True
        )
        log_dir = check_log_dir("log_dir", log_dir)
        if histogram_every_n_steps is None:
            histogram_every_n_steps = (
                max(DEFAULT_HISTOGRAM_EVERY_N_STEPS, self.schedule.n) if log_dir is not None else 0
            )
        self.histogram_every_n_steps = histogram_every_n_steps
        self._histogram_schedule = (
            EverySteps(histogram_every_n_steps) if histogram_every_n_steps else None
        )
        sample_size = check_int(
            "histogram_sample_size", histogram_sample_size, minimum=0, allow_none=True
        )
        self.histogram_sample_size = sample_size or None  # 0 and None: every element
        self.log_dir = None if log_dir is None else str(log_dir)
        self.max_history = check_int("max_history", max_history, minimum=2)
        self.skipped_steps: list[int] = []
        self.last_histograms: dict | None = None
        # The TensorFlow-free event-file writer on every backend: on TensorFlow a record
        # through it costs about half the host time of one through tf.summary (an eager op
        # per record; benchmarks/callbacks.py --kernels), and a URL still reaches
        # TensorFlow's file systems (EventWriters).
        self._writers = EventWriters(self.log_dir) if self.log_dir is not None else None
        self._layout_written = False
        # The unit of each weight histogram, chosen at its first record with a spread.
        self._histogram_units = _tags.HistogramUnits()
        # (layout, tags and descriptions of its records): built at its first record.
        self._tag_plan = None
        self._variables: list[str] = []
        self._layers: list[str] = []
        self._steps: list[int] = []
        self._per_variable: list[dict] = []
        self._per_layer: list[dict] = []
        self._cached_history = None

    # ----------------------------------------------------------------- schedule
    def _histograms_wanted(self, first_step, last_step):
        schedule = self._histogram_schedule
        return schedule is not None and schedule._holds_due(first_step, last_step)

    def _execution_begin(self, first, last, recorded):
        # A record held back by the time-based flush reaches the disk within about
        # FLUSH_SECONDS, not only at the next record (host-side: a flag test per step).
        if self._writers is not None:
            self._writers.flush_pending_if_due()
        super()._execution_begin(first, last, recorded)

    def _on_skipped(self, step):
        self.skipped_steps.append(int(step))

    def _fit_begin(self):
        if self._histogram_schedule is not None:
            # Before attaching: the capture traces its histograms with this sample size, a
            # part of the key its compiled functions are cached under (on JAX they are built
            # when the first subscriber attaches).
            get_capture(self.model).histogram_sample_size = self.histogram_sample_size
        super()._fit_begin()

    def _fit_end(self):
        super()._fit_end()
        if self._writers is not None:
            self._writers.close()

    def _on_capture_abort(self):
        super()._on_capture_abort()
        if self._writers is not None:
            self._writers.close()

    def _epoch_end(self, epoch):
        # The epoch's records were written by the capture, inside the train function.
        self.flush()

    def flush(self) -> None:
        """Write every record so far to the event files now (no-op without ``log_dir``).

        Useful after a ``fit`` interrupted outside the train step, e.g. in a notebook,
        to see the last records in TensorBoard before the next ``fit`` or the exit.
        """
        if self._writers is not None:
            self._writers.flush()

    # ----------------------------------------------------------------- recording
    def _on_record(self, step, record):
        layout = record.layout
        if list(layout.names) != self._variables:
            if self._steps:
                warnings.warn(
                    "GradientStats: the model's trainable variables changed; the history was "
                    "restarted for the new variable set.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self._variables, self._layers = list(layout.names), list(layout.layers)
            self._steps, self._per_variable, self._per_layer = [], [], []
            self._layout_written = False
        per_variable = record.per_variable()
        per_layer = record.per_layer()
        self._steps.append(int(step))
        self._per_variable.append(per_variable)
        self._per_layer.append(per_layer)
        if len(self._steps) > self.max_history:
            keep = list(range(0, len(self._steps), 2))
            self._steps = [self._steps[i] for i in keep]
            self._per_variable = [self._per_variable[i] for i in keep]
            self._per_layer = [self._per_layer[i] for i in keep]
        self._cached_history = None
        if record.gradient_histograms is not None:
            self.last_histograms = {
                "step": int(step),
                "variables": list(layout.names),
                "gradient_edges": record.gradient_edges,
                "gradient_counts": record.gradient_histograms,
                "weight_range": record.weight_range,
                "weight_counts": record.weight_histograms,
                "sample_size": self.histogram_sample_size,
            }
        # On the chief only, under a multi-worker strategy (a few attribute reads per record).
        if self._writers is not None and writes_files(self.model):
            self._write(step, record, per_variable, per_layer)

    def _tag_prefixes(self, layout):
        """``{layer path: tag prefix}``: the model's own name is dropped from the front
        (``sequential/dense`` -> ``dense``), so one layer's gradient, weight and activation
        tags share one name."""
        model_name = getattr(self.model, "name", None)
        prefix = f"{model_name}/" if model_name else None
        if prefix and all(layer.startswith(prefix) for layer in layout.layers):
            return {layer: layer[len(prefix) :] for layer in layout.layers}
        return {layer: layer for layer in layout.layers}

    def _tags_of(self, layout) -> _TagPlan:
        """The tags and descriptions of ``layout``'s records, built once per layout object
        (a record then only fills in its numbers; see :class:`_TagPlan`)."""
        if self._tag_plan is not None and self._tag_plan.layout is layout:
            return self._tag_plan
        layer_tag = self._tag_prefixes(layout)
        variables = [
            (layer_tag[layout.layers[layout.layer_index[i]]], name.rsplit("/", 1)[-1])
            for i, name in enumerate(layout.names)
        ]
        scalars, descriptions = [], {}
        for stat, layer_name, variable_name, description in _tags.GRADIENT_SCALARS:
            for index, layer in enumerate(layout.layers):
                tag = _tags.layer_tag(layer_tag[layer], layer_name)
                scalars.append((tag, "layer", stat, index))
                descriptions[tag] = description + " (whole layer)"
            if variable_name is None:
                continue
            for index, (prefix, variable) in enumerate(variables):
                tag = _tags.variable_tag(prefix, variable, variable_name)
                scalars.append((tag, "variable", stat, index))
                descriptions[tag] = description
        gradient_tags = []
        for index, (prefix, variable) in enumerate(variables):
            tag = _tags.gradient_histogram_tag(prefix, variable)
            gradient_tags.append(tag)
            descriptions[tag] = _tags.gradient_histogram_description(
                int(layout.sizes[index]), self.histogram_sample_size, GRADIENT_MIN_EXPONENT, _FLOOR
            )
        self._tag_plan = _TagPlan(
            layout, list(layer_tag.values()), variables, scalars, gradient_tags, descriptions, {}
        )
        return self._tag_plan

    def _weight_description(self, plan: _TagPlan, index: int, unit: float) -> str:
        """The description of variable ``index``'s weight histogram in ``unit`` (cached in
        ``plan``: the unit of a tag can be chosen after its first records)."""
        key = (index, unit)
        if key not in plan.weight_descriptions:
            plan.weight_descriptions[key] = _tags.weight_histogram_description(
                int(plan.layout.sizes[index]), self.histogram_sample_size
            ) + _tags.histogram_unit_note(unit)
        return plan.weight_descriptions[key]

    def _write(self, step, record, per_variable, per_layer):
        writers = self._writers
        layout = record.layout
        plan = self._tags_of(layout)
        if not self._layout_written:
            writers.custom_scalars_layout(
                _tags.per_layer_layout(_tags.GRADIENT_LAYOUT, plan.layer_tags)
            )
            self._layout_written = True
        sizes = layout.sizes.astype(np.float64)
        layer_sizes = np.bincount(layout.layer_index, weights=sizes, minlength=len(layout.layers))
        with np.errstate(divide="ignore"):
            derived = {
                "variable": {
                    "log10_norm": np.log10(per_variable["norm"]),
                    "zero_count": np.rint(per_variable["zero_fraction"] * sizes),
                },
                "layer": {
                    "log10_norm": np.log10(per_layer["norm"]),
                    "update_ratio_log10": np.log10(per_layer["update_ratio"]),
                    "zero_count": np.rint(per_layer["zero_fraction"] * layer_sizes),
                },
            }
        statistics = {"variable": per_variable, "layer": per_layer}
        values = {}
        for tag, level, stat, index in plan.scalars:
            value = derived[level].get(stat)
            if value is None:
                value = statistics[level][stat]
            values[tag] = value[index]
        descriptions = dict(plan.descriptions)
        histograms = {}
        if record.gradient_histograms is not None:
            edges = record.gradient_edges
            buckets = record.weight_histograms.shape[1]
            # Every weight histogram's edges in one call, [n_vars, buckets + 1], in float64
            # (the table's type): the ends are the exact min and max.
            weight_edges = np.linspace(*record.weight_range.astype(np.float64), buckets + 1, axis=1)
            for index, (prefix, variable) in enumerate(plan.variables):
                tag = plan.gradient_tags[index]
                histograms[tag] = (edges[:-1], edges[1:], record.gradient_histograms[index])
                low, high = record.weight_range[:, index]
                tag, unit = self._histogram_units.scale(
                    _tags.weight_histogram_tag(prefix, variable), low, high
                )
                bucket_edges = weight_edges[index] / unit
                histograms[tag] = (
                    bucket_edges[:-1],
                    bucket_edges[1:],
                    record.weight_histograms[index],
                )
                descriptions[tag] = self._weight_description(plan, index, unit)
        # All scalars and histograms of a record in one event (one summary call); flushed on a
        # time basis (see the class docstring for the flushes on interruption and exit).
        writers.write_batch(step, values, histograms, descriptions=descriptions)
        writers.flush_if_due()

    # ----------------------------------------------------------------- results
    @property
    def history(self) -> dict:
        """Recorded statistics as numpy arrays (see the class docstring for the layout)."""
        if self._cached_history is None:
            n_vars, n_layers = len(self._variables), len(self._layers)

            def stack(rows, width):
                return {
                    stat: (
                        np.stack([row[stat] for row in rows]).astype(np.float64)
                        if rows
                        else np.zeros((0, width))
                    )
                    for stat in HISTORY_STATISTICS
                }

            self._cached_history = {
                "step": np.asarray(self._steps, dtype=np.int64),
                "variables": list(self._variables),
                "layers": list(self._layers),
                "per_variable": stack(self._per_variable, n_vars),
                "per_layer": stack(self._per_layer, n_layers),
            }
        return self._cached_history
