"""Writing scalars, precomputed histograms and the custom-scalars layout for TensorBoard.

This module only *shows*: the callbacks compute statistics (on the device, inside or next to
the compiled train step) and hand small host arrays to :class:`SummaryWriters`, which turns
them into event files that a stock TensorBoard 2.x opens.

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
writers are closed, and at interpreter exit (an ``atexit`` hook over every live
:class:`SummaryWriters`), so a record written before an interruption reaches the disk.

Reference:
    TensorBoard histogram plugin data format, ``tensorboard/plugins/histogram/summary_v2.py``
    (https://github.com/tensorflow/tensorboard); custom scalars layout,
    ``tensorboard/plugins/custom_scalar/layout.proto``.
"""

from __future__ import annotations

import atexit
import os
import re
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import summary_pb2, types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from keras_init_lab._backend import tensorflow as tf  # imported at first use

# uniform_bucket_counts is re-exported from its home, the one bucketing module.
from keras_init_lab._keras_compat import default_summary_writer
from keras_init_lab._validation import check_log_dir
from keras_init_lab.callbacks.histograms import DEFAULT_HISTOGRAM_BUCKETS, uniform_bucket_counts

__all__ = [
    "DEFAULT_HISTOGRAM_BUCKETS",
    "FLUSH_SECONDS",
    "SummaryWriters",
    "uniform_bucket_counts",
    "write_custom_scalars_layout",
]

_RUN_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

#: Least time between two flushes of the event files by :meth:`SummaryWriters.flush_if_due`,
#: in seconds. A design choice: TensorBoard reloads a run every 5 s by default
#: (``--reload_interval``), so 2 s keeps its view current while a run recorded every step
#: pays one file write per 2 s instead of one per record.
FLUSH_SECONDS = 2.0

#: Events a writer keeps in memory before TensorFlow flushes on its own. A record is one
#: event (:meth:`SummaryWriters.write_batch`), so TensorFlow's default, 10, would flush every
#: 10 records; the flushes come from the policy above instead. 10^6 is never reached: a run
#: writes at most one record per step, far fewer than 10^6 in :data:`FLUSH_SECONDS`.
_MAX_QUEUE = 1_000_000

#: TensorFlow's own time-based flush, checked on each write; left far above
#: :data:`FLUSH_SECONDS` (ten minutes, in ms) so that the policy of this module decides.
_FLUSH_MILLIS = 600_000

#: The clock of the flush policy (monotonic: a change of the wall clock changes nothing).
#: Tests replace it with a fake clock.
_clock = time.monotonic

#: Every live :class:`SummaryWriters`; flushed and closed at interpreter exit.
_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_live_writers() -> None:
    """Flush and close every live :class:`SummaryWriters` at interpreter exit.

    Runs also when the program ends on an uncaught ``KeyboardInterrupt`` raised outside the
    train step (e.g. by another callback), where no callback hook runs: what was recorded
    before it reaches the disk. An ``atexit`` hook, not a garbage-collection finalizer (see
    :func:`_flush_and_close`). Registered after ``tensorflow`` is imported, so it runs before
    TensorFlow's own exit hooks.
    """
    for writers in list(_LIVE):
        try:
            writers.close()
        except Exception as error:  # keep closing the others; say which one failed
            warnings.warn(
                f"Could not flush the TensorBoard event files under {writers.log_dir}: {error}",
                RuntimeWarning,
                stacklevel=1,
            )


def _histogram_table(tag: str, left_edges, right_edges, counts) -> np.ndarray:
    """The histogram plugin's ``[k, 3]`` float64 table of (left edge, right edge, count).

    Raises:
        ValueError: if the three arrays are not of one common non-zero length.
    """
    left = np.asarray(left_edges, dtype=np.float64).reshape(-1)
    right = np.asarray(right_edges, dtype=np.float64).reshape(-1)
    count = np.asarray(counts, dtype=np.float64).reshape(-1)
    if not (left.shape == right.shape == count.shape) or left.size == 0:
        raise ValueError(
            "left_edges, right_edges and counts must have one common non-zero length; "
            f"received {left.shape}, {right.shape}, {count.shape} for tag {tag!r}."
        )
    return np.stack([left, right, count], axis=1)


def _flush_and_close(writers: dict) -> None:
    """Flush and close every writer of ``writers`` and empty it (safe to call twice).

    Runs eagerly (``tf.init_scope``) wherever it is called from: a flush issued while some
    ``tf.function`` is being traced would otherwise become an op of that function's graph.
    (This is also why the writers are not closed from a garbage-collection finalizer: one
    fired during the trace of a ``tf.data`` map function and baked a flush of a soon-deleted
    writer into it.)
    """
    with tf.init_scope():
        for writer in writers.values():
            writer.flush()
            writer.close()
    writers.clear()


