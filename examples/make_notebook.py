"""Write ``examples/init_lab.ipynb``: the course, in order, as one notebook with inline plots.

The notebook is generated (not hand-edited) so its cells stay short, reviewable Python here and
a test can check the committed ``.ipynb`` matches this file. Lecture 000 (the overview)
announces it: compare initializations, compare activations, measure gradients and activations,
all with the same model and dataset.

Adding a section: append its cells to ``CELLS`` (in course order), starting with a markdown cell
whose first line is ``## N. Title (lecture 00X)``. The contents list of the first cell is built
from those headers (``contents()``), so it never goes out of date; ``tests/test_examples.py``
checks that the sections are numbered 1, 2, 3, ... in order.

Run: ``python examples/make_notebook.py --execute`` (rewrites ``examples/init_lab.ipynb`` and
runs it in a fresh kernel so the committed file shows its outputs and plots; without
``--execute`` the cells are written empty). Or open it in Jupyter and run all cells. Every
code cell uses tiny models so the whole notebook runs in a minute or two on a laptop CPU; it
writes its figures and TensorBoard logs under ``notebook_output/`` next to where it runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parent / "init_lab.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Weight initialization and activation functions: the lab

This notebook walks the course's lectures in order (the companion `docs/course.md` summarises
each lecture and lists its errata), with **keras-init-lab**'s initializers, activations,
callbacks and diagnostics inside ordinary Keras models:

{contents}

Each section has a script in `examples/` with the same numbers and its expected output.""",
    ),
    (
        "code",
        """%matplotlib inline
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import Image, display

import keras_init_lab
from keras_init_lab import activations, initializers, lsuv, check_model
from keras_init_lab.callbacks import ActivationStats, GradientStats, activation_statistics

tf.get_logger().setLevel("ERROR")  # no retracing chatter from the many tiny models below
OUT = Path("notebook_output")
OUT.mkdir(exist_ok=True)
keras.utils.set_random_seed(0)
print("keras", keras.__version__, "| keras-init-lab", keras_init_lab.__version__)""",
    ),
    (
        "md",
        """## 1. The perceptron, XOR and the computational graph (lecture 003)

The slide's perceptron: `y = sigmoid(4.1 - 1.15 x1 - 0.21 x2)`. Fixed weights go in through
constant initializers; the sigmoid is the package's.""",
    ),
    (
        "code",
        """perceptron = keras.Sequential([
    keras.Input((2,)),
    keras.layers.Dense(1, activation=activations.sigmoid,
                       kernel_initializer=keras.initializers.Constant([[-1.15], [-0.21]]),
                       bias_initializer=initializers.Constant(4.1)),
])
print(np.round(np.asarray(perceptron(np.array([[0, 6], [6, 8]], "float32"))).ravel(), 2))  # 0.94, 0.01""",
    ),
    (
        "md",
        """The 2-2-1 sigmoid XOR network with the slide's weights (no bias), its outputs and
binary cross-entropy: the slide's table (0.60/0.62/0.64/0.66 and 0.92/0.48/0.44/1.07).""",
    ),
    (
        "code",
        """X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
Y = np.array([0, 1, 1, 0], "float32")
xor = keras.Sequential([
    keras.Input((2,)),
    keras.layers.Dense(2, activation=activations.sigmoid, use_bias=False,
                       kernel_initializer=keras.initializers.Constant([[0.96, 0.89], [0.28, 0.73]])),
    keras.layers.Dense(1, activation=activations.sigmoid, use_bias=False,
                       kernel_initializer=keras.initializers.Constant([[0.60], [0.22]])),
])
y_hat = np.asarray(xor(X)).ravel()
bce = -(Y * np.log(y_hat) + (1 - Y) * np.log(1 - y_hat))
for x, y, p, l in zip(X.astype(int), Y.astype(int), y_hat, bce):
    print(x, y, f"y_hat={p:.2f}", f"L={l:.2f}")""",
    ),
    (
        "md",
        """The computational graph: `y_hat = w x + b` with `w = 2, b = 1`, point `(3, 9)`,
`L = (y_hat - y)^2`. `tf.GradientTape` runs the chain rule: `dL/dw = -12`, `dL/db = -4`.""",
    ),
    (
        "code",
        """neuron = keras.layers.Dense(1, kernel_initializer=initializers.Constant(2.0),
                            bias_initializer=initializers.Constant(1.0))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum((neuron(tf.constant([[3.0]])) - 9.0) ** 2)
dw, db = tape.gradient(loss, [neuron.kernel, neuron.bias])
print("L =", float(loss), " dL/dw =", float(dw[0, 0]), " dL/db =", float(db[0]))""",
    ),
    (
        "md",
        """## 2. The starting point decides the minimum (lectures 003 and 001)

Gradient descent on `f(x) = x^4 - 2x^2 + x - 1` from `x0 = 0.3` and from `x0 = 0`: same
learning rate, different minimum.""",
    ),
    (
        "code",
        """def f(x):
    return x**4 - 2 * x**2 + x - 1

def descend(x0, lr=0.05, steps=100):
    w = keras.Variable(x0)
    opt = keras.optimizers.SGD(learning_rate=lr)
    path = [x0]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = f(w)
        opt.apply([tape.gradient(loss, w)], [w])
        path.append(float(w.numpy()))
    return np.array(path)

grid = np.linspace(-1.6, 1.5, 200)
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(grid, f(grid), color="gray", label="f(x)")
for x0, color in [(0.3, "tab:red"), (0.0, "tab:blue")]:
    path = descend(x0)
    ax.plot(path, f(path), "o-", ms=3, color=color, label=f"x0 = {x0} -> x = {path[-1]:.4f}")
ax.set_xlabel("x"); ax.set_ylabel("f(x)"); ax.legend(); plt.show()""",
    ),
    (
        "md",
        """## 3. Zero and constant weights keep the neurons symmetric (lecture 001)

Fixed initial weights do not work: with zeros the tanh units output 0 and get no gradient, with
any other constant (5) every hidden unit computes the same function and receives the same
gradient, so the units stay identical forever and the layer behaves like a single unit.
`check_model` says it before any training; training confirms it: only random weights
(Glorot) give 8 different hidden units.""",
    ),
    (
        "code",
        """def small_net(init):
    return keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(8, activation=activations.tanh, kernel_initializer=init, name="hidden"),
        keras.layers.Dense(1, activation=activations.sigmoid, kernel_initializer=init),
    ])

rng = np.random.default_rng(0)
x = rng.normal(size=(256, 2)).astype("float32")
y = (x[:, :1] * x[:, 1:] > 0).astype("float32")
print(check_model(small_net(initializers.Constant(5.0))).errors[0])
for name, init in [("zeros", initializers.Zeros()), ("constant 5", initializers.Constant(5.0)),
                   ("glorot", initializers.GlorotUniform(seed=0))]:
    model = small_net(init)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(np.tile(x, (100, 1)), np.tile(y, (100, 1)), batch_size=256, verbose=0, shuffle=False)
    kernel = np.asarray(model.get_layer("hidden").kernel)
    distinct = len(np.unique(np.round(kernel.T, 5), axis=0))
    print(f"{name:<11} distinct hidden units: {distinct}/8, accuracy {model.evaluate(x, y, verbose=0)[1]:.2f}")""",
    ),
    (
        "md",
        """## 4. Variance through 50 layers: why He and Xavier (lecture 002; Prince UDL fig. 7.7)

50 ReLU layers of 100 units, weights `N(0, sigma^2)` with `sigma^2` in {0.001, 0.01, 0.02,
0.1, 1}: only `sigma^2 = 2/100 = 0.02` (He) keeps the forward and the backward variance
stable. `keras_init_lab.experiments.propagate` measures it next to the prediction
`sigma_f'^2 = D_h sigma^2 sigma_f^2 / 2`.""",
    ),
    (
        "code",
        """from keras_init_lab.experiments import propagate

result = propagate(n_trials=2, n_samples=128, out_dir=OUT / "propagation")
print(result.format_table())
display(Image(filename=str(OUT / "propagation" / "propagation.png")))""",
    ),
    (
        "md",
        """`check_model` predicts the same recursion from the configuration alone (no data), and
flags the layer where the signal leaves the band:""",
    ),
    (
        "code",
        """def deep_relu(init, depth=50, width=100):
    return keras.Sequential([keras.Input((width,))] + [
        keras.layers.Dense(width, activation="relu", kernel_initializer=init) for _ in range(depth)])

print(check_model(deep_relu("glorot_uniform", depth=10)))
he = check_model(deep_relu("he_normal"))
print("He: predicted Var(pre-activation) at layers 1, 25, 50:",
      [round(he.predictions[i].pre_activation_variance, 3) for i in (0, 24, 49)])""",
    ),
    (
        "md",
        """## 5. The summary table on one model (lectures 002 and 000)

| Initialization | Verdict | Expected outcome |
|---|---|---|
| Xavier + tanh | ideal | stable, balanced values |
| Kaiming + ReLU | ideal | good variance, few dead units |
| Xavier + ReLU | risky | low variance, dead units |
| Kaiming + tanh | risky | exploding gradients |

Same 10x64 MLP, same batch; `activation_statistics` measures the activation std per layer.""",
    ),
    (
        "code",
        """pairings = {"Xavier+tanh": ("glorot_normal", "tanh"), "Kaiming+ReLU": ("he_normal", "relu"),
            "Xavier+ReLU": ("glorot_normal", "relu"), "Kaiming+tanh": ("he_normal", "tanh")}
probe = np.random.default_rng(1).normal(size=(256, 64)).astype("float32")
fig, ax = plt.subplots(figsize=(7, 4))
for name, (init, act) in pairings.items():
    model = keras.Sequential([keras.Input((64,))] + [
        keras.layers.Dense(64, activation=act, kernel_initializer=initializers.get(init)) for _ in range(10)])
    stats = activation_statistics(model, probe)
    ax.plot(range(1, 11), stats["std"], "o-", label=name)
ax.set_yscale("log"); ax.set_xlabel("hidden layer"); ax.set_ylabel("activation std")
ax.set_title("Activation scale through depth"); ax.legend(); plt.show()""",
    ),
    (
        "md",
        """## 6. Vanishing gradients: 0.25^20, and the remedies (lectures 004 and 003)

`sigma'(z) <= 0.25`, so 20 sigmoid layers multiply the gradient by at most
`0.25^20 ~ 9.1e-13`. The kernel gradient norm per layer on one batch, before any update
(`tf.GradientTape`; `GradientStats` reads the same numbers inside `fit`, section 7 and
example 05), for a plain sigmoid stack, ReLU + He, and the two remedies of lectures 004 and
003: BatchNorm before each sigmoid and residual connections.""",
    ),
    (
        "code",
        """def deep(act, init, kind="plain", depth=20, width=32):
    inputs = keras.Input((width,)); h = inputs
    for i in range(depth):
        dense = keras.layers.Dense(width, activation=None if kind == "batchnorm" else act,
                                   kernel_initializer=init(seed=i))
        if kind == "batchnorm":
            h = keras.layers.Activation(act)(keras.layers.BatchNormalization()(dense(h)))
        elif kind == "residual":
            h = keras.layers.Add()([h, dense(h)])
        else:
            h = dense(h)
    return keras.Model(inputs, keras.layers.Dense(1, activation=activations.sigmoid)(h))

def first_step_norms(model, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.BinaryCrossentropy()(y, model(x, training=True))
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)][:-1]
    return np.array([float(tf.norm(g)) for g in tape.gradient(loss, kernels)])

xd = np.random.default_rng(2).normal(size=(256, 32)).astype("float32")
yd = (xd[:, :1] > 0).astype("float32")
print(f"0.25**20 = {0.25**20:.2g}")
fig, ax = plt.subplots(figsize=(7, 4))
for label, model in [("sigmoid + Glorot", deep(activations.sigmoid, initializers.GlorotUniform)),
                     ("relu + He", deep(activations.relu, initializers.HeNormal)),
                     ("sigmoid + BatchNorm", deep(activations.sigmoid, initializers.GlorotUniform, "batchnorm")),
                     ("sigmoid + residual", deep(activations.sigmoid, initializers.GlorotUniform, "residual"))]:
    norms = first_step_norms(model, xd, yd)
    print(f"{label:<20} gradient norm first/last hidden layer: {norms[0] / norms[-1]:.2g}")
    ax.plot(range(1, len(norms) + 1), norms, "o-", ms=3, label=label)
ax.set_yscale("log"); ax.set_xlabel("hidden layer (input side -> output side)")
ax.set_ylabel("gradient norm at step 0"); ax.legend(); plt.show()""",
    ),
    (
        "md",
        """LSUV (Mishkin & Matas 2016) measures instead of predicting: orthonormal kernels, then
each layer rescaled until its pre-activation variance is 1 on a batch. A 20-layer ReLU stack
started from `N(0, 0.001^2)` (lecture 001's "small weights") has no signal left; after LSUV it
has.""",
    ),
    (
        "code",
        """bad = deep_relu(initializers.SmallNormal(seed=0), depth=20, width=64)
xb = np.random.default_rng(3).normal(size=(256, 64)).astype("float32")
print(f"output variance before LSUV: {np.var(np.asarray(bad(xb))):.3g}")
report = lsuv(bad, xb, seed=0)
print(report)
print(f"output variance after LSUV:  {np.var(np.asarray(bad(xb))):.3g}")""",
    ),
    (
        "md",
        """## 7. Watching a real fit: gradients, activations, TensorBoard (lectures 000 and 003)

Look at the curves and at the internal statistics: `GradientStats` and `ActivationStats` during
`fit`,
written to TensorBoard and drawn with the package's plots.""",
    ),
    (
        "code",
        """from keras_init_lab.experiments.datasets import load_digits
from keras_init_lab.plots import plot_activation_stats, plot_gradient_flow

data = load_digits(seed=0)
xt = data.x_train.reshape(len(data.x_train), -1); xv = data.x_test.reshape(len(data.x_test), -1)
mean, std = xt.mean(0), xt.std(0) + 1e-6
xt, xv = (xt - mean) / std, (xv - mean) / std
model = keras.Sequential([keras.Input((64,))] + [
    keras.layers.Dense(64, activation=activations.relu, kernel_initializer=initializers.HeNormal(seed=i))
    for i in range(4)] + [keras.layers.Dense(10, activation=activations.softmax)])
grads = GradientStats(every_n_steps=5, log_dir=OUT / "tensorboard")
acts = ActivationStats(probe_data=xv[:256], log_dir=OUT / "tensorboard")
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fit = model.fit(xt, data.y_train, batch_size=64, epochs=3, verbose=0, validation_data=(xv, data.y_test),
                callbacks=[grads, acts])
print(f"validation accuracy: {fit.history['val_accuracy'][-1]:.2f}")
display(Image(filename=str(plot_gradient_flow(grads.history, OUT / "gradient_flow.png"))))
display(Image(filename=str(plot_activation_stats(acts.history, OUT / "activation_stats.png"))))""",
    ),
    (
        "md",
        """Open the logs in TensorBoard (scalars per layer, gradient and activation histograms,
a custom-scalars dashboard):

```
tensorboard --logdir notebook_output/tensorboard
```

or inside Jupyter: `%load_ext tensorboard` then `%tensorboard --logdir notebook_output/tensorboard`.

From the command line: `keras-init-lab demo` runs the propagation and comparison experiments
and writes an HTML report; `keras-init-lab check model.keras` runs `check_model` on a saved
model.""",
    ),
]


