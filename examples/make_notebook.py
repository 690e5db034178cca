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
0.1, 1}: only `sigma^2 = 2/100 = 0.02` (He) keeps the per-layer gain of the forward and the
backward variance near 1 (the prediction is exactly 1; a few finite networks drift a little,
and `propagate` calls the drift "decaying" once it compounds past 10x over 50 layers); smaller
variances vanish and larger ones explode by tens of orders of magnitude.
`keras_init_lab.experiments.propagate` measures it next to the prediction
`sigma_f'^2 = D_h sigma^2 sigma_f^2 / 2`.""",
    ),
    (
        "code",
        """from keras_init_lab.experiments import propagate
from keras_init_lab.report import write_propagation

result = propagate(n_trials=2, n_samples=128)
write_propagation(result, OUT / "propagation")
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

From the command line: `keras-init-lab demo` checks lecture 002's pairings at initialization
and in training and writes an HTML report; `keras-init-lab check model.keras` runs `check_model` on a saved
model.""",
    ),
    (
        "md",
        """## 8. Gradient descent and the learning rate (lecture 003)

`x <- x - eta f'(x)` on `f(x) = x^2` multiplies `x` by `1 - 2 eta` at every step, so
`x_t = (1 - 2 eta)^t x_0`: a tiny `eta` crawls, `0.5 < eta < 1` flips the sign and still
converges, `eta > 1` diverges. `lessons.gradient_descent` runs the descent and checks it
against the closed form; then the chain rule through lecture 003's chain of three sigmoid
neurons, by hand against `tf.GradientTape` (example 09).""",
    ),
    (
        "code",
        """from keras_init_lab.lessons import gradient_descent as gd

regimes = gd.learning_rate_regimes(steps=20)
fig, ax = plt.subplots(figsize=(7, 4))
for eta, r in regimes.items():
    print(r["verdict"])
    ax.plot(np.abs(r["trajectory"]), "o-", ms=3, label=f"eta = {eta:g} ({r['regime']})")
ax.set_yscale("log"); ax.set_xlabel("step t"); ax.set_ylabel("|x_t|"); ax.legend(); plt.show()
print(gd.backprop_by_hand()["verdict"])""",
    ),
    (
        "md",
        """## 9. Batch, mini-batch and stochastic gradient descent (lecture 003)

One linear regression (256 samples): the mini-batch gradient scatters around the full-batch
one with a variance that falls as `1/B`, and with the same learning rate and the same number
of epochs the smaller batches take many more (noisier) steps.""",
    ),
    (
        "code",
        """x_reg, y_reg = gd.regression_problem()
for label, r in gd.gradient_noise(x_reg, y_reg).items():
    print(f"{label:<5} mean ||g_B - g||^2 = {r['measured']:.3g} (predicted {r['predicted']:.3g}), "
          f"{r['updates_per_epoch']} updates per epoch")
fig, ax = plt.subplots(figsize=(7, 4))
for label, r in gd.batch_size_runs(x_reg, y_reg, learning_rate=0.01, epochs=5).items():
    ax.plot(r["losses"], "o-", label=f"{label} ({r['updates']} updates)")
ax.set_yscale("log"); ax.set_xlabel("epoch"); ax.set_ylabel("training MSE"); ax.legend(); plt.show()""",
    ),
    (
        "md",
        """## 10. Optimizers: SGD, momentum, RMSProp, Adam, AdamW (lecture 003)

Same network, same batches, each Keras optimizer with its default learning rate, plus SGD at
a learning rate of 2. Beside the loss, the median update-to-weight ratio
`||dW1|| / ||W1||` per step, which CS231n (Karpathy, "Neural Networks Part 3") says should be
"somewhere around 1e-3": a rule of thumb for spotting a learning rate far off, not a law
(example 10).""",
    ),
    (
        "code",
        """from keras_init_lab.lessons import optimizers as opt

runs = opt.compare_optimizers()
runs["sgd, lr 2"] = opt.compare_optimizers(["sgd"], learning_rates={"sgd": 2.0})["sgd"]
fig, ax = plt.subplots(figsize=(7, 4))
for label, r in runs.items():
    print(f"{label:<10} lr {r['learning_rate']:<6g} last-10 loss {r['final_loss']:.3f}  {r['verdict']}")
    ax.plot(np.convolve(r["losses"], np.ones(10) / 10, "valid"), label=label)
ax.set_xlabel("step"); ax.set_ylabel("training loss (10-step mean)"); ax.legend(); plt.show()""",
    ),
    (
        "md",
        """## 11. Input scaling, fitted on the training split and saved with the model (lecture 004)

z-score, min-max and `x/255`, each fitted on the training split only and applied by a Keras
layer inside the model (`Normalization`, `Rescaling`), so a saved `.keras` model predicts on
raw inputs; then the same tanh network on raw 0..255 "pixels" and on `x/255` (example 14).""",
    ),
    (
        "code",
        """from keras_init_lab.lessons import scaling

