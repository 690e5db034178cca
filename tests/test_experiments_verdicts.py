"""Tests for experiments.verdicts and the run assembly of experiments.training.

What they show, on synthetic records with known answers (no training): the readers count
epochs from 1, read the end state from the last record, take the update-ratio median over
kernel layers only (a BatchNorm column with a huge ratio changes nothing), divide the first
layer's gradient norm by the last's; every branch of ``verdict`` (learns, slow, stuck with each
cause, diverged with and without one) at and around its thresholds, with a text that quotes
the numbers it rests on. Then tiny real runs (XOR, 2 hidden layers of 8 units, 1-2 epochs)
where the answer is known: a BatchNorm model whose update ratio is the kernel-only median of
what ``GradientStats`` recorded, a named optimizer without a learning rate that gets Keras's
own default (not the preset's), and a learning rate of 1e12 that diverges in epoch 1.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_init_lab.experiments import verdicts  # noqa: E402
from keras_init_lab.experiments.training import RESULT_COLUMNS, RunResult  # noqa: E402
from keras_init_lab.experiments.verdicts import (  # noqa: E402
    LEARNING_MARGIN,
    UNIT_PROBLEM_FRACTION,
    UNSCALED_INPUT_LIMIT,
    verdict,
)

# ------------------------------------------------------------------------ readers, synthetic


def test_epochs_to_target_counts_from_one_and_takes_the_first_epoch_at_the_target():
    curves = {"val_accuracy": [0.5, 0.89, 0.9, 0.95, 0.7], "loss": [1.0, 0.8, 0.6, 0.5, 0.5]}
    read = verdicts.read_curves(curves, target=0.9)
    assert read["epochs_to_target"] == 3  # 0.9 reached in the third epoch (>= target)
    assert read["final_accuracy"] == 0.7 and read["first_nonfinite_epoch"] is None
    assert verdicts.read_curves({"val_accuracy": [0.95]}, target=0.9)["epochs_to_target"] == 1
    assert verdicts.read_curves({"val_accuracy": [0.5, 0.6]}, 0.9)["epochs_to_target"] is None


def test_first_nonfinite_epoch_counts_from_one_and_final_values_are_the_last_epoch():
    curves = {
        "loss": [0.9, 0.7, math.inf, math.nan],
        "accuracy": [0.5, 0.6, 0.61, 0.62],
        "val_loss": [1.0, 0.8, 0.75, 0.5],
        "val_accuracy": [0.4, 0.5, 0.55, 0.65],
    }
    read = verdicts.read_curves(curves, target=0.9)
    assert read["first_nonfinite_epoch"] == 3
    assert (read["final_loss"], read["final_accuracy"], read["train_accuracy"]) == (
        0.5,
        0.65,
        0.62,
    )
    assert verdicts.read_curves({"val_loss": [math.nan]}, 0.9)["final_loss"] is None


def _activation_history(dead_start, dead_end, saturated=None):
    nan = math.nan
    saturated = saturated or [[nan, nan], [nan, nan]]
    return {
        "layers": ["dense_1", "dense_2"],
        "per_layer": {
            "std": np.array([[2.0, 0.5], [1.0, 1.0]]),
            "pre_std": np.array([[3.0, 1.0], [1.0, 1.0]]),
            "dead_fraction": np.array([dead_start, dead_end]),
            "saturation_fraction": np.array(saturated),
        },
    }


def test_dead_fraction_end_is_the_last_record_and_start_the_first():
    read = verdicts.read_activations(_activation_history([0.0, 0.2], [0.6, 1.0]))
    assert read["dead_fraction_start"] == pytest.approx(0.1)  # mean of 0.0, 0.2
    assert read["dead_fraction_end"] == pytest.approx(0.8)  # mean of 0.6, 1.0
    assert read["dead_fraction_start_per_layer"] == [0.0, 0.2]
    assert read["activation_variance_start"] == [4.0, 0.25]  # std squared, first record
    assert read["preactivation_variance_start"] == [9.0, 1.0]
    # Saturation does not apply to ReLU (NaN in the history): None, not 0.
    assert read["saturated_fraction_end"] is None and read["saturated_fraction_start"] is None
    tanh = verdicts.read_activations(
        _activation_history([math.nan] * 2, [math.nan] * 2, [[0.1, 0.3], [0.9, math.nan]])
    )
    assert tanh["dead_fraction_end"] is None
    assert tanh["saturated_fraction_end"] == pytest.approx(0.9)  # the NaN layer left out
    assert tanh["saturated_fraction_end_per_layer"] == [0.9, None]


def _gradient_history(norms, ratios, layers=("dense_1", "batchnorm_1", "dense_2", "output")):
    return {
        "step": np.arange(len(norms)),
        "layers": list(layers),
        "per_layer": {"norm": np.array(norms), "update_ratio": np.array(ratios)},
    }


def test_update_ratio_median_is_over_kernel_layers_only():
    # The BatchNorm column's ratios (gamma, beta: 0.5) would move every median if counted.
    history = _gradient_history(
        norms=[[1.0, 9.0, 2.0, 4.0], [1.0, 9.0, 2.0, 4.0]],
        ratios=[[1e-3, 0.5, 2e-3, 3e-3], [4e-3, 0.5, 5e-3, 6e-3]],
    )
    read = verdicts.read_gradients(history, ["dense_1", "dense_2", "output"])
    assert read["gradient_layers"] == ["dense_1", "dense_2", "output"]
    assert read["update_ratio"] == pytest.approx(3.5e-3)  # median of the six kernel values
    assert read["update_ratio_per_layer"] == pytest.approx([2.5e-3, 3.5e-3, 4.5e-3])
    assert read["gradient_norms_start"] == [1.0, 2.0, 4.0]
    assert verdicts.median_update_ratio([[1.0, np.inf], [3.0, np.nan]], [0, 1]) == (
        2.0,
        [2.0, None],
    )
    assert verdicts.kernel_columns(["inner/dense", "bn", "out"], ["dense", "out"]) == [0, 2]


def test_gradient_ratio_is_first_over_last_at_every_record():
    history = _gradient_history(
        norms=[[1e-7, 5.0, 1e-3, 1.0], [2.0, 5.0, 1.0, 0.5]],
        ratios=[[1e-3] * 4, [1e-3] * 4],
    )
    read = verdicts.read_gradients(history, ["dense_1", "dense_2", "output"])
    assert read["grad_ratio_start"] == pytest.approx(1e-7)
    assert read["grad_ratio_end"] == pytest.approx(4.0)
    assert read["grad_ratio_history"] == pytest.approx([1e-7, 4.0])
    assert read["grad_ratio_steps"] == [0, 1]
    assert read["hidden_gradients_zero"] is False
    assert verdicts.norm_ratio([2.0, 1.0, 0.5]) == 4.0
    assert verdicts.norm_ratio([0.0, 0.0, 2.0]) == 0.0  # zero first layer: 0, not an error
    assert verdicts.norm_ratio([3.0, 0.0]) == math.inf
    assert verdicts.norm_ratio([0.0, 0.0]) is None and verdicts.norm_ratio([]) is None
    kind, text = verdict(
        {**read, "final_accuracy": 0.5, "epochs_to_target": None}, target=0.9, chance=0.5
    )
    assert (kind, "vanishing gradients: first-layer gradient is 1.0e-07" in text) == (
        "stuck",
        True,
    )


def test_zero_hidden_gradients_are_read_from_the_first_record():
    history = _gradient_history(
        norms=[[0.0, 1.0, 0.0, 0.3], [0.2, 1.0, 0.1, 0.3]], ratios=[[0.0] * 4, [1e-3] * 4]
    )
    read = verdicts.read_gradients(history, ["dense_1", "dense_2", "output"])
    assert read["hidden_gradients_zero"] is True and read["grad_ratio_start"] == 0.0


def test_a_start_is_symmetric_only_when_every_kernel_is_constant():
    constant, random = np.full((3, 4), 0.25), np.random.default_rng(0).normal(size=(4, 2))
    assert verdicts.read_kernels([np.zeros((2, 3)), constant]) == {"symmetric_start": True}
    assert verdicts.read_kernels([constant, random]) == {"symmetric_start": False}
    assert verdicts.read_kernels([random, constant]) == {"symmetric_start": False}


def test_a_tiny_update_after_a_symmetric_start_names_the_initialization():
    """compare --quick's zero-initialized runs: update/weight 0.0 is the zeros' doing
    (symmetry), not "a learning rate too low or gradients that vanish"."""
    history = _gradient_history(norms=[[0.0, 0.0, 0.0, 0.3]] * 2, ratios=[[0.0] * 4] * 2)
    names = ["dense_1", "dense_2", "output"]
    zero = verdicts.read_gradients(history, names, symmetric_start=True)["update_ratio_verdict"]
    assert zero.startswith("update/weight 0.0e+00 is below 0.0001: the kernels start with all")
    assert "symmetry" in zero and "not the learning rate" in zero
    assert "learning rate too low" not in zero
    plain = verdicts.read_gradients(history, names)["update_ratio_verdict"]
    assert "a learning rate too low or gradients that vanish" in plain
    # A symmetric start with steps of the usual size is read as usual.
    assert verdicts.update_ratio_reading(2e-3, symmetric_start=True) == (
        "update/weight 2.0e-03 is within a decade of the ~1e-3 rule of thumb."
    )
    assert verdicts.update_ratio_reading(None, symmetric_start=True) is None


# ------------------------------------------------------------------ every verdict branch


def _evidence(**overrides):
    run = dict(
        first_nonfinite_epoch=None,
        epochs_to_target=None,
        final_accuracy=0.5,
        grad_ratio_start=1.0,
        symmetric_start=False,
        hidden_gradients_zero=False,
        dead_fraction_end=None,
        saturated_fraction_end=None,
        scaling="none",
        input_abs_max=1.0,
    )
    run.update(overrides)
    return run


#: (evidence, kind, fragments the text must hold, fragments it must not): target 0.9,
#: chance 0.5, so "slow" starts at 0.5 + LEARNING_MARGIN = 0.6.
BRANCHES = [
    (dict(epochs_to_target=3, final_accuracy=0.95), "learns", ["at epoch 3", "final 95%"], []),
    (
        dict(epochs_to_target=2, final_accuracy=0.91, dead_fraction_end=0.7),
        "learns",
        ["70% of ReLU units dead"],
        ["gradient first/last"],
    ),
    (dict(final_accuracy=0.6), "slow", ["60% validation accuracy", "10 points above"], []),
    (dict(final_accuracy=0.599), "stuck", ["less than 10 points above chance"], []),
    (dict(final_accuracy=None), "stuck", ["n/a validation accuracy"], []),
    (dict(symmetric_start=True), "stuck", ["symmetry is never broken"], ["exactly 0"]),
    (
        dict(symmetric_start=True, hidden_gradients_zero=True, grad_ratio_start=0.0),
        "stuck",
        ["symmetry", "exactly 0"],
        ["vanishing"],
    ),
    (dict(grad_ratio_start=2e-6), "stuck", ["vanishing gradients", "2.0e-06"], []),
    (dict(grad_ratio_start=5e4), "stuck", ["exploding gradients", "5.0e+04"], []),
    (dict(saturated_fraction_end=0.8), "stuck", ["80% of tanh/sigmoid outputs saturated"], []),
    (dict(saturated_fraction_end=UNIT_PROBLEM_FRACTION), "stuck", [], ["saturated"]),
    (dict(dead_fraction_end=0.51), "stuck", ["51% of ReLU units dead"], []),
    (dict(dead_fraction_end=UNIT_PROBLEM_FRACTION), "stuck", [], ["dead"]),
    (dict(input_abs_max=16.0), "stuck", ["largest |x| = 16", "--scaling standardize"], []),
    (dict(input_abs_max=UNSCALED_INPUT_LIMIT), "stuck", [], ["unscaled"]),
    (dict(input_abs_max=16.0, scaling="standardize"), "stuck", [], ["unscaled"]),
    (
        dict(final_accuracy=0.7, dead_fraction_end=0.9),
        "slow",
        ["20 points above chance 50%; 90% of ReLU units dead"],
        [],
    ),
    (
        dict(first_nonfinite_epoch=2, grad_ratio_start=5e4),
        "diverged",
        ["NaN/inf in epoch 2", "exploding gradients"],
        ["exploding updates"],
    ),
    (
        dict(first_nonfinite_epoch=1, epochs_to_target=1),
        "diverged",
        ["epoch 1 (exploding updates)"],
        [],
    ),
]


def test_every_verdict_branch_on_synthetic_evidence():
    # One test over the table (not parametrized): conftest clears the Keras session before
    # every test, which these pure-Python cases need not pay for.
    assert LEARNING_MARGIN == 0.10
    for overrides, kind, present, absent in BRANCHES:
        got, text = verdict(_evidence(**overrides), target=0.9, chance=0.5)
        assert got == kind, (overrides, text)
        assert "\n" not in text
        for fragment in present:
            assert fragment in text, (overrides, fragment, text)
        for fragment in absent:
            assert fragment not in text, (overrides, fragment, text)
    # A RunResult is read by attribute, a mapping by key: the same answer.
    run = RunResult(**_evidence(epochs_to_target=4, final_accuracy=0.93))
    assert verdict(run, 0.9, 0.5) == verdict(
        _evidence(epochs_to_target=4, final_accuracy=0.93), 0.9, 0.5
    )


def test_reaching_the_target_at_the_last_epoch_says_so():
    """ "reached 85% at epoch 20 (the last); final 88%": one moment, not two."""
    history = {"val_accuracy": [0.5] * 19 + [0.88]}
    last = _evidence(epochs_to_target=20, final_accuracy=0.88, history=history)
    assert verdict(last, 0.85, 0.5)[1].startswith(
        "learns: reached 85% validation accuracy at epoch 20 (the last); final 88%"
    )
    early = _evidence(epochs_to_target=4, final_accuracy=0.88, history=history)
    assert "at epoch 4 of 20; final 88%" in verdict(early, 0.85, 0.5)[1]
    assert verdicts.epoch_of(3) == "epoch 3"
    assert verdicts.epoch_of(2, {"loss": [1.0, 0.5]}) == "epoch 2 (the last)"


#: The columns of results.csv and the keys of a results.json run before RunResult existed:
#: the files keep them (readers of older files, the report, spreadsheets).
CSV_COLUMNS = (
    "run label initializer activation depth batchnorm residual scaling optimizer learning_rate "
    "batch_size loss output_activation l2 weight_decay dropout final_loss final_accuracy "
    "train_accuracy epochs_to_target grad_ratio_start dead_fraction_start dead_fraction_end "
    "saturated_fraction_start saturated_fraction_end grad_ratio_end update_ratio "
    "update_ratio_verdict verdict_kind verdict seconds log_dir"
).split()
JSON_ONLY_KEYS = (
    "optimizer_config input_abs_max history activation_layers activation_variance_start "
    "preactivation_variance_start dead_fraction_start_per_layer "
    "saturated_fraction_start_per_layer saturated_fraction_end_per_layer grad_ratio_history "
    "grad_ratio_steps update_ratio_per_layer first_nonfinite_epoch gradient_layers "
    "gradient_norms_start hidden_gradients_zero symmetric_start"
).split()


def test_run_result_fields_are_the_columns_and_round_trip_through_a_dict():
    assert RESULT_COLUMNS == tuple(CSV_COLUMNS)
    assert set(RunResult().to_dict()) == set(CSV_COLUMNS) | set(JSON_ONLY_KEYS)
    run = RunResult(label="a + b", initializer="a", history={"loss": [1.0]}, batch_size="full")
    assert RunResult.from_dict(run.to_dict()) == run
    assert dict(run)["history"] == {"loss": [1.0]} and run["batch_size"] == "full"
    assert "label" in run and "nope" not in run and run.get("nope", 3) == 3
    assert list(run.row()) == list(RESULT_COLUMNS)
    with pytest.raises(KeyError):
        run["nope"]
    with pytest.raises(TypeError, match="'nope'"):
        RunResult.from_dict({"label": "x", "nope": 1})
    with pytest.raises(TypeError, match="mapping"):
        RunResult.from_dict(["label"])
    assert RunResult(activation_variance_start=[2.0, 0.5]).variance_change == 0.25
    assert RunResult(activation_variance_start=[0.0, 0.5]).variance_change is None


# ----------------------------------------------------------------- tiny runs, known answers


@pytest.fixture(scope="module")
def recorded():
    """Replace GradientStats by a subclass that keeps its instances (history, model)."""
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


TINY = dict(
    dataset="xor",
    initializers=["he_normal"],
    activations=["relu"],
    depths=2,
    width=8,
    max_train_samples=64,
    verbose=0,
)


def test_batchnorm_run_update_ratio_is_the_kernel_median_and_adam_gets_its_own_rate(recorded):
    import keras

    from keras_init_lab.experiments import compare

    start = len(recorded)
    (run,) = compare(**TINY, batchnorm=True, epochs=2, batch_sizes=[16], optimizers=["adam"]).runs
    (stats,) = recorded[start:]
    layers = stats.history["layers"]
    assert [name for name in layers if name.startswith("batchnorm")] == [
        "batchnorm_1",
        "batchnorm_2",
    ]
    assert run.gradient_layers == ["dense_1", "dense_2", "output"]
    table = np.asarray(stats.history["per_layer"]["update_ratio"], dtype=np.float64)
    kernel = table[:, [layers.index(name) for name in run.gradient_layers]]
    everything = table[np.isfinite(table)]
    assert run.update_ratio == pytest.approx(float(np.median(kernel[np.isfinite(kernel)])))
    assert run.update_ratio != pytest.approx(float(np.median(everything)), rel=1e-6)
    norms = np.asarray(stats.history["per_layer"]["norm"], dtype=np.float64)
    first, last = norms[0, layers.index("dense_1")], norms[0, layers.index("output")]
    assert run.grad_ratio_start == pytest.approx(first / last, rel=1e-12)
    # Without a learning rate a named optimizer keeps Keras's own default (not the preset's).
    assert run.learning_rate == pytest.approx(
        float(keras.ops.convert_to_numpy(keras.optimizers.Adam().learning_rate))
    )
    assert run.optimizer_config.startswith("Adam(")
    curves = run.history["val_accuracy"]
    reached = [i + 1 for i, acc in enumerate(curves) if acc >= 0.9]
    assert run.epochs_to_target == (reached[0] if reached else None)


def test_every_named_optimizer_without_a_rate_gets_its_keras_default():
    import keras

    from keras_init_lab.experiments._compile import learning_rate_of, make_run_optimizer

    keras_defaults = {
        "sgd": keras.optimizers.SGD(),
        "rmsprop": keras.optimizers.RMSprop(),
        "adam": keras.optimizers.Adam(),
        "adamw": keras.optimizers.AdamW(),
    }
    for name, reference in keras_defaults.items():
        made = make_run_optimizer(name, None, None, preset_learning_rate=0.05)
        assert type(made) is type(reference)
        assert learning_rate_of(made) == pytest.approx(learning_rate_of(reference)), name
    momentum = make_run_optimizer("momentum", None, None, preset_learning_rate=0.05)
    assert learning_rate_of(momentum) == pytest.approx(0.05)
    assert learning_rate_of(make_run_optimizer("adam", 0.2, None, 0.05)) == pytest.approx(0.2)


def test_a_huge_learning_rate_diverges_in_epoch_one():
    from keras_init_lab.experiments import compare

    (run,) = compare(
        **TINY, epochs=2, optimizers=["sgd"], learning_rates=[1e12], batch_sizes=[8]
    ).runs
    assert run.first_nonfinite_epoch == 1, run.history["loss"]
    assert run.verdict_kind == "diverged" and "NaN/inf in epoch 1" in run.verdict
    assert not math.isfinite(run.history["loss"][0])
