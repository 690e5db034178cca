"""Tests for the training axes of ``compare``: optimizer, learning rate, batch size, loss with
its output activation, L2, weight decay, dropout, the update-ratio column and ``pixel`` scaling.

Three tiny runs (XOR, 2 hidden layers of 8 units, 32-64 samples, 1-2 epochs): one through the
API (AdamW, full batch, binary cross-entropy, L2, weight decay, dropout) and two through the
CLI (sgd and adam, batch size 1). A ``GradientStats`` subclass keeps every callback ``compare``
creates, so the tests read the built model, its optimizer and the statistic itself. Bad values
are refused before any training with the closest valid names.
"""

import contextlib
import csv
import importlib
import io
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_init_lab import cli  # noqa: E402
from keras_init_lab import losses as losses_module  # noqa: E402
from keras_init_lab.experiments import _compile, compare, datasets  # noqa: E402
from keras_init_lab.lessons.optimizers import (  # noqa: E402
    UPDATE_RATIO_BAND,
    update_ratio_verdict,
)
from keras_init_lab.report import SETTINGS_HEADER, write_report  # noqa: E402

# The module (the package's ``compare`` attribute is the function of the same name).
compare_module = importlib.import_module("keras_init_lab.experiments.compare")

NEW_COLUMNS = (
    "optimizer",
    "learning_rate",
    "batch_size",
    "loss",
    "output_activation",
    "l2",
    "weight_decay",
    "dropout",
    "update_ratio",
    "update_ratio_verdict",
)
TINY = dict(
    dataset="xor",
    initializers=["he_normal"],
    activations=["tanh"],
    depths=2,
    width=8,
    verbose=0,
)


