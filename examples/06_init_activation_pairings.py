"""The course's summary table, measured: Xavier/Kaiming x tanh/ReLU on one model and one dataset.

Lecture 002 (initialization) ends with this summary table:

    Initialization   Verdict  Expected outcome
    Xavier + tanh    ideal    stable, balanced values
    Kaiming + ReLU   ideal    good variance, few dead units
    Xavier + ReLU    risky    risk of dead units (low variance)
    Kaiming + tanh   risky    can make the gradients explode

and lecture 000 (the overview) promises to compare them on the same model and dataset.
Here: the same 10x64 MLP on the 8x8 digits (standardized, softmax output), only the hidden
kernel initializer and activation change. ``ActivationStats`` records on a fixed probe batch
before training (epoch 0): the activation std of the last hidden layer over the first's (does
the signal keep its scale?), the pre-activation std of the last hidden layer and the share of
saturated tanh values (|a| > 0.97). After 3 epochs of Adam it records again: the share of dead
ReLU units; the test accuracy comes from the trained model.

What to read in it: Xavier+ReLU loses the signal with depth (last/first std 0.04, pre-activation
std 0.06: the "low variance" of the table), ends with the most dead units and learns slowest.
Kaiming+ReLU keeps the scale (0.97). Kaiming+tanh feeds tanh pre-activations three times larger
than Xavier+tanh (0.82 vs 0.26) and starts to saturate it: the road to the table's unstable
gradients (example 05 and ``keras-init-lab propagate --initializer he_normal --activation tanh``
follow it further). On this small dataset the tanh nets reach the best accuracy after 3 epochs;
the table is about stability, not a ranking.

Run: ``python examples/06_init_activation_pairings.py``

Expected output (the last two columns vary by a few hundredths between machines)::

    10 hidden layers x 64 units, digits (standardized), Adam lr 0.001, 3 epochs
    pairing       std last/first pre-act std tanh saturated dead ReLU test acc
    Xavier+tanh             0.40        0.26           0.00       n/a     0.95
    Kaiming+ReLU            0.97        1.82            n/a      0.07     0.84
    Xavier+ReLU             0.04        0.06            n/a      0.11     0.76
    Kaiming+tanh            0.81        0.82           0.02       n/a     0.94
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from keras_init_lab import activations, initializers
from keras_init_lab.callbacks import ActivationStats
from keras_init_lab.experiments.datasets import load_digits

DEPTH = 10
WIDTH = 64
EPOCHS = 3
LEARNING_RATE = 1e-3  # Adam's default step size

PAIRINGS = {
    "Xavier+tanh": (initializers.GlorotNormal, activations.tanh),
    "Kaiming+ReLU": (initializers.HeNormal, activations.relu),
    "Xavier+ReLU": (initializers.GlorotNormal, activations.relu),
    "Kaiming+tanh": (initializers.HeNormal, activations.tanh),
}


def standardized_digits():
    data = load_digits(seed=0)
    x_train = data.x_train.reshape(len(data.x_train), -1)
    x_test = data.x_test.reshape(len(data.x_test), -1)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6  # fit the scaler on train only
    return (x_train - mean) / std, data.y_train, (x_test - mean) / std, data.y_test


def build(initializer_class, activation) -> keras.Model:
    layers = [keras.Input((64,))]
    for i in range(1, DEPTH + 1):
        layers.append(
            keras.layers.Dense(
                WIDTH,
                activation=activation,
                name=f"hidden_{i:02d}",
                kernel_initializer=initializer_class(seed=i),
            )
        )
    layers.append(
        keras.layers.Dense(
            10,
            activation=activations.softmax,
            name="output",
            kernel_initializer=initializers.GlorotUniform(seed=0),
        )
    )
    return keras.Sequential(layers)


def _mean_over(layers, values: dict) -> float | None:
    """Mean of a statistic over the hidden layers; None where it does not apply (all NaN)."""
    picked = np.array([values[layer] for layer in layers], dtype=float)
    return None if np.all(np.isnan(picked)) else float(np.nanmean(picked))


def measure(name, x_train, y_train, x_test, y_test) -> dict:
    keras.utils.set_random_seed(0)
    initializer_class, activation = PAIRINGS[name]
    model = build(initializer_class, activation)
    # ActivationStats records before training (epoch 0) and after the last epoch.
    activation_stats = ActivationStats(probe_data=x_test[:256], every_n_epochs=EPOCHS)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(
        x_train, y_train, batch_size=64, epochs=EPOCHS, verbose=0, callbacks=[activation_stats]
    )
    history = activation_stats.history
    layers = [layer.split("/")[-1] for layer in history["layers"]]
    hidden = [layer for layer in layers if layer.startswith("hidden")]
    before = {stat: dict(zip(layers, values[0])) for stat, values in history["per_layer"].items()}
    after = {stat: dict(zip(layers, values[-1])) for stat, values in history["per_layer"].items()}
    predictions = np.argmax(np.asarray(model(x_test)), axis=-1)
    return {
        "std_ratio": float(before["std"][hidden[-1]] / before["std"][hidden[0]]),
        "tanh_saturated": _mean_over(hidden, before["saturation_fraction"]),
        "dead_after_training": _mean_over(hidden, after["dead_fraction"]),
        "pre_std_last": float(before["pre_std"][hidden[-1]]),
        "test_accuracy": float(np.mean(predictions == y_test)),
    }


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    x_train, y_train, x_test, y_test = standardized_digits()
    results = {name: measure(name, x_train, y_train, x_test, y_test) for name in PAIRINGS}
    say(
        f"{DEPTH} hidden layers x {WIDTH} units, digits (standardized), Adam lr "
        f"{LEARNING_RATE:g}, {EPOCHS} epochs"
    )
    say(
        f"{'pairing':<13} {'std last/first':>14} {'pre-act std':>11} {'tanh saturated':>14} "
        f"{'dead ReLU':>9} {'test acc':>8}"
    )

    def show(value):
        return "n/a" if value is None else f"{value:.2f}"

    for name, r in results.items():
        say(
            f"{name:<13} {r['std_ratio']:>14.2f} {r['pre_std_last']:>11.2f} "
            f"{show(r['tanh_saturated']):>14} {show(r['dead_after_training']):>9} "
            f"{r['test_accuracy']:>8.2f}"
        )
    return results


if __name__ == "__main__":
    main()
