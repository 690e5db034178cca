"""EventWriters: TensorBoard event files without TensorFlow, the twin of SummaryWriters.

Read back with TensorBoard's own ``EventAccumulator``: in a child process where importing
TensorFlow is blocked (as on a machine without it: ``tensorboard`` then uses its stub), and
here next to ``SummaryWriters`` on the same records.
"""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_init_lab import _event_writer
from keras_init_lab._event_writer import EventWriters

# Runs under every KERAS_BACKEND (tests/conftest.py, .ci/run's JAX step).
pytestmark = pytest.mark.backend_agnostic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The child: TensorFlow's import blocked, write a record and a layout, read them back.
_CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError(f"{name} is blocked: this process runs without TensorFlow")

    sys.meta_path.insert(0, BlockTensorFlow())

    from keras_init_lab._event_writer import EventWriters
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata
    from tensorboard.util import tensor_util

    log_dir = sys.argv[1]
    with EventWriters(log_dir) as writers:
        writers.custom_scalars_layout({"Norms": {"every layer": [r"^.*/gradient/norm$"]}})
        for step in (0, 5):
            writers.write_batch(
                step,
                {"dense/gradient/norm": 0.25 * (step + 1), "dense/update/ratio": float("nan")},
                {"dense/kernel/weights": ([-1.0, 0.0], [0.0, 1.0], [3 + step, 4])},
                descriptions={"dense/gradient/norm": "L2 norm of the gradient"},
            )
    accumulator = event_accumulator.EventAccumulator(
        log_dir + "/train", size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()

    def read(tag):
        return [
            [e.step, tensor_util.make_ndarray(e.tensor_proto).tolist()]
            for e in accumulator.Tensors(tag)
        ]

    layout = layout_pb2.Layout.FromString(read(metadata.CONFIG_SUMMARY_TAG)[0][1])
    print(json.dumps({
        "norm": read("dense/gradient/norm"),
        "ratio": [[s, repr(v)] for s, v in read("dense/update/ratio")],
        "weights": read("dense/kernel/weights"),
        "description": accumulator.SummaryMetadata("dense/gradient/norm").summary_description,
        "plugin": accumulator.SummaryMetadata("dense/kernel/weights").plugin_data.plugin_name,
        "layout": [c.title for c in layout.category],
        "regex": list(layout.category[0].chart[0].multiline.tag),
        "tensorflow": sorted(
            n for n, m in sys.modules.items()
            if m is not None and (n == "tensorflow" or n.startswith("tensorflow."))
        ),
    }))
    """
)


def test_events_read_back_without_tensorflow(tmp_path):
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    )
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["tensorflow"] == []  # never imported
    assert got["norm"] == [[0, 0.25], [5, 1.5]]  # dyadic: exact in float32
    assert got["ratio"] == [[0, "nan"], [5, "nan"]]  # NaN is kept, not dropped
    assert got["weights"] == [
        [0, [[-1.0, 0.0, 3.0], [0.0, 1.0, 4.0]]],
        [5, [[-1.0, 0.0, 8.0], [0.0, 1.0, 4.0]]],
    ]
    assert got["description"] == "L2 norm of the gradient"
    assert got["plugin"] == "histograms"
    assert got["layout"] == ["Norms"]
    assert got["regex"] == [r"^.*/gradient/norm$"]


#: The public interface of ``SummaryWriters`` (frozen: callbacks, users and the README call
#: it): every method's parameters as ``(name, kind, default)``.
_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
_EMPTY = inspect.Parameter.empty
_FROZEN = {
    "writer": [("run", _POSITIONAL, "train")],
    "scalar": [
        ("tag", _POSITIONAL, _EMPTY),
        ("value", _POSITIONAL, _EMPTY),
        ("step", _POSITIONAL, _EMPTY),
        ("run", _POSITIONAL, "train"),
    ],
    "scalars": [
        ("values", _POSITIONAL, _EMPTY),
        ("step", _POSITIONAL, _EMPTY),
        ("run", _POSITIONAL, "train"),
    ],
    "histogram": [
        ("tag", _POSITIONAL, _EMPTY),
        ("left_edges", _POSITIONAL, _EMPTY),
        ("right_edges", _POSITIONAL, _EMPTY),
        ("counts", _POSITIONAL, _EMPTY),
        ("step", _POSITIONAL, _EMPTY),
        ("run", _POSITIONAL, "train"),
        ("description", _POSITIONAL, None),
    ],
    "write_batch": [
        ("step", _POSITIONAL, _EMPTY),
        ("scalars", _POSITIONAL, None),
        ("histograms", _POSITIONAL, None),
        ("run", _POSITIONAL, "train"),
        ("descriptions", _POSITIONAL, None),
    ],
    "custom_scalars_layout": [
        ("categories", _POSITIONAL, _EMPTY),
        ("run", _POSITIONAL, "train"),
    ],
    "flush": [],
    "flush_if_due": [],
    "flush_pending_if_due": [],
    "close": [],
    "__enter__": [],
    "__exit__": [("exc_info", inspect.Parameter.VAR_POSITIONAL, _EMPTY)],
}


def _parameters(method):
    return [
        (p.name, p.kind, p.default) for p in list(inspect.signature(method).parameters.values())[1:]
    ]


def test_one_writer_with_the_frozen_interface(tmp_path):
    """SummaryWriters is EventWriters with another sink: every public method is inherited
    (one implementation), with the names and parameters it always had; the tensorboard
    module keeps no constant, clock or registry of its own (``monkeypatch.setattr`` of its
    ``_clock`` raises instead of silently patching a clock nobody reads)."""
    pytest.importorskip("tensorflow")
    from keras_init_lab.callbacks import tensorboard

    summary_writers = tensorboard.SummaryWriters
    assert issubclass(summary_writers, EventWriters)
    public = {
        name
        for name, member in vars(EventWriters).items()
        if callable(member) and (not name.startswith("_") or name in ("__enter__", "__exit__"))
    }
    assert public == set(_FROZEN)
    for name, parameters in _FROZEN.items():
        assert _parameters(getattr(summary_writers, name)) == parameters, name
        assert getattr(summary_writers, name) is getattr(EventWriters, name), name
    assert isinstance(vars(EventWriters)["runs"], property) and "runs" not in vars(summary_writers)
    assert tensorboard.FLUSH_SECONDS is _event_writer.FLUSH_SECONDS
    for private in ("_clock", "_LIVE", "_RUN_NAME", "_histogram_table", "_close_live_writers"):
        assert not hasattr(tensorboard, private), private
    # The tf.summary sink: writer() hands out TensorFlow's own writer, as it always did.
    import tensorflow as tf

    writers = summary_writers(tmp_path)
    assert isinstance(writers.writer("train"), tf.summary.SummaryWriter)
    writers.close()


def _read_all(run_dir):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return {
        tag: (
            [
                (e.step, tensor_util.make_ndarray(e.tensor_proto).tolist())
                for e in accumulator.Tensors(tag)
            ],
            accumulator.SummaryMetadata(tag).SerializeToString(),
        )
        for tag in accumulator.Tags()["tensors"]
    }


def _tensorflow_reference(run_dir, layout, records, descriptions):
    """The same records written with TensorFlow's own summary ops, value by value:
    ``tf.summary.scalar``, and ``tf.summary.write`` with the histogram and custom-scalars
    plugins' metadata (how TensorBoard's plugins write them)."""
    import tensorflow as tf
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
    from tensorboard.plugins.histogram import metadata as histogram_metadata

    proto = layout_pb2.Layout()
    for category_title, charts in layout.items():
        category = proto.category.add(title=category_title)
        for chart_title, tags in charts.items():
            category.chart.add(title=chart_title).multiline.tag.extend(tags)
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        tf.summary.write(
            custom_scalar_metadata.CONFIG_SUMMARY_TAG,
            tf.constant(proto.SerializeToString()),
            step=0,
            metadata=custom_scalar_metadata.create_summary_metadata(),
        )
        for step, scalars, histograms in records:
            for tag, value in scalars.items():
                tf.summary.scalar(tag, value, step=step, description=descriptions.get(tag))
            for tag, (left, right, count) in histograms.items():
                table = np.stack([left, right, count], axis=1).astype(np.float64)
                metadata = histogram_metadata.create_summary_metadata(
                    display_name=None, description=descriptions.get(tag, "")
                )
                tf.summary.write(tag, tf.constant(table), step=step, metadata=metadata)
    writer.close()


def test_same_events_as_tensorflows_own_summary_ops(tmp_path):
    """What TensorBoard reads (values, steps, plugin metadata, descriptions) is the same
    through either sink, and the same as TensorFlow's own summary ops write."""
    pytest.importorskip("tensorflow")
    from keras_init_lab.callbacks.tensorboard import SummaryWriters

    rng = np.random.default_rng(0)
    edges = np.linspace(-1, 1, 6)
    records = [
        (
            step,
            {"a/gradient/norm": float(rng.normal()), "a/kernel/update_ratio": 1e-3},
            {"a/kernel/weights": (edges[:-1], edges[1:], rng.integers(0, 9, 5))},
        )
        for step in (0, 3, 7)
    ]
    layout = {"Update ratio": {"every layer": [r"^a/.*update_ratio$"]}}
    descriptions = {"a/gradient/norm": "norm"}
    for cls, folder in ((SummaryWriters, "tf"), (EventWriters, "plain")):
        with cls(tmp_path / folder) as writers:
            writers.custom_scalars_layout(layout)
            for step, scalars, histograms in records:
                writers.write_batch(step, scalars, histograms, descriptions=descriptions)
    _tensorflow_reference(tmp_path / "reference" / "train", layout, records, descriptions)
    reference = _read_all(tmp_path / "reference" / "train")
    assert len(reference) == 4  # two scalars, one histogram, the layout
    assert _read_all(tmp_path / "plain" / "train") == reference
    assert _read_all(tmp_path / "tf" / "train") == reference


