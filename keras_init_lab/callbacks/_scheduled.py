"""Injected schedules (:class:`EverySteps`, :class:`EveryEpochs`) and the callback that asks them.

*When* to record is an object handed to a callback, not something it inherits: a
:class:`ScheduledCallback` counts training steps and epochs across every ``fit`` it takes part
in, asks its schedule which steps or epochs are due, and calls its subclass's hooks for them.
The subclasses own *what*: they compute in the hooks and never read the counters. This is
the quantity/schedule split of Cockpit (Schneider, Dangel & Hennig 2021), where a quantity
receives a ``track_schedule`` and calls ``should_compute(global_step)``.

What the numbers mean (the same for every callback of the package):

* **global step** ``s``: the number of training steps run before this one in all the ``fit``
  calls the callback took part in (0 for the first step it sees). It continues across epochs
  and ``fit`` calls and never restarts, also when the model is recompiled with a new
  optimizer (unlike ``optimizer.iterations``, which also counts steps trained without the
  callback). A ``fit`` that raised counts the steps it ran.
* **global epoch** ``e``: the number of epochs finished in all the ``fit`` calls the callback
  took part in; a record "at epoch ``e``" is the state after ``e`` epochs (0: before the first
  one). It does not follow ``fit(initial_epoch=...)``.

Per-step cost: the counting runs in ``on_train_batch_begin`` (called with no logs, so Keras
converts nothing) and the epoch and train hooks. The class does **not** override
``on_train_batch_end``: a callback overriding it makes Keras's ``CallbackList`` turn the logs
into Python numbers on every step (a device-to-host synchronization), unless it declares
``async_safe``. Subclasses should not override it either.

Example:
    >>> schedule = EverySteps(4)
    >>> [s for s in range(10) if schedule.should_record(s)]
    [0, 4, 8]
    >>> class PrintEveryTen(ScheduledCallback):
    ...     def _execution_end(self, first, last, recorded):
    ...         if recorded:
    ...             print("step", last, "finished")
    >>> model.fit(x, y, callbacks=[PrintEveryTen(EverySteps(10))])  # doctest: +SKIP

Reference:
    Schneider, Dangel & Hennig (2021), "Cockpit: A Practical Debugging Tool for the
    Training of Deep Neural Networks", NeurIPS, https://arxiv.org/abs/2102.06604
    (``cockpit/quantities/quantity.py`` and ``utils/schedules.py``).
"""

from __future__ import annotations

import numbers

import keras

from keras_init_lab._validation import check_int

__all__ = ["EveryEpochs", "EverySteps", "ScheduledCallback", "resolve_schedule"]


def _steps_per_execution(model) -> int:
    """``model.steps_per_execution`` as an int (a Keras variable after some recompiles)."""
    value = getattr(model, "steps_per_execution", None)
    if hasattr(value, "numpy"):
        value = value.numpy()
    return max(int(value or 1), 1)


class _Schedule:
    """Record every ``n``-th point (a step or an epoch, see the subclasses): ``i % n == 0``.

    Immutable; two schedules are equal when they are of the same class with the same ``n``.
    """

    __slots__ = ("_n",)

    #: What the schedule counts, for messages: "step" or "epoch".
    unit = ""

    def __init__(self, n: int):
        name = type(self).__name__
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(
                f"{name}(n): n must be a positive integer (record every n-th {self.unit}); "
                f"received n={n!r}."
            )
        if n < 1:
            raise ValueError(
                f"{name}(n): n must be a positive integer (record every n-th {self.unit}); "
                f"received n={n!r}."
            )
        self._n = int(n)

    @property
    def n(self) -> int:
        """Record every this many points (a positive int)."""
        return self._n

    def should_record(self, index: int) -> bool:
        """True when point ``index`` (0-based, see the subclass) is recorded: ``index % n == 0``.

        Raises:
            TypeError: ``index`` is not an int.
            ValueError: ``index < 0``.
        """
        index = check_int(self.unit, index, minimum=0)
        return index % self._n == 0

    def due(self, first: int, last: int) -> bool:
        """True when some point of ``first..last`` (both included) is recorded.

        Formula: ``floor(last / n) * n >= first``, the largest multiple of ``n`` not above
        ``last`` lies in the range; an empty range (``last < first``) is never due.

        Example:
            >>> EverySteps(4).due(5, 7), EverySteps(4).due(6, 9)
            (False, True)
        """
        first = check_int("first", first, minimum=0)
        last = check_int("last", last, minimum=0)
        return self._holds_due(first, last)

    def _holds_due(self, first: int, last: int) -> bool:
        """:meth:`due` without the argument checks (ints from the counters, every step)."""
        return (last // self._n) * self._n >= first

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._n})"

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._n == other._n

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._n))

    def __reduce__(self):  # pickle/copy through the constructor (``__slots__``, validated)
        return (type(self), (self._n,))


