"""Tests for keras_init_lab.activations' public face and plots.plot_activations.

What they show: the docstring examples of every submodule run; names, aliases and bad names
(wrong type -> TypeError, wrong value -> ValueError); ``spec`` of callables and Keras layers;
PReLU; the activation figure. The functions, the facts and the Keras integration have their
own files (test_activations_functions.py, test_activations_facts.py,
test_activations_keras.py).
"""

import doctest
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_init_lab import activations  # noqa: E402
from keras_init_lab.fans import calculate_gain  # noqa: E402

#: Evaluation grid: a dense core, kinks at 0, and extreme values (+-30, +-100, +-1000).
GRID = np.concatenate(
    [[-1000.0, -100.0, -30.0, -10.0], np.linspace(-6.0, 6.0, 241), [10.0, 30.0, 100.0, 1000.0]]
)


def _tape_derivative(function, x):
    """Elementwise derivative by autodiff."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
    return tape.gradient(y, x).numpy()


def test_docstring_examples_run():
    from keras_init_lab.activations import (
        _constants,
        _derivatives,
        _facts,
        _functions,
        _keras,
        _lookup,
        _numpy,
        _table,
    )

    attempted = 0
    modules = (_constants, _numpy, _derivatives, _functions, _facts, _lookup, _table, _keras)
    for module in (activations, *modules):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted > 20


def _imports_of(path, package, source_root):
    """Modules of ``keras_init_lab`` a file imports anywhere (top level or in a function).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    relative imports are resolved against ``package``; ``source_root`` holds the package.
    """
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("keras_init_lab"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                file = source_root / candidate.replace(".", "/")
                is_module = file.with_suffix(".py").exists() or (file / "__init__.py").exists()
                found.add(candidate if is_module else base)
    return {name for name in found if name.startswith("keras_init_lab")}


def test_activations_modules_import_downward_only():
    """No circle among the modules of ``activations`` and ``fans`` (imports inside functions
    count): the graph has a topological order, the one the package docstring lists."""
    import graphlib
    import pathlib

    import keras_init_lab

    root = pathlib.Path(keras_init_lab.__file__).parent
    files = {"keras_init_lab.fans": root / "fans.py"}
    for path in sorted((root / "activations").glob("*.py")):
        name = "keras_init_lab.activations" + ("" if path.stem == "__init__" else f".{path.stem}")
        files[name] = path
    graph = {
        name: {
            m
            for m in _imports_of(path, name.rpartition(".")[0], root.parent)
            if m in files and m != name
        }
        for name, path in files.items()
    }
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError
    first = {name: order.index(name) for name in order}
    a = "keras_init_lab.activations."
    assert first[a + "_constants"] < first[a + "_numpy"] < first["keras_init_lab.fans"]
    assert first["keras_init_lab.fans"] < first[a + "_derivatives"] < first[a + "_functions"]
    assert first[a + "_functions"] < first[a + "_facts"] < first[a + "_lookup"]
    assert not graph[a + "_constants"] and graph[a + "_numpy"] == {a + "_constants"}


# ------------------------------------------------------------------------------------------
# Names, spec of callables, layers
# ------------------------------------------------------------------------------------------


def test_get_resolves_names_aliases_and_callables():
    assert activations.get("silu") is activations.swish is activations.silu
    assert activations.get("heaviside") is activations.step
    assert activations.get("GELU_TANH") is activations.gelu_tanh
    assert activations.get("keras_init_lab>gelu_tanh") is activations.gelu_tanh
    assert activations.get("leaky_relu") is activations.leaky_relu  # ours, slope 0.01
    assert activations.get("mish") is keras.activations.mish  # Keras's own names still work
    assert activations.get(None) is activations.linear
    assert activations.get(np.tanh) is np.tanh


def test_bad_names_and_values():
    with pytest.raises(ValueError, match=r"'gelu_tanhh'.*Did you mean: 'gelu_tanh'"):
        activations.get("gelu_tanhh")
    with pytest.raises(ValueError, match=r"'sigmiod'.*'sigmoid'"):
        activations.spec("sigmiod")
    with pytest.raises(ValueError, match=r"prelu\(\)"):
        activations.get("prelu")
    with pytest.raises(TypeError, match="3"):
        activations.get(3)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="negative_slope"):
            activations.LeakyReLUActivation(bad)
    # Wrong type -> TypeError (the package's one validation policy; these were ValueErrors).
    for bad in ("0.2", True):
        with pytest.raises(TypeError, match="negative_slope"):
            activations.LeakyReLUActivation(bad)
    with pytest.raises(TypeError, match="True"):
        activations.prelu(True)
    with pytest.raises(ValueError, match="inf"):
        activations.prelu(float("inf"))


def test_spec_of_callables_and_layers():
    assert activations.spec(keras.activations.relu).name == "relu"
    assert activations.spec(keras.activations.silu).name == "swish"
    keras_leaky = activations.spec(keras.activations.leaky_relu)
    assert keras_leaky.params == {"negative_slope": 0.2}
    assert keras_leaky.gain == pytest.approx(calculate_gain("leaky_relu", 0.2))
    assert activations.spec(keras.layers.LeakyReLU()).params == {"negative_slope": 0.3}
    assert activations.spec(keras.layers.PReLU()).name == "prelu"
    assert activations.spec(keras.layers.Activation("tanh")).name == "tanh"
    assert activations.spec(keras.layers.ReLU(max_value=6.0)) is None
    assert activations.spec(lambda x: x) is None
    custom = activations.spec(activations.LeakyReLUActivation(0.3))
    x = tf.constant(GRID)
    np.testing.assert_allclose(custom.derivative(x), _tape_derivative(custom.function, GRID))


def test_prelu_starts_at_slope_001_and_learns():
    layer = activations.prelu()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), layer])
    np.testing.assert_allclose(layer.get_weights()[0], 0.01)
    keras_default = keras.layers.PReLU()
    keras_default.build((None, 3))
    assert not keras_default.get_weights()[0].any()  # Keras's own PReLU starts as a ReLU
    assert isinstance(activations.as_layer("prelu"), keras.layers.PReLU)
    assert activations.as_layer("gelu_tanh").activation is activations.gelu_tanh
    assert activations.spec("prelu").kind == "layer" and "prelu" not in activations.names()
    assert len(model.trainable_weights) == 3  # kernel, bias, slope


# ------------------------------------------------------------------------------------------
# Plot
# ------------------------------------------------------------------------------------------


def test_plot_activations_writes_a_png(tmp_path):
    from matplotlib import image

    from keras_init_lab.plots import plot_activations

    path = plot_activations(["sigmoid", "relu", keras.activations.tanh], tmp_path / "a" / "f.png")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 600 and pixels.std() > 0.05
    with pytest.raises(ValueError, match="sigmiod"):
        plot_activations(["sigmiod"], tmp_path / "b.png")
    with pytest.raises(ValueError, match="at least one"):
        plot_activations([], tmp_path / "c.png")
    with pytest.raises(ValueError, match="x_range"):
        plot_activations(["relu"], tmp_path / "d.png", x_range=(1, -1))
    with pytest.raises(ValueError, match="png"):
        plot_activations(["relu"], tmp_path / "e.jpg")