x_px, _, x_px_test, _ = scaling.image_like_data()
for kind in scaling.SCALINGS:
    layer = scaling.scaler_layer(kind, x_px)
    want = scaling.transform(scaling.fit_scaler(kind, x_px), x_px_test)
    gap = np.max(np.abs(keras.ops.convert_to_numpy(layer(x_px_test)) - want))
    print(f"{kind:<8} {type(layer).__name__:<13} vs NumPy scaler fitted on train: {gap:.0e}")
print(scaling.saved_model_round_trip("zscore", epochs=3)["verdict"])
raw = scaling.raw_vs_scaled("constant", epochs=5)
for label in ("raw", "scaled"):
    r = raw[label]
    print(f"{label:<6} ||dL/dW1|| {r['gradient_norm']:.3f}, saturated {r['saturation']:.1%}, "
          f"loss {r['initial_loss']:.3f} -> {r['final_loss']:.3f}")
print(raw["verdict"])""",
    ),
    (
        "md",
        """## 12. BatchNorm computed (lecture 004)

A NumPy reference of BatchNorm's four steps (batch mean and biased variance,
`(z - mu) / sqrt(var + epsilon)`, `gamma * . + beta`, moving averages for inference) against
`keras.layers.BatchNormalization` in both modes; Keras's defaults are `epsilon = 1e-3` and
`momentum = 0.99` (the lecture's example epsilon is 1e-5). Then the activation variance of a
20-layer tanh net with kernels `N(0, 0.01^2)`, without normalization and with BatchNorm,
LayerNorm and GroupNorm (example 13).""",
    ),
    (
        "code",
        """from keras_init_lab.lessons import normalization

print(normalization.compare_with_keras()["verdict"])
fig, ax = plt.subplots(figsize=(7, 4))
for name, r in normalization.variance_through_depth().items():
    print(r["verdict"])
    ax.plot(range(1, len(r["variance"]) + 1), r["variance"], "o-", ms=3, label=name)
ax.set_yscale("log"); ax.set_xlabel("tanh layer"); ax.set_ylabel("activation variance")
ax.legend(title="normalization"); plt.show()
print(normalization.batch_dependence()["verdict"])""",
    ),
    (
        "md",
        """## 13. Loss x output activation (lecture 004)

Which output activation and loss for each task, and why: the gradient each pair sends back to
the output logit `z` (`keras_init_lab.losses.logit_gradient`, analytic, checked against
`tf.GradientTape` in the tests). For `y = 1`, sigmoid + MSE vanishes where the network is
confidently wrong (`z << 0`), sigmoid + cross-entropy does not. Then softmax where it does
not belong, shown by runs: a multi-label task and a one-unit binary output (example 11).""",
    ),
    (
        "code",
        """from keras_init_lab import losses
from keras_init_lab.lessons import output_activation
from keras_init_lab.plots.losses import plot_logit_gradients

print(losses.format_task_table())
for z in (-10.0, 0.0, 10.0):
    mse = losses.logit_gradient("mse", "sigmoid", [[z]], [[1.0]])[0, 0]
    bce = losses.logit_gradient("binary_crossentropy", "sigmoid", [[z]], [[1.0]])[0, 0]
    print(f"y = 1, z = {z:+g}: dL/dz sigmoid+MSE {mse:.2e}, sigmoid+BCE {bce:.2e}")
display(Image(filename=str(plot_logit_gradients(OUT / "logit_gradients.png"))))""",
    ),
    (
        "code",
        """print(output_activation.multilabel_softmax_vs_sigmoid(epochs=10)["verdict"])
print(output_activation.single_unit_softmax(epochs=5)["verdict"])""",
    ),
    (
        "md",
        """## 14. Regularization: L2 vs weight decay, and dropout (lecture 004)

`keras.regularizers.L2(l)` adds `l sum w^2`, whose gradient is `2 l w`; an optimizer with
`weight_decay=wd` shrinks `w` by `w * wd * learning_rate`. So under plain SGD `L2(0.01)` and
`SGD(weight_decay=0.02)` take the same steps, `weight_decay=0.01` does not, and under Adam
`L2(0.01)` and `AdamW(weight_decay=0.02)` part ways (Loshchilov & Hutter 2019). Dropout
(inverted, as Keras does it) keeps the mean in training and raises the variance; in inference
it does nothing (example 12).""",
    ),
    (
        "code",
        """from keras_init_lab.lessons import regularization

print(regularization.l2_vs_weight_decay("sgd", l2=0.01)["verdict"])
print(regularization.l2_vs_weight_decay("sgd", l2=0.01, weight_decay=0.01)["verdict"])
print(regularization.l2_vs_weight_decay("adam", l2=0.01)["verdict"])
print(regularization.dropout_statistics(rate=0.5)["verdict"])""",
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
