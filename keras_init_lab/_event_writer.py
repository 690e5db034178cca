"""TensorBoard event files without TensorFlow: scalars, precomputed histograms, layouts.

The package's one TensorBoard writer. :class:`EventWriters` builds every record as one
``Summary`` protocol buffer (a float32 scalar tensor per scalar, the histogram plugin's
float64 ``[k, 3]`` table of ``(left edge, right edge, count)`` rows per histogram, the
custom-scalars ``Layout`` as a string tensor), keeps the flush policy and the exit hook, and
hands each record to a *sink*: here an ``EventFileWriter`` as one ``Event``.
:class:`keras_init_lab.callbacks.tensorboard.SummaryWriters` is a subclass whose sink is
TensorFlow's ``tf.summary`` file writer (everything else is inherited from here).

Only ``tensorboard`` and NumPy are imported, and a local file is opened with Python's own
I/O (:class:`keras_init_lab._event_file.EventFileWriter`, the interface of TensorBoard's
writer, which would import TensorFlow wherever it is installed), so the JAX and PyTorch
backends write event files without TensorFlow; a URL (``gs://``, ``s3://``) goes to
TensorBoard's writer and so to ``tf.io.gfile`` where TensorFlow is installed.

Example:
    >>> writers = EventWriters("logs/run1")
    >>> writers.scalar("dense/kernel/gradient_norm", 0.12, step=0)
    >>> writers.histogram("dense/kernel/weights", [0, 1], [1, 2], [3, 4], step=0)
    >>> writers.close()

Flushing: a record reaches the disk when :meth:`EventWriters.flush_if_due` finds that at
least :data:`FLUSH_SECONDS` passed since the last flush (a flush per record costs a file
write per record), when the caller flushes (the callbacks do at epoch end, at train end and
when the step raises), when the writers are closed, and at interpreter exit (an ``atexit``
hook over every live writer), so a record written before an interruption reaches the disk.

Reference:
    TensorBoard's ``tensorboard/summary/writer/event_file_writer.py`` (``EventFileWriter``),
    histogram plugin data format ``tensorboard/plugins/histogram/summary_v2.py``, custom
    scalars ``tensorboard/plugins/custom_scalar/layout.proto``
    (https://github.com/tensorflow/tensorboard).
"""

from __future__ import annotations

import atexit
import math
import os
import re
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from keras_init_lab._event_file import EventFileWriter
from keras_init_lab._validation import check_log_dir

__all__ = ["FLUSH_SECONDS", "EventWriters", "histogram_table"]

#: A run is one plain subfolder of ``log_dir`` (no separator, no ``..``): the writers never
#: write outside their ``log_dir``.
_RUN_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

#: A ``log_dir`` with a scheme (``gs://bucket/logs``, ``s3://...``, ``ram://...``; RFC 3986
#: scheme syntax): kept as a string and joined with ``/``, since ``pathlib.Path`` would fold
#: its ``//`` into one ``/``. Both sinks reach such paths through TensorFlow's file system
#: layer where TensorFlow is installed (``tf.summary``; ``EventFileWriter`` through
#: ``tf.io.gfile``).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

#: Least time between two flushes by :meth:`EventWriters.flush_if_due`, in seconds. A design
#: choice: TensorBoard reloads a run every 5 s by default (``--reload_interval``), so 2 s
#: keeps its view current while a run recorded every step pays one file write per 2 s
#: instead of one per record.
FLUSH_SECONDS = 2.0

#: Events a sink queues in memory before flushing on its own (``EventFileWriter``'s
#: ``max_queue_size``, ``tf.summary``'s ``max_queue``). A record is one event
#: (:meth:`EventWriters.write_batch`), so TensorFlow's default, 10, would flush every 10
#: records; the flushes come from the policy above instead. 10^6 is never reached: a run
#: writes at most one record per step, far fewer than 10^6 in :data:`FLUSH_SECONDS`.
_MAX_QUEUE = 1_000_000

#: A sink's own time-based flush, in seconds: ten minutes, far above :data:`FLUSH_SECONDS`,
#: so that the policy of this module decides (``EventFileWriter``'s ``flush_secs``;
#: ``SummaryWriters`` passes it to ``tf.summary`` in milliseconds).
_SINK_FLUSH_SECONDS = 600

#: The clock of the flush policy (monotonic: a change of the wall clock changes nothing).
#: Tests replace it with a fake clock; the one clock of every writer, ``SummaryWriters``
#: included.
_clock = time.monotonic

#: Every live :class:`EventWriters` (and ``SummaryWriters``); closed at interpreter exit.
_LIVE: weakref.WeakSet = weakref.WeakSet()

