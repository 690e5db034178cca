"""Tests for keras_init_lab.diagnostics.check_model (and the `check` CLI command)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from keras_init_lab import activations, initializers
from keras_init_lab.diagnostics import (
    DEEP_STACK_LAYERS,
    VARIANCE_BAND,
    Finding,
    ModelCheck,
    check_model,
)


def mlp(activation="relu", init="glorot_uniform", depth=6, width=64, inputs=32, out_act=None):
    layers = [keras.Input((inputs,))]
    layers += [
        keras.layers.Dense(width, activation=activation, kernel_initializer=init, name=f"h{i}")
        for i in range(depth)
    ]
    layers.append(keras.layers.Dense(1, activation=out_act, name="out"))
    return keras.Sequential(layers)


def rules(result, severity=None):
    return sorted({f.rule for f in result if severity is None or f.severity == severity})


def test_good_pairings_have_no_findings():
    for activation, init in [
        ("relu", "he_normal"),
        ("tanh", "glorot_uniform"),
        (activations.relu, initializers.HeUniform()),
        (activations.tanh, initializers.GlorotNormal()),
    ]:
        result = check_model(mlp(activation, init, depth=8))
        assert isinstance(result, ModelCheck)
        assert list(result) == [], str(result)
        assert not result.has_errors


@pytest.mark.parametrize(
    "init",
    [
        "glorot_uniform",
        keras.initializers.GlorotNormal(),
        initializers.GlorotUniform(),
        "xavier_normal",
    ],
)
def test_relu_with_glorot_in_a_deep_stack_is_a_warning(init):
    result = check_model(mlp("relu", init, depth=DEEP_STACK_LAYERS))
    findings = [f for f in result if f.rule == "relu-glorot"]
    assert len(findings) == 1 and findings[0].severity == "warning"
    assert findings[0].layer == "h0" and "he_normal" in findings[0].fix
    # A shallow stack is fine.
    assert "relu-glorot" not in rules(check_model(mlp("relu", init, depth=DEEP_STACK_LAYERS - 1)))


def test_relu_recognised_as_a_separate_layer_after_dropout():
    layers = [keras.Input((32,))]
    for i in range(DEEP_STACK_LAYERS):
        layers += [
            keras.layers.Dense(64, name=f"d{i}"),
            keras.layers.Dropout(0.1),
            keras.layers.ReLU(name=f"r{i}"),
        ]
    layers.append(keras.layers.Dense(1, name="out"))
    result = check_model(keras.Sequential(layers))
    (finding,) = [f for f in result if f.rule == "relu-glorot"]
    assert "r0" in finding.message
    assert result.predictions[0].activation == "relu"


def test_batch_norm_between_kernel_and_relu_silences_the_glorot_rule():
    layers = [keras.Input((32,))]
    for i in range(DEEP_STACK_LAYERS + 2):
        layers += [
            keras.layers.Dense(64, name=f"d{i}"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
        ]
    layers.append(keras.layers.Dense(1, name="out"))
    result = check_model(keras.Sequential(layers))
    assert "relu-glorot" not in rules(result)
    # Normalization resets the predicted scale: every layer stays in the band.
    assert all(p.in_band for p in result.predictions)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", keras.activations.tanh])
@pytest.mark.parametrize("init", ["he_normal", initializers.HeUniform(), "he_avg_normal"])
def test_saturating_activation_with_he_is_a_warning(activation, init):
    result = check_model(mlp(activation, init, depth=2))
    assert "saturating-he" in rules(result, "warning")


def test_batch_norm_before_tanh_silences_the_he_rule():
    layers = [keras.Input((32,))]
    for _ in range(3):
        layers += [
            keras.layers.Dense(64, kernel_initializer="he_normal"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("tanh"),
        ]
    layers.append(keras.layers.Dense(1))
    assert "saturating-he" not in rules(check_model(keras.Sequential(layers)))


@pytest.mark.parametrize(
    "init",
    [
        "zeros",
        keras.initializers.Constant(5.0),
        initializers.Constant(5.0),
        keras.initializers.Ones(),
    ],
)
def test_zero_or_constant_kernel_is_an_error(init):
    result = check_model(
        keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, activation="tanh", kernel_initializer=init, name="sym"),
                keras.layers.Dense(1, name="out"),
            ]
        )
    )
    (error,) = result.errors
    assert error.rule == "symmetric-init" and error.layer == "sym"
    assert "same gradient" in error.message and "kernel_initializer=" in error.fix
    assert result.has_errors


def test_single_unit_constant_layer_is_not_a_symmetry_error():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                1, activation="sigmoid", kernel_initializer="zeros", name="logistic"
            ),
        ]
    )
    assert not check_model(model).has_errors


def test_sigmoid_in_deep_hidden_stack_warns_with_the_slide_number():
    deep = check_model(mlp("sigmoid", "glorot_uniform", depth=20))
    (finding,) = [f for f in deep if f.rule == "sigmoid-deep"]
    assert finding.severity == "warning" and "9.1e-13" in finding.message
    # The severity follows the predicted gradient, quoted in the message.
    gains = [p.backward_gain for p in deep.predictions[:20]]
    assert f"multiplied by {np.sqrt(np.prod(gains)):.2g}" in finding.message
    assert "a warning below 0.01" in finding.message
    shallow = check_model(mlp("sigmoid", "glorot_uniform", depth=2))
    (note,) = [f for f in shallow if f.rule == "sigmoid-deep"]
    assert note.severity == "info"
    # Sigmoid only at the output: no finding at all.
    assert "sigmoid-deep" not in rules(check_model(mlp("relu", "he_normal", out_act="sigmoid")))


def test_softmax_in_hidden_layer_warns_but_not_at_the_output():
    hidden = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="softmax", name="bad"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    result = check_model(hidden)
    assert [f.layer for f in result if f.rule == "hidden-softmax"] == ["bad"]
    separate = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, name="bad"),
            keras.layers.Softmax(),
            keras.layers.Dense(3, name="out"),
            keras.layers.Softmax(),
        ]
    )
    assert [f.layer for f in check_model(separate) if f.rule == "hidden-softmax"] == ["bad"]


def test_multi_output_model_head_is_an_output_not_hidden():
    inputs = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal")(inputs)
    head_a = keras.layers.Dense(3, activation="softmax", name="head_a")(h)
    head_b = keras.layers.Dense(4, activation="relu", kernel_initializer="he_normal")(h)
    head_b = keras.layers.Dense(2, activation="softmax", name="head_b")(head_b)
    model = keras.Model(inputs, [head_a, head_b])
    assert "hidden-softmax" not in rules(check_model(model))


def test_leaky_relu_without_the_leaky_gain():
    layers = [keras.Input((32,))]
    for i in range(10):
        layers += [
            keras.layers.Dense(64, kernel_initializer="he_normal", name=f"d{i}"),
            keras.layers.LeakyReLU(negative_slope=0.3),
        ]
    layers.append(keras.layers.Dense(1, name="out"))
    result = check_model(keras.Sequential(layers))
    leaky = [f for f in result if f.rule == "leaky-gain"]
    # One finding for the stack (identical findings over layers are grouped); it used
    # to be ten identical paragraphs.
    assert len(leaky) == 1 and all(f.severity == "warning" for f in leaky)
    assert "in 10 layer(s) (d0, d1, d2, d3 and 6 more)" in leaky[0].message
    assert "negative_slope=0.3" in leaky[0].fix
    # 1 + 0.3^2 = 1.09 per layer (He for ReLU on square layers), 1.09^10 = 2.37 over the stack.
    assert (
        "factor 1.09 per layer" in leaky[0].message and "1.09^10 = 2.37 over 10" in leaky[0].message
    )
    # The matching leaky He is silent; the course's 0.01 slope with plain He is only a note.
    good = keras.Sequential(
        [keras.Input((32,))]
        + [
            keras.layers.Dense(
                64,
                activation=activations.leaky_relu,
                kernel_initializer=initializers.LeakyHeNormal(0.01),
            )
            for _ in range(6)
        ]
        + [keras.layers.Dense(1)]
    )
    assert "leaky-gain" not in rules(check_model(good))
    small = keras.Sequential(
        [keras.Input((32,))]
        + [
            keras.layers.Dense(
                64, activation=activations.leaky_relu, kernel_initializer="he_normal"
            )
            for _ in range(3)
        ]
        + [keras.layers.Dense(1)]
    )
    assert rules(check_model(small), "info") == ["leaky-gain"]


def test_predicted_variance_follows_the_lecture_002_recursion():
    """100-wide ReLU layers: He keeps Var(f) = 2, Glorot halves it, sigma^2 = 0.01 too."""
    he = check_model(mlp("relu", "he_normal", depth=10, width=100, inputs=100))
    assert [p.pre_activation_variance for p in he.predictions[:10]] == pytest.approx([2.0] * 10)
    glorot = check_model(mlp("relu", initializers.GlorotNormal(), depth=10, width=100, inputs=100))
    expected = [0.5**k for k in range(10)]
    assert [p.pre_activation_variance for p in glorot.predictions[:10]] == pytest.approx(expected)
    (band,) = [f for f in glorot if f.rule == "variance-band"]
    assert band.layer == "h7"  # 0.5^7 = 0.0078 < 0.01
    assert glorot.predictions[6].in_band is True and glorot.predictions[7].in_band is False


@pytest.fixture(scope="module")
def measured_vs_predicted():
    """Slow obvious path: measure pre-activation variances on standardized Gaussian inputs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 256)).astype("float32")
    cases = {}
    for name, activation, init in [
        ("tanh_he", "tanh", initializers.HeNormal(seed=1)),
        ("sigmoid_glorot", "sigmoid", initializers.GlorotUniform(seed=2)),
        ("gelu_he", "gelu", initializers.HeNormal(seed=3)),
        ("relu_orth", "relu", keras.initializers.Orthogonal(seed=4)),
    ]:
        model = mlp(activation, init, depth=4, width=256, inputs=256)
        predicted = [p.pre_activation_variance for p in check_model(model).predictions[:4]]
        h, measured = x, []
        for layer in model.layers[:4]:
            z = h @ np.asarray(layer.kernel) + np.asarray(layer.bias)
            measured.append(float(np.var(z)))
            h = np.asarray(layer.activation(z))
        cases[name] = (predicted, measured)
    return cases