def test_flush_policy(tmp_path, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(_event_writer, "_clock", lambda: now[0])
    writers = EventWriters(tmp_path)
    writers.scalar("x", 1.0, step=0)
    assert writers.flush_if_due()  # the first one flushes
    writers.scalar("x", 2.0, step=1)
    now[0] += _event_writer.FLUSH_SECONDS / 2
    assert not writers.flush_if_due()  # held back
    assert not writers.flush_pending_if_due()
    now[0] += _event_writer.FLUSH_SECONDS / 2
    assert writers.flush_pending_if_due()
    assert not writers.flush_pending_if_due()  # nothing pending any more
    writers.close()
    assert writers.runs == []


def test_records_larger_than_a_default_file_buffer_wait_for_the_flush(tmp_path):
    """A record of the size a mid-sized model writes (here ~20 kB, over Python's default
    8 KiB file buffer) stays in memory until a flush: the flush policy, not the size of a
    record, decides when the file is written; the flush then writes every record."""
    writers = EventWriters(tmp_path)
    scalars = {f"layer_{i:03d}/details/kernel/gradient_norm": float(i) for i in range(400)}
    writers.write_batch(0, scalars)
    writers.flush()
    (path,) = (tmp_path / "train").iterdir()
    flushed = path.stat().st_size
    for step in range(1, 11):
        writers.write_batch(step, scalars)
    assert path.stat().st_size == flushed  # ten records (~100 kB) still in memory
    writers.flush()
    record = (path.stat().st_size - flushed) / 10
    assert record > 8192  # each larger than Python's default buffer
    values, _ = _read_all(tmp_path / "train")["layer_399/details/kernel/gradient_norm"]
    assert values == [(step, 399.0) for step in range(11)]
    writers.close()


def test_bad_inputs_are_named(tmp_path):
    writers = EventWriters(tmp_path)
    with pytest.raises(ValueError, match=r"run='\.\./x'"):
        writers.scalar("x", 1.0, step=0, run="../x")
    with pytest.raises(ValueError, match=r"\(2,\), \(2,\), \(3,\) for tag 'h'"):
        writers.histogram("h", [0, 1], [1, 2], [1, 2, 3], step=0)
    with pytest.raises(ValueError, match="Invalid tag regex"):
        writers.custom_scalars_layout({"c": {"chart": ["("]}})
    with pytest.raises(TypeError, match="categories must be a dict"):
        writers.custom_scalars_layout(["not", "a", "dict"])
    with pytest.raises(TypeError, match="log_dir"):
        EventWriters(3)
    assert writers.runs == []  # nothing was written, nothing created


def test_plugin_metadata_once_per_tag_and_file(tmp_path):
    """TensorBoard reads a tag's plugin metadata from its first value in a file: it is
    written there once, not with every record (and again in the new file after a close)."""
    from tensorboard.backend.event_processing import event_file_loader

    writers = EventWriters(tmp_path)
    for step in range(3):
        writers.write_batch(step, {"a": 1.0, "b": 2.0}, {"h": ([0], [1], [step])})
    writers.close()
    writers.write_batch(3, {"a": 1.0})  # a new event file
    writers.close()
    files = sorted((tmp_path / "train").iterdir())
    assert len(files) == 2
    described = []
    for path in files:
        events = list(event_file_loader.EventFileLoader(str(path)).Load())
        described.append(
            sorted(
                value.tag
                for event in events
                for value in event.summary.value
                if value.metadata.plugin_data.plugin_name
            )
        )
    assert sorted(described) == [["a"], ["a", "b", "h"]]  # file names need not sort by age


def test_the_exit_hook_is_registered_at_the_first_file_and_closes_every_writer(
    tmp_path, monkeypatch
):
    """``atexit`` gets the hook once, when the first event file opens (after any import the
    sink needed); the hook flushes and closes every live writer, a record held back by the
    policy included."""
    registered = []
    monkeypatch.setattr(_event_writer, "_EXIT_HOOK", {"registered": False})
    monkeypatch.setattr(_event_writer.atexit, "register", registered.append)
    monkeypatch.setattr(_event_writer, "_clock", lambda: 0.0)  # time stands still
    writers = EventWriters(tmp_path)
    assert registered == []  # no file yet
    writers.scalar("x", 1.0, step=0)
    assert writers.flush_if_due()
    writers.scalar("x", 2.0, step=1, run="validation")
    assert not writers.flush_if_due()  # held back
    assert registered == [_event_writer._close_live_writers]  # once, for two files
    registered[0]()  # what the interpreter runs at exit
    assert writers.runs == []  # closed
    for run, steps in (("train", [0]), ("validation", [1])):
        assert [step for step, _ in _read_all(tmp_path / run)["x"][0]] == steps, run


@pytest.mark.parametrize("kind", ["SummaryWriters", "EventWriters"])
def test_a_url_log_dir_reaches_tensorflows_file_systems(kind, tmp_path, monkeypatch):
    """A ``log_dir`` with a scheme (``gs://bucket/logs`` on a cluster) keeps its ``//`` and
    goes through TensorFlow's file system layer, with either sink: TensorFlow's in-memory
    ``ram://`` file system stands in for a bucket. Nothing lands in a local ``ram:`` folder."""
    tf = pytest.importorskip("tensorflow")
    from keras_init_lab.callbacks.tensorboard import SummaryWriters

    monkeypatch.chdir(tmp_path)
    url = f"ram://keras-init-lab-{kind}-{os.getpid()}/logs"
    with {"SummaryWriters": SummaryWriters, "EventWriters": EventWriters}[kind](url) as writers:
        assert writers.log_dir == url
        writers.scalar("x", 0.5, step=3)
    assert [name.rstrip("/") for name in tf.io.gfile.listdir(url)] == ["train"]
    assert _read_all(url + "/train")["x"][0] == [(3, 0.5)]
    assert list(tmp_path.iterdir()) == []


def test_record_checksums_equal_tensorboards_own():
    """The C checksum of every record equals TensorBoard's byte-by-byte one (whose reader
    rejects a record on a mismatch: the read-back tests above check whole files), for
    lengths across the 8-byte blocks of a C implementation and a whole record's size."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as reference

    from keras_init_lab._event_file import masked_crc32c

    rng = np.random.default_rng(0)
    for size in [*range(0, 40), 255, 256, 4097, 20_000]:
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == reference(data), size
    assert masked_crc32c(b"") == 0xA282EAD8  # CRC 0, rotated, plus the mask constant
