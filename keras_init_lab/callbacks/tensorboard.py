"""Writing scalars, precomputed histograms and the custom-scalars layout for TensorBoard.

This module only *shows*: the callbacks compute statistics (on the device, inside or next to
the compiled train step) and hand small host arrays to :class:`SummaryWriters`, which turns
them into event files that a stock TensorBoard 2.x opens.

:class:`SummaryWriters` is the package's one writer,
:class:`keras_init_lab._event_writer.EventWriters` (the records, the flush policy, the exit
hook, the constants), writing through TensorFlow's ``tf.summary`` file writer instead of a
file of its own: :meth:`SummaryWriters.writer` returns that ``tf.summary`` writer, for code
that mixes its own ``tf.summary`` calls into the same event file. The package's callbacks
write through :class:`~keras_init_lab._event_writer.EventWriters` itself on every backend:
on TensorFlow a record through ``tf.summary`` costs about twice the host time (one eager
op per record, with its step and condition checks; ``benchmarks/callbacks.py --kernels``,
BENCHMARKS.md), for the same file.

Why precomputed histograms: ``tf.summary.histogram`` buckets on the host with a float64
one-hot of ``N x buckets`` (16M elements took about 3.6 GB, tensorboard#6714; a 102M-element
layer ran a machine out of host memory, keras-team/keras#18243) and is not XLA-compilable.
Here the counting is done on the device by :mod:`keras_init_lab.callbacks.histograms` (the
package's one bucketing implementation, XLA-safe); only the ``[k]`` counts ever reach the
host, and :meth:`SummaryWriters.histogram` writes them as the histogram plugin's ``[k, 3]``
tensor of ``(left edge, right edge, count)`` rows.

Example:
    >>> writers = SummaryWriters("logs/run1")
    >>> edges = gradient_log10_edges()        # from keras_init_lab.callbacks.histograms
    >>> counts = record.gradient_histograms[0]  # counted on the device
    >>> writers.histogram("dense/kernel/gradient_log10_abs", edges[:-1], edges[1:], counts, step=0)
    >>> writers.scalar("dense/kernel/gradient_norm", 0.12, step=0)
    >>> writers.close()

Flushing: a record is written into the writer's in-memory queue and reaches the disk when
:meth:`SummaryWriters.flush_if_due` finds that at least :data:`FLUSH_SECONDS` passed since
the last flush (a flush per record costs a file write per record), or when the caller
flushes (the callbacks do at epoch end, at train end and when the step raises), when the
writers are closed, and at interpreter exit (an ``atexit`` hook over every live writer), so
a record written before an interruption reaches the disk. The clock of that policy is
``keras_init_lab._event_writer._clock`` (one clock for every writer).

Reference:
    TensorBoard histogram plugin data format, ``tensorboard/plugins/histogram/summary_v2.py``
    (https://github.com/tensorflow/tensorboard); custom scalars layout,
    ``tensorboard/plugins/custom_scalar/layout.proto``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from keras_init_lab._backend import tensorflow as tf  # imported at first use
from keras_init_lab._event_writer import (
    _MAX_QUEUE,
    _SINK_FLUSH_SECONDS,
    FLUSH_SECONDS,
    EventWriters,
)
from keras_init_lab._keras_compat import default_summary_writer

# uniform_bucket_counts is re-exported from its home, the one bucketing module.
from keras_init_lab.callbacks.histograms import DEFAULT_HISTOGRAM_BUCKETS, uniform_bucket_counts

__all__ = [
    "DEFAULT_HISTOGRAM_BUCKETS",
    "FLUSH_SECONDS",
    "SummaryWriters",
    "uniform_bucket_counts",
    "write_custom_scalars_layout",
]


class SummaryWriters(EventWriters):
    """Lazily created ``tf.summary`` file writers, one per run subfolder of ``log_dir``.

    :class:`~keras_init_lab._event_writer.EventWriters` with TensorFlow's ``tf.summary`` file
    writer as the sink; every method, argument and the flush policy are inherited. Nothing
    touches the disk until the first value is written to a run, as in Keras's own
    ``TensorBoard`` callback. Every method runs eagerly on the host (``tf.init_scope``, also
    when called while some ``tf.function`` is traced); call it with small arrays (statistics
    and bucket counts), never with whole tensors.

    Example:
        >>> writers = SummaryWriters("logs/run1")
        >>> writers.scalar("dense/kernel/gradient_norm", 0.5, step=10)        # logs/run1/train
        >>> writers.histogram("dense/kernel/weights", [0, 1], [1, 2], [3, 4], step=10)
        >>> writers.close()

    Args:
        log_dir: folder that receives one subfolder per run (``"train"``, ``"validation"``...).

    Raises:
        TypeError: ``log_dir`` is not a ``str`` or ``os.PathLike``.
        ValueError: ``log_dir`` is the empty string.
    """

    def _open(self, path: str) -> tf.summary.SummaryWriter:
        """A ``tf.summary`` file writer for ``path`` whose own flushes never come first."""
        with tf.init_scope():
            return tf.summary.create_file_writer(
                path, max_queue=_MAX_QUEUE, flush_millis=1000 * _SINK_FLUSH_SECONDS
            )

    def _emit(self, writer, summary, step: int) -> None:
        """One ``tf.summary.experimental.write_raw_pb`` call: the ``Summary`` as one event.

        One eager ``tf.summary`` op per value would cost ~0.3-1 ms of host time each, and a
        ``tf.function`` holding them is traced anew for every new writer (every ``fit``).
        """
        with tf.init_scope(), default_summary_writer(writer):
            tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=int(step))

    def _flush_sinks(self, writers: list) -> None:
        """Flush eagerly (``tf.init_scope``): a flush issued while some ``tf.function`` is
        traced would otherwise become an op of that function's graph."""
        with tf.init_scope():
            for writer in writers:
                writer.flush()

    def _close_sinks(self, writers: list) -> None:
        """Flush and close eagerly (see :meth:`_flush_sinks`). This is also why the writers
        are not closed from a garbage-collection finalizer: one fired during the trace of a
        ``tf.data`` map function and baked a flush of a soon-deleted writer into it."""
        with tf.init_scope():
            for writer in writers:
                writer.flush()
                writer.close()


def write_custom_scalars_layout(
    writers: SummaryWriters,
    categories: Mapping[str, Mapping[str, Sequence[str]]],
    run: str = "train",
) -> None:
    """Write a TensorBoard custom-scalars layout that groups curves on shared charts.

    TensorBoard merges the layouts found in all runs (categories of the same title are
    merged chart by chart), so the gradient and activation callbacks can each write theirs.
    The same as ``writers.custom_scalars_layout(categories, run)``.

    Example:
        >>> write_custom_scalars_layout(writers, {
        ...     "gradient norm per layer": {"all layers": [r".*/gradient_norm$"]},
        ... })

    Args:
        writers: the :class:`SummaryWriters` (or any ``EventWriters``) to write through.
        categories: ``{category title: {chart title: [tag regex, ...]}}``; each chart draws
            every scalar tag matching one of its regular expressions as one line.
        run: run subfolder that receives the layout (default ``"train"``).

    Raises:
        TypeError: if ``writers`` is not a :class:`SummaryWriters`, ``categories`` not a dict of
            dicts or ``run`` not a string.
        ValueError: on an empty layout, an empty chart or an invalid regular expression.
    """
    if not isinstance(writers, EventWriters):
        raise TypeError(
            "writers must be a SummaryWriters (or an EventWriters); "
            f"received {type(writers).__name__}."
        )
    writers.custom_scalars_layout(categories, run=run)