@pytest.mark.parametrize("case", ["tanh_he", "sigmoid_glorot", "gelu_he", "relu_orth"])
def test_prediction_matches_a_measured_forward_pass(measured_vs_predicted, case):
    predicted, measured = measured_vs_predicted[case]
    # Sigmoid's non-zero mean makes units correlated a little; 15% covers sampling at 256 wide.
    np.testing.assert_allclose(predicted, measured, rtol=0.15)


def test_residual_add_sums_the_branch_variances():
    inputs = keras.Input((64,))
    h = keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal", name="stem")(
        inputs
    )
    for i in range(2):
        branch = keras.layers.Dense(
            64, activation="relu", kernel_initializer="he_normal", name=f"b{i}"
        )(h)
        h = keras.layers.Add()([h, branch])
    out = keras.layers.Dense(1, name="out")(h)
    predictions = {p.layer: p for p in check_model(keras.Model(inputs, out)).predictions}
    # stem: 2; relu halves (1); b0 sees 1 -> 2; add: 1 + 1 = 2; b1 sees 2 -> 4.
    assert predictions["b0"].pre_activation_variance == pytest.approx(2.0)
    assert predictions["b1"].pre_activation_variance == pytest.approx(4.0)


def test_nested_models_and_convolutions_are_walked():
    inner = keras.Sequential(
        [
            keras.Input((6, 6, 8)),
            keras.layers.Conv2D(
                8, 3, activation="tanh", kernel_initializer="he_normal", name="inner_conv"
            ),
        ],
        name="inner",
    )
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer="he_uniform", name="conv")(
        inputs
    )
    h = inner(h)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(h))
    result = check_model(keras.Model(inputs, out))
    assert [f.layer for f in result if f.rule == "saturating-he"] == ["inner_conv"]
    conv = result.predictions[0]
    assert (conv.fan_in, conv.pre_activation_variance) == (27, pytest.approx(2.0))
    # The nested model's input passes the outer signal on: relu output E[h^2] = 1, He -> 2.
    assert result.predictions[1].pre_activation_variance == pytest.approx(2.0)


