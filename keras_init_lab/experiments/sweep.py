"""Run a sweep's grid points so that nothing finished is lost: one run file per finished run,
resumed from on the next call, and the points spread over worker processes on request.

Run files. The moment a run finishes, its ``RunResult`` (the row of ``results.csv``, its
curves and statistics) and the settings of its grid point are written to
``<runs_dir>/<id>.json``, where ``<id>`` is ``GridPoint.id`` (the first 12 hex digits of the
SHA-256 of the point's settings, seed included). The write is atomic: the text goes to a
temporary file in the same folder, is flushed and ``fsync``-ed, then ``os.replace``-d onto
its name (one rename, atomic on POSIX and Windows), so a sweep killed at any moment (SIGKILL
included) leaves either the whole file or none; a killed write leaves at most a hidden
``.<id>.*.tmp`` file, which is ignored and removed by the next sweep on the folder.

Resuming. :func:`run_sweep` reads every ``*.json`` file of ``runs_dir`` first
(:func:`read_run_file`): a point whose file exists is read back, not trained again; a
changed grid trains only its new points (and files of points no longer in the grid stay
where they are). A file that is not JSON, not a run file of this package, whose settings do
not hash to its name, or whose result contradicts its settings raises
:class:`RunFileError` (a ``ValueError``) naming the file: it is never silently reused or
overwritten. One sweep at a time per folder.

Workers. ``workers > 1`` trains the pending points in that many processes started with
``multiprocessing``'s ``"spawn"`` method (TensorFlow is not fork-safe: a forked child
inherits the parent's thread pools in an undefined state). Each worker limits TensorFlow to
``max(1, cores // workers)`` intra-op and inter-op threads (``tf.config.threading``, set
before any op runs), receives the scaled datasets once (when it starts) and trains one point
per task with :func:`training.train_point`, which seeds everything with the point's seed, so
a point's numbers do not depend on the worker or the order. Only the parent writes run
files. As with every ``"spawn"`` pool, a script that calls ``compare(workers=N)`` must do so
under ``if __name__ == "__main__":``.

Ray. ``ray=True`` (or a cluster's address) sends each pending point to Ray as a core task
instead (``experiments._ray``, which says why core tasks and not Ray Tune); the results come
back here and are written to the same run files.

Progress (``verbose >= 1``): one line per finished run (``run k/N: label [time] ->
verdict``, wrapped within 100 columns) and an overall line (done, running, left, elapsed,
ETA). Ctrl-C (``KeyboardInterrupt``) stops the workers, keeps every finished run file and
raises :class:`SweepInterrupted`, which says how many runs are saved and where.

Example:
    >>> finished = run_sweep(points, {"none": data}, runs_dir="logs/c/runs")  # doctest: +SKIP
    >>> [run.verdict_kind for run in finished]                                # doctest: +SKIP

Reference:
    POSIX ``rename(2)`` (atomic replacement of the destination),
    https://pubs.opengroup.org/onlinepubs/9799919799/functions/rename.html ;
    Python, "Contexts and start methods" (``spawn``),
    https://docs.python.org/3/library/multiprocessing.html#contexts-and-start-methods
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pickle
import re
import secrets
import shutil
import signal
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from keras_init_lab import _tags
from keras_init_lab.experiments.grid import ID_LENGTH, GridPoint
from keras_init_lab.experiments.training import RunResult, train_point

__all__ = [
    "RUNS_FOLDER",
    "RUN_FILE_FORMAT",
    "RUN_FILE_VERSION",
    "RunFileError",
    "SweepInterrupted",
    "read_run_file",
    "run_file_path",
    "run_sweep",
    "worker_threads",
    "write_run_file",
]

#: The ``"format"`` value that marks a run file as this package's (a foreign JSON lacks it).
RUN_FILE_FORMAT = "keras-init-lab run"
#: The run file layout's version; a file of a newer version is refused, not misread.
RUN_FILE_VERSION = 1
#: The folder of the run files inside an output folder (``--out``: ``<out>/runs``).
RUNS_FOLDER = "runs"
#: The widest progress line (a terminal of the command line's width, as compare's tables).
LINE_WIDTH = 100
#: ``RunResult`` fields that repeat a setting of the point; a run file whose result
#: disagrees with its settings on one of them is refused.
_CHECKED_FIELDS = (
    "initializer",
    "activation",
    "depth",
    "batchnorm",
    "residual",
    "scaling",
    "batch_size",
    "loss",
    "output_activation",
    "l2",
    "dropout",
)
_TEMP_FILE = re.compile(rf"\.[0-9a-f]{{{ID_LENGTH}}}\..*\.tmp")


class RunFileError(ValueError):
    """A run file that cannot be used (corrupt, foreign, or disagreeing with its id); the
    message names the file and what to do."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: the finished runs are saved in ``runs_dir``; run again to resume.

    Attributes:
        done: runs finished (trained or read back) and saved.
        total: runs in the grid.
        runs_dir: the folder of the run files, or ``None`` (nothing was saved).
    """

    def __init__(self, done: int, total: int, runs_dir: Path | None):
        self.done, self.total, self.runs_dir = done, total, runs_dir
        where = (
            f"saved in {runs_dir}; run the same sweep on that folder again to resume"
            if runs_dir is not None
            else "not saved (no output folder was given)"
        )
        super().__init__(f"sweep interrupted: {done} of {total} runs finished, {where}.")


# ------------------------------------------------------------------------------ run files


def run_file_path(runs_dir: str | os.PathLike, point: GridPoint) -> Path:
    """``<runs_dir>/<point.id>.json``: where the point's finished run is written."""
    return Path(runs_dir) / f"{point.id}.json"