@pytest.fixture(scope="module")
def captured():
    """Replace GradientStats by a subclass that remembers its instances (model, optimizer)."""
    import keras_init_lab.callbacks as callbacks

    instances = []
    original = callbacks.GradientStats

    class Recording(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            instances.append(self)

    patch = pytest.MonkeyPatch()
    patch.setattr(callbacks, "GradientStats", Recording)
    yield instances
    patch.undo()


@pytest.fixture(scope="module")
def api_run(captured, tmp_path_factory):
    out = tmp_path_factory.mktemp("axes_api")
    start = len(captured)
    # The deprecated out_dir still writes results.json, results.csv and the figures (through
    # the writer report.write_compare uses) and warns; the CLI runs cover log_dir.
    with pytest.warns(DeprecationWarning, match="report.write_compare"):
        result = compare(
            **TINY,
            epochs=2,
            max_train_samples=64,
            optimizers=["adamw"],
            learning_rates=[0.01],
            batch_sizes=["full"],
            losses=["binary_crossentropy"],
            l2=[1e-3],
            weight_decay=[0.02],
            dropout=[0.25],
            out_dir=out,
        )
    assert sorted(result.files) == sorted(
        [
            "results_json",
            "results_csv",
            "loss_curves",
            "gradient_flow",
            "unit_fractions",
            "depth_profile",
        ]
    )
    write_report(out, comparison=result)
    return result, out, captured[start:]


@pytest.fixture(scope="module")
def cli_run(captured, tmp_path_factory):
    out = tmp_path_factory.mktemp("axes_cli")
    start = len(captured)
    argv = [
        "compare",
        "--dataset",
        "xor",
        "--initializers",
        "he_normal",
        "--activations",
        "tanh",
        "--depth",
        "2",
        "--width",
        "8",
        "--epochs",
        "1",
        "--max-train-samples",
        "32",
        "--optimizers",
        "sgd",
        "adam",
        "--learning-rates",
        "0.05",
        "--batch-sizes",
        "1",
        "--losses",
        "mse:softmax",
        "--l2",
        "0.0001",
        "--weight-decay",
        "0.001",
        "--dropout",
        "0.2",
        "--out",
        str(out),
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(argv)
    return code, out, buffer.getvalue(), captured[start:]


def test_every_axis_is_a_column_of_json_csv_and_report(api_run):
    result, out, _ = api_run
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["optimizer"] == "adamw" and run["learning_rate"] == pytest.approx(0.01)
    assert run["batch_size"] == "full"
    assert (run["loss"], run["output_activation"]) == ("binary_crossentropy", "sigmoid")
    assert run["l2"] == 1e-3 and run["weight_decay"] == pytest.approx(0.02)
    assert run["dropout"] == 0.25
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(NEW_COLUMNS) <= set(rows[0])
    assert rows[0]["optimizer"] == "adamw" and rows[0]["batch_size"] == "full"
    assert rows[0]["loss"] == "binary_crossentropy" and rows[0]["dropout"] == "0.25"
    assert float(rows[0]["update_ratio"]) == pytest.approx(run["update_ratio"])
    markdown = (out / "report.md").read_text()
    assert "| " + " | ".join(SETTINGS_HEADER) + " |" in markdown
    assert "AdamW(learning_rate=0.01, weight_decay=0.02)" in markdown
    assert "| full | binary_crossentropy | sigmoid | 0.001 | 0.02 | 0.25 |" in markdown
    assert "cs231n.github.io/neural-networks-3/#ratio" in markdown
    assert run["update_ratio_verdict"] in markdown
    assert "update/weight (median)" in (out / "report.html").read_text()
    assert "adamw" in result.format_settings_table()


def test_l2_weight_decay_and_dropout_reach_the_model_and_optimizer(api_run):
    _, _, (stats,) = api_run
    model = stats.model
    kernels = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    assert [layer.name for layer in kernels] == ["dense_1", "dense_2", "output"]
    for layer in kernels:
        assert layer.kernel_regularizer.get_config()["l2"] == pytest.approx(1e-3)
    assert len(model.losses) == 3  # one penalty per kernel enters the training loss
    assert type(model.optimizer).__name__ == "AdamW"
    assert model.optimizer.weight_decay == pytest.approx(0.02)
    rates = [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert rates == [0.25, 0.25]


def test_full_batch_is_one_update_per_epoch(api_run):
    result, _, (stats,) = api_run
    n_train = result.config["n_train"]
    assert n_train == 64
    assert int(stats.model.optimizer.iterations.numpy()) == 2  # 2 epochs, 1 step each
    assert list(stats.history["step"]) == [0, 1]
    assert result.runs[0]["grad_ratio_steps"] == [0, 1]


def test_update_ratio_column_is_gradient_stats_statistic(api_run, cli_run):
    runs = [(api_run[0].runs[0], api_run[2][0])]
    cli_results = json.loads((cli_run[1] / "results.json").read_text())["runs"]
    runs += list(zip(cli_results, cli_run[3]))
    assert len(runs) == 3
    for run, stats in runs:
        layers = stats.history["layers"]
        columns = [layers.index(name) for name in run["gradient_layers"]]
        table = np.asarray(stats.history["per_layer"]["update_ratio"], dtype=np.float64)
        values = table[:, columns]
        expected = float(np.median(values[np.isfinite(values)]))
        assert run["update_ratio"] == pytest.approx(expected, rel=1e-12)
        # The reading is of that same number, and true of it.
        assert run["update_ratio_verdict"] == update_ratio_verdict(run["update_ratio"])
        assert f"{run['update_ratio']:.1e}" in run["update_ratio_verdict"]
        low, high = UPDATE_RATIO_BAND
        if run["update_ratio"] > high:
            assert "too high" in run["update_ratio_verdict"]
        elif run["update_ratio"] < low:
            assert "too low" in run["update_ratio_verdict"]
        else:
            assert "within a decade" in run["update_ratio_verdict"]


def test_cli_flags_run_batch_size_one_and_label_the_runs(cli_run):
    code, out, stdout, stats = cli_run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    runs = results["runs"]
    assert [r["optimizer"] for r in runs] == ["sgd", "adam"]
    assert [r["label"] for r in runs] == ["he_normal + tanh + sgd", "he_normal + tanh + adam"]
    for run, stat in zip(runs, stats):
        assert run["batch_size"] == 1
        assert int(stat.model.optimizer.iterations.numpy()) == 32  # one update per sample
        assert run["learning_rate"] == pytest.approx(0.05)
        assert (run["loss"], run["output_activation"]) == ("mse", "softmax")
        assert run["l2"] == 1e-4 and run["dropout"] == 0.2
        assert stat.model.optimizer.weight_decay == pytest.approx(0.001)
        assert stat.model.get_layer("dense_1").kernel_regularizer.get_config()["l2"] == (
            pytest.approx(1e-4)
        )
    assert results["config"]["optimizers"] == ["sgd", "adam"]
    assert "update/weight = ||w_after - w_before|| / ||w_before||" in stdout.replace("\n", " ")
    assert "SGD(learning_rate=0.05, weight_decay=0.001)" in (out / "report.md").read_text()
    assert "mse + softmax" in stdout


def test_defaults_are_todays_optimizer_and_loss():
    import keras

    optimizer = _compile.make_run_optimizer("momentum", None, None, 0.05)
    assert type(optimizer) is keras.optimizers.SGD
    assert optimizer.get_config()["momentum"] == 0.9
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.05)
    assert not optimizer.weight_decay
    loss, metric = _compile.make_loss(*compare_module.DEFAULT_LOSS, 2)
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy) and metric == "accuracy"
    assert loss.get_config()["from_logits"] is True
    assert _compile.loss_pairs(None) == (("categorical_crossentropy", "softmax"),)
    assert _compile.loss_pairs(["mse", "bce", "cce"]) == (
        ("mse", "linear"),
        ("binary_crossentropy", "sigmoid"),
        ("categorical_crossentropy", "softmax"),
    )
    assert _compile.loss_pairs(("mse", "softmax")) == (("mse", "softmax"),)


@pytest.mark.parametrize(
    "pair",
    [
        ("mse", "softmax"),
        ("mse", "linear"),
        ("mae", "sigmoid"),
        ("huber", "linear"),
        ("binary_crossentropy", "sigmoid"),
        ("binary_crossentropy", "softmax"),
        ("categorical_crossentropy", "softmax"),
        ("categorical_crossentropy", "sigmoid"),
    ],
)
def test_loss_on_logits_equals_the_reference_on_one_hot_targets(pair):
    loss, activation = pair
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 0.0]], dtype="float32")
    labels = np.array([0, 2])
    fn, _ = _compile.make_loss(loss, activation, 3)
    measured = np.asarray(fn(labels, logits))
    reference = losses_module.loss_value(loss, activation, logits, np.eye(3)[labels])
    if pair == compare_module.DEFAULT_LOSS:  # today's Keras loss object: the batch mean
        reference = np.mean(reference)
    np.testing.assert_allclose(measured, reference, rtol=1e-5)