def test_unbuilt_model_still_gets_pairing_rules():
    model = keras.Sequential(
        [keras.layers.Dense(8, kernel_initializer="zeros"), keras.layers.Dense(1)]
    )
    result = check_model(model)
    assert rules(result, "error") == ["symmetric-init"]
    assert result.predictions[0].pre_activation_variance is None


def test_report_text_and_finding_fields():
    result = check_model(
        keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, kernel_initializer="zeros", name="z"),
                keras.layers.Dense(1, name="out"),
            ]
        )
    )
    text = str(result)
    assert "1 error(s)" in text and "ERROR   z:" in text and "fix:" in text
    assert "Predicted forward signal" in text and f"{VARIANCE_BAND[1]:g}" in text
    finding = result.errors[0]
    assert isinstance(finding, Finding)
    assert finding.severity in ("error", "warning", "info")
    assert str(check_model(mlp("relu", "he_normal"))).count("No problems found.") == 1


def test_bad_arguments():
    with pytest.raises(TypeError, match="needs a Keras model.*str"):
        check_model("model.keras")
    with pytest.raises(ValueError, match=r"band must be \(low, high\)"):
        check_model(mlp(), band=(10, 1))


# ------------------------------------------------------------------ `keras-init-lab check`


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    bad = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8,
                activation=activations.tanh,
                name="sym",
                kernel_initializer=initializers.Constant(5.0),
            ),
            keras.layers.Dense(1, activation=activations.sigmoid, name="out"),
        ]
    )
    good = mlp(activations.relu, initializers.HeNormal(seed=0), depth=3)
    warn = mlp("relu", "glorot_uniform", depth=DEEP_STACK_LAYERS)
    paths = {}
    for name, model in (("bad", bad), ("good", good), ("warn", warn)):
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