class EverySteps(_Schedule):
    """Record every ``n``-th training step, counted globally across epochs and ``fit`` calls.

    Formula: global step ``s`` is recorded when ``s % n == 0`` (:meth:`should_record`);
    ``s`` is the number of training steps the callback saw run before this one in all its
    ``fit`` calls (0 for the first; see :mod:`keras_init_lab.callbacks._scheduled`), so
    ``EverySteps(4)`` records 0, 4, 8, ... whatever the epoch length, and a second ``fit``
    continues the numbering. With ``steps_per_execution = k > 1`` Keras runs ``k`` steps per
    compiled call and only the state after the last one is visible: an execution
    ``first..last`` is recorded when it holds a due step (:meth:`due`), under the number of
    its **last** step (``k = 4, n = 8`` records steps 3, 11, 19, ...). The callbacks also
    record the first execution of every ``fit``, so each ``fit`` has a starting point.

    Example:
        >>> EverySteps(3)
        EverySteps(3)
        >>> [s for s in range(8) if EverySteps(3).should_record(s)]
        [0, 3, 6]
        >>> EverySteps(3) == EverySteps(3), EverySteps(3) == EveryEpochs(3)
        (True, False)

    Args:
        n: record every this many steps (a positive int).

    Raises:
        TypeError: ``n`` is not an int (``EverySteps(2.5)``).
        ValueError: ``n < 1`` (``EverySteps(0)``).

    Reference:
        Cockpit's ``schedules.linear(every)`` (Schneider, Dangel & Hennig 2021).
    """

    __slots__ = ()
    unit = "step"


class EveryEpochs(_Schedule):
    """Record the state after every ``n``-th epoch, counted globally across ``fit`` calls.

    Formula: global epoch ``e`` (the number of epochs finished in all the callback's ``fit``
    calls; ``e = 0`` is before the first one) is recorded when ``e % n == 0``
    (:meth:`should_record`), at the end of the ``e``-th epoch. ``EveryEpochs(2)`` records
    epochs 0, 2, 4, ... The callbacks also record the state at the start of every ``fit``
    (unless that epoch already has a record), so a second ``fit`` of 3 epochs after 5 with
    ``EveryEpochs(2)`` records 5, 6, 8.

    Example:
        >>> [e for e in range(7) if EveryEpochs(3).should_record(e)]
        [0, 3, 6]

    Args:
        n: record after every this many epochs (a positive int).

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``.

    Reference:
        Cockpit's schedules (Schneider, Dangel & Hennig 2021), applied to epochs.
    """

    __slots__ = ()
    unit = "epoch"


