"""Initialization decides which minimum gradient descent finds: f(x) = x^4 - 2x^2 + x - 1.

Lecture 003 (fundamentals of deep neural networks), gradient descent: besides the learning
rate, the initial weights matter. ``f`` has a global minimum near
x = -1.107 and a local one near x = 0.838, separated by a maximum at x = 0.270 (the roots of
``f'(x) = 4x^3 - 4x + 1``). Gradient descent ``x <- x - lr f'(x)`` from ``x0 = 0.3`` (just right
of the maximum) rolls into the local minimum; from ``x0 = 0`` it reaches the global one. The
same optimizer, the same learning rate: only the starting point differs. Lecture
001 (parameter initialization) says it for networks: in a non-convex problem the initial value
decides where training ends.

The parameter is a one-weight Keras layer (``Dense(1, use_bias=False)`` on the input 1) whose
starting value comes from the package's ``Constant`` initializer; ``keras.optimizers.SGD``
takes the steps.

Run: ``python examples/03_init_decides_the_minimum.py``

Expected output::

    f(x) = x^4 - 2x^2 + x - 1, SGD lr = 0.05, 100 steps
    x0 =  0.3 -> x =  0.8376, f(x) = -1.0733  (local minimum)
    x0 =  0.0 -> x = -1.1072, f(x) = -3.0562  (global minimum)
    critical points (roots of f'): -1.1072, 0.2696, 0.8376
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab import initializers

LEARNING_RATE = 0.05
STEPS = 100


def f(x):
    """The slide's function, f(x) = x^4 - 2x^2 + x - 1."""
    return x**4 - 2 * x**2 + x - 1


def descend(x0: float) -> tuple[float, list[float]]:
    """Run SGD on f from x0; return the final x and the trajectory."""
    parameter = keras.layers.Dense(1, use_bias=False, kernel_initializer=initializers.Constant(x0))
    parameter.build((None, 1))
    optimizer = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
    one = tf.ones((1, 1))
    path = [x0]
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(f(parameter(one)))
        gradients = tape.gradient(loss, parameter.trainable_variables)
        optimizer.apply(gradients, parameter.trainable_variables)
        path.append(float(np.asarray(parameter.kernel)[0, 0]))
    return path[-1], path


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    critical = sorted(float(r) for r in np.roots([4, 0, -4, 1]).real)
    global_x = critical[0]
    say(f"f(x) = x^4 - 2x^2 + x - 1, SGD lr = {LEARNING_RATE}, {STEPS} steps")
    results = {}
    for x0 in (0.3, 0.0):
        x, _ = descend(x0)
        kind = "global" if abs(x - global_x) < 1e-3 else "local"
        say(f"x0 = {x0:4.1f} -> x = {x:7.4f}, f(x) = {f(x):.4f}  ({kind} minimum)")
        results[x0] = (x, float(f(x)), kind)
    say("critical points (roots of f'): " + ", ".join(f"{c:.4f}" for c in critical))
    return {"from_0.3": results[0.3], "from_0": results[0.0], "critical_points": critical}


if __name__ == "__main__":
    main()
