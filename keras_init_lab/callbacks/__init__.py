"""Callbacks that measure what happens inside ``model.fit``, and their TensorBoard writer.

When: ``_scheduled`` (the injected schedules :class:`EverySteps` and :class:`EveryEpochs`,
and the callback base that counts global steps and epochs and asks them). What:
``statistics`` (fused sufficient statistics), ``histograms`` (device-side bucketing),
``capture`` (the controller that runs an instrumented train step only on recorded steps,
and :class:`CaptureCallback`, the public base of its subscribers), ``gradient_stats``,
``health``, ``activation_stats``. How it is shown: ``tensorboard`` (event files) and
``keras_init_lab.plots``.
"""

from keras_init_lab.callbacks._scheduled import EveryEpochs, EverySteps
from keras_init_lab.callbacks.activation_stats import ActivationStats, activation_statistics
from keras_init_lab.callbacks.capture import CaptureCallback
from keras_init_lab.callbacks.gradient_stats import GradientStats
from keras_init_lab.callbacks.health import GradientHealth, GradientHealthWarning
from keras_init_lab.callbacks.histograms import uniform_bucket_counts
from keras_init_lab.callbacks.tensorboard import SummaryWriters, write_custom_scalars_layout

__all__ = [
    "ActivationStats",
    "CaptureCallback",
    "EveryEpochs",
    "EverySteps",
    "GradientHealth",
    "GradientHealthWarning",
    "GradientStats",
    "SummaryWriters",
    "activation_statistics",
    "uniform_bucket_counts",
    "write_custom_scalars_layout",
]
