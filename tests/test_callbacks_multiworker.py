"""The callbacks under ``MultiWorkerMirroredStrategy``: two worker processes on localhost.

Two Python processes run the README's multi-worker program (its ``train.py`` block, with the
README's ``TF_CONFIG`` of each worker on two ports of 127.0.0.1 found free when the test runs):
one model trained with ``tf.distribute.MultiWorkerMirroredStrategy``, ``GradientStats``,
``GradientHealth`` and ``ActivationStats`` attached, each worker in a folder of its own with the
same relative ``log_dir``. Checked against the same program run in this process without a
cluster (one replica on the CPU, the same weights, the same global batches): every worker records
the statistics of the all-reduced gradient the optimizer applies (and the step-0 norms are
those of a ``tf.GradientTape`` gradient of the first global batch); the chief decided by
:func:`keras_init_lab.callbacks._chief.is_chief` is the one TensorFlow decides
(``strategy.extended.should_save_summary``); only the chief writes event files and reports
``GradientHealth`` warnings, and the other worker's folder stays empty.

The rule of :func:`is_chief` itself is checked without a cluster, on TensorFlow's own
``SimpleClusterResolver``, in the fast suite.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The README program's global batch and epochs (checked in its text), and the samples of
#: :func:`_data`: two steps an epoch, four recorded steps.
GLOBAL_BATCH = 16
EPOCHS = 2
SAMPLES = 32

#: Relative tolerance between a worker's and the one-process statistics: about 84 float32
#: eps (2**-23 = 1.2e-7). The worker's gradient is the sum of two half-batch shares (each
#: already divided by the 2 replicas) instead of one mean over the batch, a float32 sum in
#: another order, and 4 SGD steps carry that difference into the weights.
RTOL = 1e-5

#: Absolute part for the statistics that cancel (mean, std) in units of the variable's
#: largest magnitude, as in tests/test_callbacks_gradients.py: a 1-element variable's std
#: may read one ulp of |g| instead of 0 (float32 on the device).
SPREAD_ATOL = 1e-6

#: The test's own limit for the two workers (start-up, the probe, the training). A hung
#: collective (a worker that stopped joining the all-reduce) must not block CI: both
#: processes are killed then. Far above what the run needs on a loaded 2-core machine.
TIMEOUT_SECONDS = 240


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 5)).astype("float32")
    y = rng.normal(size=(SAMPLES, 1)).astype("float32")
    return x, y


def _build():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, activation="tanh", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )


def _readme_section():
    """The README's multi-worker section: ``(TF_CONFIG of each worker, train.py's code)``."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("### Callbacks on several workers")
    section = text[start : text.index("\n### ", start + 1)]
    configs = [json.loads(found) for found in re.findall(r"TF_CONFIG='(\{.*?\})'", section)]
    (program,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return configs, program


def _summary(callbacks, initial, caught) -> dict:
    """What the README program's callbacks recorded, as JSON-ready lists."""
    from keras_init_lab.callbacks import ActivationStats, GradientHealth, GradientStats
    from keras_init_lab.callbacks.health import GradientHealthWarning

    stats, health, activations = callbacks
    assert isinstance(stats, GradientStats) and isinstance(health, GradientHealth)
    assert isinstance(activations, ActivationStats)
    history = stats.history
    return {
        "initial": initial,
        "steps": history["step"].tolist(),
        "variables": history["variables"],
        "per_variable": {k: v.tolist() for k, v in history["per_variable"].items()},
        "per_layer": {k: v.tolist() for k, v in history["per_layer"].items()},
        "histogram_step": (stats.last_histograms or {}).get("step"),
        "findings": [[f["kind"], f["step"], f["layer"]] for f in health.findings],
        "health_warnings": sum(issubclass(w.category, GradientHealthWarning) for w in caught),
        "activation_steps": activations.history["step"].tolist(),
        "activations": {k: v.tolist() for k, v in activations.history["per_layer"].items()},
    }


#: What runs before the README's program in a worker (arguments: this test file, the worker's
#: folder): the README's ``build_model``, ``x`` and ``y``, and its strategy wrapped so that
#: one all-reduce over the two workers runs as soon as it exists (the probe). Nothing of
#: keras_init_lab is imported before the probe: a failure before it is the machine's.
_BEFORE = textwrap.dedent(
    r"""
    import importlib.util, json, os, sys, warnings
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    test_file, folder = sys.argv[1], sys.argv[2]
    os.chdir(folder)
    import tensorflow as tf

    _strategy_class = tf.distribute.MultiWorkerMirroredStrategy


    def _probed_strategy(*args, **kwargs):
        # Put the class back first: Keras checks isinstance(strategy, tf.distribute.<it>).
        tf.distribute.MultiWorkerMirroredStrategy = _strategy_class
        strategy = _strategy_class(*args, **kwargs)
        total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
        print("PROBE", float(total), flush=True)
        return strategy


    tf.distribute.MultiWorkerMirroredStrategy = _probed_strategy
    _spec = importlib.util.spec_from_file_location("multiworker_test", test_file)
    test = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(test)
    x, y = test._data()
    _initial = []


    def build_model():
        model = test._build()
        _initial.extend(w.tolist() for w in model.get_weights())
        return model


    _recorder = warnings.catch_warnings(record=True)
    _caught = _recorder.__enter__()
    warnings.simplefilter("always")
    """
)

#: What runs after it: print what the callbacks recorded and who this worker is.
_AFTER = textwrap.dedent(
    r"""
    _recorder.__exit__(None, None, None)
    from keras_init_lab.callbacks._chief import is_chief

    result = test._summary(callbacks, _initial, _caught)
    resolver = strategy.cluster_resolver
    result.update(
        task=[resolver.task_type, resolver.task_id],
        replicas=strategy.num_replicas_in_sync,
        is_chief=is_chief(strategy),
        should_save_summary=bool(strategy.extended.should_save_summary),
    )
    print("RESULT " + json.dumps(result), flush=True)
    """
)


def _one_process_reference(program, folder, monkeypatch):
    """The README's program in this process, without a cluster: one replica on the CPU
    (``OneDeviceStrategy``) in place of the multi-worker strategy; the same weights, data and
    global batch."""
    import warnings

    import tensorflow as tf

    folder.mkdir()
    monkeypatch.chdir(folder)
    # One replica on the CPU in place of the multi-worker strategy, for this one call (the
    # class is put back at once: Keras checks isinstance(strategy, tf.distribute.<it>)).
    original = tf.distribute.MultiWorkerMirroredStrategy

    def one_device():
        tf.distribute.MultiWorkerMirroredStrategy = original
        return tf.distribute.OneDeviceStrategy("/cpu:0")

    initial = []

    def build_model():
        model = _build()
        initial.extend(w.tolist() for w in model.get_weights())
        return model

    x, y = _data()
    namespace = {"__name__": "readme_program", "build_model": build_model, "x": x, "y": y}
    tf.distribute.MultiWorkerMirroredStrategy = one_device
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(compile(program, "README.md", "exec"), namespace)
    finally:
        tf.distribute.MultiWorkerMirroredStrategy = original
    return _summary(namespace["callbacks"], initial, caught)


def _free_ports(count):
    """``count`` TCP ports of 127.0.0.1 free right now (bound to port 0, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tf_configs(readme_configs, ports):
    """The README's ``TF_CONFIG`` of each worker, on ``ports`` instead of its example ones."""
    (addresses,) = {tuple(config["cluster"]["worker"]) for config in readme_configs}
    assert [config["cluster"] for config in readme_configs] == [{"worker": list(addresses)}] * 2
    assert [config["task"] for config in readme_configs] == [
        {"type": "worker", "index": index} for index in range(2)
    ]
    assert all(address.startswith("127.0.0.1:") for address in addresses)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return [dict(config, cluster=cluster) for config in readme_configs]


def _run_workers(tmp_path, tf_configs, program):
    """Run ``program`` in one process per ``TF_CONFIG``, each in a folder of its own.

    Waits at most :data:`TIMEOUT_SECONDS`, and no longer once a worker failed (the other
    would wait for it in a collective forever); kills what is still running.

    Returns:
        ``(results, folders)``: what each worker printed after ``RESULT``, and its folder.
    """
    script = _BEFORE + program + _AFTER
    children, files, folders = [], [], []
    timed_out = False
    try:
        for index, tf_config in enumerate(tf_configs):
            folder = tmp_path / f"worker{index}"
            folder.mkdir()
            folders.append(folder)
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps(tf_config),
                PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
                KERAS_BACKEND="tensorflow",
                CUDA_VISIBLE_DEVICES="-1",  # one CPU replica per worker, as the reference
                TF_NUM_INTRAOP_THREADS="1",  # the workers share the machine
            )
            # The outputs go next to the folders, not into them (they must stay empty).
            out = open(tmp_path / f"worker{index}.out", "w")  # noqa: SIM115 (closed below)
            err = open(tmp_path / f"worker{index}.err", "w")  # noqa: SIM115
            files += [out, err]
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", script, os.path.abspath(__file__), str(folder)],
                    stdout=out,
                    stderr=err,
                    env=env,
                    start_new_session=True,  # its own process group, killed as one below
                )
            )
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            codes = [child.poll() for child in children]
            if all(code is not None for code in codes) or any(code for code in codes):
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:  # it ended in between
                    pass
                child.wait()
        for handle in files:
            handle.close()
    outputs = [(tmp_path / f"worker{i}.out").read_text() for i in range(len(children))]
    errors = [(tmp_path / f"worker{i}.err").read_text()[-3000:] for i in range(len(children))]
    if not all("PROBE 2.0" in out.splitlines() for out in outputs):
        pytest.skip(
            "two TensorFlow processes could not run one MultiWorkerMirroredStrategy all-reduce "
            f"over 127.0.0.1 here ({'timed out' if timed_out else 'failed'} before it "
            f"completed); worker stderr: {errors}"
        )
    assert not timed_out, (
        f"the workers passed the collective probe, then hung for {TIMEOUT_SECONDS} s (both "
        f"killed): a collective one of them did not join? stderr: {errors}"
    )
    results = []
    for index, child in enumerate(children):
        assert child.returncode == 0, f"worker {index} failed: {errors}"
        lines = [line for line in outputs[index].splitlines() if line.startswith("RESULT ")]
        assert lines, f"worker {index} printed no result: {errors[index]}"
        results.append(json.loads(lines[-1][len("RESULT ") :]))
    return results, folders


