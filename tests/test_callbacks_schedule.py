"""Injected schedules: ``EverySteps`` / ``EveryEpochs`` and the callback base that asks them.

What they show: the schedules' arithmetic against a brute-force enumeration, their checks,
repr and equality; the base class (``ScheduledCallback``) calls its hooks at exactly the
scheduled global steps and epochs, across epochs, ``fit`` calls and ``steps_per_execution``;
and the callbacks' older ``every_n_*`` arguments map to the same schedules.
"""

import copy
import pickle

import numpy as np
import pytest

from keras_init_lab.callbacks import (
    ActivationStats,
    CaptureCallback,
    EveryEpochs,
    EverySteps,
    GradientHealth,
    GradientStats,
)
from keras_init_lab.callbacks._scheduled import ScheduledCallback, resolve_schedule

# Runs under every KERAS_BACKEND (tests/conftest.py, .ci/run's JAX step).
pytestmark = pytest.mark.backend_agnostic

# ---------------------------------------------------------------------------------------
# The schedules themselves
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [EverySteps, EveryEpochs])
def test_should_record_is_every_nth_point_from_zero(kind):
    assert [i for i in range(13) if kind(4).should_record(i)] == [0, 4, 8, 12]
    assert [i for i in range(4) if kind(1).should_record(i)] == [0, 1, 2, 3]
    assert [i for i in range(7) if kind(3).should_record(i)] == [0, 3, 6]


@pytest.mark.parametrize("kind", [EverySteps, EveryEpochs])
def test_due_is_true_exactly_when_a_point_of_the_range_is_recorded(kind):
    for n in range(1, 6):
        schedule = kind(n)
        for first in range(0, 13):
            for last in range(max(first - 2, 0), 13):
                expected = any(schedule.should_record(i) for i in range(first, last + 1))
                assert schedule.due(first, last) == expected, (n, first, last)


def test_repr_equality_hash_and_immutability():
    assert repr(EverySteps(3)) == "EverySteps(3)" and repr(EveryEpochs(2)) == "EveryEpochs(2)"
    assert EverySteps(3) == EverySteps(3) and hash(EverySteps(3)) == hash(EverySteps(3))
    assert EverySteps(3) != EverySteps(4)
    assert EverySteps(3) != EveryEpochs(3)  # a step schedule is not an epoch schedule
    assert EverySteps(3) != 3
    assert len({EverySteps(3), EverySteps(3), EveryEpochs(3)}) == 2
    assert EverySteps(np.int64(5)) == EverySteps(5) and type(EverySteps(np.int64(5)).n) is int
    with pytest.raises(AttributeError):
        EverySteps(3).n = 4
    for schedule in (EverySteps(7), EveryEpochs(2)):
        assert copy.deepcopy(schedule) == schedule
        assert pickle.loads(pickle.dumps(schedule)) == schedule


@pytest.mark.parametrize("kind", [EverySteps, EveryEpochs])
@pytest.mark.parametrize(
    "n, error", [(0, ValueError), (-2, ValueError), (2.5, TypeError), ("3", TypeError)]
)
def test_bad_n_names_the_value(kind, n, error):
    with pytest.raises(error, match=rf"{kind.__name__}\(n\).*received n={n!r}"):
        kind(n)


def test_bool_and_none_are_not_counts():
    for bad in (True, None):
        with pytest.raises(TypeError, match=f"n={bad!r}"):
            EverySteps(bad)


def test_bad_points_name_the_value():
    with pytest.raises(ValueError, match="step=-1"):
        EverySteps(2).should_record(-1)
    with pytest.raises(TypeError, match="epoch=1.5"):
        EveryEpochs(2).should_record(1.5)
    with pytest.raises(TypeError, match="first='0'"):
        EverySteps(2).due("0", 3)


# ---------------------------------------------------------------------------------------
# The callbacks' arguments
# ---------------------------------------------------------------------------------------


def test_older_arguments_map_to_the_injected_schedules():
    assert GradientStats().schedule == EverySteps(100)
    assert GradientStats(every_n_steps=7).schedule == EverySteps(7)
    assert GradientStats(schedule=EverySteps(7)).every_n_steps == 7
    assert GradientStats(7).schedule == EverySteps(7)  # positional, as before
    assert GradientHealth().schedule == EverySteps(50)
    assert GradientHealth(every_n_steps=3).schedule == EverySteps(3)
    assert GradientHealth(schedule=EverySteps(3)).every_n_steps == 3
    probe = np.zeros((4, 3), "float32")
    assert ActivationStats(probe).schedule == EveryEpochs(1)
    assert ActivationStats(probe, every_n_epochs=3).schedule == EveryEpochs(3)
    assert ActivationStats(probe, 3).schedule == EveryEpochs(3)  # positional, as before
    assert ActivationStats(probe, schedule=EveryEpochs(3)).every_n_epochs == 3


