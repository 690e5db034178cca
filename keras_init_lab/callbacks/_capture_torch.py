"""The gradient capture on the PyTorch backend: one wrapped ``apply``, armed by a host flag.

Keras's PyTorch trainer runs its train step as Python (eagerly, or through ``torch.compile``
with ``jit_compile=True``): ``loss.backward()`` fills each variable's ``.grad``, then
``self.optimizer.apply(gradients, trainable_weights)`` runs under ``torch.no_grad()`` and
updates the weights in place. There is no traced step to rebuild, so the controller needs no
second train function and no buffer variable:

* **The selector** (installed as ``model.train_function`` for the length of a ``fit``, as on
  TensorFlow: :func:`keras_init_lab._keras_compat.install_train_function`) runs the model's own
  train function at every step, with ``apply`` of the optimizer instance (the inner one under
  a ``LossScaleOptimizer``, which hands it unscaled gradients) replaced, for the length of
  that one call, by a wrapper (:func:`keras_init_lab._keras_compat.patched`, restored in a
  ``finally``). Between steps, after ``fit`` and when ``fit`` raises, in a step or outside
  one, the optimizer is as it was: nothing is left on it, and nothing is added to the model
  or to the optimizer's variables, so a saved ``.keras`` file is the one ``fit`` would write
  without the callback.
* **Two host flags arm the wrapper on recorded steps only.** Disarmed, it calls the real
  ``apply`` and returns. Armed, it reads the optimizer's iteration count (a copy: PyTorch
  updates it in place), copies the weights into the chunk matrices of
  :func:`keras_init_lab.callbacks.statistics.split_chunks` (a concatenation: a copy, taken
  before the in-place update), calls the real ``apply``, reads the weights again and computes
  the ``[10, n_vars]`` sufficient statistics with the one ``keras.ops`` implementation
  (:func:`keras_init_lab.callbacks.statistics.gradient_sufficient_statistics`) on the
  device, from the gradients ``apply`` received (an optimizer ``loss_scale_factor`` divided
  out, as ``apply`` does). When the second flag says the step asked for histograms, it also
  buckets the gradients and the weights after the update with the same ``keras.ops``
  implementation as TensorFlow and JAX
  (:func:`keras_init_lab.callbacks.histograms.gradient_histograms`: a sample of
  ``histogram_sample_size`` elements per larger variable, moved by the iteration count read
  before the update; every element with ``histogram_sample_size=None``). No extra forward
  or backward pass.
* **The host reads the statistics right after a recorded step** (one device-to-host copy of
  ``10 x n_vars`` numbers, plus the histograms' counts and weight ranges on a step that
  asked for them; nothing on other steps) and hands the
  :class:`~keras_init_lab.callbacks.statistics.StepRecord` to every subscriber, as the
  TensorFlow selector does. A recorded step whose ``apply`` was never reached (a
  ``LossScaleOptimizer`` skipping non-finite gradients) is delivered as skipped.
* **Under** ``jit_compile=True`` ``torch.compile`` traces the step, with graph breaks at
  Keras's own ``loss.backward()`` (and in the statistics' data-dependent ops); the flags are
  plain Python attributes the compiled code reads, so ``torch.compile`` specialises the step
  on their values: each variant (plain, statistics, statistics and histograms) is compiled
  once, at its first step, and reused at every later step and ``fit`` (a second ``fit``
  compiles no new graph), chosen on the host: the three functions of the TensorFlow and JAX
  controllers, without building them by hand.

Not supported on PyTorch (a ``NotImplementedError`` naming the backend and the Keras version):
gradient accumulation (``apply`` then updates the weights only every
``gradient_accumulation_steps`` calls, so its gradients are not the applied ones).

Example:
    >>> # KERAS_BACKEND=torch
    >>> stats = GradientStats(every_n_steps=10)
    >>> model.fit(x, y, callbacks=[stats])  # doctest: +SKIP

Reference:
    Keras PyTorch trainer (``keras/src/backend/torch/trainer.py``: ``train_step``,
    ``make_train_function``, ``fit``), ``BaseOptimizer.apply``
    (``keras/src/optimizers/base_optimizer.py``) and ``LossScaleOptimizer._common_apply``
    (``keras/src/optimizers/loss_scale_optimizer.py``), Keras 3.3.3 and 3.15.1 (the
    same calls in both).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from keras_init_lab._keras_compat import patched
from keras_init_lab.callbacks.capture import (
    BACKEND_CAPTURES,
    GradientCapture,
    _applied_gradients,
    _instance_optimizer,
)
from keras_init_lab.callbacks.histograms import gradient_histograms
from keras_init_lab.callbacks.statistics import (
    StepRecord,
    VariableLayout,
    gradient_sufficient_statistics,
    split_chunks,
)

__all__ = ["TorchGradientCapture"]


def _unsupported(what: str, how: str) -> NotImplementedError:
    return NotImplementedError(
        f"The gradient capture on the PyTorch backend (Keras {keras.__version__}) does not "
        f"support {what}: {how}"
    )


def _check_optimizer(optimizer) -> None:
    """Refuse an optimizer whose ``apply`` does not apply the gradients it receives."""
    steps = getattr(optimizer, "gradient_accumulation_steps", None)
    if steps:
        raise _unsupported(
            f"gradient_accumulation_steps={steps}",
            "apply then updates the weights only every few calls, with the accumulated "
            "gradients. Drop the accumulation or train on the TensorFlow backend.",
        )


class TorchGradientCapture(GradientCapture):
    """:class:`~keras_init_lab.callbacks.capture.GradientCapture` for the PyTorch backend.

    Same subscribers, schedule and records as on TensorFlow; what differs is how a step is
    instrumented: the model's own train function runs at every step, and a wrapper of
    ``optimizer.apply``, in place only during each step, measures when the host armed it
    (see the module docstring).
    """

    def __init__(self, model):
        super().__init__(model)
        # (optimizer instance, wrapper of its apply) for the running fit.
        self._apply_target: tuple | None = None
        self._armed = False  # the host flag the wrapper reads: measure this step
        self._with_histograms = False  # the second one: histograms too (read when armed)
        self._raw = None  # the statistics tensor of the running recorded step
        # (gradient counts, weight counts, weight min, weight max) of that step, or None
        self._histograms = None

    # ----------------------------------------------------------------- lifecycle
    def _on_install(self) -> None:
        model = self.model
        optimizer = _instance_optimizer(model)
        _check_optimizer(optimizer)
        outer = model.optimizer
        if outer is not optimizer:
            _check_optimizer(outer)
        self._apply_target = (optimizer, self._make_apply(optimizer, self.layout()))
        self._armed = self._with_histograms = False
        self._raw = self._histograms = None

    def _on_uninstall(self) -> None:
        self._apply_target = None
        self._armed = self._with_histograms = False
        self._raw = self._histograms = None

    def instrumented_function(self, histograms: bool = False):
        """The function a recorded step runs, with or without histograms: on PyTorch the
        model's own train function (the wrapper of ``apply``, armed by the host flags, does
        the measuring)."""
        return self._original

    # ----------------------------------------------------------------- the wrapper
    def _make_apply(self, optimizer, layout: VariableLayout) -> Callable:
        """The wrapper of ``optimizer.apply``: the real ``apply``, measured when armed.

        Formula: from the gradients ``g`` ``apply`` receives (divided by the optimizer's
        ``loss_scale_factor`` when it has one, as ``apply`` does), the weights ``w`` copied
        before the update and ``w'`` read after it, the ``[10, n_vars]`` sufficient
        statistics of :func:`gradient_sufficient_statistics`; a variable without a gradient
        gets NaN (reported as missing, as on TensorFlow and JAX). When the host asked for
        histograms, :func:`gradient_histograms` of ``g`` and ``w'`` (``capture.weight_buckets``
        weight buckets, ``capture.histogram_sample_size`` elements per variable, the sample
        moved by the optimizer's iteration count before the update), as on TensorFlow and JAX.

        Args:
            optimizer: the optimizer instance whose ``apply`` the trainer reaches.
            layout: the model's :class:`VariableLayout` (columns of the statistics).

        Returns:
            ``apply(grads, trainable_variables=None)``, to set on the instance for one step.
        """
        original_apply = optimizer.apply  # the bound method of the optimizer's class
        capture = self
        model = self.model
        # Eager on a CPU: the spread is recomputed only for the rows whose mean is large next
        # to it (a gather of data-dependent size, usually of no row), as TensorFlow does on a
        # CPU; every row is centred under torch.compile (no graph break) and on an
        # accelerator (no host read of the gather's size in the middle of the step).
        eager_cpu = not (model.jit_compile and not model.run_eagerly) and all(
            v.value.is_cpu for v in layout.variables
        )

        def apply(grads, trainable_variables=None):
            if not capture._armed:
                return original_apply(grads, trainable_variables)
            histograms = capture._with_histograms
            grads = list(grads)  # passed on to the real apply below
            dense, present = _applied_gradients(optimizer, grads, trainable_variables, layout)
            # The histograms' sample moves with the optimizer's step count, read before the
            # update increments it: a copy, since PyTorch increments it in place.
            draw = ops.copy(optimizer.iterations.value) if histograms else None
            # A copy (snapshot): ``apply`` updates the weights in place. The gradients and
            # the weights after the update are read as views: Keras's PyTorch optimizers
            # never write into the gradients they are given.
            before = split_chunks([v.value for v in layout.variables], layout, snapshot=True)
            result = original_apply(grads, trainable_variables)
            after = [v.value for v in layout.variables]
            if histograms:
                # Chunked once, read by the statistics and the histograms.
                dense, after = split_chunks(dense, layout), split_chunks(after, layout)
            raw = gradient_sufficient_statistics(
                dense, before, after, layout, xla=not eager_cpu, gather_rows=eager_cpu
            )
            if not all(present):
                missing = np.array([not p for p in present])[None, :]
                raw = ops.where(missing, np.float32(np.nan), raw)
            capture._raw = raw  # read by the selector right after the step
            if histograms:
                capture._histograms = gradient_histograms(
                    dense,
                    after,
                    layout,
                    capture.weight_buckets,
                    sample_size=capture.histogram_sample_size,
                    draw=draw,
                )
            return result

        return apply

    # ----------------------------------------------------------------- the selector
    def _train_function(self, data):
        """Installed as ``model.train_function``: the model's own step, measured if asked."""
        original = self._original
        if original is None or self._stale():
            # A fit without any subscriber (an earlier one raised outside the train
            # function): put the model back as it was and run its own function.
            self._uninstall(abort=True)
            return self.model.train_function(data)
        armed = bool(self._requests)
        histograms = any(self._requests.values())
        self._requests.clear()
        optimizer, apply = self._apply_target
        self._raw = self._histograms = None
        self._armed, self._with_histograms = armed, histograms
        try:
            # Restored in a ``finally`` by ``patched``, also when the step raises.
            with patched(optimizer, "apply", apply):
                logs = original(data)
        except BaseException:
            self._armed = self._with_histograms = False
            self._uninstall(abort=True, in_step=True)
            raise
        self._armed = self._with_histograms = False
        if armed:
            self._collect()
        return logs

    def _collect(self) -> None:
        """Read the statistics (and histograms) of the recorded step and deliver its record
        (None: skipped)."""
        raw, self._raw = self._raw, None
        histograms, self._histograms = self._histograms, None
        self.record_serial += 1
        if raw is None:
            # apply() was not reached (a LossScaleOptimizer skipped a non-finite step).
            self.last_record = None
            self._deliver(None)
            return
        record = StepRecord(
            raw=np.asarray(ops.convert_to_numpy(raw), dtype=np.float32),
            layout=self._fit_layout or self.layout(),
        )
        if histograms is not None:
            g_counts, w_counts, low, high = (ops.convert_to_numpy(t) for t in histograms)
            record.gradient_histograms = np.asarray(g_counts, dtype=np.int64)
            record.gradient_edges = np.asarray(self.gradient_edges)
            record.weight_histograms = np.asarray(w_counts, dtype=np.int64)
            record.weight_range = np.stack([low, high]).astype(np.float32)
        self.last_record = record
        self._deliver(record)


BACKEND_CAPTURES["torch"] = TorchGradientCapture
