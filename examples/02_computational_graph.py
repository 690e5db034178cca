"""The computational-graph example of the course: one neuron, squared error, dL/dw and dL/db.

Lecture 003 (fundamentals of deep neural networks), its computational-graph example: the model
``y_hat = w x + b`` with ``w = 2``, ``b = 1``, the point ``(x, y) = (3, 9)`` and the loss
``L = (y_hat - y)^2``. Forward: ``z = w x = 6``, ``y_hat = z + b = 7``, ``e = y_hat - y = -2``,
``L = e^2 = 4``. Backward by the chain rule:

    dL/dw = dL/de * de/dy_hat * dy_hat/dz * dz/dw = 2e * 1 * 1 * x = -12
    dL/db = dL/de * de/dy_hat * dy_hat/db         = 2e * 1 * 1     = -4

Here a Keras ``Dense(1)`` layer holds ``w`` and ``b`` (set with the package's ``Constant``
initializer) and ``tf.GradientTape`` records the graph and runs the backward pass, as the
slide's PyTorch ``l.backward()`` does.

Run: ``python examples/02_computational_graph.py``

Expected output::

    forward:  z = w*x = 6.0, y_hat = z + b = 7.0, e = y_hat - y = -2.0, L = e^2 = 4.0
    backward (tf.GradientTape): dL/dw = -12.0, dL/db = -4.0
    by hand (chain rule):       dL/dw = 2e*x = -12.0, dL/db = 2e = -4.0
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab import initializers


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    x = np.array([[3.0]], dtype="float32")
    y = np.array([[9.0]], dtype="float32")
    neuron = keras.layers.Dense(
        1,
        kernel_initializer=initializers.Constant(2.0),  # w = 2
        bias_initializer=initializers.Constant(1.0),  # b = 1
    )
    neuron.build((None, 1))
    w, b = neuron.kernel, neuron.bias

    with tf.GradientTape() as tape:
        z = tf.matmul(x, w)  # z = w x
        y_hat = z + b  # y_hat = z + b  (what neuron(x) computes)
        e = y_hat - y  # e = y_hat - y
        loss = tf.reduce_sum(e**2)  # L = e^2
    grad_w, grad_b = tape.gradient(loss, [w, b])
    # The layer computes the same forward pass.
    assert np.allclose(neuron(x), y_hat)

    z, y_hat, e, loss = (float(np.asarray(t).ravel()[0]) for t in (z, y_hat, e, loss))
    grad_w, grad_b = float(np.asarray(grad_w).ravel()[0]), float(np.asarray(grad_b).ravel()[0])
    hand_w, hand_b = 2 * e * float(x[0, 0]), 2 * e
    say(f"forward:  z = w*x = {z}, y_hat = z + b = {y_hat}, e = y_hat - y = {e}, L = e^2 = {loss}")
    say(f"backward (tf.GradientTape): dL/dw = {grad_w}, dL/db = {grad_b}")
    say(f"by hand (chain rule):       dL/dw = 2e*x = {hand_w}, dL/db = 2e = {hand_b}")
    return {
        "z": z,
        "y_hat": y_hat,
        "e": e,
        "loss": loss,
        "dL_dw": grad_w,
        "dL_db": grad_b,
        "hand_dL_dw": hand_w,
        "hand_dL_db": hand_b,
    }


if __name__ == "__main__":
    main()