def test_cli_check_exits_1_on_errors(saved_models, capsys):
    from keras_init_lab import cli

    assert cli.main(["check", str(saved_models["bad"])]) == 1
    out = capsys.readouterr().out
    assert "ERROR   sym:" in out and "same gradient" in out
    assert "Predicted forward signal" in out


def test_cli_check_exits_0_on_warnings_or_nothing(saved_models, capsys):
    from keras_init_lab import cli

    assert cli.main(["check", str(saved_models["good"])]) == 0
    assert "No problems found." in capsys.readouterr().out
    assert cli.main(["check", str(saved_models["warn"])]) == 0
    assert "WARNING h0:" in capsys.readouterr().out


def test_cli_check_bad_arguments_exit_2(tmp_path, capsys):
    from keras_init_lab import cli

    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    assert "Exit status 1 when any finding is an error" in capsys.readouterr().out

    assert cli.main(["check", str(tmp_path / "missing.keras")]) == 2
    assert "no such model file" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    assert cli.main(["check", str(text)]) == 2
    assert ".keras or .h5" in capsys.readouterr().err
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip file")
    assert cli.main(["check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "cannot load" in err
    # A corrupt archive exists: it is not reported as missing.
    assert "exists (14 bytes) but is not a valid Keras archive" in err
    assert "not found" not in err.lower() and "no such" not in err


@pytest.mark.parametrize(
    "init",
    [
        keras.initializers.GlorotNormal(seed=1),
        keras.initializers.HeUniform(seed=2),
        keras.initializers.LecunNormal(seed=3),
        keras.initializers.Orthogonal(gain=1.5, seed=4),
        keras.initializers.RandomNormal(mean=0.1, stddev=0.05, seed=5),
        keras.initializers.RandomUniform(-0.2, 0.1, seed=6),
        keras.initializers.TruncatedNormal(stddev=0.1, seed=7),
        keras.initializers.VarianceScaling(scale=3.0, mode="fan_out", seed=8),
        initializers.HeAvgNormal(seed=9),
        initializers.LeakyHeUniform(0.2, seed=10),
        initializers.SmallUniform(seed=11),
        initializers.Orthogonal(seed=12),
        initializers.GlorotHeuristicUniform(seed=13),
    ],
)
def test_weight_second_moment_matches_the_sampled_kernel(init):
    """Fast path (formula per initializer class) against the slow obvious one (sample, measure)."""
    model = keras.Sequential(
        [keras.Input((300,)), keras.layers.Dense(200, kernel_initializer=init)]
    )
    (prediction,) = check_model(model).predictions
    kernel = np.asarray(model.layers[0].kernel, dtype=np.float64)
    assert prediction.weight_variance == pytest.approx(np.mean(kernel**2), rel=0.03)


def test_zero_output_kernel_is_info_not_a_symmetry_error():
    # Each output unit receives its own error signal, so a zero read-out does break symmetry.
    result = check_model(
        keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(
                    8, activation="relu", kernel_initializer="he_normal", name="hidden"
                ),
                keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros", name="out"),
            ]
        )
    )
    assert not result.has_errors
    assert [(f.severity, f.rule, f.layer) for f in result if f.layer == "out"] == [
        ("info", "zero-output-kernel", "out")
    ]


