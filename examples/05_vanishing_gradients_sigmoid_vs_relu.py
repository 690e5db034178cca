"""Vanishing gradients: a deep sigmoid network versus a deep ReLU network, measured in fit.

Lecture 004 (other network specifications), vanishing gradients: the backward pass multiplies
one activation derivative per layer, ``delta[l] = (W[l+1]^T delta[l+1]) * sigma'(z[l])``, and
``sigma'(z) = sigma(z)(1 - sigma(z)) <= 0.25``, so after 20 layers the product is at most
``0.25^20 ~ 9.1e-13``. Lecture 003 (fundamentals of deep neural networks) says the same (each
sigmoid slope is at most 0.25, so the deeper the net, the closer the gradient gets to zero) and
offers ReLU as the cure (derivative 1 where active; with the right scale, see
``docs/course.md``, errata 9).

Two networks with 20 hidden layers of 32 units differ only in activation and its matching
initializer: sigmoid + Glorot (the pairing lecture 000 recommends for sigmoid;
``docs/course.md``, errata 14, computes why it still vanishes) and ReLU + He.
``GradientStats`` records, inside the compiled train step, the gradient norm of every layer at
the first step of ``model.fit``. The ratio first-layer / last-hidden-layer shows how much the
gradient shrank on its way back through 19 layers.

Run: ``python examples/05_vanishing_gradients_sigmoid_vs_relu.py``

Expected output (gradient norms vary by a factor of ~2 with the random data and weights; the
orders of magnitude are the lesson)::

    20 hidden layers x 32 units, gradient norm per layer at step 0 (GradientStats)
    layer            sigmoid+Glorot    relu+He
    hidden_01               1.6e-13      0.099
    hidden_05               6.8e-11        0.1
    hidden_10               9.5e-08      0.057
    hidden_15               1.7e-04       0.08
    hidden_20               2.1e-01       0.07
    first / last hidden    7.3e-13       1.41
    bound 0.25^20 = 9.1e-13 (lecture 004); one layer's sigmoid' <= 0.25
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from keras_init_lab import activations, initializers
from keras_init_lab.callbacks import GradientStats

DEPTH = 20
WIDTH = 32
SHOWN = (1, 5, 10, 15, 20)


def deep_net(activation, initializer_class, seed: int = 0) -> keras.Model:
    layers = [keras.Input((WIDTH,))]
    for i in range(1, DEPTH + 1):
        layers.append(
            keras.layers.Dense(
                WIDTH,
                activation=activation,
                name=f"hidden_{i:02d}",
                kernel_initializer=initializer_class(seed=seed + i),
            )
        )
    layers.append(
        keras.layers.Dense(
            1,
            activation=activations.sigmoid,
            name="output",
            kernel_initializer=initializers.GlorotUniform(seed=seed),
        )
    )
    return keras.Sequential(layers)


def first_step_gradient_norms(model, x, y) -> dict[str, float]:
    """Per-layer gradient norm at the first step of fit, measured by GradientStats."""
    stats = GradientStats(every_n_steps=1)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="binary_crossentropy")
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, callbacks=[stats])
    history = stats.history
    norms = history["per_layer"]["norm"][0]  # step 0, layers in forward order
    # Layers are named by their path ("sequential/hidden_01"); key them by the layer name.
    return {path.split("/")[-1]: float(v) for path, v in zip(history["layers"], norms)}


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, WIDTH)).astype("float32")  # standardized inputs
    y = (x @ rng.normal(size=(WIDTH, 1)) > 0).astype("float32")

    runs = {
        "sigmoid+Glorot": first_step_gradient_norms(
            deep_net(activations.sigmoid, initializers.GlorotUniform), x, y
        ),
        "relu+He": first_step_gradient_norms(
            deep_net(activations.relu, initializers.HeNormal), x, y
        ),
    }
    first, last = "hidden_01", f"hidden_{DEPTH:02d}"
    ratios = {name: norms[first] / norms[last] for name, norms in runs.items()}
    bound = 0.25**DEPTH

    say(f"{DEPTH} hidden layers x {WIDTH} units, gradient norm per layer at step 0 (GradientStats)")
    say(f"{'layer':<16} {'sigmoid+Glorot':>14} {'relu+He':>10}")
    for i in SHOWN:
        name = f"hidden_{i:02d}"
        say(f"{name:<16} {runs['sigmoid+Glorot'][name]:>14.1e} {runs['relu+He'][name]:>10.2g}")
    say(f"{'first / last hidden':<16} {ratios['sigmoid+Glorot']:>10.1e} {ratios['relu+He']:>10.2f}")
    say(f"bound 0.25^{DEPTH} = {bound:.1e} (lecture 004); one layer's sigmoid' <= 0.25")
    return {"norms": runs, "ratios": ratios, "bound": bound}


if __name__ == "__main__":
    main()
