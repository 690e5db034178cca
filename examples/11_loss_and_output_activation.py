"""Loss x output activation: the gradient at the logits, the task table, softmax misused.

Lecture 004 (other network specifications) pairs each task with an output
activation and a loss. The reason is the gradient the pair sends back to the output layer's
logit ``z`` (``keras_init_lab.losses.logit_gradient``, analytic, checked against
``tf.GradientTape`` in the tests). For a positive example (``y = 1``): sigmoid + MSE gives
``2 (p - 1) p (1 - p)``, which *vanishes* when the network is confidently wrong (``z = -10``,
``p = 4.5e-5``); sigmoid + binary cross-entropy gives ``p - 1``, close to -1 there, and
vanishes only when the prediction is right. Huber is quadratic (gradient = error) inside
``delta`` and linear (gradient = delta) outside. Then two runs where softmax is the wrong
choice: a multi-label task (softmax's outputs sum to 1, so it never says "yes" twice) and a
one-unit binary output (softmax of one number is always 1).

Run: ``python examples/11_loss_and_output_activation.py`` (also writes
``examples/figures/logit_gradients.png``).

Expected output::

    task         targets             units  output activation     loss
    regression   real, dim d         d      linear                mse (mae, huber: outliers)
    binary       0 or 1              1      sigmoid               binary_crossentropy
    multi-class  one of K (one-hot)  K      softmax               categorical_crossentropy
    multi-label  K-dim 0/1 vector    K      sigmoid (per output)  binary_crossentropy (per output)
    |dL/dz| for y = 1 at logit z (one sigmoid output)
    z      p         sigmoid+MSE  sigmoid+BCE
    -10    4.54e-05  9.08e-05     1.00e+00
    -3     4.74e-02  8.61e-02     9.53e-01
    0      5.00e-01  2.50e-01     5.00e-01
    3      9.53e-01  4.29e-03     4.74e-02
    10     1.00e+00  4.12e-09     4.54e-05
    confidently wrong (z = -10): BCE's gradient is 11014 times MSE's
    Huber(delta=1) dL/dz at error 0.5: 0.5 (quadratic: = error), at error 3: 1 (linear: = delta)
    multi-label, 3 labels, 50% of samples with >= 2: exact match on those samples
      softmax  0.00 (most outputs > 0.5 in one sample: 1)
      sigmoid  0.99 (most outputs > 0.5 in one sample: 3)
    binary with Dense(1, softmax): outputs in [1, 1], gradient 0
      accuracy 0.50 = share of positives 0.50
      yet fit reported loss 0.490 -> 0.041: Keras's BCE reads the softmax's cached logits
    binary with Dense(1, sigmoid): accuracy 1.00
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

from keras_init_lab import losses
from keras_init_lab.lessons import output_activation
from keras_init_lab.plots.losses import plot_logit_gradients

LOGITS = (-10.0, -3.0, 0.0, 3.0, 10.0)


def main(verbose: bool = True, figure: str | None = None) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    say(losses.format_task_table())

    say("|dL/dz| for y = 1 at logit z (one sigmoid output)")
    say(f"{'z':<6} {'p':<9} {'sigmoid+MSE':<12} sigmoid+BCE")
    table = {}
    for z in LOGITS:
        p = losses.activate("sigmoid", [[z]])[0, 0]
        mse = abs(losses.logit_gradient("mse", "sigmoid", [[z]], [[1.0]])[0, 0])
        bce = abs(losses.logit_gradient("binary_crossentropy", "sigmoid", [[z]], [[1.0]])[0, 0])
        table[z] = (p, mse, bce)
        say(f"{z:<6g} {p:<9.2e} {mse:<12.2e} {bce:.2e}")
    ratio = table[-10.0][2] / table[-10.0][1]
    say(f"confidently wrong (z = -10): BCE's gradient is {ratio:.0f} times MSE's")

    residuals = (0.5, 3.0)
    huber = [
        losses.logit_gradient("huber", "linear", [[r]], [[0.0]], delta=1.0)[0, 0] for r in residuals
    ]
    say(
        f"Huber(delta=1) dL/dz at error 0.5: {huber[0]:g} (quadratic: = error), "
        f"at error 3: {huber[1]:g} (linear: = delta)"
    )

    multilabel = output_activation.multilabel_softmax_vs_sigmoid()
    say(
        f"multi-label, 3 labels, {multilabel['multi_fraction']:.0%} of samples with >= 2: "
        "exact match on those samples"
    )
    for name in ("softmax", "sigmoid"):
        r = multilabel[name]
        say(
            f"  {name:<8} {r['exact_match_multi']:.2f} (most outputs > 0.5 in one sample: "
            f"{r['max_positives']})"
        )

    single = output_activation.single_unit_softmax()
    soft = single["softmax"]
    say(
        f"binary with Dense(1, softmax): outputs in [{soft['output_min']:g}, "
        f"{soft['output_max']:g}], gradient {soft['gradient_norm']:g}"
    )
    say(f"  accuracy {soft['accuracy']:.2f} = share of positives {single['positive_fraction']:.2f}")
    say(
        f"  yet fit reported loss {soft['fit_first_loss']:.3f} -> {soft['fit_last_loss']:.3f}: "
        "Keras's BCE reads the softmax's cached logits"
    )
    say(f"binary with Dense(1, sigmoid): accuracy {single['sigmoid']['accuracy']:.2f}")
    if figure:
        plot_logit_gradients(figure)
    return {"table": table, "huber": huber, "multilabel": multilabel, "single": single}


if __name__ == "__main__":
    main(figure=str(Path(__file__).resolve().parent / "figures" / "logit_gradients.png"))