def _plain(value):
    """``value`` with NumPy scalars and tuples made plain Python (NaN and inf kept)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dumps(document: dict) -> str:
    # allow_nan: a diverged run's NaN loss and an overflowed variance's inf are results; Python's
    # json writes them as the tokens NaN / Infinity and reads them back exactly (results.json,
    # for other readers, still writes them as null).
    return json.dumps(document, indent=1, allow_nan=True)


def write_run_file(runs_dir: str | os.PathLike, point: GridPoint, result: RunResult) -> Path:
    """Write one finished run to ``<runs_dir>/<point.id>.json`` atomically; return the path.

    The document is ``{"format": RUN_FILE_FORMAT, "version": RUN_FILE_VERSION, "id",
    "settings": point.settings(), "result": result.to_dict()}``. The text goes to a temporary
    file in the same folder, flushed and ``fsync``-ed, then ``os.replace``-d onto the name,
    and the folder is ``fsync``-ed where the platform allows (POSIX), so the rename itself
    survives a power cut.

    Example:
        >>> write_run_file("logs/c/runs", point, result)                  # doctest: +SKIP
        PosixPath('logs/c/runs/3f2a9c01b7de.json')

    Args:
        runs_dir: the folder of the run files (created if missing).
        point: the grid point that ran.
        result: its ``RunResult``.

    Returns:
        The run file's path.
    """
    folder = Path(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "format": RUN_FILE_FORMAT,
        "version": RUN_FILE_VERSION,
        "id": point.id,
        "settings": point.settings(),
        "result": _plain(result.to_dict()),
    }
    text = _dumps(document)
    path = run_file_path(folder, point)
    temp = folder / f".{point.id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # 0o666 less the umask, as open() gives every other file (mkstemp would give 0o600).
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); Windows cannot open a folder, and needs not."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _settings_id(settings: dict) -> str:
    """``GridPoint.id``'s formula applied to a stored ``settings`` dict."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