def section_titles(cells: list[tuple[str, str]] = CELLS) -> list[str]:
    """The ``## N. Title`` headers of the markdown cells, in order (without the ``## ``)."""
    return [
        source.splitlines()[0][3:]
        for kind, source in cells
        if kind == "md" and source.startswith("## ")
    ]


def contents(cells: list[tuple[str, str]] = CELLS) -> str:
    """The first cell's list of sections, one Markdown list item per section header."""
    items = []
    for title in section_titles(cells):
        number, _, rest = title.partition(". ")
        items.append(f"{number}. {rest}")
    return "\n".join(items)


def build() -> nbformat.NotebookNode:
    """Return the notebook (no outputs) built from ``CELLS``; the first cell lists the sections."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    for kind, source in CELLS:
        if not notebook.cells:  # the title cell: fill in the list of sections
            source = source.replace("{contents}", contents())
        cell = (
            nbformat.v4.new_markdown_cell(source)
            if kind == "md"
            else nbformat.v4.new_code_cell(source)
        )
        cell["id"] = f"cell-{len(notebook.cells):02d}"  # stable ids: regenerating is a no-op
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def execute(
    notebook: nbformat.NotebookNode, workdir: str | Path, timeout: int = 600
) -> nbformat.NotebookNode:
    """Run every code cell in a fresh ``python3`` kernel with ``workdir`` as its folder.

    TensorFlow's start-up chatter on stderr (oneDNN, CUDA probing) is dropped from the
    outputs; errors still raise ``nbclient.exceptions.CellExecutionError``.
    """
    from nbclient import NotebookClient

    env_before = os.environ.get("MPLBACKEND")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    try:
        NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(workdir)}},
        ).execute()
    finally:
        if env_before is None:
            os.environ.pop("MPLBACKEND", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    return notebook


def main(path: str | Path = NOTEBOOK, run: bool = False) -> Path:
    """Write the notebook to ``path``; with ``run=True`` execute it first (outputs saved)."""
    path = Path(path)
    notebook = build()
    if run:
        with tempfile.TemporaryDirectory() as workdir:
            execute(notebook, workdir)
    nbformat.write(notebook, path)
    return path


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--execute"]
    print(main(*arguments[:1], run="--execute" in sys.argv[1:]))
