"""Optimizers: SGD, momentum, RMSProp, Adam and AdamW from the same start, and update sizes.

Lecture 003 (fundamentals of deep neural networks) ends mini-batch gradient descent by naming the
optimizers that add momentum and per-weight learning rates. Here each Keras optimizer, with
Keras's default learning rate, trains the same 2 -> 32 -> 32 -> 1 tanh network on the same
100 mini-batches of a curved binary task. Two numbers per optimizer: the training loss (mean
of the last 10 batches) and the median **update-to-weight ratio** ``||dW1|| / ||W1||`` of the
first layer per step, which CS231n (Karpathy, "Neural Networks Part 3", "ratio of
weights:updates") says should be "somewhere around 1e-3". A second SGD run with a learning
rate of 2.0 moves the weights by ~8% per step, far above the rule, and still reaches the
lowest loss on this small problem: the ratio is a heuristic for spotting a learning rate far
off, not a law.

Run: ``python examples/10_optimizers.py``

Expected output (training losses move in the third decimal across TensorFlow versions)::

    same network, same 100 batches of 64; Keras default learning rates
    optimizer  lr     first loss  last-10 loss  median update/weight
    sgd        0.01   0.822       0.498         1.3e-03
    momentum   0.01   0.822       0.360         2.1e-03
    rmsprop    0.001  0.822       0.361         3.2e-03
    adam       0.001  0.822       0.370         2.3e-03
    adamw      0.001  0.822       0.370         2.3e-03
    sgd        2      0.822       0.212         7.9e-02
    sgd at lr 2 moves W1 by 7.9e-02 of its norm per step (above 0.01, the rule's upper band)
    and its loss is the lowest here (0.212): the ~1e-3 rule flags large steps, not harm
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_init_lab.lessons import optimizers as opt


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    runs = opt.compare_optimizers()
    too_large = opt.compare_optimizers(["sgd"], learning_rates={"sgd": 2.0})["sgd"]

    say("same network, same 100 batches of 64; Keras default learning rates")
    say(f"{'optimizer':<10} {'lr':<6} {'first loss':<11} {'last-10 loss':<13} median update/weight")
    for name, r in [*runs.items(), ("sgd", too_large)]:
        say(
            f"{name:<10} {r['learning_rate']:<6g} {r['losses'][0]:<11.3f} "
            f"{r['final_loss']:<13.3f} {r['median_update_ratio']:.1e}"
        )
    ratio, loss = too_large["median_update_ratio"], too_large["final_loss"]
    side = "above" if ratio > opt.UPDATE_RATIO_BAND[1] else "not above"
    lowest = loss < min(r["final_loss"] for r in runs.values())
    say(
        f"sgd at lr 2 moves W1 by {ratio:.1e} of its norm per step ({side} 0.01, the rule's "
        "upper band)"
    )
    say(
        "and its loss is "
        + ("the lowest here" if lowest else "not the lowest")
        + f" ({loss:.3f}): the ~1e-3 rule flags large steps, not harm"
    )
    return {"runs": runs, "too_large": too_large}


if __name__ == "__main__":
    main()