def read_run_file(path: str | os.PathLike) -> tuple[dict, RunResult]:
    """Read and check one run file; return ``(settings, result)``.

    Checks, in order: the file is JSON; it is a run file of this package
    (``"format": RUN_FILE_FORMAT``) of a version this one reads; its name is its ``"id"``;
    the SHA-256 of its settings (``GridPoint.id``'s formula) is that id; its result's fields
    are ``RunResult``'s and agree with the settings (initializer, activation, depth, ...).

    Example:
        >>> settings, result = read_run_file("logs/c/runs/3f2a9c01b7de.json")  # doctest: +SKIP

    Args:
        path: a ``<id>.json`` file written by :func:`write_run_file`.

    Returns:
        The stored settings (``GridPoint.settings()``) and the ``RunResult``.

    Raises:
        RunFileError: (a ``ValueError``) naming the file and the first check it fails.
    """
    path = Path(path)
    fix = f"move it out of {path.parent} (or delete it) and run the sweep again"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RunFileError(
            f"run file {path} is corrupt (not readable JSON: {error}); {fix}."
        ) from error
    if not isinstance(document, dict) or document.get("format") != RUN_FILE_FORMAT:
        raise RunFileError(
            f'{path} is not a keras-init-lab run file (no "format": {RUN_FILE_FORMAT!r}); '
            f"only run files belong in {path.parent}: {fix}."
        )
    version = document.get("version")
    if version != RUN_FILE_VERSION:
        raise RunFileError(
            f"run file {path} has version {version!r}; this keras-init-lab reads version "
            f"{RUN_FILE_VERSION}; {fix}."
        )
    settings, stored_id = document.get("settings"), document.get("id")
    if stored_id != path.stem:
        raise RunFileError(
            f"run file {path} says its id is {stored_id!r}, but its name says {path.stem!r}; {fix}."
        )
    if not isinstance(settings, dict) or _settings_id(settings) != stored_id:
        actual = _settings_id(settings) if isinstance(settings, dict) else None
        raise RunFileError(
            f"the settings in run file {path} disagree with its id {stored_id!r} (they hash "
            f"to {actual!r}): the file was edited or belongs to another point; {fix}."
        )
    try:
        result = RunResult.from_dict(document.get("result"))
    except TypeError as error:
        raise RunFileError(f"run file {path} holds no valid RunResult ({error}); {fix}.") from error
    for name in _CHECKED_FIELDS:
        stored, expected = getattr(result, name), settings.get(name)
        if name in ("l2", "dropout") and isinstance(stored, (int, float)):
            stored = float(stored)
        if stored != expected:
            raise RunFileError(
                f"run file {path}: its result's {name}={stored!r} disagrees with its settings' "
                f"{name}={expected!r}; {fix}."
            )
    return settings, result


def _read_folder(runs_dir: Path) -> dict[str, RunResult]:
    """Every run file of ``runs_dir`` checked, ``{id: result}``; stale temporary files removed."""
    found = {}
    if not runs_dir.is_dir():
        return found
    for path in sorted(runs_dir.iterdir()):
        if _TEMP_FILE.fullmatch(path.name):  # a write killed before its rename
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if path.suffix != ".json":
            continue
        _, result = read_run_file(path)
        found[path.stem] = result
    return found


# ------------------------------------------------------------------------------- progress


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _Progress:
    """The sweep's progress lines: one per finished run and an overall line after it."""

    def __init__(self, total: int, read_back: int, workers: int, verbose: int, write=print):
        self.total, self.read_back, self.workers = total, read_back, workers
        self.verbose, self.write = verbose, write
        self.trained = 0
        self.started = time.perf_counter()

    def _print(self, text: str, indent: str = "", subsequent: str = "    ") -> None:
        lines = textwrap.wrap(
            text,
            LINE_WIDTH,
            initial_indent=indent,
            subsequent_indent=subsequent,
            break_on_hyphens=False,
        )
        self.write("\n".join(lines), flush=True)

    def start(self, runs_dir: Path | None) -> None:
        if self.verbose and self.read_back:
            left = self.total - self.read_back
            self._print(
                f"resuming: {self.read_back} of {self.total} runs read back from {runs_dir}; "
                f"{left} to train"
            )

    def overall(self, running: int) -> str:
        """``"3/8 done (2 read back), 2 running, 3 left; elapsed 40 s, ETA 1 min 10 s"``.

        Formula: ETA = (running + left) x elapsed / trained, the runs still to finish at the
        rate the runs of this call finished (read-back runs take no time and do not count).
        """
        done = self.read_back + self.trained
        left = self.total - done - running
        elapsed = time.perf_counter() - self.started
        remaining = running + left
        if remaining == 0:
            eta = "0 s"
        elif self.trained == 0:
            eta = "? (no run finished yet)"
        else:
            eta = _duration(remaining * elapsed / self.trained)
        again = f" ({self.read_back} read back)" if self.read_back else ""
        return (
            f"{done}/{self.total} done{again}, {running} running, {left} left; "
            f"elapsed {_duration(elapsed)}, ETA {eta}"
        )

    def finished(self, point: GridPoint, result: RunResult, running: int) -> None:
        self.trained += 1
        if not self.verbose:
            return
        seconds = "-" if result.seconds is None else _duration(result.seconds)
        self._print(
            f"run {point.index}/{self.total}: {point.label} [{seconds}] -> {result.verdict}"
        )
        self._print(self.overall(running), indent="  ", subsequent="    ")