#: Whether :func:`_close_live_writers` is registered with ``atexit`` (done when the first
#: event file opens, see :func:`_register_exit_hook`).
_EXIT_HOOK = {"registered": False}


def _close_live_writers() -> None:
    """Flush and close every live writer at interpreter exit.

    Runs also when the program ends on an uncaught ``KeyboardInterrupt`` raised outside the
    train step (e.g. by another callback), where no callback hook runs: what was recorded
    before it reaches the disk. An ``atexit`` hook, not a garbage-collection finalizer (see
    ``keras_init_lab.callbacks.tensorboard``: a finalizer fired during a ``tf.function``
    trace would bake a flush into the traced graph).
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


def _register_exit_hook() -> None:
    """Register :func:`_close_live_writers` with ``atexit``, once, when a first file opens.

    Registered then, not at import, so that it comes after every import the sink needed to
    open its file (TensorFlow for ``SummaryWriters``, and for ``tf.io.gfile`` where it is
    installed): ``atexit`` runs hooks last-registered first, so the writers are closed
    before those modules' own exit hooks run.
    """
    if not _EXIT_HOOK["registered"]:
        atexit.register(_close_live_writers)
        _EXIT_HOOK["registered"] = True


def histogram_table(tag: str, left_edges, right_edges, counts) -> np.ndarray:
    """The histogram plugin's ``[k, 3]`` float64 table of (left edge, right edge, count).

    Formula: ``stack([left_edges, right_edges, counts], axis=1)``.

    Example:
        >>> histogram_table("w", [0, 1], [1, 2], [3, 4]).tolist()
        [[0.0, 1.0, 3.0], [1.0, 2.0, 4.0]]

    Args:
        tag: the tag, named in the error message.
        left_edges: ``[k]`` left bucket edges.
        right_edges: ``[k]`` right bucket edges.
        counts: ``[k]`` counts.

    Returns:
        The ``[k, 3]`` float64 table.

    Raises:
        ValueError: if the three arrays are not of one common non-zero length.
    """
    shapes = [np.shape(left_edges), np.shape(right_edges), np.shape(counts)]
    sizes = {math.prod(shape) for shape in shapes}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            "left_edges, right_edges and counts must have one common non-zero length; "
            f"received {shapes[0]}, {shapes[1]}, {shapes[2]} for tag {tag!r}."
        )
    # Filled column by column: a third of the host time of np.stack over three float64
    # copies, for the dozens of tables of every record.
    table = np.empty((sizes.pop(), 3), dtype=np.float64)
    for column, values in enumerate((left_edges, right_edges, counts)):
        table[:, column] = np.reshape(values, -1)
    return table


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

    Nothing touches the disk until the first value is written to a run, as in Keras's own
    ``TensorBoard`` callback. Every method runs on the host with small arrays (statistics
    and bucket counts), never with whole tensors.

    Subclasses change only the sink, through four methods: ``_open(path)`` returns a new
    writer for the folder ``path``, ``_emit(writer, summary, step)`` writes one ``Summary``,
    ``_flush_sinks(writers)`` and ``_close_sinks(writers)`` flush (and close) a list of them
    (``SummaryWriters`` writes through ``tf.summary``).

    Example:
        >>> writers = EventWriters("logs/run1")
        >>> writers.write_batch(10, {"dense/gradient/norm": 0.5})          # logs/run1/train
        >>> writers.flush_if_due()
        True

    Args:
        log_dir: folder that receives one subfolder per run (``"train"``, ``"validation"``...);
            or a URL such as ``gs://bucket/logs`` (shared storage for a cluster), opened
            through TensorFlow's file system layer where TensorFlow is installed.

    Raises:
        TypeError: ``log_dir`` is not a ``str`` or ``os.PathLike``.
        ValueError: ``log_dir`` is the empty string.
    """

    def __init__(self, log_dir: str | os.PathLike):
        log_dir = os.fspath(check_log_dir("log_dir", log_dir, allow_none=False))
        #: The folder: a ``Path``, or the string itself when it is a URL (:data:`_URL`).
        self.log_dir = log_dir if _URL.match(log_dir) else Path(log_dir)
        self._writers: dict[str, Any] = {}
        # run -> tags whose metadata is already in that run's current event file
        self._described: dict[str, set] = {}
        self._last_flush = -float("inf")  # the first write that asks is flushed at once
        self._pending = False  # a record was held back by flush_if_due
        _LIVE.add(self)

    # ----------------------------------------------------------------- the sink
    def _open(self, path: str) -> EventFileWriter:
        """A new event file in the folder ``path`` (TensorBoard's ``EventFileWriter``)."""
        return EventFileWriter(path, max_queue_size=_MAX_QUEUE, flush_secs=_SINK_FLUSH_SECONDS)

    def _emit(self, writer: EventFileWriter, summary: summary_pb2.Summary, step: int) -> None:
        """Write ``summary`` at ``step`` through ``writer`` as one ``Event``."""
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def _flush_sinks(self, writers: list) -> None:
        """Flush every writer of ``writers`` now."""
        for writer in writers:
            writer.flush()

    def _close_sinks(self, writers: list) -> None:
        """Flush and close every writer of ``writers``."""
        for writer in writers:
            writer.flush()
            writer.close()

    # ----------------------------------------------------------------- public methods
    @property
    def runs(self) -> list[str]:
        """Names of the runs whose writer has been created so far."""
        return sorted(self._writers)

    def writer(self, run: str = "train"):
        """Return the writer of ``run`` (``log_dir/run``), creating it on first use.

        Raises:
            ValueError: ``run`` is not a plain folder name such as ``"train"``.
        """
        if not isinstance(run, str) or not _RUN_NAME.match(run):
            raise ValueError(
                f"run must be a plain folder name such as 'train'; received run={run!r}."
            )
        if run not in self._writers:
            self._described.pop(run, None)  # a new event file: metadata goes again
            if isinstance(self.log_dir, Path):
                path = str(self.log_dir / run)
            else:
                path = f"{self.log_dir.rstrip('/')}/{run}"
            self._writers[run] = self._open(path)
            _register_exit_hook()
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
        float64 of shape ``[k, 3]`` (:func:`histogram_table`), with the histogram plugin's
        summary metadata.

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

        The values are put into one ``Summary`` protocol buffer on the host (what
        ``tf.summary.scalar`` and the histogram plugin write: a float32 scalar tensor, a
        float64 ``[k, 3]`` table) and written by one call of the sink, with no tracing. The
        plugin metadata (and the description) of a tag goes with its first value in each
        event file only, as TensorBoard reads it from there.

        Args:
            step: global step.
            scalars: ``{tag: value}``.
            histograms: ``{tag: (left_edges, right_edges, counts)}``, each ``[k]``.
            run: run subfolder (default ``"train"``).
            descriptions: optional ``{tag: Markdown}`` shown by TensorBoard next to the tag.

        Raises:
            ValueError: a histogram's arrays are not of one length, or ``run`` is not a
                plain folder name.
        """
        scalars = dict(scalars or {})
        histograms = dict(histograms or {})
        descriptions = dict(descriptions or {})
        if not scalars and not histograms:
            return
        described = self._described.get(run, set())  # emptied when a writer (re)opens
        summary = summary_pb2.Summary()

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
        # The writer is created (lazily) only once the values are known to be valid.
        writer = self.writer(run)
        self._described[run] = described
        self._emit(writer, summary, step)
        described.update(scalars)
        described.update(histograms)

    def custom_scalars_layout(
        self, categories: Mapping[str, Mapping[str, Sequence[str]]], run: str = "train"
    ) -> None:
        """Write a custom-scalars layout ``{category: {chart: [tag regex, ...]}}`` to ``run``.

        Each chart draws every scalar tag matching one of its regular expressions as one
        line; TensorBoard merges the layouts of all runs (categories of the same title chart
        by chart), so several callbacks can each write theirs.

        Example:
            >>> writers.custom_scalars_layout(
            ...     {"gradient norm per layer": {"all layers": [r".*/gradient_norm$"]}}
            ... )

        Args:
            categories: ``{category title: {chart title: [tag regex, ...]}}``.
            run: run subfolder that receives the layout (default ``"train"``).

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
        self._emit(self.writer(run), summary, 0)

    def flush(self) -> None:
        """Flush every writer created so far, now."""
        self._flush_sinks(list(self._writers.values()))
        self._last_flush = _clock()
        self._pending = False

    def flush_if_due(self) -> bool:
        """Flush when at least :data:`FLUSH_SECONDS` passed since the last flush.

        The time-based policy: call it after every record; the first call flushes (nothing
        was flushed yet), later ones only once :data:`FLUSH_SECONDS` passed.

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
        """Flush records :meth:`flush_if_due` held back, once :data:`FLUSH_SECONDS` passed.

        Cheap enough for every step (one flag test while nothing is pending, a clock read
        otherwise): callbacks call it when a step begins, so a held-back record reaches the
        disk within about :data:`FLUSH_SECONDS` even if the next record is far away.

        Returns:
            True when it flushed.
        """
        return self._pending and self.flush_if_due()

    def close(self) -> None:
        """Flush and close every writer; a later write reopens them lazily (a new file)."""
        self._close_sinks(list(self._writers.values()))
        self._writers.clear()
        self._last_flush = _clock()
        self._pending = False
        self._described.clear()  # a reopened writer starts a new event file

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(log_dir={str(self.log_dir)!r}, runs={self.runs})"
