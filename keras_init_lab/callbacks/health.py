"""``GradientHealth``: vanishing, exploding and non-finite gradients, named by layer and step.

Reads the same in-step capture as :class:`~keras_init_lab.callbacks.GradientStats` (both on
one model share one optimizer wrapper and one instrumented train function) and says what is
wrong once per problem, through ``warnings`` and the ``keras_init_lab`` logger.

Example:
    >>> health = GradientHealth(every_n_steps=10)
    >>> model.fit(x, y, callbacks=[health])
    >>> health.findings[0]["message"]
    "Non-finite gradient (3 NaN/Inf values) in layer 'dense_1' at step 40 ..."
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

import keras_init_lab.callbacks._capture_torch  # noqa: F401 (registers the PyTorch capture)
from keras_init_lab._gradient_rules import VANISHING_RATIO, gradient_ratio_verdict
from keras_init_lab._validation import check_number
from keras_init_lab.callbacks import _capture_jax  # noqa: F401 (registers the JAX capture)
from keras_init_lab.callbacks._chief import writes_files
from keras_init_lab.callbacks._scheduled import EverySteps, resolve_schedule
from keras_init_lab.callbacks.capture import CaptureCallback

__all__ = ["DEFAULT_HEALTH_EVERY_N_STEPS", "GradientHealth", "GradientHealthWarning"]

#: Default inspection schedule, ``EverySteps(50)``: ~1.5% average overhead at ~1.5-2x the
#: cost of a plain step per inspected step (``benchmarks/callbacks.py``).
DEFAULT_HEALTH_EVERY_N_STEPS = 50

logger = logging.getLogger("keras_init_lab")


class GradientHealthWarning(RuntimeWarning):
    """Warning category of :class:`GradientHealth` findings (filterable on its own)."""


class GradientHealth(CaptureCallback):
    """Diagnose vanishing, exploding and non-finite gradients during ``fit``.

    Rules, on every recorded step (per-layer gradient norms ``||g_l||``, layers in forward
    order, ``l = 1`` the first):

    * **non-finite**: a layer's gradient holds NaN or Inf. Reported with the *first* such layer
      in forward order and the step; with ``stop_on_nonfinite`` training stops there
      (``model.stop_training = True``), like ``TerminateOnNaN`` but saying where.
    * **vanishing**: ``||g_1|| / ||g_L|| < vanishing_ratio`` (first over last layer): the
      first layers barely learn (Glorot & Bengio 2010, fig. 7).
    * **exploding**: the total norm ``sqrt(sum_l ||g_l||^2)`` exceeds ``exploding_norm``, or
      grows by more than ``exploding_growth`` times between two recorded steps.

    Each kind is reported once per ``fit`` (the first occurrence): a ``GradientHealthWarning``
    and a ``logging`` warning (on the chief only, under ``MultiWorkerMirroredStrategy``, where
    every worker sees the same all-reduced gradient; see
    :func:`keras_init_lab.callbacks._chief.is_chief`), and a dict in :attr:`findings` (on
    every worker)::

        {"kind": "vanishing" | "exploding" | "nonfinite", "step": int, "layer": str,
         "message": str}

    Only recorded steps are inspected (``schedule=EverySteps(n)`` or ``every_n_steps=n``:
    the first execution of each ``fit`` and those holding a global step ``s`` with
    ``s % n == 0``; it also consumes any record another capture callback on the same model
    asked for): a NaN that appears between two records is
    reported at the next one, and the message gives the interval it appeared in. Step numbers
    are counted by the callback across the ``fit`` calls it takes part in, as in
    :class:`~keras_init_lab.callbacks.GradientStats` (not ``optimizer.iterations``).

    Example:
        >>> health = GradientHealth(vanishing_ratio=1e-3, schedule=EverySteps(10))
        >>> model.fit(x, y, callbacks=[health])
        >>> [f["kind"] for f in health.findings]
        ['vanishing']

    Args:
        vanishing_ratio: threshold on first/last layer gradient norm (default 1e-3: three
            orders of magnitude, the decay Glorot & Bengio show for sigmoid nets under the
            standard initialization; healthy nets stay within one or two).
        exploding_norm: threshold on the total gradient norm (default 1e3; gradient clipping
            defaults sit at norms of 1-10, so 1e3 is two orders past any usual clip).
        exploding_growth: threshold on the growth factor of the total norm between two
            recorded steps (default 100, two orders of magnitude).
        stop_on_nonfinite: stop training at the first non-finite gradient (default True).
        every_n_steps: inspect every this many steps, the same as
            ``schedule=EverySteps(every_n_steps)``; ``None`` (default) with no ``schedule``
            means :data:`DEFAULT_HEALTH_EVERY_N_STEPS` = 50 (~1.5% average overhead at
            ~1.5-2x the cost of a plain step per inspected step, ``benchmarks/callbacks.py``).
        schedule: an :class:`~keras_init_lab.callbacks.EverySteps`; give ``schedule`` or
            ``every_n_steps``, not both.

    Raises:
        TypeError: an argument of the wrong type (``every_n_steps=1.5``,
            ``stop_on_nonfinite="yes"``, ``schedule=EveryEpochs(2)``).
        ValueError: a threshold that is not positive, ``every_n_steps < 1``, or both
            ``every_n_steps`` and ``schedule``.

    Reference:
        Glorot & Bengio (2010), http://proceedings.mlr.press/v9/glorot10a.html; Pascanu,
        Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks",
        https://arxiv.org/abs/1211.5063 (exploding gradients, norm thresholds).
    """

    def __init__(
        self,
        vanishing_ratio: float = VANISHING_RATIO,
        exploding_norm: float = 1e3,
        exploding_growth: float = 100.0,
        stop_on_nonfinite: bool = True,
        every_n_steps: int | None = None,
        schedule: EverySteps | None = None,
    ):
        super().__init__(
            resolve_schedule(
                EverySteps, schedule, "every_n_steps", every_n_steps, DEFAULT_HEALTH_EVERY_N_STEPS
            )
        )
        self.vanishing_ratio = check_number("vanishing_ratio", vanishing_ratio, positive=True)
        self.exploding_norm = check_number("exploding_norm", exploding_norm, positive=True)
        self.exploding_growth = check_number("exploding_growth", exploding_growth, positive=True)
        if not isinstance(stop_on_nonfinite, bool):
            raise TypeError(
                "stop_on_nonfinite must be True or False; received "
                f"stop_on_nonfinite={stop_on_nonfinite!r}."
            )
        self.stop_on_nonfinite = stop_on_nonfinite
        self.findings: list[dict] = []
        self._reported: set = set()
        self._previous_total = None
        self._previous_step = None

    # Also read records that another capture callback asked for: they cost nothing here.
    _reads_others_records = True

    def _fit_begin(self):
        super()._fit_begin()
        self._reported = set()
        self._previous_total = None
        self._previous_step = None

    def _report(self, kind, step, layer, message):
        if kind in self._reported:
            return
        self._reported.add(kind)
        finding = {"kind": kind, "step": int(step), "layer": layer, "message": message}
        self.findings.append(finding)
        if writes_files(self.model):  # the chief only, under a multi-worker strategy
            logger.warning(message)
            warnings.warn(message, GradientHealthWarning, stacklevel=2)

    def _on_record(self, step, record):
        per_layer = record.per_layer()
        layers = record.layout.layers
        norms = per_layer["norm"]
        nonfinite = per_layer["nonfinite_count"]
        since = (
            ""
            if self._previous_step is None
            else (f" (it appeared after step {self._previous_step}, the previous inspected one)")
        )
        bad = np.flatnonzero(nonfinite > 0)
        if bad.size:
            first = int(bad[0])
            action = "; training stopped" if self.stop_on_nonfinite else ""
            self._report(
                "nonfinite",
                step,
                layers[first],
                f"Non-finite gradient ({int(nonfinite[first])} NaN/Inf values) in layer "
                f"{layers[first]!r} at step {step}{since}; first of "
                f"{bad.size} affected layer(s) in forward order{action}.",
            )
            if self.stop_on_nonfinite and self.model is not None:
                self.model.stop_training = True
            self._previous_step = step
            return
        total = float(np.sqrt(np.sum(norms**2)))
        if len(layers) >= 2 and norms[-1] > 0:
            ratio = norms[0] / norms[-1]
            # The one first/last-ratio rule of the package (shared with ``compare``); the
            # exploding side of that rule is not used here (exploding is about the norm).
            verdict = gradient_ratio_verdict(ratio, self.vanishing_ratio, math.inf)
            if verdict == "vanishing":
                self._report(
                    "vanishing",
                    step,
                    layers[0],
                    f"Vanishing gradients at step {step}: the first layer {layers[0]!r} gets "
                    f"{ratio:.2e} times the gradient norm of the last layer {layers[-1]!r} "
                    f"(threshold {self.vanishing_ratio:g}). Try He/LeCun initialization "
                    "matched to the activation, ReLU-family activations, or normalization.",
                )
        loudest = layers[int(np.argmax(norms))]
        if total > self.exploding_norm:
            self._report(
                "exploding",
                step,
                loudest,
                f"Exploding gradients at step {step}: total gradient norm {total:.3g} > "
                f"{self.exploding_norm:g}; largest in layer {loudest!r}. Try a smaller "
                "learning rate, gradient clipping (clipnorm) or a smaller initial scale.",
            )
        elif (
            self._previous_total is not None
            and self._previous_total > 0
            and total / self._previous_total > self.exploding_growth
        ):
            self._report(
                "exploding",
                step,
                loudest,
                f"Exploding gradients at step {step}: the total gradient norm grew "
                f"{total / self._previous_total:.3g}x since step {self._previous_step} "
                f"(threshold {self.exploding_growth:g}x); largest in layer {loudest!r}.",
            )
        self._previous_total = total
        self._previous_step = step