class SummaryWriters:
    """Lazily created ``tf.summary`` file writers, one per run subfolder of ``log_dir``.

    Nothing touches the disk until the first value is written to a run, as in Keras's own
    ``TensorBoard`` callback. Every method runs eagerly on the host; call it outside compiled
    functions, with small arrays (statistics and bucket counts), never with whole tensors.

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

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = Path(check_log_dir("log_dir", log_dir, allow_none=False))
        self._writers: dict[str, tf.summary.SummaryWriter] = {}
        # run -> tags whose metadata is already in that run's current event file
        self._described: dict[str, set] = {}
        self._last_flush = -float("inf")  # the first write that asks is flushed at once
        self._pending = False  # a record was held back by flush_if_due
        _LIVE.add(self)

    @property
    def runs(self) -> list[str]:
        """Names of the runs whose writer has been created so far."""
        return sorted(self._writers)

    def writer(self, run: str = "train") -> tf.summary.SummaryWriter:
        """Return the writer of ``run`` (``log_dir/run``), creating it on first use."""
        if not isinstance(run, str) or not _RUN_NAME.match(run):
            raise ValueError(
                f"run must be a plain folder name such as 'train'; received run={run!r}."
            )
        if run not in self._writers:
            self._described.pop(run, None)  # a new event file: metadata goes again
            with tf.init_scope():
                self._writers[run] = tf.summary.create_file_writer(
                    str(self.log_dir / run), max_queue=_MAX_QUEUE, flush_millis=_FLUSH_MILLIS
                )
        return self._writers[run]

    def scalar(self, tag: str, value, step: int, run: str = "train") -> None:
        """Write one scalar ``value`` under ``tag`` at ``step`` (NaN and Inf are kept)."""
        self.write_batch(step, scalars={tag: value}, run=run)

    def scalars(self, values: Mapping[str, float], step: int, run: str = "train") -> None:
        """Write several scalars ``{tag: value}`` at ``step`` as one event."""
        self.write_batch(step, scalars=values, run=run)

    def histogram(
        self,
        tag: str,
        left_edges,
        right_edges,
        counts,
        step: int,
        run: str = "train",
        description: str | None = None,
    ) -> None:
        """Write precomputed buckets as a TensorBoard histogram.

        Formula: the plugin's tensor is ``stack([left_edges, right_edges, counts], axis=1)``,
        float64 of shape ``[k, 3]``, with the histogram plugin's summary metadata.

        Args:
            tag: ``layer/variable/what``.
            left_edges: ``[k]`` left bucket edges.
            right_edges: ``[k]`` right bucket edges.
            counts: ``[k]`` counts (the sum is the number of counted elements).
            step: global step.
            run: run subfolder (default ``"train"``).
            description: optional Markdown shown in TensorBoard.

        Raises:
            ValueError: if the three arrays are not 1-D of one length.
        """
        self.write_batch(
            step,
            histograms={tag: (left_edges, right_edges, counts)},
            run=run,
            descriptions={tag: description} if description else None,
        )

    def write_batch(
        self,
        step: int,
        scalars: Mapping[str, float] | None = None,
        histograms: Mapping[str, tuple] | None = None,
        run: str = "train",
        descriptions: Mapping[str, str] | None = None,
    ) -> None:
        """Write many scalars and precomputed histograms at ``step`` as one event.

        One eager ``tf.summary`` call costs ~0.3-1 ms of host time and a record of a model
        with a few dozen variables has a hundred values; a ``tf.function`` holding all the
        summary ops is traced anew for every new writer (every ``fit``). Here the values
        are put into one ``Summary`` protocol buffer on the host (what ``tf.summary.scalar``
        and the histogram plugin write: a float32 scalar tensor, a float64 ``[k, 3]``
        table) and written by one ``tf.summary.experimental.write_raw_pb`` call, with no
        tracing. The plugin metadata (and the description) of a tag goes with its first
        value in each event file only, as TensorBoard reads it from there.

        Args:
            step: global step.
            scalars: ``{tag: value}``.
            histograms: ``{tag: (left_edges, right_edges, counts)}``, each ``[k]``.
            run: run subfolder (default ``"train"``).
            descriptions: optional ``{tag: Markdown}`` shown by TensorBoard next to the tag.
        """
        scalars = dict(scalars or {})
        histograms = dict(histograms or {})
        descriptions = dict(descriptions or {})
        if not scalars and not histograms:
            return
        described = self._described.get(run, set())  # emptied when a writer (re)opens

        def entry(tag, metadata_module):
            """A new value of ``summary``; with the plugin metadata the first time."""
            value = summary.value.add(tag=tag)
            if tag not in described:
                value.metadata.CopyFrom(
                    metadata_module.create_summary_metadata(
                        display_name=None, description=descriptions.get(tag, "")
                    )
                )
            return value.tensor

        summary = summary_pb2.Summary()
        for tag, value in scalars.items():
            tensor = entry(tag, scalar_metadata)
            tensor.dtype = types_pb2.DT_FLOAT
            tensor.float_val.append(float(value))
        for tag, (left, right, count) in histograms.items():
            table = _histogram_table(tag, left, right, count)
            tensor = entry(tag, histogram_metadata)
            tensor.dtype = types_pb2.DT_DOUBLE
            tensor.tensor_shape.dim.add(size=table.shape[0])
            tensor.tensor_shape.dim.add(size=3)
            tensor.tensor_content = table.astype("<f8").tobytes()
        # The writer is created (lazily) only once the values are known to be valid.
        writer = self.writer(run)
        self._described[run] = described
        with tf.init_scope(), default_summary_writer(writer):
            tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=int(step))
        described.update(scalars)
        described.update(histograms)

    def custom_scalars_layout(
        self, categories: Mapping[str, Mapping[str, Sequence[str]]], run: str = "train"
    ) -> None:
        """Write a custom-scalars layout to ``run``; see :func:`write_custom_scalars_layout`."""
        write_custom_scalars_layout(self, categories, run=run)

    def flush(self) -> None:
        """Flush every writer created so far, now (eagerly, also if called while tracing)."""
        with tf.init_scope():
            for writer in self._writers.values():
                writer.flush()
        self._last_flush = _clock()
        self._pending = False

    def flush_if_due(self) -> bool:
        """Flush when at least :data:`FLUSH_SECONDS` passed since the last flush.

        The time-based policy of this module: call it after every record; the first call
        flushes (nothing was flushed yet), later ones only once :data:`FLUSH_SECONDS` passed.

        Example:
            >>> writers.write_batch(step, scalars)
            >>> writers.flush_if_due()      # True at most every FLUSH_SECONDS
            False

        Returns:
            True when it flushed.
        """
        if _clock() - self._last_flush < FLUSH_SECONDS:
            self._pending = True
            return False
        self.flush()
        return True

    def flush_pending_if_due(self) -> bool:
        """Flush records that :meth:`flush_if_due` held back, once :data:`FLUSH_SECONDS` passed.

        Cheap enough for every step (one flag test while nothing is pending, a clock read
        otherwise): callbacks call it when a step begins, so a held-back record reaches the
        disk within about :data:`FLUSH_SECONDS` even if the next record is far away.

        Returns:
            True when it flushed.
        """
        return self._pending and self.flush_if_due()

    def close(self) -> None:
        """Flush and close every writer; a later write reopens them lazily."""
        _flush_and_close(self._writers)
        self._last_flush = _clock()
        self._described.clear()  # a reopened writer starts a new event file

    def __enter__(self) -> SummaryWriters:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SummaryWriters(log_dir={str(self.log_dir)!r}, runs={self.runs})"


def write_custom_scalars_layout(
    writers: SummaryWriters,
    categories: Mapping[str, Mapping[str, Sequence[str]]],
    run: str = "train",
) -> None:
    """Write a TensorBoard custom-scalars layout that groups curves on shared charts.

    TensorBoard merges the layouts found in all runs (categories of the same title are
    merged chart by chart), so the gradient and activation callbacks can each write theirs.

    Example:
        >>> write_custom_scalars_layout(writers, {
        ...     "gradient norm per layer": {"all layers": [r".*/gradient_norm$"]},
        ... })

    Args:
        writers: the :class:`SummaryWriters` to write through.
        categories: ``{category title: {chart title: [tag regex, ...]}}``; each chart draws
            every scalar tag matching one of its regular expressions as one line.
        run: run subfolder that receives the layout (default ``"train"``).

    Raises:
        TypeError: if ``writers`` is not a :class:`SummaryWriters`, ``categories`` not a dict of
            dicts or ``run`` not a string.
        ValueError: on an empty layout, an empty chart or an invalid regular expression.
    """
    if not isinstance(writers, SummaryWriters):
        raise TypeError(f"writers must be a SummaryWriters; received {type(writers).__name__}.")
    if not isinstance(categories, Mapping) or not all(
        isinstance(charts, Mapping) for charts in categories.values()
    ):
        raise TypeError(
            "categories must be a dict {category: {chart: [tag regex, ...]}}; "
            f"received categories={categories!r}."
        )
    if not isinstance(run, str):
        raise TypeError(f"run must be a run subfolder name such as 'train'; received run={run!r}.")
    if not categories:
        raise ValueError("categories is empty; give {category: {chart: [tag regex, ...]}}.")
    layout = layout_pb2.Layout()
    for category_title, charts in categories.items():
        category = layout.category.add(title=str(category_title))
        for chart_title, tags in charts.items():
            tags = [tags] if isinstance(tags, str) else list(tags)
            if not tags:
                raise ValueError(f"Chart {chart_title!r} of {category_title!r} has no tag regex.")
            for tag in tags:
                try:
                    re.compile(tag)
                except re.error as error:
                    raise ValueError(
                        f"Invalid tag regex {tag!r} in chart {chart_title!r}: {error}"
                    ) from error
            chart = category.chart.add(title=str(chart_title))
            chart.multiline.tag.extend(tags)
    summary_metadata = custom_scalar_metadata.create_summary_metadata()
    with tf.init_scope(), default_summary_writer(writers.writer(run)):
        tf.summary.write(
            tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
            tensor=tf.constant(layout.SerializeToString(), dtype=tf.string),
            step=0,
            metadata=summary_metadata,
        )