def test_histogram_default_follows_the_injected_schedule():
    """As it followed every_n_steps (TensorFlow: where histograms are computed by default)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("histograms default to off on the other backends (GradientStats)")
    assert GradientStats(schedule=EverySteps(300), log_dir="logs").histogram_every_n_steps == 300


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: GradientStats(every_n_steps=5, schedule=EverySteps(5)), ValueError, "not both"),
        (lambda: GradientHealth(every_n_steps=5, schedule=EverySteps(5)), ValueError, "not both"),
        (
            lambda: ActivationStats(np.zeros((4, 3)), every_n_epochs=2, schedule=EveryEpochs(2)),
            ValueError,
            "every_n_epochs=2, schedule=EveryEpochs",
        ),
        (
            lambda: GradientStats(schedule=EveryEpochs(2)),
            TypeError,
            r"EverySteps.*EveryEpochs\(2\)",
        ),
        (lambda: GradientHealth(schedule=5), TypeError, "schedule=5"),
        (lambda: ActivationStats(np.zeros((4, 3)), schedule=EverySteps(2)), TypeError, "EveryEp"),
        (lambda: GradientStats(every_n_steps=0), ValueError, "every_n_steps=0"),
        (lambda: GradientHealth(every_n_steps="2"), TypeError, "every_n_steps='2'"),
        (lambda: ActivationStats(np.zeros((4, 3)), every_n_epochs=0), ValueError, "epochs=0"),
    ],
)
def test_bad_schedule_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_resolve_schedule():
    assert resolve_schedule(EverySteps, None, "every_n_steps", None, default=9) == EverySteps(9)
    assert resolve_schedule(EveryEpochs, EveryEpochs(4), "every_n_epochs", None, 1) == (
        EveryEpochs(4)
    )
    assert resolve_schedule(EverySteps, None, "every_n_steps", 2, 9) == EverySteps(2)


def test_scheduled_callback_rejects_what_it_cannot_run():
    with pytest.raises(TypeError, match="schedule=3"):
        ScheduledCallback(3)
    with pytest.raises(TypeError, match="EverySteps"):
        CaptureCallback(EveryEpochs(1))


# ---------------------------------------------------------------------------------------
# The base class calls its hooks at exactly the scheduled points (tiny model, real fit)
# ---------------------------------------------------------------------------------------


class _Recorder(ScheduledCallback):
    """Writes down every hook the base class calls, with its arguments."""

    def __init__(self, schedule):
        super().__init__(schedule)
        self.begun, self.ended, self.epochs, self.epoch_ends, self.fits = [], [], [], [], []
        # A subclass's own attributes of these names leave the base's counters alone
        # (ActivationStats keeps its recorded epochs in ``_epochs``).
        self._epochs, self._schedule, self._execution = ["mine"], "mine", "mine"
        self._steps_in_fit = self._steps_before_fit = self._last_recorded_epoch = "mine"

    def _execution_begin(self, first, last, recorded):
        self.begun.append((first, last, recorded))

    def _execution_end(self, first, last, recorded):
        self.ended.append((first, last, recorded))

    def _record_epoch(self, epoch):
        self.epochs.append(epoch)

    def _epoch_end(self, epoch):
        self.epoch_ends.append(epoch)

    def _fit_begin(self):
        self.fits.append("begin")

    def _fit_end(self):
        self.fits.append("end")

    def recorded_steps(self):
        return [last for _, last, recorded in self.ended if recorded]


def _tiny(steps_per_execution=1):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    return model


def _fit(model, callback, samples, epochs):
    x = np.zeros((samples, 2), "float32")
    model.fit(
        x, x[:, :1], batch_size=1, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback]
    )


def test_step_schedule_is_global_across_epochs_and_fits():
    model = _tiny()
    recorder = _Recorder(EverySteps(3))
    _fit(model, recorder, samples=4, epochs=2)  # global steps 0..7
    _fit(model, recorder, samples=4, epochs=1)  # global steps 8..11, fit starts at 8
    assert [first for first, _, _ in recorder.ended] == list(range(12))
    assert recorder.begun == recorder.ended  # every execution closed once, same decision
    # Due steps 0, 3, 6, 9, plus the first step of the second fit (8).
    assert recorder.recorded_steps() == [0, 3, 6, 8, 9]
    assert recorder.global_step == 12 and recorder.global_epoch == 3
    assert recorder.epochs == []  # a step schedule records no epochs
    assert recorder.epoch_ends == [1, 2, 3]
    assert recorder.fits == ["begin", "end", "begin", "end"]


def test_step_schedule_with_steps_per_execution():
    # 8 steps per epoch, 3 per execution: executions 0-2, 3-5, 6-7 (the last one shorter).
    model = _tiny(steps_per_execution=3)
    recorder = _Recorder(EverySteps(4))
    _fit(model, recorder, samples=8, epochs=2)
    executions = [(first, last) for first, last, _ in recorder.ended]
    assert executions == [(0, 2), (3, 5), (6, 7), (8, 10), (11, 13), (14, 15)]
    # Recorded: the first (fit start, holds 0), then those holding 4, 8 and 12.
    assert recorder.recorded_steps() == [2, 5, 10, 13]


def test_epoch_schedule_is_global_across_fits_and_records_each_fit_start():
    model = _tiny()
    recorder = _Recorder(EveryEpochs(2))
    _fit(model, recorder, samples=2, epochs=3)  # epochs 1, 2, 3 end
    assert recorder.epochs == [0, 2]
    _fit(model, recorder, samples=2, epochs=2)  # starts at 3 (not recorded yet), 4 and 5 end
    assert recorder.epochs == [0, 2, 3, 4]
    assert recorder.epoch_ends == [1, 2, 3, 4, 5]
    assert not any(recorded for _, _, recorded in recorder.ended)  # no step is recorded
    every = _Recorder(EveryEpochs(1))
    _fit(model, every, samples=2, epochs=2)
    _fit(model, every, samples=2, epochs=1)  # epoch 2 already recorded: not again
    assert every.epochs == [0, 1, 2, 3]
