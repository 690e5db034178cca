"""The schedule and the step counting shared by the package's callbacks.

A :class:`ScheduledCallback` owns *when*: it counts training steps across every ``fit`` it
takes part in and decides which steps are recorded. Its subclasses own *what*: they
implement :meth:`ScheduledCallback._execution_begin` (ask for a measurement of the coming
execution) and/or :meth:`ScheduledCallback._execution_end` (measure after it), and never
read the counters themselves. This is the quantity/schedule split of Cockpit (Schneider,
Dangel & Hennig 2021), where ``Quantity.track`` asks its schedule ``should_compute(step)``
and the subclass only computes.

Per-step cost: the counting runs in ``on_train_batch_begin`` (called with no logs, so
Keras converts nothing) and ``on_epoch_begin`` / ``on_train_end``. The class does **not**
override ``on_train_batch_end``: a callback overriding it makes Keras's ``CallbackList``
turn the logs into Python numbers on every step (a device-to-host synchronization), unless
it declares ``async_safe``. Subclasses should not override it either.

Example:
    >>> class EveryTen(ScheduledCallback):
    ...     def _execution_end(self, first, last):
    ...         if self.due(first, last):
    ...             print("step", last, "finished")
    >>> model.fit(x, y, callbacks=[EveryTen(every_n_steps=10)])

Reference:
    Schneider, Dangel & Hennig (2021), "Cockpit: A Practical Debugging Tool for the
    Training of Deep Neural Networks", NeurIPS, https://arxiv.org/abs/2102.06604
    (``cockpit/quantities/quantity.py`` and ``utils/schedules.py``).
"""

from __future__ import annotations

import keras

from keras_init_lab._validation import check_int

__all__ = ["ScheduledCallback"]


def _steps_per_execution(model) -> int:
    """``model.steps_per_execution`` as an int (a Keras variable after some recompiles)."""
    value = getattr(model, "steps_per_execution", None)
    if hasattr(value, "numpy"):
        value = value.numpy()
    return max(int(value or 1), 1)


class ScheduledCallback(keras.callbacks.Callback):
    """Base callback: global step counting and the recording schedule; subclasses compute.

    Step numbers: ``s`` is the number of training steps run before this one in all the
    ``fit`` calls this callback took part in (0 for the first step it sees). They continue
    across ``fit`` calls and never restart, also when the model is recompiled with a new
    optimizer (unlike ``optimizer.iterations``). A ``fit`` that raised counts the
    executions it ran (the last one is closed when the next ``fit`` begins). With ``steps_per_execution = k`` Keras runs ``k`` steps per
    compiled call; one such call is an *execution* ``[first, last]`` (the last execution
    of an epoch may be shorter when ``steps`` is known).

    Schedule: step ``s`` is due when ``s % every_n_steps == 0`` (:meth:`should_record`);
    an execution is due when it contains a due step (:meth:`due`).

    Hooks for subclasses (all optional; the base class does the counting):

    * ``_execution_begin(first, last)``: before an execution runs;
    * ``_execution_end(first, last)``: after it finished, called at the next execution's
      start, at the next epoch's start or at train end (never from
      ``on_train_batch_end``, see the module docstring);
    * ``_abandon_execution()`` (to call, not override): drop the running execution
      uncounted, when the step itself raised;
    * ``_fit_begin()`` / ``_fit_end()``: at the start and end of each ``fit``.

    Subclasses that override ``on_train_begin``, ``on_epoch_begin``,
    ``on_train_batch_begin`` or ``on_train_end`` must call ``super()``.

    Example:
        >>> schedule = ScheduledCallback(every_n_steps=4)
        >>> [s for s in range(10) if schedule.should_record(s)]
        [0, 4, 8]

    Args:
        every_n_steps: record every this many steps (a positive int).

    Raises:
        TypeError: ``every_n_steps`` is not an int.
        ValueError: ``every_n_steps < 1``.

    Reference:
        Cockpit's ``Quantity``/schedule split (see the module docstring).
    """

    def __init__(self, every_n_steps: int):
        super().__init__()
        self.every_n_steps = check_int("every_n_steps", every_n_steps, minimum=1)
        self._steps_before_fit = 0  # steps of earlier fits
        self._steps_in_fit = 0  # finished steps of the current fit
        self._execution: tuple[int, int] | None = None  # the running execution, if any

    # ----------------------------------------------------------------- the schedule
    def should_record(self, step: int) -> bool:
        """True when global step ``step`` is due: ``step % every_n_steps == 0``."""
        return int(step) % self.every_n_steps == 0

    def due(self, first: int, last: int, every: int | None = None) -> bool:
        """True when ``[first, last]`` contains a multiple of ``every`` (default
        ``every_n_steps``); ``every`` of 0 or ``None`` with no default means never."""
        every = self.every_n_steps if every is None else every
        if not every:
            return False
        return (int(last) // every) * every >= int(first)

    @property
    def global_step(self) -> int:
        """Steps finished in all the fits this callback took part in, so far."""
        return self._steps_before_fit + self._steps_in_fit

    @property
    def fit_step(self) -> int:
        """Steps finished in the current ``fit`` so far (0 before its first execution)."""
        return self._steps_in_fit

    @property
    def execution(self) -> tuple[int, int] | None:
        """``(first, last)`` global steps of the running execution, or ``None``."""
        return self._execution

    # ----------------------------------------------------------------- hooks
    def _execution_begin(self, first: int, last: int) -> None:
        """Called before the execution of steps ``first..last`` runs."""

    def _execution_end(self, first: int, last: int) -> None:
        """Called once the execution of steps ``first..last`` finished."""

    def _fit_begin(self) -> None:
        """Called at the start of every ``fit``."""

    def _fit_end(self) -> None:
        """Called at the end of every ``fit`` (after the last ``_execution_end``)."""

    # ----------------------------------------------------------------- counting
    def _execution_length(self, batch: int) -> int:
        steps_per_execution = _steps_per_execution(self.model)
        steps = (self.params or {}).get("steps")
        if steps:
            return max(min(steps_per_execution, int(steps) - int(batch)), 1)
        return steps_per_execution

    def _finish_execution(self) -> None:
        if self._execution is None:
            return
        first, last = self._execution
        self._execution = None
        self._steps_in_fit += last - first + 1
        self._execution_end(first, last)

    def _abandon_execution(self) -> None:
        """Forget the running execution without counting it (it raised inside the step)."""
        self._execution = None

    def on_train_begin(self, logs=None):
        # An earlier fit that raised (Keras calls no hook then) left its last execution
        # open: it ran, unless a subclass abandoned it because the step itself raised.
        self._finish_execution()
        self._steps_before_fit += self._steps_in_fit
        self._steps_in_fit = 0
        self._fit_begin()

    def on_epoch_begin(self, epoch, logs=None):
        self._finish_execution()

    def on_train_batch_begin(self, batch, logs=None):
        self._finish_execution()
        first = self.global_step
        last = first + self._execution_length(batch) - 1
        self._execution = (first, last)
        self._execution_begin(first, last)

    def on_train_end(self, logs=None):
        self._finish_execution()
        self._fit_end()
