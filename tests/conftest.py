"""Shared pytest setup: quiet TensorFlow, headless matplotlib, a fresh Keras session per test,
and capability probes (a test that needs what this machine may lack asks for a fixture that
skips with the reason, instead of assuming it)."""

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

#: Most workers ``-n auto`` starts (setup.cfg runs the suite on pytest-xdist workers): each
#: worker is a Python with TensorFlow loaded (about 1 GB resident at its peak), and the suite's
#: longest test files bound the wall time beyond a few workers anyway.
MAX_AUTO_WORKERS = 4


def _cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, which a container or taskset sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per CPU, at most :data:`MAX_AUTO_WORKERS`.

    ``-n 0`` (or ``-p no:xdist``) runs in this process, ``-n N`` uses ``N`` workers, and the
    environment variable ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides ``auto``.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist reads it itself
    return max(1, min(_cpu_count(), MAX_AUTO_WORKERS))


# In a worker, TensorFlow's thread pools get this worker's share of the CPUs (set before
# TensorFlow loads; a value already in the environment wins): N workers each spawning a pool
# as wide as the machine would oversubscribe the cores. The suite passes on one thread too
# (README, contributing), so the share changes no result.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, _cpu_count() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_share))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(_share))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Clear Keras's global graph state so tests do not see each other's layer names."""
    import keras

    # free_memory=False skips a gc.collect() that cost 0.2-0.4 s per test.
    keras.backend.clear_session(free_memory=False)
    yield


@pytest.fixture(scope="session")
def nchw_convolution():
    """Skip unless this TensorFlow build runs a channels_first (NCHW) Conv2D on its device.

    TensorFlow's own CPU Conv2D kernel is NHWC only; with oneDNN on (TF_ENABLE_ONEDNN_OPTS=1,
    the default only on some CPUs) NCHW runs too, otherwise it raises "The Conv2D op currently
    only supports the NHWC tensor format on the CPU".
    Probed once per session with a 1x1 convolution of a 1x1x2x2 input.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    try:
        # What Conv2D(data_format="channels_first") calls.
        keras.ops.conv(
            np.zeros((1, 1, 2, 2), "float32"),
            np.ones((1, 1, 1, 1), "float32"),
            data_format="channels_first",
        )
    except tf.errors.OpError as error:
        reason = re.sub(r"\{\{.*?\}\}\s*", "", error.message).strip().splitlines()[0]
        reason = re.sub(r"\s*name:\s*$", "", reason)  # TensorFlow's empty op-name suffix
        pytest.skip(f"this TensorFlow build cannot run an NCHW Conv2D here: {reason}")


def pytest_collection_modifyitems(config, items):
    """On a Keras backend other than TensorFlow, skip the tests not marked ``backend_agnostic``.

    Most of the suite uses TensorFlow directly (``tf.GradientTape`` references,
    ``tf.distribute``, ``tf.data``, ``tf.summary``); the tests that run on every backend carry
    the ``backend_agnostic`` marker (``setup.cfg``) and ``.ci/run`` runs the callback and
    statistics tests again with ``KERAS_BACKEND=jax``. The others skip there with the reason,
    instead of failing on an op of the wrong backend.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(
        reason=f"uses TensorFlow directly (not marked backend_agnostic); the {backend!r} "
        "backend runs only the backend_agnostic tests: run it with KERAS_BACKEND=tensorflow"
    )
    for item in items:
        if item.get_closest_marker("backend_agnostic") is None:
            item.add_marker(skip)
