"""The perceptron and the XOR network of the course, with the slides' own weights.

Lecture 003 (fundamentals of deep neural networks), its perceptron and its XOR example:

1. A perceptron ``y = g(w0 + x^T W)`` with ``w0 = 4.1``, ``W = [-1.15, -0.21]`` and the
   sigmoid ``g``: the point (0, 6) gives ``g(2.84) = 0.94`` and (6, 8) gives 0.01.
2. The 2-2-1 sigmoid network without biases and the slide's fixed weights
   ``w1 = [[0.96, 0.89], [0.28, 0.73]]``, ``w2 = [[0.60], [0.22]]``: its output and binary
   cross-entropy for the four XOR points, exactly the slide's table.
3. The same 2-2-1 architecture (now with biases, which the slide leaves out for simplicity)
   trained with gradient descent. From the slide's weights it gets stuck in a local minimum
   (one point stays wrong); from a random Glorot initialization it solves XOR: the starting
   point decides where training ends (example 03 shows the same on a 1-D function).

The fixed weights go in through constant initializers: ``keras.initializers.Constant`` for a
matrix, ``keras_init_lab.initializers.Constant`` for a scalar; the sigmoid is the package's.

Run: ``python examples/01_perceptron_and_xor.py``

Expected output (training numbers can differ in the last digit on other machines)::

    Perceptron y = sigmoid(4.1 - 1.15 x1 - 0.21 x2)
      point (0, 6): z = 2.84, y = 0.94
      point (6, 8): z = -4.48, y = 0.01

    XOR with the slide's weights (no bias)
     x1 x2  y  y_hat  correct  L(y, y_hat)
      0  0  0   0.60        X         0.92
      0  1  1   0.62        ok        0.48
      1  0  1   0.64        ok        0.44
      1  1  0   0.66        X         1.07
    mean binary cross-entropy: 0.73

    XOR after training (2-2-1 sigmoid with biases, Adam lr 0.1, 1000 steps)
      from slide's weights: loss 0.73 -> 0.48, predictions [0, 1, 1, 1]
      from Glorot, seed 0 : loss 0.78 -> 0.00, predictions [0, 1, 1, 0]
      targets:                             [0, 1, 1, 0]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from keras_init_lab import activations, initializers

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
XOR_Y = np.array([[0], [1], [1], [0]], dtype="float32")

#: Full-batch gradient steps for the training part.
STEPS = 1000

#: The slide's fixed weights (lecture 003, the XOR example).
W1 = [[0.96, 0.89], [0.28, 0.73]]
W2 = [[0.60], [0.22]]


def perceptron() -> keras.Model:
    """One sigmoid unit with the slide's weights w0 = 4.1, W = [-1.15, -0.21]."""
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1,
                activation=activations.sigmoid,
                kernel_initializer=keras.initializers.Constant([[-1.15], [-0.21]]),
                bias_initializer=initializers.Constant(4.1),
            ),
        ]
    )


def slide_xor_network() -> keras.Model:
    """The 2-2-1 sigmoid network of the slide, no biases, fixed weights."""
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                2,
                activation=activations.sigmoid,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(W1),
                name="hidden",
            ),
            keras.layers.Dense(
                1,
                activation=activations.sigmoid,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(W2),
                name="output",
            ),
        ]
    )


def binary_cross_entropy(y, y_hat):
    """L(y, y_hat) = -(y log y_hat + (1 - y) log(1 - y_hat)), per sample (lecture 003)."""
    return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))


def main(verbose: bool = True) -> dict:
    keras.utils.set_random_seed(0)
    say = print if verbose else (lambda *a, **k: None)

    # 1. The perceptron.
    model = perceptron()
    points = np.array([[0, 6], [6, 8]], dtype="float32")
    z = 4.1 + points @ np.array([-1.15, -0.21])
    y_points = np.asarray(model(points)).ravel()
    say("Perceptron y = sigmoid(4.1 - 1.15 x1 - 0.21 x2)")
    for (x1, x2), zi, yi in zip(points.astype(int), z, y_points):
        say(f"  point ({x1}, {x2}): z = {zi:.2f}, y = {yi:.2f}")

    # 2. The XOR network with the slide's weights.
    xor = slide_xor_network()
    y_hat = np.asarray(xor(XOR_X)).ravel()
    losses = binary_cross_entropy(XOR_Y.ravel(), y_hat)
    keras_loss = float(keras.losses.BinaryCrossentropy()(XOR_Y, y_hat[:, None]))
    say("\nXOR with the slide's weights (no bias)")
    say(" x1 x2  y  y_hat  correct  L(y, y_hat)")
    for (x1, x2), y, p, loss in zip(XOR_X.astype(int), XOR_Y.ravel().astype(int), y_hat, losses):
        correct = "ok" if (p > 0.5) == bool(y) else "X"
        say(f"  {x1}  {x2}  {y}   {p:.2f}        {correct:<2}        {loss:.2f}")
    say(f"mean binary cross-entropy: {keras_loss:.2f}")

    # 3. Train the same architecture, now with biases: from the slide's weights, then from a
    #    random (Glorot) initialization.
    def train(kernel_1, kernel_2):
        model = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(2, activation=activations.sigmoid, kernel_initializer=kernel_1),
                keras.layers.Dense(1, activation=activations.sigmoid, kernel_initializer=kernel_2),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="binary_crossentropy"
        )
        start = float(model.evaluate(XOR_X, XOR_Y, verbose=0))
        # One epoch over STEPS copies of the 4 points, batches of 4 = STEPS full-batch steps.
        model.fit(
            np.tile(XOR_X, (STEPS, 1)),
            np.tile(XOR_Y, (STEPS, 1)),
            batch_size=4,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        end = float(model.evaluate(XOR_X, XOR_Y, verbose=0))
        return start, end, [int(p > 0.5) for p in np.asarray(model(XOR_X)).ravel()]

    say(f"\nXOR after training (2-2-1 sigmoid with biases, Adam lr 0.1, {STEPS} steps)")
    from_slide = train(keras.initializers.Constant(W1), keras.initializers.Constant(W2))
    from_random = train(initializers.GlorotUniform(seed=0), initializers.GlorotUniform(seed=100))
    for label, (start, end, predictions) in (
        ("slide's weights", from_slide),
        ("Glorot, seed 0 ", from_random),
    ):
        say(f"  from {label}: loss {start:.2f} -> {end:.2f}, predictions {predictions}")
    say(f"  targets:                             {XOR_Y.ravel().astype(int).tolist()}")

    return {
        "perceptron": [float(v) for v in y_points],
        "perceptron_z": [float(v) for v in z],
        "xor_y_hat": [float(v) for v in y_hat],
        "xor_loss": [float(v) for v in losses],
        "xor_mean_loss": keras_loss,
        "trained_from_slide": from_slide,
        "trained_from_glorot": from_random,
    }


if __name__ == "__main__":
    main()