# -------------------------------------------------------------------------------- workers

#: The scaled datasets of a worker process, ``{scaling: Dataset}``, set once when it starts.
_WORKER_DATA: dict = {}


def worker_threads(workers: int, cores: int | None = None) -> int:
    """TensorFlow threads per worker: its share of the cores, at least 1.

    Formula: ``max(1, cores // workers)``, ``cores`` the CPUs this process may run on
    (``os.sched_getaffinity`` where available, else ``os.cpu_count()``).

    Example:
        >>> worker_threads(2, cores=8), worker_threads(4, cores=2)
        (4, 1)
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
    return max(1, cores // workers)


def _init_worker(threads: int, datasets: dict) -> None:
    """A worker's start: Ctrl-C is the parent's to handle; TensorFlow's threads limited.

    TensorFlow's start-up lines (absl, oneDNN, "failed call to cuInit" on a CPU-only machine)
    would print once per worker: they go to a temporary file while TensorFlow loads and probes
    its devices, replayed if that fails (``KERAS_INIT_LAB_VERBOSE=1`` shows them, as for the
    command line).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Read by TensorFlow when its runtime starts; tf.config.threading below is the documented
    # call and needs the runtime not started yet (nothing has imported TensorFlow here).
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    quiet = os.environ.get("KERAS_INIT_LAB_VERBOSE", "").strip() in ("", "0")  # as the CLI
    with _stderr_to_file() if quiet else contextlib.nullcontext():
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.config.list_physical_devices()  # the device probe, where cuInit complains
    _WORKER_DATA.clear()
    _WORKER_DATA.update(datasets)