def _assert_close(got, want, rtol, atol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    same = np.isnan(got) == np.isnan(want)
    assert same.all(), what
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf (ratio of w = 0)
        close = (got == want) | (np.abs(got - want) <= rtol * np.abs(want) + atol)
    assert (close | np.isnan(want)).all(), (what, got.tolist(), want.tolist())


def _assert_same_statistics(worker, reference, name):
    assert worker["steps"] == reference["steps"] == list(range(EPOCHS * SAMPLES // GLOBAL_BATCH))
    assert worker["variables"] == reference["variables"]
    for level in ("per_variable", "per_layer"):
        got, want = worker[level], reference[level]
        assert sorted(got) == sorted(want)
        scale = np.asarray(want["max_abs"])
        for stat in want:
            what = f"{name} {level} {stat}"
            if stat in ("zero_fraction", "nonfinite_count"):  # counts: exact
                np.testing.assert_array_equal(got[stat], want[stat], err_msg=what)
            elif stat in ("mean", "std"):
                _assert_close(got[stat], want[stat], RTOL, SPREAD_ATOL * scale, what)
            elif stat == "weight_std":
                weight_scale = SPREAD_ATOL * np.asarray(want["weight_norm"])
                _assert_close(got[stat], want[stat], RTOL, weight_scale, what)
            else:
                _assert_close(got[stat], want[stat], RTOL, 0.0, what)


def _assert_same_activations(worker, reference, name, probe_values):
    assert worker["activation_steps"] == reference["activation_steps"]
    got, want = worker["activations"], reference["activations"]
    for stat in want:
        what = f"{name} activations {stat}"
        if stat.endswith("fraction"):
            # A fraction of values past a threshold: a value within a few ulps of it may
            # land on the other side, so one value of the probe either way.
            _assert_close(got[stat], want[stat], 0.0, 1.0 / probe_values, what)
        elif stat.endswith("mean"):
            spread = np.abs(np.asarray(want[stat.replace("mean", "std")]))
            _assert_close(got[stat], want[stat], RTOL, RTOL * spread, what)
        else:
            _assert_close(got[stat], want[stat], RTOL, 0.0, what)


def _tape_norms_of_the_first_global_batch():
    import keras
    import tensorflow as tf

    x, y = _data()
    model = _build()
    with tf.device("/CPU:0"), tf.GradientTape() as tape:  # the workers' device
        prediction = model(x[:GLOBAL_BATCH], training=True)
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y[:GLOBAL_BATCH], prediction))
    grads = tape.gradient(loss, model.trainable_variables)
    return [float(np.linalg.norm(np.asarray(g, np.float64))) for g in grads]


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _tags(run_dir):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


@pytest.mark.slow
def test_two_workers_record_the_all_reduced_gradient_and_only_the_chief_writes(
    tmp_path, monkeypatch
):
    tf = pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("MultiWorkerMirroredStrategy is a TensorFlow strategy (KERAS_BACKEND)")
    try:
        from keras.src.losses.loss import scale_loss_for_distribution  # noqa: F401
    except ImportError:
        pytest.skip(
            "this Keras (3.3) does not divide the loss by the number of replicas: the two "
            "workers apply twice the one-process update, so their runs part after step 0"
        )
    readme_configs, program = _readme_section()
    assert f"batch_size={GLOBAL_BATCH}," in program and f"epochs={EPOCHS}," in program
    results, folders = _run_workers(tmp_path, _tf_configs(readme_configs, _free_ports(2)), program)
    reference = _one_process_reference(program, tmp_path / "reference", monkeypatch)
    tape_norms = _tape_norms_of_the_first_global_batch()

    # Who is the chief: worker 0 of a cluster without a "chief" task, as TensorFlow says.
    assert [r["task"] for r in results] == [["worker", 0], ["worker", 1]]
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["is_chief"] for r in results] == [True, False]
    assert [r["should_save_summary"] for r in results] == [True, False]

    for index, worker in enumerate(results):
        name = f"worker {index}"
        assert len(worker["initial"]) == len(reference["initial"]) == 4
        for got, want in zip(worker["initial"], reference["initial"]):
            np.testing.assert_array_equal(got, want)  # the same seed: the same bits
        # The all-reduced gradient of the global batch, not this worker's half share.
        norms = worker["per_variable"]["norm"][0]
        _assert_close(norms, tape_norms, RTOL, 0.0, f"{name} step-0 norms vs tape")
        _assert_same_statistics(worker, reference, name)
        _assert_same_activations(worker, reference, name, probe_values=8 * 8)
        assert worker["histogram_step"] == reference["histogram_step"] == 2
        # Every worker finds the same problems (and so stops at the same step when it
        # stops); only the chief warns.
        assert worker["findings"] == reference["findings"]
        assert [kind for kind, _, _ in worker["findings"]] == ["exploding"]
    assert [r["health_warnings"] for r in results] == [1, 0]
    assert reference["health_warnings"] == 1

    # Only the chief wrote: the other worker's folder is empty; the chief's event files
    # hold what the one-process run writes.
    assert _files(folders[1]) == []
    written = _files(folders[0])
    runs = sorted({os.path.dirname(path) for path in written})
    assert runs == [os.path.join("logs", "activations"), os.path.join("logs", "train")], written
    for run in ("train", "activations"):
        chief = _tags(folders[0] / "logs" / run).Tags()["tensors"]
        assert sorted(chief) == sorted(
            _tags(tmp_path / "reference" / "logs" / run).Tags()["tensors"]
        )
    events = _tags(folders[0] / "logs" / "train").Tensors("hidden/details/kernel/gradient_norm")
    assert [e.step for e in events] == results[0]["steps"]
    kernel = results[0]["variables"].index("net/hidden/kernel")
    on_disk = [float(tf.make_ndarray(e.tensor_proto)) for e in events]
    chief_norms = [row[kernel] for row in results[0]["per_variable"]["norm"]]
    # The history holds the float32 value as a float64: written back as float32, exactly.
    np.testing.assert_array_equal(np.float32(on_disk), np.float32(chief_norms))


