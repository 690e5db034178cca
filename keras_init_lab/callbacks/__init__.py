"""Callbacks that measure what happens inside ``model.fit``, and their TensorBoard writer.

What is measured lives in ``capture``/``gradient_stats``/``health``/``activation_stats``;
how it is shown lives in ``tensorboard`` (event files) and ``keras_init_lab.plots``.
"""

from keras_init_lab.callbacks.tensorboard import (
    SummaryWriters,
    bucket_counts,
    log10_magnitude_edges,
    uniform_bucket_counts,
    write_custom_scalars_layout,
)

__all__ = [
    "SummaryWriters",
    "bucket_counts",
    "log10_magnitude_edges",
    "uniform_bucket_counts",
    "write_custom_scalars_layout",
]
