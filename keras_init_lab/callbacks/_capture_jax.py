"""The gradient capture on the JAX backend: statistics carried out of the jitted step.

Keras's JAX trainer runs ``optimizer.stateless_apply(optimizer_variables, grads,
trainable_variables)`` inside the jitted train step, and ``stateless_apply`` calls
``self.apply(grads)`` in a ``StatelessScope``: every ``assign`` to an optimizer variable
inside ``apply`` becomes an output of the compiled step. So, per ``fit``:

* **One extra optimizer variable**, the ``[10, n_vars]`` statistics buffer, is appended to
  ``optimizer.variables`` when the selector is installed (``on_train_begin``) and removed
  at train end (and when training raises), so a model saved after ``fit`` carries exactly
  the optimizer variables it would carry without the callback
  (:func:`keras_init_lab._keras_compat.track_optimizer_variable`).
* **Two compiled functions chosen on the host**, as on TensorFlow: the model's own train
  step, rebuilt once the buffer is in the state (under a ``keras.distribution`` the
  ``out_shardings`` of the state are fixed when the step is built; rebuilding makes them
  cover the buffer, whatever the Keras release does with a step built before it), and an
  instrumented one that jit-compiles a train step
  of its own (:func:`keras_init_lab._keras_compat.make_jax_train_function`) in which
  ``optimizer.apply`` is wrapped while it is traced. The wrapper reads the weights, calls
  the real ``apply``, reads them again, computes the statistics with the one ``keras.ops``
  implementation (:func:`keras_init_lab.callbacks.statistics.gradient_sufficient_statistics`)
  and assigns them to the buffer. No host callback, no ``lax.cond``: the plain function
  is the model's own step, untouched.
* **The host reads the buffer only on recorded steps**, and not right after the step: the
  selector keeps the buffer's entry of the returned state, and the next
  ``on_train_batch_begin`` (or the epoch's end) reads it
  (:meth:`JaxGradientCapture.collect_pending`), before the next step is dispatched (the
  step donates its input state). No callback overrides ``on_train_batch_end``, so Keras
  keeps dispatching steps asynchronously (Keras 3.6 and later; 3.3-3.5 synchronize every
  step anyway, :func:`keras_init_lab._keras_compat.jax_fit_syncs_every_step`).

Not supported on JAX (a ``NotImplementedError`` that says so): a ``LossScaleOptimizer`` (it
overrides ``stateless_apply``), gradient accumulation (``apply`` then updates inside a
``lax.cond``, every ``gradient_accumulation_steps`` calls), histograms (bucketed with
TensorFlow ops).

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
    optimizer_variables,
    patched,
    track_optimizer_variable,
    untrack_optimizer_variable,
)
from keras_init_lab.callbacks._scheduled import _steps_per_execution
from keras_init_lab.callbacks.capture import BACKEND_CAPTURES, GradientCapture
from keras_init_lab.callbacks.statistics import (
    _NUM_ROWS,
    StepRecord,
    gradient_sufficient_statistics,
    split_chunks,
)

__all__ = ["BUFFER_NAME", "JaxGradientCapture"]

#: Name of the statistics buffer while it is one of the optimizer's variables.
BUFFER_NAME = "kil_gradient_statistics"


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
        # config key -> (plain function, instrumented function, buffer variable)
        self._jax_functions: dict[tuple, tuple] = {}
        self._buffer = None  # the buffer while it is tracked by the optimizer
        self._buffer_index: int | None = None
        self._plain = None
        self._instrumented_fn = None
        self._pending = None  # the buffer's entry of a recorded step's returned state

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
            entry[2]
            if entry is not None
            else keras.Variable(
                np.zeros((_NUM_ROWS, layout.num_variables), np.float32),
                trainable=False,
                name=BUFFER_NAME,
            )
        )
        track_optimizer_variable(optimizer, buffer)
        self._buffer, self._buffer_index = buffer, len(optimizer.variables) - 1
        if entry is None:
            # Both built with the buffer in the optimizer's state (out_shardings include it).
            plain = make_train_function(model)
            instrumented = make_jax_train_function(model, self._instrumented_step(buffer))
            entry = self._jax_functions[key] = (plain, instrumented, buffer)
        self._plain, self._instrumented_fn = entry[0], entry[1]
        self._pending = None

    def _on_uninstall(self) -> None:
        model = self._model_ref()
        if self._buffer is not None and model is not None and model.optimizer is not None:
            untrack_optimizer_variable(model.optimizer, self._buffer)
        self._buffer, self._buffer_index = None, None
        self._plain = self._instrumented_fn = None
        self._pending = None

    def _instrumented(self, histograms: bool):
        raise _unsupported(
            "histograms",
            "they are bucketed with TensorFlow ops; use histogram_every_n_steps=0 (the "
            "default on JAX) or the TensorFlow backend.",
        )

    def request(self, subscriber, histograms: bool = False) -> None:
        """Ask for the next execution to be instrumented; histograms raise on JAX.

        The refusal comes here, in ``on_train_batch_begin``, before Keras's JAX ``fit``
        takes the model's variables into its state for the step (an exception inside the
        first step would leave them there); the capture is removed first, buffer included.
        """
        if histograms:
            self._uninstall(abort=True)
            self._instrumented(True)
        super().request(subscriber, histograms=False)

    def instrumented_function(self, histograms: bool = False):
        """The instrumented train function of the running ``fit`` (JAX: built at install)."""
        if histograms:
            self._instrumented(True)
        return self._instrumented_fn

    # ----------------------------------------------------------------- the step
    def _instrumented_step(self, buffer):
        """``train_step(state, data)`` of the instrumented function: the model's own step,
        traced while ``optimizer.apply`` is wrapped (see :meth:`_wrapped_apply`)."""
        capture = self

        def instrumented_train_step(state, data):
            model = capture.model
            with capture._wrapped_apply(buffer):
                return type(model).train_step(model, state, data)

        return instrumented_train_step

    @contextlib.contextmanager
    def _wrapped_apply(self, buffer):
        """Wrap ``optimizer.apply`` while the instrumented step is traced (or run eagerly)."""
        model = self.model
        optimizer = model.optimizer
        layout = self.layout()
        original_apply = optimizer.apply
        position = {id(v): i for i, v in enumerate(layout.variables)}
        capture = self

        def apply(grads, trainable_variables=None):
            capture.traces += 1
            variables = list(
                trainable_variables
                if trainable_variables is not None
                else optimizer_variables(optimizer)
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
                if grad is None:  # no gradient: reported as NaN below
                    grad = ops.zeros(layout.variables[index].shape, "float32")
                grad = ops.cast(grad, "float32")
                if scale is not None:
                    grad = grad / scale
                dense.append(grad)
            # Inside stateless_apply, ``v.value`` is the value in the step's state: before
            # the update here, after it below.
            before = split_chunks([v.value for v in layout.variables], layout)
            result = original_apply(grads, trainable_variables)
            after = [v.value for v in layout.variables]
            raw = gradient_sufficient_statistics(dense, before, after, layout, xla=True)
            if not all(present):
                missing = np.array([not p for p in present])[None, :]
                raw = ops.where(missing, np.float32(np.nan), raw)
            buffer.assign(raw)  # becomes an output of the step (StatelessScope)
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
        self._requests.clear()
        function = self._instrumented_fn if requested else self._plain
        try:
            logs, state = function(state, iterator)
        except StopIteration:
            raise
        except BaseException:
            self._uninstall(abort=True, in_step=True)
            raise
        if requested:
            # Not read now: the host would wait for the step. Read at the next step's start.
            self._pending = state[2][self._buffer_index]
        return logs, state

    def collect_pending(self) -> None:
        """Read the buffer of the last recorded step and deliver its record (see the base)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        self.record_serial += 1
        record = StepRecord(
            raw=np.asarray(ops.convert_to_numpy(pending), dtype=np.float32),
            layout=self._fit_layout or self.layout(),
        )
        self.last_record = record
        self._deliver(record)


BACKEND_CAPTURES["jax"] = JaxGradientCapture
