"""Callbacks that measure what happens inside ``model.fit``, and their TensorBoard writer.

What is measured lives in ``capture``/``gradient_stats``/``health``/``activation_stats``;
how it is shown lives in ``tensorboard`` (event files) and ``keras_init_lab.plots``.
"""

from keras_init_lab.callbacks.activation_stats import ActivationStats, activation_statistics
from keras_init_lab.callbacks.gradient_stats import GradientStats
from keras_init_lab.callbacks.health import GradientHealth, GradientHealthWarning
from keras_init_lab.callbacks.tensorboard import (
    SummaryWriters,
    bucket_counts,
    log10_magnitude_edges,
    uniform_bucket_counts,
    write_custom_scalars_layout,
)

__all__ = [
    "ActivationStats",
    "GradientHealth",
    "GradientHealthWarning",
    "GradientStats",
    "SummaryWriters",
    "activation_statistics",
    "bucket_counts",
    "log10_magnitude_edges",
    "uniform_bucket_counts",
    "write_custom_scalars_layout",
]