# ------------------------------------------------- rules a refactor could silently break


def test_batch_norm_resets_the_predicted_second_moment_to_one():
    """Kernel -> BN -> ReLU: BN gives E[h^2] = 1 whatever came in; ReLU halves it."""
    inputs = keras.Input((100,))
    h = keras.layers.Dense(
        100, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), name="big"
    )(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Dense(100, kernel_initializer="he_normal", name="after_bn_relu")(h)
    h = keras.layers.BatchNormalization()(h)
    out = keras.layers.Dense(10, kernel_initializer="lecun_normal", name="after_bn")(h)
    predictions = {p.layer: p for p in check_model(keras.Model(inputs, out)).predictions}
    assert predictions["big"].pre_activation_variance == pytest.approx(100.0)
    # 100 * (2/100) * (1/2): BN reset to 1, then ReLU halves it.
    assert predictions["after_bn_relu"].pre_activation_variance == pytest.approx(1.0)
    # 100 * (1/100) * 1: BN reset to 1 right before the layer.
    assert predictions["after_bn"].pre_activation_variance == pytest.approx(1.0)


def _merged(merge_layer, branches=3):
    inputs = keras.Input((64,))
    outputs = [
        keras.layers.Dense(
            64, activation="relu", kernel_initializer="he_normal", name=f"branch{i}"
        )(inputs)
        for i in range(branches)
    ]
    merged = merge_layer(outputs)
    out = keras.layers.Dense(1, kernel_initializer="he_normal", name="after")(merged)
    predictions = {p.layer: p for p in check_model(keras.Model(inputs, out)).predictions}
    return predictions["after"].pre_activation_variance


def test_average_merge_divides_the_summed_second_moments_by_n_squared():
    # Each He + ReLU branch gives E[h^2] = 1; the mean of 3 independent ones has 3/3^2 = 1/3,
    # and the He layer after it doubles that.
    assert _merged(keras.layers.Average()) == pytest.approx(2.0 / 3.0)
    assert _merged(keras.layers.Average(), branches=2) == pytest.approx(2.0 / 4.0 * 2.0)


def test_add_merge_sums_the_branch_second_moments():
    assert _merged(keras.layers.Add()) == pytest.approx(2.0 * 3.0)


def test_prediction_uses_fan_in_not_fan_out():
    """32 -> 128 -> 16: He keeps Var(f) = 2 only with fan_in; fan_out would give 8 and 0.25."""
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(128, activation="relu", kernel_initializer="he_normal", name="wide"),
            keras.layers.Dense(
                16, activation="relu", kernel_initializer="he_normal", name="narrow"
            ),
        ]
    )
    predictions = check_model(model).predictions
    assert [(p.fan_in, p.fan_out) for p in predictions] == [(32, 128), (128, 16)]
    assert [p.pre_activation_variance for p in predictions] == pytest.approx([2.0, 2.0])