def resolve_schedule(kind: type, schedule, name: str, every_n, default: int):
    """The schedule a callback runs on, from its ``schedule`` or its older ``every_n_*`` argument.

    ``every_n`` (the older argument, e.g. ``every_n_steps``) maps to ``kind(every_n)``;
    ``None`` for both gives ``kind(default)``.

    Example:
        >>> resolve_schedule(EverySteps, None, "every_n_steps", 5, default=100)
        EverySteps(5)

    Args:
        kind: :class:`EverySteps` or :class:`EveryEpochs`, what the callback accepts.
        schedule: the ``schedule`` argument, or ``None``.
        name: the older argument's name, for messages (``"every_n_steps"``).
        every_n: the older argument's value, or ``None``.
        default: ``n`` when neither is given.

    Returns:
        A ``kind`` instance.

    Raises:
        TypeError: ``schedule`` is not a ``kind``, or ``every_n`` is not an int.
        ValueError: both are given, or ``every_n < 1``.
    """
    if schedule is not None and every_n is not None:
        raise ValueError(
            f"Pass either {name} or schedule, not both; received {name}={every_n!r}, "
            f"schedule={schedule!r}."
        )
    if schedule is not None:
        if not isinstance(schedule, kind):
            raise TypeError(
                f"schedule must be an {kind.__name__}, e.g. schedule={kind.__name__}(10); "
                f"received schedule={schedule!r}."
            )
        return schedule
    if every_n is None:
        return kind(default)
    return kind(check_int(name, every_n, minimum=1))


