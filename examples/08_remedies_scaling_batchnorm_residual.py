"""Remedies: input scaling and BatchNorm (lecture 004), residual connections (lecture 003).

Part 1, input scaling (lecture 004, other network specifications): the inputs enter the first
layer's gradient directly. If one input is in the thousands and another in tenths, the
first layer's pre-activations ``z = W x + b`` are huge, a tanh/sigmoid unit saturates and
``sigma'(z) ~ 0``: training is unstable and converges slowly. The fix is
the z-score ``x' = (x - mu) / sigma`` fitted on the training set only. Here: two features with
standard deviations 1000 and 0.1, a label that depends on both, a 2-16-16-1 tanh network with
Glorot initialization trained on raw and on standardized inputs. ``activation_statistics``
measures the saturated share of the first layer before training.

Part 2, BatchNorm and residual connections against vanishing gradients. The 20-layer sigmoid
network of example 05 (its gradient shrinks ~4x per layer) is rebuilt twice:

* with ``BatchNormalization`` between each Dense layer and its sigmoid (lecture 004 normalizes
  each layer's output ``z[l]`` before the activation): the backward pass through BatchNorm
  divides by the batch standard deviation of ``z``, which undoes the shrinking;
* with residual connections ``h <- h + sigmoid(Dense(h))`` (lecture 003: the
  residual connections let the gradients flow straight through).

For the first SGD step (lr 0.1, one batch of 256, ``tf.GradientTape``): the first/last
hidden-layer kernel gradient norm ratio, and the first layer's update ratio
``||lr * g|| / ||w||`` (how much the layer nearest the input moves; ~1e-3 per step is the
classic healthy value; ``GradientStats`` reports the same ``update_ratio`` inside ``fit``).

Run: ``python examples/08_remedies_scaling_batchnorm_residual.py``

Expected output (the accuracies and ratios vary between runs and machines; the orders of
magnitude are the lesson)::

    1. Input scaling: 2-16-16-1 tanh (Glorot), inputs with std 1000 and 0.1, Adam, 20 epochs
    inputs          saturated tanh (layer 1)  test accuracy
    raw                                 0.99           0.63
    standardized                        0.00           0.97

    2. 20 hidden sigmoid layers x 32 units (Glorot), first SGD step (lr 0.1)
    network          grad first/last  layer-1 update / weights
    plain                    4.9e-13                   2.6e-15
    + BatchNorm              1.2e+00                   2.6e-03
    + residual               5.5e-02                   3.2e-03
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab import activations, initializers
from keras_init_lab.callbacks import activation_statistics

DEPTH = 20
WIDTH = 32


# ---------------------------------------------------------------- part 1: input scaling


def badly_scaled_data(n: int = 1024, seed: int = 0):
    """Two features with std 1000 and 0.1; the label needs both (a tilted circle)."""
    rng = np.random.default_rng(seed)
    scales = np.array([1000.0, 0.1])
    u = rng.normal(size=(n, 2))
    y = ((u[:, 0] + 0.5) ** 2 + (u[:, 1] - 0.3) ** 2 < 1.2).astype("float32")[:, None]
    x = (u * scales).astype("float32")
    split = n * 3 // 4
    return x[:split], y[:split], x[split:], y[split:]


def tanh_net(seed: int = 0) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                16,
                activation=activations.tanh,
                name="layer_1",
                kernel_initializer=initializers.GlorotUniform(seed=seed),
            ),
            keras.layers.Dense(
                16,
                activation=activations.tanh,
                name="layer_2",
                kernel_initializer=initializers.GlorotUniform(seed=seed + 1),
            ),
            keras.layers.Dense(
                1,
                activation=activations.sigmoid,
                name="output",
                kernel_initializer=initializers.GlorotUniform(seed=seed + 2),
            ),
        ]
    )


def input_scaling() -> dict:
    x_train, y_train, x_test, y_test = badly_scaled_data()
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)  # fitted on train only
    variants = {
        "raw": (x_train, x_test),
        "standardized": ((x_train - mean) / std, (x_test - mean) / std),
    }
    results = {}
    for name, (train, test) in variants.items():
        keras.utils.set_random_seed(0)
        model = tanh_net()
        record = activation_statistics(model, test[:256])
        saturated = dict(zip(record["layers"], record["saturation_fraction"]))["layer_1"]
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"]
        )
        model.fit(train, y_train, batch_size=64, epochs=20, verbose=0)
        _, accuracy = model.evaluate(test, y_test, verbose=0)
        results[name] = {"saturated": float(saturated), "accuracy": float(accuracy)}
    return results


# ----------------------------------------------------- part 2: BatchNorm and residuals


def deep_sigmoid(kind: str, seed: int = 0) -> keras.Model:
    """20 sigmoid layers: plain, with BatchNorm before each sigmoid, or with residual adds."""
    inputs = keras.Input((WIDTH,))
    h = inputs
    for i in range(1, DEPTH + 1):
        dense = keras.layers.Dense(
            WIDTH,
            name=f"hidden_{i:02d}",
            activation=None if kind == "batchnorm" else activations.sigmoid,
            kernel_initializer=initializers.GlorotUniform(seed=seed + i),
        )
        if kind == "plain":
            h = dense(h)
        elif kind == "batchnorm":
            z = keras.layers.BatchNormalization(name=f"bn_{i:02d}")(dense(h))
            h = keras.layers.Activation(activations.sigmoid)(z)
        else:  # residual
            h = keras.layers.Add()([h, dense(h)])
    outputs = keras.layers.Dense(
        1,
        activation=activations.sigmoid,
        name="output",
        kernel_initializer=initializers.GlorotUniform(seed=seed),
    )(h)
    return keras.Model(inputs, outputs, name=f"deep_sigmoid_{kind}")


def teacher_data(n: int = 1024, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, WIDTH)).astype("float32")
    y = (x @ rng.normal(size=(WIDTH, 1)) > 0).astype("float32")
    split = n * 3 // 4
    return x[:split], y[:split], x[split:], y[split:]


def first_step(model, x, y, learning_rate: float = 0.1) -> dict[str, tuple[float, float]]:
    """Per hidden layer: kernel gradient norm and SGD update ratio of the first step.

    ``update / weights = ||lr * g|| / ||w||`` is what one ``SGD(lr)`` step would change
    (``GradientStats`` reports the same ``update_ratio`` from inside ``fit``; example 05 uses it).
    """
    loss_fn = keras.losses.BinaryCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden")]
    gradients = tape.gradient(loss, [layer.kernel for layer in hidden])
    return {
        layer.name: (float(tf.norm(g)), float(learning_rate * tf.norm(g) / tf.norm(layer.kernel)))
        for layer, g in zip(hidden, gradients)
    }


def deep_remedies() -> dict:
    x_train, y_train, _, _ = teacher_data()
    results = {}
    for kind in ("plain", "batchnorm", "residual"):
        keras.utils.set_random_seed(0)
        step = first_step(deep_sigmoid(kind), x_train[:256], y_train[:256])
        results[kind] = {
            "gradient_ratio": step["hidden_01"][0] / step[f"hidden_{DEPTH:02d}"][0],
            "first_update_ratio": step["hidden_01"][1],
        }
    return results


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    scaling = input_scaling()
    say("1. Input scaling: 2-16-16-1 tanh (Glorot), inputs with std 1000 and 0.1, Adam, 20 epochs")
    say(f"{'inputs':<15} {'saturated tanh (layer 1)':>25} {'test accuracy':>14}")
    for name, r in scaling.items():
        say(f"{name:<15} {r['saturated']:>25.2f} {r['accuracy']:>14.2f}")

    remedies = deep_remedies()
    labels = {"plain": "plain", "batchnorm": "+ BatchNorm", "residual": "+ residual"}
    say(f"\n2. {DEPTH} hidden sigmoid layers x {WIDTH} units (Glorot), first SGD step (lr 0.1)")
    say(f"{'network':<15} {'grad first/last':>16} {'layer-1 update / weights':>25}")
    for kind, r in remedies.items():
        say(f"{labels[kind]:<15} {r['gradient_ratio']:>16.1e} {r['first_update_ratio']:>25.1e}")
    return {"scaling": scaling, "remedies": remedies}


if __name__ == "__main__":
    main()
