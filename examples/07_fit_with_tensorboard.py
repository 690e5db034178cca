"""A full ``model.fit`` watched by GradientStats, ActivationStats and TensorBoard.

Lecture 000 (the overview) asks, for early diagnosis, to look at the curves and the internal
statistics; lecture 003 (fundamentals of deep neural networks) mentions software that monitors a
network's weights during training. This is that software in one script:

1. ``check_model`` reads the configuration before training (no data needed).
2. ``model.fit`` runs with three callbacks: Keras's own ``TensorBoard`` (loss curves and weight
   histograms), ``GradientStats`` (gradient norm / update ratio per layer and gradient
   histograms, from inside the train step, every 10 steps) and ``ActivationStats`` (activation
   std, dead ReLU share per layer on a fixed probe batch, every epoch).
3. The histories are plain arrays: we print a few numbers and save two figures.
4. The event files are listed; open them with ``tensorboard --logdir <log_dir>``.

The model: 4 hidden layers x 64 ReLU units with He initialization on the 8x8 digits
(standardized), Adam, 5 epochs.

Run: ``python examples/07_fit_with_tensorboard.py [log_dir]`` (default ``logs/07_fit``).

Expected output (accuracy and the gradient/activation numbers vary by a few hundredths)::

    check_model: 'digits_mlp': 0 error(s), 0 warning(s), 0 note(s)
    fit: 5 epochs, 115 steps, test accuracy 0.95
    GradientStats: 12 records (steps 0..110), 5 layers
      first layer gradient norm: step 0 = 1.58, last record = 0.46
    ActivationStats: 6 records (epoch 0..5), 5 layers (4 ReLU)
      dead ReLU share, last hidden layer: epoch 0 = 0.05, epoch 5 = 0.08
    TensorBoard runs: activations, train, validation
      scalar tags: 84, histogram tags: 35
    figures: gradient_flow.png, activation_stats.png
    open it with:  tensorboard --logdir logs/07_fit   (then http://localhost:6006)
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from keras_init_lab import activations, initializers
from keras_init_lab.callbacks import ActivationStats, GradientStats
from keras_init_lab.diagnostics import check_model
from keras_init_lab.experiments.datasets import load_digits
from keras_init_lab.plots import plot_activation_stats, plot_gradient_flow

EPOCHS = 5
BATCH_SIZE = 64


def standardized_digits():
    data = load_digits(seed=0)
    x_train = data.x_train.reshape(len(data.x_train), -1)
    x_test = data.x_test.reshape(len(data.x_test), -1)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6  # scaler fitted on train only
    return (x_train - mean) / std, data.y_train, (x_test - mean) / std, data.y_test


def build() -> keras.Model:
    layers = [keras.Input((64,))]
    for i in range(4):
        layers.append(
            keras.layers.Dense(
                64,
                activation=activations.relu,
                name=f"hidden_{i}",
                kernel_initializer=initializers.HeNormal(seed=i),
            )
        )
    layers.append(
        keras.layers.Dense(
            10,
            activation=activations.softmax,
            name="output",
            kernel_initializer=initializers.GlorotUniform(seed=9),
        )
    )
    return keras.Sequential(layers, name="digits_mlp")


def tensorboard_tags(log_dir: Path) -> dict[str, dict[str, set]]:
    """Scalar and histogram tags per run, read back from the event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = {}
    for run in sorted(p for p in log_dir.iterdir() if p.is_dir()):
        accumulator = EventAccumulator(
            str(run), size_guidance={"tensors": 0, "scalars": 0, "histograms": 0}
        )
        accumulator.Reload()
        tags = accumulator.Tags()
        tensors = set(tags.get("tensors", []))
        histograms = {
            t
            for t in tensors
            if accumulator.SummaryMetadata(t).plugin_data.plugin_name == "histograms"
        } | set(tags.get("histograms", []))
        scalars = (tensors - histograms) | set(tags.get("scalars", []))
        runs[run.name] = {"scalars": scalars, "histograms": histograms}
    return runs


def main(log_dir: str | os.PathLike = "logs/07_fit", verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    log_dir = Path(log_dir)
    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = standardized_digits()
    model = build()

    # 1. Before training: the configuration check.
    check = check_model(model)
    say(str(check).splitlines()[0])

    # 2. Train with the three callbacks writing to the same log folder.
    gradients = GradientStats(every_n_steps=10, log_dir=log_dir)
    activation_stats = ActivationStats(probe_data=x_test[:256], log_dir=log_dir)
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=1)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    fit = model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        verbose=0,
        validation_data=(x_test, y_test),
        callbacks=[gradients, activation_stats, tensorboard],
    )
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    accuracy = float(fit.history["val_accuracy"][-1])
    say(f"fit: {EPOCHS} epochs, {steps} steps, test accuracy {accuracy:.2f}")

    # 3. The histories are plain NumPy arrays.
    g = gradients.history
    first_norms = g["per_layer"]["norm"][:, 0]
    say(
        f"GradientStats: {len(g['step'])} records (steps {g['step'][0]}..{g['step'][-1]}), "
        f"{len(g['layers'])} layers"
    )
    say(
        f"  first layer gradient norm: step 0 = {first_norms[0]:.2f}, "
        f"last record = {first_norms[-1]:.2f}"
    )
    a = activation_stats.history
    relu_layers = [i for i, name in enumerate(a["activations"]) if name == "relu"]
    dead = a["per_layer"]["dead_fraction"][:, relu_layers[-1]]  # last hidden ReLU layer
    say(
        f"ActivationStats: {len(a['epoch'])} records (epoch {a['epoch'][0]}..{a['epoch'][-1]}), "
        f"{len(a['layers'])} layers ({len(relu_layers)} ReLU)"
    )
    say(
        f"  dead ReLU share, last hidden layer: epoch 0 = {dead[0]:.2f}, "
        f"epoch {a['epoch'][-1]} = {dead[-1]:.2f}"
    )

    # 4. What TensorBoard will show.
    runs = tensorboard_tags(log_dir)
    n_scalars = sum(len(r["scalars"]) for r in runs.values())
    n_histograms = sum(len(r["histograms"]) for r in runs.values())
    say(f"TensorBoard runs: {', '.join(runs)}")
    say(f"  scalar tags: {n_scalars}, histogram tags: {n_histograms}")
    figures = [
        plot_gradient_flow(g, log_dir / "gradient_flow.png"),
        plot_activation_stats(a, log_dir / "activation_stats.png"),
    ]
    say(f"figures: {', '.join(p.name for p in figures)}")
    say(f"open it with:  tensorboard --logdir {log_dir}   (then http://localhost:6006)")
    return {
        "findings": len(check.findings),
        "steps": steps,
        "accuracy": accuracy,
        "gradient_steps": g["step"].tolist(),
        "first_layer_norm": (float(first_norms[0]), float(first_norms[-1])),
        "activation_epochs": a["epoch"].tolist(),
        "activation_layers": list(a["layers"]),
        "dead_last_hidden": (float(dead[0]), float(dead[-1])),
        "runs": runs,
        "figures": figures,
    }


if __name__ == "__main__":
    main(*sys.argv[1:2])