def test_relu_glorot_finding_names_exactly_the_layers_of_the_stack():
    model = keras.Sequential(
        [keras.Input((32,)), keras.layers.Dense(32, activation="tanh", name="t0")]
        + [keras.layers.Dense(32, activation="relu", name=f"r{i}") for i in range(6)]
        + [keras.layers.Dense(1, name="out")]
    )
    (finding,) = [f for f in check_model(model) if f.rule == "relu-glorot"]
    assert finding.layer == "r0"
    assert "r0, r1, r2, r3 and 2 more" in finding.message
    assert "t0" not in finding.message and "2^-6" in finding.message


def test_relu_glorot_blames_the_variance_not_the_scale_for_dead_units():
    (finding,) = [
        f for f in check_model(mlp("relu", "glorot_uniform", 8)) if f.rule == "relu-glorot"
    ]
    # Same draws at He scale: the same dead units (lessons.dead_units); the message says so
    # and names what does cause or change them.
    assert "same dead units" in finding.message and "not dead units" in finding.message
    assert "dead neurons from a low variance" not in finding.message
    for cause in ("depth", "signs of the draws", "learning-rate blow-up", "leaky", "BatchNorm"):
        assert cause in finding.message, cause
    assert "keeps the variance" in finding.fix and "dead" not in finding.fix


def test_relu_glorot_follows_the_predicted_variance_not_the_depth():
    # A Glorot + ReLU funnel: Var(W) = 2/(fan_in + fan_out) is close to He's 2/fan_in when
    # fan_out << fan_in, so 6 layers lose less than a decade: no finding.
    widths = [512, 256, 128, 64, 32, 16]
    funnel = keras.Sequential(
        [keras.Input((1024,))]
        + [keras.layers.Dense(w, activation="relu", name=f"f{i}") for i, w in enumerate(widths)]
        + [keras.layers.Dense(1, name="out")]
    )
    result = check_model(funnel)
    variances = [p.pre_activation_variance for p in result.predictions[:6]]
    assert variances[-1] > 0.1 * variances[0]
    assert "relu-glorot" not in rules(result)


def test_thirty_tanh_layers_with_xavier_are_not_called_deep():
    # Lecture 004's "hard to train beyond 4-5 layers" does not hold for Xavier + tanh: the
    # predicted gradient norm falls only ~6.5x over 30 square layers (the course companion's
    # errata); no rule counts tanh layers.
    result = check_model(mlp("tanh", "glorot_uniform", depth=30, width=64, inputs=64))
    assert list(result) == [], str(result)
    gains = [p.backward_gain for p in result.predictions[:30]]
    assert 0.05 < float(np.sqrt(np.prod(gains))) < 0.5


# ------------------------------------------------------------ `check` right and readable


def deep(activation, init, depth=20, width=64, out_activation=None, out_units=1, **out):
    layers = [keras.Input((32,))] + [
        keras.layers.Dense(
            width, activation=activation, kernel_initializer=init, name=f"dense_{i + 1}"
        )
        for i in range(depth)
    ]
    layers.append(keras.layers.Dense(out_units, activation=out_activation, name="output", **out))
    return keras.Sequential(layers)


def test_identical_findings_over_layers_are_one_finding_naming_the_range():
    result = check_model(deep("relu", "zeros"))
    (error,) = result.errors
    assert error.rule == "symmetric-init" and len(error.layers) == 20
    assert error.positions == tuple(range(1, 21))
    assert error.where == "dense_1 .. dense_20 (Dense/Conv layers 1-20)"
    text = str(result)
    assert (
        text.count("ERROR") == 1 and "ERROR   dense_1 .. dense_20 (Dense/Conv layers 1-20):" in text
    )
    # The zero signal after the zero kernels is their consequence, not a second finding.
    assert "variance-band" not in rules(result)