def test_optimizer_objects_are_cloned_and_factories_called():
    import keras

    mine = keras.optimizers.Adam(learning_rate=0.003)
    clone = _compile.make_run_optimizer(mine, None, None, 0.05)
    assert clone is not mine and type(clone) is keras.optimizers.Adam
    assert float(clone.learning_rate.numpy()) == pytest.approx(0.003)
    faster = _compile.make_run_optimizer(mine, 0.1, 0.01, 0.05)
    assert float(faster.learning_rate.numpy()) == pytest.approx(0.1)
    assert faster.weight_decay == pytest.approx(0.01)
    made = _compile.make_run_optimizer(lambda: keras.optimizers.RMSprop(), None, None, 1)
    assert type(made) is keras.optimizers.RMSprop
    with pytest.raises(TypeError, match="must return a keras.optimizers.Optimizer"):
        _compile.make_run_optimizer(lambda: "adam", None, None, 0.05)
    assert _compile.optimizer_label(mine) == "adam"
    assert _compile.optimizer_choices([mine, "sgd"]) == (mine, "sgd")


@pytest.mark.parametrize(
    "kwargs, error, fragments",
    [
        (dict(learning_rates=[-0.1]), ValueError, ["learning_rates must be > 0", "-0.1"]),
        (dict(learning_rates=["fast"]), TypeError, ["learning_rates must be a number"]),
        (dict(learning_rates=0.1, learning_rate=0.1), ValueError, ["not both"]),
        (dict(batch_sizes=[0]), ValueError, ["batch_sizes must hold integers >= 1", "=0"]),
        (dict(batch_sizes=[2.5]), TypeError, ["batch_sizes must hold integers", "2.5"]),
        (dict(batch_sizes=["ful"]), ValueError, ["'ful'", "'full'"]),
        (dict(optimizers=["adm"]), ValueError, ["Unknown optimizer 'adm'", "'adam'"]),
        (dict(optimizers=[42]), TypeError, ["optimizers must hold names", "42"]),
        (
            dict(losses=["categorical_crossentopy"]),
            ValueError,
            ["Unknown loss 'categorical_crossentopy'", "'categorical_crossentropy'"],
        ),
        (dict(losses=["mse:softplus"]), ValueError, ["'softplus'", "'softmax'"]),
        (dict(losses=["binary_crossentropy:linear"]), ValueError, ["needs probabilities"]),
        (dict(losses=[3]), TypeError, ["losses must hold loss names"]),
        (dict(l2=[-1e-4]), ValueError, ["l2 must be >= 0.0"]),
        (dict(weight_decay=[-0.1]), ValueError, ["weight_decay must be >= 0.0"]),
        (dict(dropout=[1.0]), ValueError, ["dropout must be a rate in [0, 1)"]),
        (dict(dropout=["half"]), TypeError, ["dropout must be a number"]),
    ],
)
def test_bad_values_are_refused_with_the_closest_names(kwargs, error, fragments):
    with pytest.raises(error) as info:
        compare(**{**TINY, **kwargs}, epochs=1)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["--learning-rates", "-0.1"], ["learning_rates must be > 0", "-0.1"]),
        (["--batch-sizes", "0"], ["batch_sizes must hold integers >= 1", "=0"]),
        (["--batch-sizes", "fulll"], ["'full'"]),
        (["--optimizers", "adma"], ["Unknown optimizer 'adma'", "'adam'"]),
        (["--losses", "mse_loss"], ["Unknown loss 'mse_loss'", "'mse'"]),
        (["--scaling", "pixels"], ["'pixel'"]),
    ],
)
def test_cli_bad_values_exit_2_with_one_line(argv, fragments, capsys, tmp_path):
    assert cli.main(["compare", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-init-lab: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert not (tmp_path / "out").exists()


def test_pixel_scaling_divides_by_the_declared_maximum(tmp_path):
    assert "pixel" in datasets.SCALINGS
    digits = datasets.load_digits(seed=0)
    assert digits.pixel_max == datasets.DIGITS_PIXEL_MAX == 16.0
    scaled = datasets.scale_inputs(digits, "pixel")
    np.testing.assert_allclose(scaled.x_train, digits.x_train / 16.0, rtol=1e-7)
    np.testing.assert_allclose(scaled.x_test, digits.x_test / 16.0, rtol=1e-7)
    assert float(scaled.x_train.max()) == 1.0 and float(scaled.x_train.min()) == 0.0
    assert "x / 16" in scaled.description
    path = tmp_path / "images.npz"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 4, 4, 1)).astype(np.uint8)
    np.savez(path, x_train=images, y_train=np.arange(20) % 2)
    from_file = datasets.load_npz(path)
    assert from_file.pixel_max == 255.0
    np.testing.assert_allclose(
        datasets.scale_inputs(from_file, "pixel").x_train, from_file.x_train / 255.0, rtol=1e-7
    )
    with pytest.raises(ValueError, match="declares none") as info:
        datasets.scale_inputs(datasets.make_xor(seed=0), "pixel")
    assert "'standardize'" in str(info.value)
    with pytest.raises(ValueError, match="declares none"):
        compare(**TINY, epochs=1, scalings=["pixel"])
