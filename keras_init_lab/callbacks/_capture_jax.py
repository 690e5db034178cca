"""The gradient capture on JAX: statistics and histograms carried out of the jitted step.

Keras's JAX trainer runs ``optimizer.stateless_apply(optimizer_variables, grads,
trainable_variables)`` inside the jitted train step, and ``stateless_apply`` calls
``self.apply(grads)`` in a ``StatelessScope``: every ``assign`` to an optimizer variable
inside ``apply`` becomes an output of the compiled step. So, per ``fit``:

* **One extra optimizer variable**, the ``[rows, n_vars]`` buffer (the 10 statistics rows,
  then the rows of the histograms on the steps that ask for them: weight min and max, 48
  gradient and 30 weight bucket counts, each count in two rows, see :data:`COUNT_SPLIT`),
  is appended to ``optimizer.variables`` when the
  selector is installed (``on_train_begin``) and removed at train end (and when training
  raises), so a model saved after ``fit`` carries exactly the optimizer variables it would
  carry without the callback
  (:func:`keras_init_lab._keras_compat.track_optimizer_variable`).
* **Compiled functions chosen on the host**, as on TensorFlow: the model's own train
  step, rebuilt once the buffer is in the state (under a ``keras.distribution`` the
  ``out_shardings`` of the state are fixed when the step is built; rebuilding makes them
  cover the buffer, whatever the Keras release does with a step built before it), and two
  instrumented ones (statistics; statistics and histograms) that each jit-compile a train step
  of their own (:func:`keras_init_lab._keras_compat.make_jax_train_function`) in which
  ``optimizer.apply`` is wrapped while it is traced. The wrapper reads the weights, calls
  the real ``apply``, reads them again, computes the statistics with the one ``keras.ops``
  implementation (:func:`keras_init_lab.callbacks.statistics.gradient_sufficient_statistics`)
  and, when asked, the histograms
  (:func:`keras_init_lab.callbacks.histograms.gradient_histograms`, the same ``keras.ops``
  bucketing as on TensorFlow), and assigns them to the buffer. No host callback, no
  ``lax.cond``: the plain function is the model's own step, untouched.
* **The host reads the buffer only on recorded steps**, and not right after the step: the
  selector keeps the buffer's entry of the returned state, and the next
  ``on_train_batch_begin`` (or the epoch's end) reads it
  (:meth:`JaxGradientCapture.collect_pending`), before the next step is dispatched (the
  step donates its input state). No callback overrides ``on_train_batch_end``, so Keras
  keeps dispatching steps asynchronously (Keras 3.6 and later; 3.3-3.5 synchronize every
  step anyway, :func:`keras_init_lab._keras_compat.jax_fit_syncs_every_step`).

Not supported on JAX (a ``NotImplementedError`` that says so): a ``LossScaleOptimizer`` (it
overrides ``stateless_apply``), gradient accumulation (``apply`` then updates inside a
``lax.cond``, every ``gradient_accumulation_steps`` calls).

Example:
    >>> # KERAS_BACKEND=jax
    >>> stats = GradientStats(every_n_steps=10)
    >>> model.fit(x, y, callbacks=[stats])  # doctest: +SKIP

Reference:
    Keras JAX trainer (``keras/src/backend/jax/trainer.py``: ``train_step``, ``fit``,
    ``make_train_function``) and ``BaseOptimizer.stateless_apply``
    (``keras/src/optimizers/base_optimizer.py``), Keras 3.15.1.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import ops

from keras_init_lab._keras_compat import (
    make_jax_train_function,
    make_train_function,
    patched,
    track_optimizer_variable,
    untrack_optimizer_variable,
)
from keras_init_lab.callbacks._scheduled import _steps_per_execution
from keras_init_lab.callbacks.capture import BACKEND_CAPTURES, GradientCapture, _applied_gradients
from keras_init_lab.callbacks.histograms import gradient_histograms
from keras_init_lab.callbacks.statistics import (
    _NUM_ROWS,
    StepRecord,
    gradient_sufficient_statistics,
    split_chunks,
)

__all__ = ["BUFFER_NAME", "JaxGradientCapture"]

#: Name of the statistics buffer while it is one of the optimizer's variables.
BUFFER_NAME = "kil_gradient_statistics"

#: Each bucket count travels in the float32 buffer as two rows, ``count // 2^12`` and
#: ``count mod 2^12``: both exact in float32 (below 2^19 and 2^12 for any count below
#: 2^31), where one float32 holds integers exactly only up to 2^24 = 16,777,216 (an exact
#: histogram of a larger variable can put more than that in one bucket).
COUNT_SPLIT = 2**12


def _split_counts(counts) -> tuple:
    """``[n_vars, k]`` int counts -> two ``[k, n_vars]`` float32 blocks, the high and the
    low part of each count (:data:`COUNT_SPLIT`), both exact in float32."""
    counts = ops.transpose(ops.cast(counts, "int32"))
    high = ops.cast(ops.floor_divide(counts, COUNT_SPLIT), "float32")
    low = ops.cast(counts - ops.floor_divide(counts, COUNT_SPLIT) * COUNT_SPLIT, "float32")
    return high, low


def _joined_counts(rows: np.ndarray) -> np.ndarray:
    """The ``[n_vars, k]`` int64 counts from the ``[2k, n_vars]`` rows of
    :func:`_split_counts` (high parts, then low parts).

    Example:
        >>> _joined_counts(np.array([[4098.0], [1.0]], np.float32))  # 4098 * 4096 + 1
        array([[16785409]])
    """
    high, low = np.split(np.rint(rows).astype(np.int64), 2)
    return (high * COUNT_SPLIT + low).T


def _unsupported(what: str, how: str) -> NotImplementedError:
    return NotImplementedError(
        f"The gradient capture on the JAX backend (Keras {keras.__version__}) does not "
        f"support {what}: {how}"
    )


def _check_optimizer(optimizer) -> None:
    """Refuse the optimizers whose JAX step the capture cannot instrument (see the module)."""
    if getattr(optimizer, "inner_optimizer", None) is not None:
        raise _unsupported(
            f"a {type(optimizer).__name__} (mixed precision loss scaling)",
            "it overrides stateless_apply. Train in float32 or on the TensorFlow backend.",
        )
    steps = getattr(optimizer, "gradient_accumulation_steps", None)
    if steps:
        raise _unsupported(
            f"gradient_accumulation_steps={steps}",
            "the update runs inside a lax.cond every few calls of apply. Drop the "
            "accumulation or train on the TensorFlow backend.",
        )


class JaxGradientCapture(GradientCapture):
    """:class:`~keras_init_lab.callbacks.capture.GradientCapture` for the JAX backend.

    Same subscribers, schedule and records as on TensorFlow; what differs is how the
    statistics leave the compiled step (an optimizer-state buffer, see the module
    docstring) and when the host reads them (at the next step's start, recorded steps only).
    """

    def __init__(self, model):
        super().__init__(model)
        # config key -> (plain function, instrumented function, the same with histograms,
        # buffer variable)
        self._jax_functions: dict[tuple, tuple] = {}
        self._buffer = None  # the buffer while it is tracked by the optimizer
        self._buffer_index: int | None = None
        self._plain = None
        self._instrumented_fn = None
        self._histogram_fn = None
        # (the buffer's entry of a recorded step's returned state, with histograms or not)
        self._pending = None

    # ----------------------------------------------------------------- lifecycle
    def _config_key(self, histograms: bool) -> tuple:
        model = self.model
        distribution = keras.distribution.distribution()
        return (
            id(model.optimizer),
            tuple(id(v) for v in self.layout().variables),
            bool(model.run_eagerly),
            str(model.jit_compile),
            _steps_per_execution(model),
            id(distribution) if distribution is not None else None,
            self.histogram_sample_size,
            self.weight_buckets,
        )

    def _on_install(self) -> None:
        model = self.model
        optimizer = model.optimizer
        if optimizer is None:
            raise ValueError("The model has no optimizer; call model.compile(optimizer=...) first.")
        _check_optimizer(optimizer)
        layout = self.layout()
        key = self._config_key(False)
        entry = self._jax_functions.get(key)
        buffer = (
            entry[3]
            if entry is not None
            else keras.Variable(
                np.zeros((self._buffer_rows(), layout.num_variables), np.float32),
                trainable=False,
                name=BUFFER_NAME,
            )
        )
        track_optimizer_variable(optimizer, buffer)
        self._buffer, self._buffer_index = buffer, len(optimizer.variables) - 1
        if entry is None:
            # All built with the buffer in the optimizer's state (out_shardings include it);
            # each is traced and compiled at its first call only.
            plain = make_train_function(model)
            instrumented = make_jax_train_function(model, self._instrumented_step(buffer, False))
            with_histograms = make_jax_train_function(model, self._instrumented_step(buffer, True))
            entry = (plain, instrumented, with_histograms, buffer)
            self._jax_functions[key] = entry
        self._plain, self._instrumented_fn, self._histogram_fn = entry[:3]
        self._pending = None

    def _on_uninstall(self) -> None:
        model = self._model_ref()
        if self._buffer is not None and model is not None and model.optimizer is not None:
            untrack_optimizer_variable(model.optimizer, self._buffer)
        self._buffer, self._buffer_index = None, None
        self._plain = self._instrumented_fn = self._histogram_fn = None
        self._pending = None

    def _buffer_rows(self) -> int:
        """Rows of the buffer: the statistics, then the histograms of a step that asked.

        ``_NUM_ROWS`` statistics rows, then the weights' min and max (2 rows), the gradient
        counts (two rows per binade bucket) and the weight counts (two rows per bucket), one
        column per variable: each count as its high and low parts (:data:`COUNT_SPLIT`),
        exact in float32 whatever the variable's size.
        """
        return _NUM_ROWS + 2 + 2 * (len(self.gradient_edges) - 1) + 2 * self.weight_buckets

    def instrumented_function(self, histograms: bool = False):
        """The instrumented train function of the running ``fit`` (JAX: built at install)."""
        return self._histogram_fn if histograms else self._instrumented_fn

    # ----------------------------------------------------------------- the step
    def _instrumented_step(self, buffer, histograms: bool):
        """``train_step(state, data)`` of an instrumented function: the model's own step,
        traced while ``optimizer.apply`` is wrapped (see :meth:`_wrapped_apply`)."""
        capture = self

        def instrumented_train_step(state, data):
            model = capture.model
            with capture._wrapped_apply(buffer, histograms):
                return type(model).train_step(model, state, data)

        return instrumented_train_step

    @contextlib.contextmanager
    def _wrapped_apply(self, buffer, histograms: bool):
        """Wrap ``optimizer.apply`` while the instrumented step is traced (or run eagerly)."""
        model = self.model
        optimizer = model.optimizer
        layout = self.layout()
        original_apply = optimizer.apply
        capture = self
        weight_buckets = self.weight_buckets
        sample_size = self.histogram_sample_size
        spare_rows = self._buffer_rows() - _NUM_ROWS

        def apply(grads, trainable_variables=None):
            capture.traces += 1
            grads = list(grads)  # passed on to the real apply below
            dense, present = _applied_gradients(optimizer, grads, trainable_variables, layout)
            # Inside stateless_apply, ``v.value`` is the value in the step's state: before
            # the update here, after it below. The histograms' sample moves with the
            # optimizer's step count, read before the update increments it.
            draw = optimizer.iterations.value
            before = split_chunks([v.value for v in layout.variables], layout)
            result = original_apply(grads, trainable_variables)
            dense = split_chunks(dense, layout)
            after = split_chunks([v.value for v in layout.variables], layout)
            raw = gradient_sufficient_statistics(dense, before, after, layout, xla=True)
            if not all(present):
                missing = np.array([not p for p in present])[None, :]
                raw = ops.where(missing, np.float32(np.nan), raw)
            if histograms:
                g_counts, w_counts, low, high = gradient_histograms(
                    dense, after, layout, weight_buckets, sample_size, draw
                )
                extra = ops.concatenate(
                    [ops.stack([low, high]), *_split_counts(g_counts), *_split_counts(w_counts)],
                    axis=0,
                )
            else:
                extra = ops.zeros([spare_rows, layout.num_variables], "float32")
            # Becomes an output of the step (StatelessScope).
            buffer.assign(ops.concatenate([raw, extra], axis=0))
            return result

        with patched(optimizer, "apply", apply):
            yield

    # ----------------------------------------------------------------- the selector
    def _train_function(self, state, iterator):
        """Installed as ``model.train_function``: plain step unless someone asked for this one."""
        if self._original is None or self._stale():
            # A fit without any subscriber (an earlier one raised outside the train
            # function): untrack the buffer, drop it from this step's state, run the
            # model's own function.
            index = self._buffer_index
            self._uninstall(abort=True)
            if index is not None and len(state) > 2 and len(state[2]) > index:
                state = (*state[:2], [*state[2][:index], *state[2][index + 1 :]], *state[3:])
            return self.model.train_function(state, iterator)
        requested = bool(self._requests)
        histograms = any(self._requests.values())
        self._requests.clear()
        function = self._plain
        if requested:
            function = self._histogram_fn if histograms else self._instrumented_fn
        try:
            logs, state = function(state, iterator)
        except StopIteration:
            raise
        except BaseException:
            self._uninstall(abort=True, in_step=True)
            raise
        if requested:
            # Not read now: the host would wait for the step. Read at the next step's start.
            self._pending = (state[2][self._buffer_index], histograms)
        return logs, state

    def collect_pending(self) -> None:
        """Read the buffer of the last recorded step and deliver its record (see the base)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        buffer, histograms = pending
        self.record_serial += 1
        values = np.asarray(ops.convert_to_numpy(buffer), dtype=np.float32)
        record = StepRecord(raw=values[:_NUM_ROWS], layout=self._fit_layout or self.layout())
        if histograms:
            k = len(self.gradient_edges) - 1
            spare = values[_NUM_ROWS:]
            record.weight_range = spare[:2]
            record.gradient_histograms = _joined_counts(spare[2 : 2 + 2 * k])
            record.gradient_edges = np.asarray(self.gradient_edges)
            record.weight_histograms = _joined_counts(spare[2 + 2 * k :])
        self.last_record = record
        self._deliver(record)


BACKEND_CAPTURES["jax"] = JaxGradientCapture
