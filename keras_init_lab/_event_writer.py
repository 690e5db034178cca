"""TensorBoard event files without TensorFlow: scalars, precomputed histograms, layouts.

:class:`EventWriters` has the public methods of
:class:`keras_init_lab.callbacks.tensorboard.SummaryWriters` (same names, same arguments,
same flush policy), so a callback can write through either; it builds the same ``Summary``
protocol buffers (a float32 scalar tensor per scalar, the histogram plugin's float64
``[k, 3]`` table of ``(left edge, right edge, count)`` rows per histogram, the
custom-scalars ``Layout`` as a string tensor) and hands each record as one ``Event`` to an
``EventFileWriter``. Only ``tensorboard`` and NumPy are imported, and the file is opened with
Python's own I/O (:class:`keras_init_lab._event_file.EventFileWriter`, the interface of
TensorBoard's writer, which would import TensorFlow wherever it is installed), so the JAX
and PyTorch backends write event files without TensorFlow.

Example:
    >>> writers = EventWriters("logs/run1")
    >>> writers.scalar("dense/kernel/gradient_norm", 0.12, step=0)
    >>> writers.histogram("dense/kernel/weights", [0, 1], [1, 2], [3, 4], step=0)
    >>> writers.close()

Reference:
    TensorBoard's ``tensorboard/summary/writer/event_file_writer.py`` (``EventFileWriter``),
    histogram plugin data format ``tensorboard/plugins/histogram/summary_v2.py``, custom
    scalars ``tensorboard/plugins/custom_scalar/layout.proto``
    (https://github.com/tensorflow/tensorboard).
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
from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from keras_init_lab._event_file import EventFileWriter
from keras_init_lab._validation import check_log_dir

__all__ = ["FLUSH_SECONDS", "EventWriters", "histogram_table"]

_RUN_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

#: Least time between two flushes by :meth:`EventWriters.flush_if_due`, in seconds: the
#: policy of ``SummaryWriters`` (``keras_init_lab.callbacks.tensorboard.FLUSH_SECONDS``,
#: checked equal by the tests): TensorBoard reloads a run every 5 s by default
#: (``--reload_interval``), so 2 s keeps its view current at one file write per 2 s.
FLUSH_SECONDS = 2.0

#: Events ``EventFileWriter`` queues before its own flush; never reached (one event per
#: record, far fewer than 10^6 records in :data:`FLUSH_SECONDS`): this module's policy decides.
_MAX_QUEUE = 1_000_000

#: ``EventFileWriter``'s background flush period, in seconds: ten minutes, far above
#: :data:`FLUSH_SECONDS`, so the policy of this module decides (as ``SummaryWriters`` does).
_FLUSH_SECS = 600

#: The clock of the flush policy (monotonic). Tests replace it with a fake clock.
_clock = time.monotonic

#: Every live :class:`EventWriters`; flushed and closed at interpreter exit.
_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_live_writers() -> None:
    """Flush and close every live :class:`EventWriters` at interpreter exit."""
    for writers in list(_LIVE):
        try:
            writers.close()
        except Exception as error:  # keep closing the others; say which one failed
            warnings.warn(
                f"Could not flush the TensorBoard event files under {writers.log_dir}: {error}",
                RuntimeWarning,
                stacklevel=1,
            )


def histogram_table(tag: str, left_edges, right_edges, counts) -> np.ndarray:
    """The histogram plugin's ``[k, 3]`` float64 table of (left edge, right edge, count).

    Formula: ``stack([left_edges, right_edges, counts], axis=1)``.

    Example:
        >>> histogram_table("w", [0, 1], [1, 2], [3, 4]).tolist()
        [[0.0, 1.0, 3.0], [1.0, 2.0, 4.0]]

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


def _layout_proto(categories) -> layout_pb2.Layout:
    """Validate ``{category: {chart: [tag regex, ...]}}`` and build the ``Layout`` proto."""
    if not isinstance(categories, Mapping) or not all(
        isinstance(charts, Mapping) for charts in categories.values()
    ):
        raise TypeError(
            "categories must be a dict {category: {chart: [tag regex, ...]}}; "
            f"received categories={categories!r}."
        )
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
    return layout