def test_grouped_range_lists_only_the_layers_that_have_the_finding():
    layers = (
        [keras.Input((16,))]
        + [
            keras.layers.Dense(
                16,
                activation="tanh",
                name=f"h{i}",
                kernel_initializer="zeros" if i in (0, 1, 2, 5) else "glorot_uniform",
            )
            for i in range(7)
        ]
        + [keras.layers.Dense(1, name="out")]
    )
    (error,) = check_model(keras.Sequential(layers)).errors
    assert error.layers == ("h0", "h1", "h2", "h5") and error.positions == (1, 2, 3, 6)
    assert error.where == "h0 .. h5 (Dense/Conv layers 1-3, 6)"


def _proposed_initializers(fix):
    import re

    return re.findall(r"kernel_initializer='([a-z_]+)'", fix)


def test_a_fix_never_proposes_the_initializer_the_layer_already_has():
    # 7 Glorot + ReLU layers, then a 1000-way softmax output with glorot_uniform: the output is
    # the first layer outside the band, but its own initializer is the course's pairing.
    model = keras.Sequential(
        [keras.Input((100,))]
        + [keras.layers.Dense(100, activation="relu", name=f"dense_{i + 1}") for i in range(7)]
        + [
            keras.layers.Dense(
                1000, activation="softmax", kernel_initializer="glorot_uniform", name="output"
            )
        ]
    )
    result = check_model(model)
    (band,) = [f for f in result if f.rule == "variance-band"]
    assert band.layer == "output"
    assert "glorot_uniform" not in band.fix and _proposed_initializers(band.fix) == []
    assert "not the cause" in band.fix and "dense_1 .. dense_7" in band.fix
    assert f"{result.predictions[-1].pre_activation_variance:.3g}" in band.message
    # Across the rules: every proposed initializer differs from the layer's own family.
    from keras_init_lab._layers import walk_layers
    from keras_init_lab.diagnostics.describe import describe_layers
    from keras_init_lab.diagnostics.rules import _already_has

    for candidate in (
        model,
        deep("sigmoid", "he_normal"),
        deep("relu", "zeros"),
        mlp("relu", "glorot_uniform", depth=8),
        mlp("tanh", "he_normal"),
    ):
        entries = {e.name: e for e in describe_layers(candidate, walk_layers(candidate))}
        for finding in check_model(candidate):
            for name in _proposed_initializers(finding.fix):
                for layer in finding.layers:
                    assert not _already_has(entries[layer], name), (finding.rule, layer, name)


def test_he_sigmoid_message_agrees_with_the_predicted_table():
    result = check_model(deep("sigmoid", "he_normal"))
    variances = [p.pre_activation_variance for p in result.predictions[:20]]
    assert variances[-1] == pytest.approx(0.555, abs=1e-3)  # flat, not growing
    assert max(variances[5:]) - min(variances[5:]) < 1e-3
    (he,) = [f for f in result if f.rule == "saturating-he"]
    assert "pushed into saturation" not in he.message and "grows" not in he.message
    assert "does not grow" in he.message and f"{variances[-1]:.3g}" in he.message
    # Sigmoid's own lesson (slope <= 0.25, lecture 004), not the Kaiming + tanh line.
    assert "lecture 004" in he.message and "<= 0.25" in he.message
    assert "Kaiming" not in he.message and "tanh" not in he.message
    # The backward factor quoted is the geometric mean of the table's column.
    gains = [p.backward_gain for p in result.predictions[:20]]
    mean_gain = float(np.exp(np.mean(np.log(gains))))
    assert f"by {mean_gain:.3g} (fan_out" in he.message
    assert f"{np.prod(gains):.3g} over the 20 layer(s)" in he.message


