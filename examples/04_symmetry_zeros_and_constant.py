"""Zeros or a constant (5) as initial weights: hidden units stay identical, the net cannot learn.

Lecture 001 (parameter initialization), initialization with fixed values:

* zeros are fine for biases but not for weight matrices: the hidden units output 0, their
  derivatives are 0, nothing is learned;
* any other fixed value (5, say) makes every neuron predict the same thing: symmetry.

(With a sigmoid instead of tanh the first statement needs care: sigmoid(0) = 0.5, so zero
weights still get gradients; ``docs/course.md``, errata 7.)

A 2-8-1 network (tanh hidden layer, sigmoid output) learns the "same sign" problem
``y = [x1 * x2 > 0]`` (not linearly separable, like XOR). Three runs differ only in the kernel
initializer of both layers (biases start at zero in all three): the package's ``Zeros``,
``Constant(5.0)`` and ``GlorotUniform``. For each we print the largest hidden-kernel gradient
at the first step, how many *different* hidden units there are after training (columns of the
hidden kernel that differ by more than 1e-5), and the training accuracy.

With zeros every hidden unit outputs tanh(0) = 0, so every kernel gradient is exactly 0: only
the output bias moves, and the net predicts the majority class. With 5 every hidden unit
computes the same ``tanh(5 x1 + 5 x2)`` and receives the same gradient, so the 8 units stay one
unit repeated 8 times: a single tanh unit cannot separate the quadrants. Glorot's random weights
break the symmetry.

Run: ``python examples/04_symmetry_zeros_and_constant.py``

Expected output (the last two columns may differ by a few hundredths on other machines)::

    2-8-1 tanh network on y = [x1 * x2 > 0], 256 points, Adam lr 0.05, 300 full-batch steps
    initializer       max |dL/dW1| at step 0  distinct hidden units  accuracy
    Zeros                                  0                    1/8      0.53
    Constant(5.0)                       0.07                    1/8      0.66
    GlorotUniform                      0.041                    8/8      1.00
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab import activations, initializers

STEPS = 300
HIDDEN_UNITS = 8


def same_sign_data(n: int = 256, seed: int = 0):
    """Points in the plane, label 1 when both coordinates have the same sign."""
    x = np.random.default_rng(seed).normal(size=(n, 2)).astype("float32")
    y = (x[:, :1] * x[:, 1:] > 0).astype("float32")
    return x, y


def build(kernel_initializer_factory) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                HIDDEN_UNITS,
                activation=activations.tanh,
                name="hidden",
                kernel_initializer=kernel_initializer_factory(0),
            ),
            keras.layers.Dense(
                1,
                activation=activations.sigmoid,
                name="output",
                kernel_initializer=kernel_initializer_factory(1),
            ),
        ]
    )


def distinct_units(model: keras.Model, tolerance: float = 1e-5) -> int:
    """How many hidden units differ (kernel column and bias), up to ``tolerance``."""
    hidden = model.get_layer("hidden")
    units = np.vstack([np.asarray(hidden.kernel), np.asarray(hidden.bias)[None, :]]).T
    representatives = []
    for unit in units:
        if not any(np.max(np.abs(unit - r)) <= tolerance for r in representatives):
            representatives.append(unit)
    return len(representatives)


def run(name: str, factory, x, y) -> dict:
    keras.utils.set_random_seed(0)
    model = build(factory)
    loss_fn = keras.losses.BinaryCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x))
    first_gradient = tape.gradient(loss, model.get_layer("hidden").kernel)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05), loss=loss_fn, metrics=["accuracy"]
    )
    # One epoch over STEPS copies of the data in full batches = STEPS gradient steps.
    model.fit(
        np.tile(x, (STEPS, 1)),
        np.tile(y, (STEPS, 1)),
        batch_size=len(x),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    _, accuracy = model.evaluate(x, y, verbose=0)
    return {
        "initializer": name,
        "max_first_gradient": float(np.max(np.abs(np.asarray(first_gradient)))),
        "distinct_units": distinct_units(model),
        "accuracy": float(accuracy),
    }


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    x, y = same_sign_data()
    runs = [
        run("Zeros", lambda i: initializers.Zeros(), x, y),
        run("Constant(5.0)", lambda i: initializers.Constant(5.0), x, y),
        run("GlorotUniform", lambda i: initializers.GlorotUniform(seed=i), x, y),
    ]
    say(
        f"2-8-1 tanh network on y = [x1 * x2 > 0], {len(x)} points, Adam lr 0.05, "
        f"{STEPS} full-batch steps"
    )
    say(
        f"{'initializer':<15} {'max |dL/dW1| at step 0':>24}  {'distinct hidden units':>21}  "
        f"{'accuracy':>8}"
    )
    for r in runs:
        say(
            f"{r['initializer']:<15} {r['max_first_gradient']:>24.2g}  "
            f"{r['distinct_units']:>19}/{HIDDEN_UNITS}  {r['accuracy']:>8.2f}"
        )
    return {r["initializer"]: r for r in runs}


if __name__ == "__main__":
    main()