@contextlib.contextmanager
def _stderr_to_file():
    """File descriptor 2 (where TensorFlow's C++ logging writes) to a temporary file; its text
    is written back to stderr if the block raises."""
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            os.write(2, sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _thread_limits() -> tuple[int, int]:
    """The (intra-op, inter-op) thread limits TensorFlow has in this process."""
    import tensorflow as tf

    return (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


def _train_in_worker(point: GridPoint, log_dir, verbose: int) -> RunResult:
    import keras

    try:
        return train_point(point, _WORKER_DATA[point.scaling], log_dir=log_dir, verbose=verbose)
    finally:
        keras.backend.clear_session()


def _check_picklable(points: Sequence[GridPoint], workers: int) -> None:
    for point in points:
        try:
            pickle.dumps(point)
        except Exception as error:  # noqa: BLE001 - any pickling failure means the same
            raise ValueError(
                f"workers={workers} sends each grid point to a worker process, and point "
                f"{point.label!r} cannot be pickled ({type(error).__name__}: {error}); its "
                f"optimizer={point.optimizer!r} is the usual cause: pass optimizer names "
                f"(sgd, momentum, rmsprop, adam, adamw) or use workers=1."
            ) from error


def _stop(executor: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the worker processes now (Ctrl-C)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=10)


# ---------------------------------------------------------------------------------- sweep


def _tensorboard_folder(log_dir: Path | None, point: GridPoint, claimed: set) -> Path | None:
    """The run's TensorBoard folder, ``<log_dir>/<_tags.run_name(point)>``, emptied of a
    killed attempt.

    A folder no run file names holds events of an attempt that did not finish: it is removed,
    so the new run's curves are not drawn over them. A folder a finished run of other settings
    names (the same label and position, e.g. other epochs) is kept; this run gets
    ``<name>_<id>``.
    """
    if log_dir is None:
        return None
    name = _tags.run_name(point)
    folder = log_dir / name
    if os.path.abspath(folder) in claimed:
        return log_dir / f"{name}_{point.id}"
    if folder.is_dir():
        shutil.rmtree(folder)
    return folder


def run_sweep(
    points: Sequence[GridPoint],
    datasets: Mapping[str, object],
    runs_dir: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    workers: int = 1,
    verbose: int = 1,
    write=print,
    ray=None,
) -> list[RunResult]:
    """Train every point not yet finished in ``runs_dir``; return every point's result.

    Args:
        points: the grid (``GridAxes.points``), each with a distinct ``id``.
        datasets: ``{scaling: Dataset}``, the data of each ``point.scaling``, already scaled.
        runs_dir: the folder of the run files (read back first, one file written per finished
            run), or ``None``: nothing read or written.
        log_dir: the TensorBoard root (each run writes ``<log_dir>/<_tags.run_name(point)>``),
            or ``None``.
        workers: processes that train at once (1: this process, in grid order).
        verbose: 0 silent; 1 the progress lines; 2 also Keras's line per epoch.
        write: ``print``-like function for the progress lines.
        ray: ``None``: local; ``True`` or a Ray address: each pending point is a Ray
            core task (``experiments._ray``), ``workers`` ignored; the run files are still
            written here.

    Returns:
        One ``RunResult`` per point, in grid order; read-back runs carry the current grid's
        position and label (``run``, ``label``), everything else as stored.

    Raises:
        RunFileError: a run file of ``runs_dir`` is corrupt, foreign or contradicts its id.
        ValueError: ``workers > 1`` and a point cannot be pickled (an optimizer factory).
        SweepInterrupted: Ctrl-C; every finished run is saved.
    """
    ids = [point.id for point in points]
    if len(set(ids)) != len(ids):
        twice = [p.label for p in points if ids.count(p.id) > 1]
        raise ValueError(
            f"the grid has points with the same settings, which would be one run file: "
            f"{', '.join(map(repr, twice))}; list each axis value once."
        )
    runs_dir = None if runs_dir is None else Path(runs_dir)
    log_dir = None if log_dir is None else Path(log_dir)
    stored = {} if runs_dir is None else _read_folder(runs_dir)
    claimed = {os.path.abspath(r.log_dir) for r in stored.values() if r.log_dir}
    results: dict[str, RunResult] = {}
    for point in points:
        if point.id in stored:
            results[point.id] = dataclasses.replace(
                stored[point.id], run=point.index, label=point.label
            )
    pending = [point for point in points if point.id not in results]
    workers = max(1, min(workers, len(pending))) if pending else 1
    progress = _Progress(len(points), len(results), workers, verbose, write)
    progress.start(runs_dir)
    fit_verbose = 2 if verbose >= 2 else 0

    def finish(point: GridPoint, result: RunResult, running: int) -> None:
        if runs_dir is not None:
            write_run_file(runs_dir, point, result)
        # What a resumed sweep reads back: plain Python values, NaN and inf kept.
        results[point.id] = RunResult.from_dict(json.loads(_dumps(_plain(result.to_dict()))))
        progress.finished(point, result, running)

    try:
        if ray is not None and pending:
            from keras_init_lab.experiments._ray import run_on_ray

            folders = {p.id: _tensorboard_folder(log_dir, p, claimed) for p in pending}
            run_on_ray(pending, datasets, folders, fit_verbose, finish, address=ray)
        elif workers == 1:
            import keras

            for point in pending:
                folder = _tensorboard_folder(log_dir, point, claimed)
                result = train_point(
                    point, datasets[point.scaling], log_dir=folder, verbose=fit_verbose
                )
                keras.backend.clear_session()
                finish(point, result, running=0)
        else:
            _run_in_workers(pending, datasets, workers, log_dir, claimed, fit_verbose, finish)
    except KeyboardInterrupt as interrupt:
        stopped = SweepInterrupted(len(results), len(points), runs_dir)
        if verbose:
            progress._print(str(stopped))
        raise stopped from interrupt
    return [results[point.id] for point in points]


def _run_in_workers(pending, datasets, workers, log_dir, claimed, fit_verbose, finish) -> None:
    _check_picklable(pending, workers)
    folders = {point.id: _tensorboard_folder(log_dir, point, claimed) for point in pending}
    executor = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(worker_threads(workers), dict(datasets)),
    )
    try:
        futures = {
            executor.submit(_train_in_worker, point, folders[point.id], fit_verbose): point
            for point in pending
        }
        waiting = set(futures)
        while waiting:
            done, waiting = concurrent.futures.wait(
                waiting, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in sorted(done, key=lambda f: futures[f].index):
                finish(futures[future], future.result(), running=min(workers, len(waiting)))
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)