def test_he_tanh_cites_the_kaiming_tanh_line_with_its_numbers():
    (he,) = [f for f in check_model(deep("tanh", "he_normal")) if f.rule == "saturating-he"]
    assert "lecture 002" in he.message and "Kaiming + tanh" in he.message
    assert "sigmoid" not in he.message


def test_fan_average_he_with_leaky_relu_is_described_as_it_is_defined():
    strong = check_model(deep(keras.layers.LeakyReLU(0.2), "he_avg_normal", depth=6))
    (finding,) = [f for f in strong if f.rule == "leaky-gain"]
    assert "fan average" in finding.message and "4/(fan_in + fan_out)" in finding.message
    assert "plain He" not in finding.message
    predicted = [p.pre_activation_variance for p in strong.predictions[:6]]
    factor = (predicted[-1] / predicted[0]) ** (1 / 5)
    assert factor == pytest.approx(1.04, abs=5e-3)
    assert "factor 1.04 per layer" in finding.message
    weak = check_model(deep(activations.leaky_relu, "he_avg_normal", depth=6))
    (note,) = [f for f in weak if f.rule == "leaky-gain"]
    assert note.severity == "info"
    assert "preserved (1.0001, within 1% of 1) per layer" in note.message
    assert " 1x" not in note.message and "= 1 over" not in note.message
    assert "1.0001^6 = 1.0006 over 6 layer(s)" in note.message


def test_factors_are_never_printed_as_a_bare_one():
    from keras_init_lab.diagnostics.report import format_factor

    assert format_factor(1.0001) == "1.0001"
    assert format_factor(1.0006) == "1.0006"
    assert format_factor(0.99993) == "0.99993"
    assert format_factor(1.04) == "1.04" and format_factor(2.367) == "2.37"
    assert format_factor(1.0001, 0.01).startswith("preserved (1.0001")
    assert format_factor(1.5, 0.01) == "1.5"


def test_messages_cite_lectures_by_number_and_title_only():
    texts = [
        str(check_model(m))
        for m in (
            deep("relu", "zeros"),
            deep("sigmoid", "he_normal"),
            mlp("relu", "glorot_uniform", 8),
            deep(keras.layers.LeakyReLU(0.3), "he_normal", depth=6),
        )
    ]
    for text in texts:
        assert "course notes" not in text and ".txt" not in text and "seed" not in text
    assert "lecture 001, parameter initialization" in texts[0]


def test_load_model_file_tells_missing_from_corrupt(tmp_path):
    from keras_init_lab.diagnostics import load_model_file

    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_model_file(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"PK but not really a zip")
    with pytest.raises(ValueError, match="exists .* not a valid Keras archive"):
        load_model_file(corrupt)
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="exists .* not a valid HDF5 file"):
        load_model_file(fake_h5)
    with pytest.raises(TypeError, match="path must be a file path"):
        load_model_file(3)
    good = tmp_path / "good.keras"
    mlp("relu", "he_normal", depth=1).save(good)
    assert [layer.name for layer in load_model_file(good).layers] == ["h0", "out"]


def test_band_validation_follows_the_exception_policy():
    with pytest.raises(TypeError, match="band must be"):
        check_model(mlp(), band=0.5)
    with pytest.raises(TypeError, match="band\\[0\\] must be a number"):
        check_model(mlp(), band=("a", 1))
    with pytest.raises(ValueError, match="band\\[0\\] must be > 0"):
        check_model(mlp(), band=(0, 1))
    with pytest.raises(ValueError, match="band must be"):
        check_model(mlp(), band=(1, 2, 3))


def test_walk_layers_flattens_nested_models_in_forward_order():
    from keras_init_lab._layers import walk_layers

    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="b"), keras.layers.ReLU(name="c")],
        name="inner",
    )
    inputs = keras.Input((2,))
    h = keras.layers.Dense(4, name="a")(inputs)
    out = keras.layers.Dense(1, name="d")(inner(h))
    names = [layer.name for layer in walk_layers(keras.Model(inputs, out))]
    assert names[-4:] == ["a", "b", "c", "d"]
    assert not any(isinstance(layer, keras.Model) for layer in walk_layers(inner))
