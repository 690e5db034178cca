"""Gradient descent and the learning rate: x^2, two minima, the chain rule, the batch size.

Lecture 003 (fundamentals of deep neural networks): gradient descent repeats
``x <- x - eta f'(x)``. On ``f(x) = x^2`` each step multiplies ``x`` by ``1 - 2 eta``, so
``x_t = (1 - 2 eta)^t x_0``: too small an ``eta`` crawls, ``0.5 < eta < 1`` flips the sign every
step and still converges, ``eta > 1`` diverges. On the lecture's ``x^4 - 2x^2 + x - 1`` the
start decides the minimum. Backpropagation through the lecture's chain of three sigmoid
neurons is done by hand and by ``tf.GradientTape`` (the slide's factor ``dz1/dw1 = w1`` is
``x1``). Finally batch, mini-batch (32) and stochastic (1) gradient descent on one linear
regression: the mini-batch gradient's variance around the full one falls as ``1/B``, and with
the same number of epochs the smaller batches take many more (noisier) steps.

Run: ``python examples/09_gradient_descent_and_learning_rate.py``

Expected output::

    gradient descent on f(x) = x^2 from x0 = 1, 20 steps (closed form (1 - 2 eta)^t)
    eta   factor  x_20        |GD - closed form|  regime
    0.01  +0.98   6.676e-01   2.2e-16             converges monotonically
    0.4   +0.20   1.049e-14   1.7e-18             converges monotonically
    0.75  -0.50   9.537e-07   0.0e+00             oscillates and converges
    1.05  -1.10   6.727e+00   4.4e-15             diverges
    f(x) = x^4 - 2x^2 + x - 1, eta = 0.05, 100 steps
    x0 = 0.3 -> x = 0.8376 (local minimum)
    x0 = 0.0 -> x = -1.1072 (global minimum)
    chain of 3 sigmoids, x1 = 1.5, y = 1: dL/dw by hand vs tf.GradientTape
    w1: hand 0.02670435 tape 0.02670435
    w2: hand -0.04624304 tape -0.04624304
    w3: hand -0.04911206 tape -0.04911206
    dz1/dw1 = x1 = 1.5 (the slide's w1 = 0.5 would give dL/dw1 = 0.00890145)
    mini-batch gradient noise at w = 0 (256 samples): mean ||g_B - g||^2
    batch  measured   predicted  updates/epoch
    full   4.9e-30    0.0e+00    1
    B=32   1.597e+01  1.613e+01  8
    B=1    5.876e+02  5.876e+02  256
    same learning rate 0.01, 5 epochs: loss after each epoch
    full   29.04 27.95 26.91 25.90 24.94 24.01
    B=32   29.04 21.42 15.82 11.72 8.70 6.47
    B=1    29.04 0.26 0.26 0.26 0.26 0.28
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_init_lab.lessons import gradient_descent as gd


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)

    regimes = gd.learning_rate_regimes(steps=20)
    say("gradient descent on f(x) = x^2 from x0 = 1, 20 steps (closed form (1 - 2 eta)^t)")
    say(f"{'eta':<5} {'factor':<7} {'x_20':<11} {'|GD - closed form|':<19} regime")
    for eta, r in regimes.items():
        say(
            f"{eta:<5g} {r['factor']:<+7.2f} {r['trajectory'][-1]:<11.3e} "
            f"{r['max_abs_difference']:<19.1e} {r['regime']}"
        )

    starts = gd.nonconvex_starts()
    say("f(x) = x^4 - 2x^2 + x - 1, eta = 0.05, 100 steps")
    for x0 in gd.NONCONVEX_STARTS:
        say(f"x0 = {x0:.1f} -> x = {starts[x0]['x']:.4f} ({starts[x0]['minimum']} minimum)")

    chain = gd.backprop_by_hand()
    say("chain of 3 sigmoids, x1 = 1.5, y = 1: dL/dw by hand vs tf.GradientTape")
    for name in ("w1", "w2", "w3"):
        say(f"{name}: hand {chain['hand'][name]:.8f} tape {chain['tape'][name]:.8f}")
    say(f"dz1/dw1 = x1 = 1.5 (the slide's w1 = 0.5 would give dL/dw1 = {chain['slide_w1']:.8f})")

    x, y = gd.regression_problem()
    noise = gd.gradient_noise(x, y)
    say(f"mini-batch gradient noise at w = 0 ({len(y)} samples): mean ||g_B - g||^2")
    say(f"{'batch':<6} {'measured':<10} {'predicted':<10} updates/epoch")
    for label, r in noise.items():
        digits = ".1e" if label == "full" else ".3e"
        say(
            f"{label:<6} {r['measured']:<10{digits}} {r['predicted']:<10{digits}} "
            f"{r['updates_per_epoch']}"
        )

    runs = gd.batch_size_runs(x, y, learning_rate=0.01, epochs=5)
    say("same learning rate 0.01, 5 epochs: loss after each epoch")
    for label, r in runs.items():
        say(f"{label:<6} " + " ".join(f"{v:.2f}" for v in r["losses"]))
    return {"regimes": regimes, "starts": starts, "chain": chain, "noise": noise, "runs": runs}


if __name__ == "__main__":
    main()
