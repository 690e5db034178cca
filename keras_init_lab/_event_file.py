"""One TensorBoard event file written with Python's own file I/O: TensorFlow is not imported.

TensorBoard's ``tensorboard.summary.writer.event_file_writer.EventFileWriter`` opens its file
through ``tensorboard.compat.tf``, which is TensorFlow itself (``tf.io.gfile``) wherever
TensorFlow is installed: the first event file a JAX or PyTorch run opens would import
TensorFlow into it. :class:`EventFileWriter` here has the same constructor and methods and
writes the same file: the same name pattern
(``events.out.tfevents.<unix time>.<host>.<pid>.<serial>``), the same first event
(``file_version="brain.Event:2"``) and the same TFRecord framing (as TensorBoard's
``RecordWriter``: length, masked CRC-32C of the length, data, masked CRC-32C of the data),
through ``open``. The checksums come from ``google-crc32c``'s C extension (its
pure-Python version where the extension is not built): TensorBoard's ``RecordWriter``
computes them byte by byte in Python, ten times the host time of a whole record
(``benchmarks/callbacks.py --kernels``, BENCHMARKS.md). Events are written in the calling
thread into the file's buffer (4 MiB, ``_BUFFER_BYTES``), so there is no queue and no
background flush:
:meth:`EventFileWriter.flush` and :meth:`EventFileWriter.close` reach the disk. A
``logdir`` that is a URL (``gs://``, ``s3://``, ``hdfs://``) needs a file system only
``tf.io.gfile`` provides: it is handed to TensorBoard's writer, which imports TensorFlow
then, as before.

Example:
    >>> from tensorboard.compat.proto import event_pb2
    >>> writer = EventFileWriter("logs/run1/train")
    >>> writer.add_event(event_pb2.Event(step=0, wall_time=0.0))
    >>> writer.close()

Reference:
    TensorBoard's ``tensorboard/summary/writer/event_file_writer.py`` (``EventFileWriter``)
    and ``record_writer.py`` (``RecordWriter``), https://github.com/tensorflow/tensorboard;
    TFRecord format, https://www.tensorflow.org/tutorials/load_data/tfrecord; CRC-32C,
    RFC 3720 section 12.1 (the Castagnoli polynomial).
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time

import google_crc32c
from tensorboard.compat.proto import event_pb2

__all__ = ["EventFileWriter"]

#: Serial number of the files this process opens (the last field of the name), as in
#: TensorBoard's writer; a name already taken (a second file within the same second) moves
#: on to the next serial.
_SERIAL = itertools.count()

#: Bytes of an event file's write buffer: 4 MiB, a design choice. Python's default (8 KiB)
#: is smaller than one record of a mid-sized model (about 15 kB for 69 tags), so every
#: record would be its own file write, whatever the flush policy of the callers
#: (``keras_init_lab._event_writer``); records stay in memory up to this size, as
#: TensorFlow's writer keeps its queue, and a flush writes them at once.
_BUFFER_BYTES = 4 * 2**20

#: What TensorBoard's writer records as the file's writer, for this module.
_SOURCE = "keras_init_lab._event_file"


#: The TFRecord mask of a CRC (``tensorflow/core/lib/hash/crc32c.h``, ``kMaskDelta``): the
#: CRC rotated right by 15 bits plus this constant, so that a CRC of data holding CRCs
#: stays well distributed.
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C of ``data``, as TFRecord files store it.

    Formula: ``crc = CRC-32C(data)`` (Castagnoli polynomial), then
    ``((crc >> 15) | (crc << 17)) + 0xA282EAD8`` modulo ``2^32``.

    Example:
        >>> masked_crc32c(b"")
        2726488792

    Args:
        data: the bytes to checksum.

    Returns:
        The masked checksum, an unsigned 32-bit int.
    """
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class _RecordWriter:
    """TFRecord framing over a binary file: ``length, masked CRC(length), data, masked
    CRC(data)`` (little endian), the records of an event file."""

    def __init__(self, file):
        self._file = file

    def write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(
            header
            + struct.pack("<I", masked_crc32c(header))
            + data
            + struct.pack("<I", masked_crc32c(data))
        )

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


def _is_url(path: str) -> bool:
    """True for ``scheme://...`` paths (``gs://``, ``s3://``...), which need ``tf.io.gfile``."""
    return "://" in path


class EventFileWriter:
    """Write ``Event`` protocol buffers to a new event file in ``logdir``, without TensorFlow.

    The constructor and methods of TensorBoard's own ``EventFileWriter`` (see the module
    docstring for what differs: synchronous writes into the file's buffer, URLs delegated).

    Example:
        >>> writer = EventFileWriter("logs/run1/train")
        >>> writer.add_event(event)                        # doctest: +SKIP
        >>> writer.flush()

    Args:
        logdir: folder of the event file, created if missing.
        max_queue_size: events TensorBoard's writer queues before it flushes; used for a URL
            ``logdir`` only (no queue here).
        flush_secs: period of TensorBoard's background flush; used for a URL ``logdir`` only.
        filename_suffix: appended to the file name.

    Raises:
        OSError: the folder or the file cannot be created.
    """

    def __init__(self, logdir, max_queue_size=10, flush_secs=120, filename_suffix=""):
        self._logdir = str(logdir)
        self._delegate = None
        if _is_url(self._logdir):
            from tensorboard.summary.writer import event_file_writer

            self._delegate = event_file_writer.EventFileWriter(
                self._logdir, max_queue_size, flush_secs, filename_suffix
            )
            return
        os.makedirs(self._logdir, exist_ok=True)
        stem = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
        while True:
            name = os.path.join(self._logdir, f"{stem}.{next(_SERIAL)}{filename_suffix}")
            try:
                file = open(name, "xb", buffering=_BUFFER_BYTES)  # closed by close()
            except FileExistsError:
                continue
            break
        self._file_name = name
        self._records = _RecordWriter(file)
        self.add_event(
            event_pb2.Event(
                wall_time=time.time(),
                file_version="brain.Event:2",
                source_metadata=event_pb2.SourceMetadata(writer=_SOURCE),
            )
        )
        self.flush()

    def get_logdir(self) -> str:
        """The folder of the event file."""
        return self._logdir

    def add_event(self, event) -> None:
        """Append one ``Event`` to the file (in the file's buffer until :meth:`flush`).

        Raises:
            TypeError: ``event`` is not an ``event_pb2.Event``.
        """
        if self._delegate is not None:
            self._delegate.add_event(event)
            return
        if not isinstance(event, event_pb2.Event):
            raise TypeError(f"Expected an event_pb2.Event proto, received {type(event).__name__}.")
        self._records.write(event.SerializeToString())

    def flush(self) -> None:
        """Write every event added so far to the disk."""
        if self._delegate is not None:
            self._delegate.flush()
        elif not self._records.closed:
            self._records.flush()

    def close(self) -> None:
        """Flush and close the file (safe to call twice)."""
        if self._delegate is not None:
            self._delegate.close()
        elif not self._records.closed:
            self._records.flush()
            self._records.close()
