"""BatchNormalization computed by hand, through a badly initialized deep net, vs LN and GN.

Lecture 004 (other network specifications) gives BatchNorm's four steps:
batch mean and (biased) variance, ``(z - mu) / sqrt(var + epsilon)``, ``gamma * . + beta``,
then the activation; in inference the moving averages replace the batch statistics. A NumPy
reference of exactly that matches ``keras.layers.BatchNormalization`` in both modes to
rounding. Keras's defaults are ``epsilon = 1e-3`` and ``momentum = 0.99`` (the lecture's
example epsilon is 1e-5, PyTorch's default). Then a 20-layer tanh net with kernels drawn
from N(0, 0.01^2): without normalization the activation variance shrinks by ~64 * 1e-4 per
layer and vanishes; BatchNorm (training mode), LayerNorm and GroupNorm all keep it between 0.3 and 0.4, near
``Var(tanh(N(0, 1))) = 0.39``, at every depth. Only BatchNorm makes a sample's output depend on the rest of
its batch, which is why small batches call for LayerNorm or GroupNorm.

Run: ``python examples/13_batchnorm_computed.py``

Expected output::

    keras.layers.BatchNormalization defaults: epsilon 0.001, momentum 0.99 (lecture 004's example epsilon: 1e-05)
    NumPy reference vs Keras, max |difference|:
      training output 1.3e-15, moving mean 0.0e+00, moving variance 0.0e+00
      inference output 3.6e-15
    20 tanh layers, kernels N(0, 0.01^2): activation variance at layer
    norm           1         5        10        20
    none    6.46e-03  1.04e-11  1.41e-22  2.10e-44
    batch   3.70e-01  3.26e-01  3.28e-01  3.30e-01
    layer   3.70e-01  3.23e-01  3.26e-01  3.28e-01
    group   3.79e-01  3.20e-01  3.27e-01  3.19e-01
    sample 0's output when its batch shrinks from 256 to 4, max |change|:
      BatchNorm 0.80, LayerNorm 2e-07, GroupNorm 0e+00
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_init_lab.lessons import normalization as norm

SHOWN = (1, 5, 10, 20)


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    check = norm.compare_with_keras()
    d = check["defaults"]
    say(
        f"keras.layers.BatchNormalization defaults: epsilon {d['epsilon']:g}, momentum "
        f"{d['momentum']:g} (lecture 004's example epsilon: {norm.LECTURE_EPSILON:g})"
    )
    say("NumPy reference vs Keras, max |difference|:")
    say(
        f"  training output {check['train_output']:.1e}, moving mean {check['moving_mean']:.1e}, "
        f"moving variance {check['moving_variance']:.1e}"
    )
    say(f"  inference output {check['inference_output']:.1e}")

    depth = norm.variance_through_depth()
    say("20 tanh layers, kernels N(0, 0.01^2): activation variance at layer")
    say(f"{'norm':<6} " + " ".join(f"{i:>9d}" for i in SHOWN))
    for name, r in depth.items():
        say(f"{name:<6} " + " ".join(f"{r['variance'][i - 1]:>9.2e}" for i in SHOWN))

    batch = norm.batch_dependence()
    say("sample 0's output when its batch shrinks from 256 to 4, max |change|:")
    say(
        f"  BatchNorm {batch['batch']:.2f}, LayerNorm {batch['layer']:.0e}, "
        f"GroupNorm {batch['group']:.0e}"
    )
    return {"check": check, "depth": depth, "batch": batch}


if __name__ == "__main__":
    main()
