"""The package on JAX and PyTorch never imports TensorFlow, and its event files read back.

Keras does not import TensorFlow on JAX or PyTorch, and neither may the package: importing
``keras_init_lab`` and ``keras_init_lab.callbacks`` and training with GradientStats (with a
``log_dir``), GradientHealth and ActivationStats (with a ``log_dir``) must leave
``"tensorflow"`` out of ``sys.modules``. Checked in a child process with
``KERAS_BACKEND=jax`` and one with ``torch`` (a fresh ``sys.modules``), which then reads the event files back with
TensorBoard's own ``EventAccumulator`` with TensorFlow's import blocked, as on a machine
without it (``tensorboard`` falls back to its stub; unblocked, it would import TensorFlow to
read files where TensorFlow is installed). Each child is skipped where its backend is not
installed (CI installs JAX, not PyTorch).

A static check runs everywhere, JAX or not: no module that ``import keras_init_lab.callbacks``
loads imports TensorFlow at module level (read with ``ast``, nothing imported).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.backend_agnostic

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "keras_init_lab"

#: The modules Python runs on ``import keras_init_lab.callbacks`` and on the package's import
#: hook when Keras loads (``keras_init_lab/__init__.py`` imports these two then).
ROOTS = (
    "keras_init_lab",
    "keras_init_lab.callbacks",
    "keras_init_lab.initializers",
    "keras_init_lab.activations",
)


# ----------------------------------------------------------------------------- static


def _module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _module_level_imports(name: str, path: Path) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import run when ``name`` is imported: the
    module body and its ``if``/``try``/``with`` blocks, not function or class bodies."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                found.extend((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                found.append((base, node.lineno))
                # ``from package import submodule`` imports the submodule.
                found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    block = getattr(node, field, [])
                    visit([s for h in block for s in h.body] if field == "handlers" else block)

    visit(tree.body)
    return found


def tensorflow_imports_on_import(roots=ROOTS) -> list[str]:
    """``"module:line imports tensorflow"`` for every module-level TensorFlow import reached
    from ``roots`` through module-level imports of the package (parents packages included)."""
    seen, queue, offenders = set(), list(roots), []
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue  # an attribute (``from keras_init_lab.x import name``), not a module
        parent = name.rpartition(".")[0]
        if parent:
            queue.append(parent)
        for target, line in _module_level_imports(name, path):
            top = target.split(".")[0]
            if top == "tensorflow":
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
            elif top == PACKAGE:
                queue.append(target)
    return sorted(offenders)


def test_no_module_the_callbacks_load_imports_tensorflow_at_module_level():
    assert tensorflow_imports_on_import() == []


def test_the_static_check_sees_a_module_level_import(tmp_path, monkeypatch):
    """The reader itself, on a small package with one TensorFlow import three levels down
    (behind a relative import and inside a ``try``) and one inside a function (not run on
    import): only the first is reported."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .sub import a\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text(
        "try:\n    from . import b\nexcept ImportError:\n    pass\n"
    )
    (package / "sub" / "b.py").write_text("import tensorflow as tf\n")
    (package / "lazy.py").write_text("def f():\n    import tensorflow\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", "pkg")
    assert tensorflow_imports_on_import(("pkg", "pkg.lazy")) == [
        f"{Path('pkg', 'sub', 'b.py')}:1 imports tensorflow"
    ]


# ----------------------------------------------------------------- JAX and PyTorch children