class ScheduledCallback(keras.callbacks.Callback):
    """Base callback: counts global steps and epochs, asks its schedule; subclasses compute.

    Step schedule (:class:`EverySteps`): Keras runs ``steps_per_execution = k`` steps per
    compiled call; one call is an *execution* ``first..last`` of global steps (the last one
    of an epoch may be shorter when ``steps`` is known). An execution is **recorded** when it
    is the first of its ``fit`` or holds a due step (``schedule.due(first, last)``).

    Epoch schedule (:class:`EveryEpochs`): the state after global epoch ``e`` is recorded at
    the start of every ``fit`` (unless ``e`` already has a record) and at the end of every
    epoch with ``schedule.should_record(e)``.

    Hooks for subclasses (all optional; the base class does the counting and the asking):

    * ``_execution_begin(first, last, recorded)``: before an execution runs;
    * ``_execution_end(first, last, recorded)``: after it finished, called at the next
      execution's start, at the epoch's end or at train end (never from
      ``on_train_batch_end``, see the module docstring);
    * ``_record_epoch(epoch)``: record the state after global epoch ``epoch`` now (epoch
      schedules only);
    * ``_epoch_end(epoch)``: after every epoch (after ``_record_epoch``), e.g. to flush;
    * ``_fit_begin()`` / ``_fit_end()``: at the start and end of each ``fit``;
    * ``_abandon_execution()`` (to call, not override): drop the running execution
      uncounted, when the step itself raised.

    Subclasses do not override the Keras hooks this class uses (``on_train_begin``,
    ``on_epoch_begin``, ``on_epoch_end``, ``on_train_batch_begin``, ``on_train_end``); if
    they must, they call ``super()``. ``schedule_types`` (a class attribute) says which
    schedules a subclass accepts. The counters are name-mangled (``self.__epochs`` ...), so a
    subclass cannot read or clobber them by accident; it sees them only through the
    read-only properties (:attr:`global_step`, :attr:`global_epoch`, :attr:`execution`).

    Example:
        >>> class Steps(ScheduledCallback):
        ...     def _execution_begin(self, first, last, recorded):
        ...         if recorded:
        ...             print(first, last)
        >>> model.fit(x, y, callbacks=[Steps(EverySteps(10))])  # doctest: +SKIP

    Args:
        schedule: an :class:`EverySteps` or :class:`EveryEpochs` (one of ``schedule_types``).

    Raises:
        TypeError: ``schedule`` is not one of ``schedule_types``.

    Reference:
        Cockpit's ``Quantity``/schedule split (see the module docstring).
    """

    #: The schedules this callback accepts (subclasses narrow it).
    schedule_types: tuple[type, ...] = (EverySteps, EveryEpochs)

    def __init__(self, schedule):
        super().__init__()
        if not isinstance(schedule, self.schedule_types):
            names = " or ".join(kind.__name__ for kind in self.schedule_types)
            raise TypeError(
                f"schedule must be an {names}, e.g. schedule={self.schedule_types[0].__name__}"
                f"(10); received schedule={schedule!r}."
            )
        self.__schedule = schedule
        self.__by_step = isinstance(schedule, EverySteps)  # else by epoch
        self.__steps_before_fit = 0  # steps of earlier fits
        self.__steps_in_fit = 0  # finished steps of the current fit
        self.__execution: tuple[int, int, bool] | None = None  # running (first, last, recorded)
        self.__epochs = 0  # epochs finished in every fit
        self.__last_recorded_epoch: int | None = None

    # ----------------------------------------------------------------- read-only state
    @property
    def schedule(self):
        """The injected schedule (an :class:`EverySteps` or :class:`EveryEpochs`)."""
        return self.__schedule

    @property
    def global_step(self) -> int:
        """Steps finished in all the fits this callback took part in, so far."""
        return self.__steps_before_fit + self.__steps_in_fit

    @property
    def global_epoch(self) -> int:
        """Epochs finished in all the fits this callback took part in, so far."""
        return self.__epochs

    @property
    def execution(self) -> tuple[int, int] | None:
        """``(first, last)`` global steps of the running execution, or ``None``."""
        return None if self.__execution is None else self.__execution[:2]

    # ----------------------------------------------------------------- hooks
    def _execution_begin(self, first: int, last: int, recorded: bool) -> None:
        """Called before the execution of steps ``first..last`` runs."""

    def _execution_end(self, first: int, last: int, recorded: bool) -> None:
        """Called once the execution of steps ``first..last`` finished."""

    def _record_epoch(self, epoch: int) -> None:
        """Called when the state after global epoch ``epoch`` is to be recorded."""

    def _epoch_end(self, epoch: int) -> None:
        """Called at the end of every epoch (``epoch`` epochs are finished now)."""

    def _fit_begin(self) -> None:
        """Called at the start of every ``fit``."""

    def _fit_end(self) -> None:
        """Called at the end of every ``fit`` (after the last ``_execution_end``)."""

    # ----------------------------------------------------------------- counting
    def __execution_length(self, batch: int) -> int:
        steps_per_execution = _steps_per_execution(self.model)
        steps = (self.params or {}).get("steps")
        if steps:
            return max(min(steps_per_execution, int(steps) - int(batch)), 1)
        return steps_per_execution

    def __finish_execution(self) -> None:
        if self.__execution is None:
            return
        first, last, recorded = self.__execution
        self.__execution = None
        self.__steps_in_fit += last - first + 1
        self._execution_end(first, last, recorded)

    def _abandon_execution(self) -> None:
        """Forget the running execution without counting it (it raised inside the step)."""
        self.__execution = None

    def __record_epoch_now(self) -> None:
        self._record_epoch(self.__epochs)
        self.__last_recorded_epoch = self.__epochs

    def on_train_begin(self, logs=None):
        # An earlier fit that raised (Keras calls no hook then) left its last execution
        # open: it ran, unless a subclass abandoned it because the step itself raised.
        self.__finish_execution()
        self.__steps_before_fit += self.__steps_in_fit
        self.__steps_in_fit = 0
        self._fit_begin()
        if not self.__by_step and self.__last_recorded_epoch != self.__epochs:
            self.__record_epoch_now()

    def on_epoch_begin(self, epoch, logs=None):
        self.__finish_execution()

    def on_epoch_end(self, epoch, logs=None):
        self.__finish_execution()
        self.__epochs += 1
        if not self.__by_step and self.__schedule.should_record(self.__epochs):
            self.__record_epoch_now()
        self._epoch_end(self.__epochs)

    def on_train_batch_begin(self, batch, logs=None):
        self.__finish_execution()
        first = self.global_step
        last = first + self.__execution_length(batch) - 1
        recorded = self.__by_step and (
            self.__steps_in_fit == 0 or self.__schedule._holds_due(first, last)
        )
        self.__execution = (first, last, recorded)
        self._execution_begin(first, last, recorded)

    def on_train_end(self, logs=None):
        self.__finish_execution()
        self._fit_end()
