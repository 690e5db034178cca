"""``GradientStats``: statistics of the gradients the optimizer really applies, during ``fit``.

Example:
    >>> stats = GradientStats(every_n_steps=10, log_dir="logs/run1")
    >>> model.fit(x, y, epochs=3, callbacks=[stats])
    >>> stats.history["per_layer"]["norm"][:, 0]     # first layer's gradient norm over time
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np

from keras_init_lab._validation import check_int
from keras_init_lab.callbacks._scheduled import ScheduledCallback
from keras_init_lab.callbacks.capture import STATISTICS, get_capture
from keras_init_lab.callbacks.tensorboard import SummaryWriters

__all__ = ["GradientStats", "HISTORY_STATISTICS"]

#: Statistics kept in ``history`` (CONTRACTS.md) plus the weights' norm and std.
HISTORY_STATISTICS = STATISTICS + ("weight_norm", "weight_std")

#: Per-layer curves written to TensorBoard and grouped by the custom-scalars layout.
_LAYER_SCALARS = (
    ("norm", "gradient_norm"),
    ("weight_std", "weight_std"),
    ("update_ratio", "update_ratio"),
)


class _ScheduledCaptureCallback(ScheduledCallback):
    """A subscriber of the model's gradient capture, on the shared schedule.

    The base class counts the steps; this class asks the capture to instrument the
    executions that are due (and the first one of every ``fit``), and receives what the
    capture measured through :meth:`_capture_done`, called by the capture right after the
    instrumented execution ran (host side, inside ``model.train_function``). No batch-end
    hook: steps that are not recorded add no host work and no synchronization.
    """

    def __init__(self, every_n_steps: int):
        super().__init__(every_n_steps)
        self._capture = None
        self._requested = False

    def _histograms_wanted(self, first_step: int, last_step: int) -> bool:
        return False

    def _fit_begin(self):
        capture = get_capture(self.model)
        capture.attach(self)
        # Set only once attached: attaching may first clean up a fit that raised outside
        # the train function, which resets that fit's subscribers (``_on_capture_abort``).
        self._capture = capture
        self._requested = False

    def _execution_begin(self, first, last):
        if self._capture is None:
            return
        histograms = self._histograms_wanted(first, last)
        self._requested = self.fit_step == 0 or histograms or self.due(first, last)
        if self._requested:
            self._capture.request(self, histograms=histograms)

    def _capture_done(self, record) -> None:
        """Called by the capture after an instrumented execution (``record`` None: skipped)."""
        requested, self._requested = self._requested, False
        execution = self.execution
        if execution is None:
            return
        step = execution[1]
        if record is None:
            if requested:
                self._on_skipped(step)
            return
        if requested or self._reads_others_records:
            self._on_record(step, record)

    #: Whether records asked for by another subscriber of the same capture are read too.
    _reads_others_records = False

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

    def _on_skipped(self, step):
        """A requested step the optimizer skipped (non-finite gradients under loss scaling)."""

    def _on_record(self, step, record):  # pragma: no cover - overridden
        raise NotImplementedError


class GradientStats(_ScheduledCaptureCallback):
    """Record per-variable and per-layer gradient statistics from inside the train step.

    The gradients are the ones ``optimizer.apply`` receives in the compiled train step (see
    :mod:`keras_init_lab.callbacks.capture`): no extra forward or backward pass, and steps
    that are not recorded run the model's own, untouched train function.

    Statistics per trainable variable ``g`` (flattened, ``n`` elements) and per layer (all
    its variables pooled): ``norm = ||g||_2``, ``mean``, ``std`` (population),
    ``max_abs = max|g|``, ``zero_fraction = #{g == 0}/n``, ``nonfinite_count = #{NaN, Inf}``
    (counted, never dropped; norm/mean/std become NaN or Inf with them), and
    ``update_ratio = ||w_after - w_before|| / ||w_before||`` (the size of the update the
    optimizer applied relative to the weights; ~1e-3 per step is the classic healthy value).

    Which steps are visible: the first execution of each ``fit`` and every execution that
    contains a step ``s`` with ``s % every_n_steps == 0``. Step numbers are counted by the
    callback itself: ``s`` is the number of training steps run before this one in all the
    ``fit`` calls this callback took part in (0 for the first step it sees; a ``fit`` that
    raised counts the steps it ran). They continue across ``fit`` calls and never restart,
    also when the model is recompiled with a new optimizer; they are not
    ``optimizer.iterations`` (which a new optimizer restarts at 0, and which counts steps
    trained without this callback). With
    ``steps_per_execution = k > 1`` Keras runs ``k`` steps in one compiled call and only the
    **last** step of a recorded execution is visible; it is recorded under its own step
    number (so with ``k = 4, every_n_steps = 8`` the recorded steps are 3, 11, 19, ...).
    Under ``MirroredStrategy`` the statistics are those of the all-reduced gradient (the
    global-batch gradient the optimizer applies), not of one replica's share. Under mixed
    precision they are of the unscaled gradient; a step the ``LossScaleOptimizer`` skips
    (overflow) is not recorded and its number is appended to :attr:`skipped_steps`.

    ``history`` (CONTRACTS.md)::

        {"step": int64 [n_recorded], "variables": [str] (n_vars), "layers": [str] (n_layers,
         forward order), "per_variable": {stat: [n_recorded, n_vars]},
         "per_layer": {stat: [n_recorded, n_layers]}}

    with every stat of ``STATISTICS`` plus ``weight_norm`` and ``weight_std``. At most
    ``max_history`` records are kept: when full, every second record is dropped (the first is
    kept), so the history still spans the whole run at half the resolution.

    TensorBoard (with ``log_dir``, run ``train``): per layer and per variable
    ``<layer>/gradient_norm``, ``<layer>/weight_std``, ``<layer>/update_ratio`` and
    ``<layer>/<variable>/...``; histograms ``<layer>/<variable>/gradient_log10_abs`` (x axis
    log10|g|, fixed edges: one bucket per power of two from 2^-34 to 2^14, exact zeros in the
    first bucket) and ``<layer>/<variable>/weights`` (30 buckets between the variable's min
    and max), both bucketed on the device; a custom-scalars
    layout with one chart per quantity holding every layer's curve. Writers are created
    lazily, flushed and closed at train end and when training raises inside a step (an
    exception raised outside the step, e.g. by another callback, is noticed and cleaned up
    when the model next trains: Keras calls no callback hook on exceptions).

    Example:
        >>> stats = GradientStats(every_n_steps=10)
        >>> model.fit(x, y, epochs=2, callbacks=[stats])
        >>> stats.history["per_layer"]["norm"].shape
        (n_recorded, n_layers)

    Args:
        every_n_steps: record every this many steps (default 100: a recorded step costs
            ~1.7x a plain one on a 3M-parameter MLP on a 2-core CPU (benchmarks/callbacks.py),
            so 1 step in 100 keeps the average overhead near 1%).
        histogram_every_n_steps: compute histograms every this many steps; ``None`` means
            ``every_n_steps`` when ``log_dir`` is given and never otherwise; ``0`` never.
        log_dir: TensorBoard log folder, or None for no event files.
        max_history: most records kept in memory (default 10000).

    Reference:
        Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward
        neural networks", http://proceedings.mlr.press/v9/glorot10a.html (per-layer gradient
        norms as the diagnostic of vanishing gradients).
    """

    def __init__(
        self,
        every_n_steps: int = 100,
        histogram_every_n_steps: int | None = None,
        log_dir: str | os.PathLike | None = None,
        max_history: int = 10_000,
    ):
        super().__init__(every_n_steps)
        histogram_every_n_steps = check_int(
            "histogram_every_n_steps", histogram_every_n_steps, minimum=0, allow_none=True
        )
        if log_dir is not None and (
            not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir)
        ):
            raise TypeError(f"log_dir must be a path or None; received log_dir={log_dir!r}.")
        if histogram_every_n_steps is None:
            histogram_every_n_steps = self.every_n_steps if log_dir is not None else 0
        self.histogram_every_n_steps = histogram_every_n_steps
        self.log_dir = None if log_dir is None else str(log_dir)
        self.max_history = check_int("max_history", max_history, minimum=2)
        self.skipped_steps: list[int] = []
        self.last_histograms: dict | None = None
        self._writers = SummaryWriters(self.log_dir) if self.log_dir is not None else None
        self._layout_written = False
        self._variables: list[str] = []
        self._layers: list[str] = []
        self._steps: list[int] = []
        self._per_variable: list[dict] = []
        self._per_layer: list[dict] = []
        self._cached_history = None

    # ----------------------------------------------------------------- schedule
    def _histograms_wanted(self, first_step, last_step):
        return self.due(first_step, last_step, self.histogram_every_n_steps)

    def _on_skipped(self, step):
        self.skipped_steps.append(int(step))

    def _fit_end(self):
        super()._fit_end()
        if self._writers is not None:
            self._writers.close()

    def _on_capture_abort(self):
        super()._on_capture_abort()
        if self._writers is not None:
            self._writers.close()

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
            }
        if self._writers is not None:
            self._write(step, record, per_variable, per_layer)

    def _write(self, step, record, per_variable, per_layer):
        writers = self._writers
        layout = record.layout
        if not self._layout_written:
            alternatives = "|".join(re.escape(layer) for layer in layout.layers)
            writers.custom_scalars_layout(
                {
                    f"gradients per layer ({what})": {
                        f"{what}, every layer": [rf"^(?:{alternatives})/{what}$"]
                    }
                    for _, what in _LAYER_SCALARS
                }
            )
            self._layout_written = True
        values = {}
        for stat, what in _LAYER_SCALARS:
            for index, layer in enumerate(layout.layers):
                values[f"{layer}/{what}"] = per_layer[stat][index]
            for index, name in enumerate(layout.names):
                values[f"{name}/{what}"] = per_variable[stat][index]
        for index, layer in enumerate(layout.layers):
            values[f"{layer}/gradient_nonfinite_count"] = per_layer["nonfinite_count"][index]
        histograms = {}
        if record.gradient_histograms is not None:
            edges = record.gradient_edges
            buckets = record.weight_histograms.shape[1]
            for index, name in enumerate(layout.names):
                histograms[f"{name}/gradient_log10_abs"] = (
                    edges[:-1],
                    edges[1:],
                    record.gradient_histograms[index],
                )
                low, high = record.weight_range[:, index]
                bucket_edges = np.linspace(low, high, buckets + 1)
                histograms[f"{name}/weights"] = (
                    bucket_edges[:-1],
                    bucket_edges[1:],
                    record.weight_histograms[index],
                )
        # One compiled summary call per record, flushed at once: a record is small, and the
        # flush keeps it on disk if training is interrupted (records are every
        # ``every_n_steps`` steps, not every step).
        writers.write_batch(step, values, histograms)
        writers.flush()

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