#: The child: KERAS_BACKEND=jax or torch, train with the three callbacks writing events, then read
#: the events back with TensorFlow's import blocked. Prints one JSON line.
_CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    import numpy as np

    def tensorflow_modules():
        return sorted(
            n for n, m in sys.modules.items()
            if m is not None and (n == "tensorflow" or n.startswith("tensorflow."))
        )

    import keras_init_lab
    import keras_init_lab.callbacks
    import keras

    from keras_init_lab.callbacks import ActivationStats, GradientHealth, GradientStats
    from keras_init_lab.callbacks.activation_stats import tensorboard_tag

    after_import = tensorflow_modules()
    log_dir = sys.argv[1]
    # Seeded initializers, not keras.utils.set_random_seed: Keras's own seeding asks whether
    # TensorFlow is available (tf.available), which imports it wherever it is installed.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    inputs = keras.Input((8,))
    seeded = keras.initializers.GlorotUniform
    hidden = keras.layers.Dense(
        16, activation="relu", kernel_initializer=seeded(seed=1), name="hidden"
    )(inputs)
    outputs = keras.layers.Dense(1, kernel_initializer=seeded(seed=2), name="out")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    try:  # gradient histograms (a refusal is reported, and fails the test that reads them)
        stats = GradientStats(every_n_steps=1, log_dir=log_dir, histogram_every_n_steps=1)
        gradient_histograms = "supported"
    except NotImplementedError as error:
        stats = GradientStats(every_n_steps=1, log_dir=log_dir)
        gradient_histograms = str(error)
    health = GradientHealth(every_n_steps=1)
    # The probe as a tensor of the backend (a JAX array, a torch tensor), as its user would
    # pass it.
    activations = ActivationStats(keras.ops.convert_to_tensor(x), log_dir=log_dir)
    model.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
        callbacks=[stats, health, activations],
    )
    after_fit = tensorflow_modules()

    class BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError(f"{name} is blocked: read back as without TensorFlow")

    sys.meta_path.insert(0, BlockTensorFlow())
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    def read(run):
        accumulator = event_accumulator.EventAccumulator(
            f"{log_dir}/{run}", size_guidance={event_accumulator.TENSORS: 0}
        )
        accumulator.Reload()
        scalars, histograms = {}, {}
        for tag in accumulator.Tags()["tensors"]:
            plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
            for event in accumulator.Tensors(tag):
                value = tensor_util.make_ndarray(event.tensor_proto)
                if plugin == "histograms":
                    histograms.setdefault(tag, []).append([event.step, value.tolist()])
                elif plugin == "scalars" and value.shape == ():
                    scalars.setdefault(tag, []).append([event.step, float(value)])
        return scalars, histograms

    train_scalars, train_histograms = read("train")
    activation_scalars, activation_histograms = read("activations")
    history = stats.history
    print(json.dumps({
        "backend": keras.backend.backend(),
        "after_import": after_import,
        "after_fit": after_fit,
        "after_read": tensorflow_modules(),
        "gradient_histograms": gradient_histograms,
        "steps": history["step"].tolist(),
        "layer_norms": history["per_layer"]["norm"].tolist(),
        "activation_steps": activations.history["step"].tolist(),
        "activation_std": activations.history["per_layer"]["std"][:, 0].tolist(),
        "activation_std_tag": tensorboard_tag("hidden", "std"),
        "train_scalars": train_scalars,
        "train_histograms": train_histograms,
        "activation_scalars": activation_scalars,
        "activation_histograms": activation_histograms,
    }))
    """
)


#: The module each backend's child needs, and how to install it.
_BACKEND_MODULES = {
    "jax": ("jax", 'pip install -e ".[jax]"'),
    "torch": ("torch", 'pip install -e ".[torch]"; CI does not install PyTorch'),
}


@pytest.fixture(scope="module", params=sorted(_BACKEND_MODULES))
def child(request, tmp_path_factory):
    """Run :data:`_CHILD` once under ``KERAS_BACKEND=jax`` and once under ``torch``; its
    JSON output (skipped where the backend is not installed)."""
    backend = request.param
    module, install = _BACKEND_MODULES[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed ({install})")
    log_dir = tmp_path_factory.mktemp(f"{backend}_events")
    env = dict(os.environ, KERAS_BACKEND=backend)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(log_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["backend"] == backend
    return output


def test_tensorflow_is_never_imported_off_tensorflow(child):
    assert child["after_import"] == []
    assert child["after_fit"] == []
    assert child["after_read"] == []


def test_gradient_scalars_read_back_equal_the_history(child):
    """8 steps (32 samples, batch 8, 2 epochs), every one recorded; each per-layer gradient
    norm of the history is one of the scalars of its step (float32 in the event file: within
    2^-24 relative). Tag names are the TensorBoard tests' business, not assumed here."""
    assert child["steps"] == list(range(8))
    by_step = {}
    for events in child["train_scalars"].values():
        for step, value in events:
            by_step.setdefault(step, []).append(value)
    assert sorted(by_step) == list(range(8))
    for step, norms in zip(child["steps"], child["layer_norms"]):
        written = np.asarray(by_step[step])
        assert len(norms) == 2  # hidden, out
        for norm in norms:
            assert norm > 0
            assert np.min(np.abs(written - norm)) <= 2.0**-24 * norm, (step, norm)


def test_activation_scalars_and_histograms_read_back(child):
    """ActivationStats (every epoch: epochs 0, 1, 2 at steps 0, 4, 8) wrote its std per record
    and one 30-bucket histogram per record counting every probe value (32 samples x 16
    units, all finite)."""
    assert child["activation_steps"] == [0, 4, 8]
    written = child["activation_scalars"][child["activation_std_tag"]]
    assert [step for step, _ in written] == [0, 4, 8]
    np.testing.assert_allclose(
        [value for _, value in written], child["activation_std"], rtol=2.0**-24
    )
    histograms = child["activation_histograms"]
    assert len(histograms) == 1, sorted(histograms)
    (events,) = histograms.values()
    assert [step for step, _ in events] == [0, 4, 8]
    for _, table in events:
        table = np.asarray(table)
        assert table.shape == (30, 3)
        assert np.all(table[:, 1] >= table[:, 0])
        assert table[:, 2].sum() == 32 * 16


def test_gradient_histograms_read_back(child):
    """One gradient and one weight histogram per variable at every recorded step, read back
    without TensorFlow (the JAX and PyTorch captures both compute them)."""
    assert child["gradient_histograms"] == "supported", child["gradient_histograms"]
    histograms = child["train_histograms"]
    assert len(histograms) == 2 * 4, sorted(histograms)  # 4 variables
    for tag, events in histograms.items():
        assert [step for step, _ in events] == list(range(8)), tag


def test_the_jax_suite_runs_where_the_backend_is_not_tensorflow(request):
    """On another backend (the JAX step of ``.ci/run``), no test of
    ``tests/test_backend_jax.py`` is skipped by ``tests/conftest.py`` for lack of the
    ``backend_agnostic`` marker: the JAX-side tests really run there."""
    import keras

    if keras.backend.backend() == "tensorflow":
        pytest.skip("on TensorFlow nothing is skipped for lack of the marker")
    items = [i for i in request.session.items if i.path.name == "test_backend_jax.py"]
    if not items:
        pytest.skip("tests/test_backend_jax.py is not part of this run")
    unmarked = [i.nodeid for i in items if i.get_closest_marker("backend_agnostic") is None]
    assert unmarked == []
    assert len(items) >= 14  # the JAX-side tests of that file