def _resolver(jobs, task_type, task_id):
    """TensorFlow's ``SimpleClusterResolver`` over a cluster of ``{job: task count}``
    (addresses that are never contacted)."""
    import tensorflow as tf

    spec = tf.train.ClusterSpec(
        {job: [f"{job}-{n}.invalid:2222" for n in range(count)] for job, count in jobs.items()}
    )
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type=task_type, task_id=task_id
    )


class _Strategy:
    def __init__(self, resolver):
        self.cluster_resolver = resolver


@pytest.mark.parametrize(
    "jobs, task_type, task_id, chief",
    [
        ({"worker": 2}, "worker", 0, True),  # no chief task: worker 0
        ({"worker": 2}, "worker", 1, False),
        ({"chief": 1, "worker": 2}, "chief", 0, True),
        ({"chief": 1, "worker": 2}, "worker", 0, False),  # a chief task exists: not worker 0
        ({"chief": 1, "worker": 2}, "worker", 1, False),
        ({"worker": 2, "evaluator": 1}, "evaluator", 0, True),  # outside the training cluster
        ({"worker": 2, "ps": 1}, "ps", 0, False),
    ],
)
def test_is_chief_follows_tensorflows_rule(jobs, task_type, task_id, chief):
    """TensorFlow's rule (``multi_worker_util.is_chief``, read by ``should_save_summary``)."""
    pytest.importorskip("tensorflow")
    from keras_init_lab.callbacks._chief import is_chief

    assert is_chief(_Strategy(_resolver(jobs, task_type, task_id))) is chief


def test_one_process_is_its_own_chief():
    """No strategy, a strategy without a resolver (default, MirroredStrategy), a resolver
    without a cluster (a multi-worker strategy started without TF_CONFIG), a model on a
    backend without ``distribute_strategy``: one process, which writes."""
    tf = pytest.importorskip("tensorflow")
    from keras_init_lab.callbacks._chief import is_chief, writes_files

    assert is_chief(None)
    assert is_chief(tf.distribute.get_strategy())
    empty = tf.distribute.cluster_resolver.SimpleClusterResolver(tf.train.ClusterSpec({}))
    assert is_chief(_Strategy(empty))
    assert writes_files(object())  # no distribute_strategy attribute (JAX)
    assert writes_files(None)

    class Model:
        distribute_strategy = _Strategy(_resolver({"worker": 2}, "worker", 1))

    assert not writes_files(Model())
