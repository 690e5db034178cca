"""Shared pytest setup: quiet TensorFlow, headless matplotlib, a fresh Keras session per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Clear Keras's global graph state so tests do not see each other's layer names."""
    import keras

    # free_memory=False skips a gc.collect() that cost 0.2-0.4 s per test.
    keras.backend.clear_session(free_memory=False)
    yield