class EventWriters:
    """Lazily created TensorBoard event-file writers, one per run subfolder of ``log_dir``.

    The TensorFlow-free twin of ``SummaryWriters`` (same methods and arguments). Nothing
    touches the disk until the first value is written to a run. Every method runs on the
    host with small arrays (statistics and bucket counts).

    Example:
        >>> writers = EventWriters("logs/run1")
        >>> writers.write_batch(10, {"dense/gradient/norm": 0.5})          # logs/run1/train
        >>> writers.flush_if_due()
        True

    Args:
        log_dir: folder that receives one subfolder per run (``"train"``, ``"validation"``...).

    Raises:
        TypeError: ``log_dir`` is not a ``str`` or ``os.PathLike``.
        ValueError: ``log_dir`` is the empty string.
    """

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = Path(check_log_dir("log_dir", log_dir, allow_none=False))
        self._writers: dict[str, EventFileWriter] = {}
        # run -> tags whose metadata is already in that run's current event file
        self._described: dict[str, set] = {}
        self._last_flush = -float("inf")  # the first write that asks is flushed at once
        self._pending = False  # a record was held back by flush_if_due
        _LIVE.add(self)

    @property
    def runs(self) -> list[str]:
        """Names of the runs whose writer has been created so far."""
        return sorted(self._writers)

    def writer(self, run: str = "train") -> EventFileWriter:
        """Return the writer of ``run`` (``log_dir/run``), creating it on first use."""
        if not isinstance(run, str) or not _RUN_NAME.match(run):
            raise ValueError(
                f"run must be a plain folder name such as 'train'; received run={run!r}."
            )
        if run not in self._writers:
            self._described.pop(run, None)  # a new event file: metadata goes again
            self._writers[run] = EventFileWriter(
                str(self.log_dir / run), max_queue_size=_MAX_QUEUE, flush_secs=_FLUSH_SECS
            )
        return self._writers[run]

    def _add(self, run: str, summary: summary_pb2.Summary, step: int) -> None:
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        self.writer(run).add_event(event)

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
        """Write precomputed buckets as a TensorBoard histogram (see :func:`histogram_table`).

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

        The values go into one ``Summary`` (a float32 scalar tensor per scalar, a float64
        ``[k, 3]`` table per histogram) with the plugin metadata (and description) of a
        tag on its first value in each event file only, where TensorBoard reads it.

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
        summary = summary_pb2.Summary()

        def entry(tag, metadata_module):
            value = summary.value.add(tag=tag)
            if tag not in described:
                value.metadata.CopyFrom(
                    metadata_module.create_summary_metadata(
                        display_name=None, description=descriptions.get(tag, "")
                    )
                )
            return value.tensor

        for tag, value in scalars.items():
            tensor = entry(tag, scalar_metadata)
            tensor.dtype = types_pb2.DT_FLOAT
            tensor.float_val.append(float(value))
        for tag, (left, right, count) in histograms.items():
            table = histogram_table(tag, left, right, count)
            tensor = entry(tag, histogram_metadata)
            tensor.dtype = types_pb2.DT_DOUBLE
            tensor.tensor_shape.dim.add(size=table.shape[0])
            tensor.tensor_shape.dim.add(size=3)
            tensor.tensor_content = table.astype("<f8").tobytes()
        self._add(run, summary, step)  # creates the writer only once the values are valid
        self._described[run] = described
        described.update(scalars)
        described.update(histograms)

    def custom_scalars_layout(
        self, categories: Mapping[str, Mapping[str, Sequence[str]]], run: str = "train"
    ) -> None:
        """Write a custom-scalars layout ``{category: {chart: [tag regex, ...]}}`` to ``run``.

        Each chart draws every scalar tag matching one of its regular expressions as one
        line; TensorBoard merges the layouts of all runs.

        Raises:
            TypeError: ``categories`` is not a dict of dicts, or ``run`` not a string.
            ValueError: an empty layout, an empty chart or an invalid regular expression.
        """
        if not isinstance(run, str):
            raise TypeError(
                f"run must be a run subfolder name such as 'train'; received run={run!r}."
            )
        layout = _layout_proto(categories)
        summary = summary_pb2.Summary()
        value = summary.value.add(tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG)
        value.metadata.CopyFrom(custom_scalar_metadata.create_summary_metadata())
        value.tensor.dtype = types_pb2.DT_STRING
        value.tensor.string_val.append(layout.SerializeToString())
        self._add(run, summary, 0)

    def flush(self) -> None:
        """Flush every writer created so far, now."""
        for writer in self._writers.values():
            writer.flush()
        self._last_flush = _clock()
        self._pending = False

    def flush_if_due(self) -> bool:
        """Flush when at least :data:`FLUSH_SECONDS` passed since the last flush.

        Returns:
            True when it flushed.
        """
        if _clock() - self._last_flush < FLUSH_SECONDS:
            self._pending = True
            return False
        self.flush()
        return True

    def flush_pending_if_due(self) -> bool:
        """Flush records :meth:`flush_if_due` held back, once :data:`FLUSH_SECONDS` passed.

        Returns:
            True when it flushed.
        """
        return self._pending and self.flush_if_due()

    def close(self) -> None:
        """Flush and close every writer; a later write reopens them lazily (a new file)."""
        for writer in self._writers.values():
            writer.flush()
            writer.close()
        self._writers.clear()
        self._last_flush = _clock()
        self._pending = False
        self._described.clear()

    def __enter__(self) -> EventWriters:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventWriters(log_dir={str(self.log_dir)!r}, runs={self.runs})"
