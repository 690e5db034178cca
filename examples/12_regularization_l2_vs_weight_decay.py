"""L2 penalty vs decoupled weight decay (SGD: the same; Adam: not), and dropout's statistics.

Lecture 004 (other network specifications) adds ``lambda sum w^2`` to the
loss (L2) and, separately, shrinks the weights in the update (weight decay), warning that
with Adam the L2 gradient "passes through the adaptation". Keras measures it exactly:
``keras.regularizers.L2(l)`` adds ``l sum w^2`` (gradient ``2 l w``) and an optimizer with
``weight_decay=wd`` first applies ``w -= w * wd * learning_rate``. So under plain SGD,
``L2(0.01)`` and ``SGD(weight_decay=0.02)`` take the *same* steps (float64, to rounding), and
forgetting the factor 2 (``weight_decay=0.01``) does not; under Adam, ``L2(0.01)`` and
``AdamW(weight_decay=0.02)`` part ways (Loshchilov & Hutter 2019). Dropout (p = 0.5, inverted
as Keras implements it) keeps the mean of the activations in training and doubles the
survivors, which raises the variance; in inference it does nothing.

Run: ``python examples/12_regularization_l2_vs_weight_decay.py``

Expected output::

    30 full-batch steps from the same float64 weights: L2(0.01) vs weight decay
    optimizer               decay  ||w|| L2  ||w|| decay  rel. difference
    sgd                     0.02   4.4662    4.4662       4.9e-16
    sgd, weight_decay = l2  0.01   4.4662    4.5087       1.1e-02
    adam                    0.02   5.8829    6.5050       1.8e-01
    sgd: same updates
    sgd, weight_decay = l2: different updates
    adam: different updates
    Dropout(0.5) on ReLU activations: mean and variance
    input      mean 0.400 var 0.341
    training   mean 0.401 var 0.843 (predicted E[a^2]/(1-p) - E[a]^2 = 0.842)
    inference  mean 0.400 var 0.341
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_init_lab.lessons import regularization as reg


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    runs = {
        "sgd": reg.l2_vs_weight_decay("sgd", l2=0.01),
        "sgd, weight_decay = l2": reg.l2_vs_weight_decay("sgd", l2=0.01, weight_decay=0.01),
        "adam": reg.l2_vs_weight_decay("adam", l2=0.01),
    }
    say("30 full-batch steps from the same float64 weights: L2(0.01) vs weight decay")
    say(f"{'optimizer':<23} {'decay':<6} {'||w|| L2':<9} {'||w|| decay':<12} rel. difference")
    for label, r in runs.items():
        say(
            f"{label:<23} {r['weight_decay']:<6g} {r['norm_l2']:<9.4f} {r['norm_decay']:<12.4f} "
            f"{r['relative_difference']:.1e}"
        )
    for label, r in runs.items():
        say(f"{label}: " + ("same updates" if r["agree"] else "different updates"))

    drop = reg.dropout_statistics(rate=0.5)
    say("Dropout(0.5) on ReLU activations: mean and variance")
    say(f"input      mean {drop['input_mean']:.3f} var {drop['input_var']:.3f}")
    say(
        f"training   mean {drop['train_mean']:.3f} var {drop['train_var']:.3f} "
        f"(predicted E[a^2]/(1-p) - E[a]^2 = {drop['predicted_train_var']:.3f})"
    )
    say(f"inference  mean {drop['inference_mean']:.3f} var {drop['inference_var']:.3f}")
    return {"runs": runs, "dropout": drop}


if __name__ == "__main__":
    main()
