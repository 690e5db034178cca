"""Tests for experiments.propagation and plots.plot_propagation.

What they show: lecture 002's defaults give its qualitative result (0.02 stable over 50 layers,
0.001 and 0.01 vanishing, 0.1 and 1 exploding); the measured per-layer ratio matches the ReLU
prediction D sigma^2 / 2 (and the numerical mean-field prediction for tanh and leaky ReLU);
the quadrature agrees with scipy's adaptive integration; float32 overflow and underflow are
reported, not raised, and the JSON stays strict; seeds reproduce; bad inputs are named.
"""

import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate, stats  # noqa: E402

from keras_init_lab import activations  # noqa: E402
from keras_init_lab.experiments import propagate  # noqa: E402
from keras_init_lab.experiments import propagation as prop  # noqa: E402


@pytest.fixture(scope="module")
def seed_002(tmp_path_factory):
    out = tmp_path_factory.mktemp("propagation")
    # The deprecated out_dir still writes propagation.json and .png (test_png_is_written).
    with pytest.warns(DeprecationWarning, match="report.write_propagation"):
        return propagate(seed=0, out_dir=out), out


def _by_sigma(result):
    return {row["sigma2"]: row for row in result.settings}


def test_defaults_are_seed_002s_setup(seed_002):
    result, _ = seed_002
    assert result.config["depth"] == 50 and result.config["width"] == 100
    assert sorted(_by_sigma(result)) == [0.001, 0.01, 0.02, 0.1, 1.0]
    assert {row["activation"] for row in result.settings} == {"relu"}
    assert all(len(row["forward_variance"]) == 50 for row in result.settings)


def test_defaults_reproduce_the_seed_qualitatively(seed_002):
    rows = _by_sigma(seed_002[0])
    assert rows[0.02]["verdict"] == "stable"
    assert rows[0.02]["forward_verdict"] == rows[0.02]["backward_verdict"] == "stable"
    assert rows[0.001]["verdict"] == rows[0.01]["verdict"] == "vanishing"
    assert rows[0.1]["verdict"] == rows[1.0]["verdict"] == "exploding"
    # He's 0.02 keeps the forward variance near its first-layer value D * sigma^2 = 2.
    forward = np.array(rows[0.02]["forward_variance"])
    assert np.all((forward > 2 / 10) & (forward < 2 * 10))
    # 0.01 loses half per layer: 0.5 ** 49 ~ 1.8e-15 over the depth.
    assert rows[0.01]["forward_variance"][-1] / rows[0.01]["forward_variance"][0] < 1e-12


def test_relu_prediction_matches_the_measured_per_layer_ratio(seed_002):
    for sigma2, row in _by_sigma(seed_002[0]).items():
        closed_form = 100 * sigma2 / 2  # lecture 002: sigma_f'^2 = D_h sigma^2 sigma_f^2 / 2
        assert row["predicted_ratio"] == pytest.approx(closed_form, rel=1e-4)
        assert row["measured_ratio"] == pytest.approx(closed_form, rel=0.03), sigma2


def test_predicted_curve_is_the_closed_form(seed_002):
    row = _by_sigma(seed_002[0])[0.1]
    expected = 100 * 0.1 * (100 * 0.1 / 2) ** np.arange(50)
    np.testing.assert_allclose(row["predicted_forward_variance"], expected, rtol=1e-3)
    # Forward of the stable setting: measured within 2x of the prediction at every layer.
    stable = _by_sigma(seed_002[0])[0.02]
    ratio = np.array(stable["forward_variance"]) / np.array(stable["predicted_forward_variance"])
    assert np.all((ratio > 0.5) & (ratio < 2.0))


def test_float32_overflow_and_underflow_are_reported_not_raised(seed_002):
    result, out = seed_002
    rows = _by_sigma(result)
    huge = rows[1.0]
    # The values pass float32's 3.4e38 when the variance 100 * 50 ** k nears 1e77: layer ~45.
    assert huge["forward_overflow_layer"] is not None and 20 < huge["forward_overflow_layer"] <= 50
    assert math.isinf(huge["forward_variance"][-1])
    assert "overflow" in huge["reason"]
    tiny = rows[0.001]
    assert tiny["backward_underflow_layer"] is not None
    assert tiny["backward_variance"][0] == 0.0
    assert "underflow" in tiny["reason"]
    # The JSON is strict (no NaN/Infinity tokens); non-finite values are null.
    text = (out / "propagation.json").read_text()
    data = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON {token}"))
    stored = {row["sigma2"]: row for row in data["settings"]}
    assert stored[1.0]["forward_variance"][-1] is None
    assert set(stored[0.02]) >= {
        "label",
        "sigma2",
        "initializer",
        "activation",
        "forward_variance",
        "backward_variance",
        "verdict",
    }


def test_png_is_written(seed_002):
    png = seed_002[1] / "propagation.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


def test_quadrature_matches_scipy_integration():
    """The package's one Gaussian expectation (fans) against adaptive quad, as propagate uses it."""
    for name in ("tanh", "sigmoid", "gelu", "elu"):
        function = activations.get(name)
        value, _ = prop._activation_numpy(function)
        for variance in (0.1, 1.0, 7.0):
            fast = prop._expectation(lambda z, value=value: value(z) ** 2, variance)
            slow, _ = integrate.quad(
                lambda z, value=value, variance=variance: (
                    float(value(np.array([z]))[0]) ** 2
                    * stats.norm.pdf(z, scale=math.sqrt(variance))
                ),
                -np.inf,
                np.inf,
            )
            assert fast == pytest.approx(slow, rel=1e-5), (name, variance)
    relu_value, relu_slope = prop._activation_numpy(activations.get("relu"))
    assert prop._expectation(lambda z: relu_value(z) ** 2, 3.0) == pytest.approx(1.5, rel=1e-5)
    assert prop._expectation(lambda z: relu_slope(z) ** 2, 3.0) == pytest.approx(0.5, abs=1e-3)


def test_other_activations_and_initializer_names():
    result = propagate(
        initializers=["he_normal", "glorot_uniform"],
        activations=["tanh", "leaky_relu"],
        depth=20,
        n_trials=4,
        seed=1,
    )
    rows = {(row["initializer"], row["activation"]): row for row in result.settings}
    assert len(rows) == 4
    for row in rows.values():
        assert row["sigma2"] is None
        assert row["measured_ratio"] == pytest.approx(row["predicted_ratio"], rel=0.05), row[
            "label"
        ]
    # leaky ReLU with slope 0.01 (the package's): E[a(z)^2] = (1 + 0.01^2) / 2 * sigma^2.
    leaky = rows[("glorot_uniform", "leaky_relu")]
    assert leaky["predicted_ratio"] == pytest.approx(100 * (1 / 100) * (1 + 1e-4) / 2, rel=1e-3)
    # Glorot halves ReLU-family variance per layer; He keeps it.
    assert leaky["measured_ratio"] == pytest.approx(0.5, rel=0.05)
    assert rows[("he_normal", "leaky_relu")]["measured_ratio"] == pytest.approx(1.0, rel=0.05)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = propagate(sigma2=[0.02], depth=8, n_trials=2, n_samples=32, seed=5)
    b = propagate(sigma2=[0.02], depth=8, n_trials=2, n_samples=32, seed=5)
    c = propagate(sigma2=[0.02], depth=8, n_trials=2, n_samples=32, seed=6)
    assert a.settings[0]["forward_variance"] == b.settings[0]["forward_variance"]
    assert a.settings[0]["forward_variance"] != c.settings[0]["forward_variance"]
    d = propagate(initializers=["he_normal"], depth=5, n_trials=2, n_samples=16, seed=5)
    e = propagate(initializers=["he_normal"], depth=5, n_trials=2, n_samples=16, seed=5)
    assert d.settings[0]["backward_variance"] == e.settings[0]["backward_variance"]


def test_zero_weights_are_exactly_zero_not_an_error():
    row = propagate(initializers=["zeros"], depth=5, n_trials=1, n_samples=8).settings[0]
    assert row["forward_underflow_layer"] == 1
    assert row["verdict"] == "vanishing"
    assert row["forward_variance"] == [0.0] * 5


BAD_ARGUMENTS = [
    (dict(depth=0), "depth=0"),
    (dict(width=-3), "width=-3"),
    (dict(sigma2=[-0.1]), "sigma2=-0.1"),
    (dict(sigma2=[float("nan")]), "sigma2=nan"),
    (dict(n_samples=1), "n_samples"),
    (dict(activations=["relux"]), "relu"),
    (dict(initializers=["he_nromal"]), "he_normal"),
]


def test_bad_arguments_are_named():
    for kwargs, fragment in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=fragment):
            propagate(**kwargs)


def test_keras_only_activation_names_are_accepted():
    # 'softplus' is Keras's, not the package's: it has no spec and is named by its function.
    result = propagate(
        sigma2=[0.02], activations=["softplus"], depth=3, width=8, n_trials=1, n_samples=8
    )
    (setting,) = result.settings
    assert setting["activation"] == "softplus"
    assert len(setting["forward_variance"]) == 3


# --- The closed-form backward prediction, the loss and the exact underflow layers -------------


def test_predicted_backward_variance_is_the_closed_form_for_relu():
    """g_last = 4 v_last (gradient of sum f^2 is 2 f), g_{k-1} = D s / 2 * g_k (He 2015, eq. 13)."""
    sigma2, width, depth = 0.03, 100, 6
    fwd, bwd = prop.predict_variances(activations.get("relu"), [sigma2] * depth, width, width)
    expected_fwd = width * sigma2 * (width * sigma2 / 2) ** np.arange(depth)
    np.testing.assert_allclose(fwd, expected_fwd, rtol=1e-6)
    expected_bwd = 4 * expected_fwd[-1] * (width * sigma2 / 2) ** np.arange(depth - 1, -1, -1)
    # ReLU's slope is a step: the trapezoid rule is O(h) at the jump (~0.2% per layer).
    np.testing.assert_allclose(bwd, expected_bwd, rtol=2e-2)


def test_predicted_backward_variance_matches_scipy_for_tanh():
    """The mean-field recursion recomputed independently with adaptive quadrature."""
    sigma2, width, depth = 0.02, 100, 5

    def expect(function, variance):
        value, _ = integrate.quad(
            lambda z: function(z) * stats.norm.pdf(z, scale=math.sqrt(variance)), -np.inf, np.inf
        )
        return value

    expected_fwd = [width * sigma2]
    for _ in range(depth - 1):
        expected_fwd.append(width * sigma2 * expect(lambda z: math.tanh(z) ** 2, expected_fwd[-1]))
    expected_bwd = [4 * expected_fwd[-1]]
    for k in range(depth - 1, 0, -1):
        slope2 = expect(lambda z: (1 - math.tanh(z) ** 2) ** 2, expected_fwd[k - 1])
        expected_bwd.insert(0, width * sigma2 * slope2 * expected_bwd[0])
    fwd, bwd = prop.predict_variances(activations.get("tanh"), [sigma2] * depth, width, width)
    np.testing.assert_allclose(fwd, expected_fwd, rtol=1e-5)
    np.testing.assert_allclose(bwd, expected_bwd, rtol=1e-5)


def test_measured_backward_follows_the_prediction_with_an_independent_output_gradient():
    row = propagate(
        initializers=["he_normal"], activations=["tanh"], depth=30, n_trials=4, seed=2
    ).settings[0]
    measured = np.array(row["backward_variance_independent"])
    predicted = np.array(row["predicted_backward_variance_independent"])
    # Per layer within 25%, and the end-to-end growth within 25% too.
    np.testing.assert_allclose(measured, predicted, rtol=0.25)
    assert measured[0] / measured[-1] == pytest.approx(predicted[0] / predicted[-1], rel=0.25)


def test_loss_is_the_sum_of_squares_not_the_mean():
    """dL/df_last = 2 f_last for L = sum f^2, so Var(dL/df_last) = 4 Var(f_last) exactly."""
    row = propagate(sigma2=[0.02], depth=4, width=16, n_trials=2, n_samples=8, seed=3).settings[0]
    assert row["backward_variance"][-1] == pytest.approx(4 * row["forward_variance"][-1], rel=1e-5)


def test_forward_underflow_layer_is_the_first_all_zero_layer():
    row = propagate(sigma2=[1e-4], depth=50, n_trials=1, n_samples=16, seed=0).settings[0]
    layer = row["forward_underflow_layer"]
    assert layer is not None and 2 <= layer < 50
    forward = row["forward_variance"]
    assert forward[layer - 1] == 0.0 and forward[layer - 2] > 0.0
    # Everything after the forward underflow is 0, so every gradient is 0: backprop meets
    # the zero first at the last layer.
    assert row["backward_underflow_layer"] == 50


def test_backward_underflow_layer_is_the_first_zero_layer_backprop_reaches():
    row = propagate(sigma2=[0.001], depth=50, n_trials=1, n_samples=16, seed=0).settings[0]
    assert row["forward_underflow_layer"] is None
    layer = row["backward_underflow_layer"]
    assert layer is not None and 2 <= layer < 50
    backward = row["backward_variance"]
    assert backward[layer - 1] == 0.0 and backward[layer] > 0.0


# --- Verdicts per direction for the four pairings of lecture 002's summary -------------------


@pytest.fixture(scope="module")
def four_pairings():
    result = propagate(
        initializers=["glorot_normal", "he_normal"],
        activations=["tanh", "relu"],
        n_trials=4,
        seed=0,
    )
    return {(row["initializer"], row["activation"]): row for row in result.settings}, result


def test_he_relu_is_stable_both_ways(four_pairings):
    row = four_pairings[0][("he_normal", "relu")]
    assert (row["forward_verdict"], row["backward_verdict"]) == ("stable", "stable")
    assert row["forward"]["gain_per_layer"] == pytest.approx(1.0, abs=0.01)
    assert row["backward"]["gain_per_layer"] == pytest.approx(1.0, abs=0.02)


def test_kaiming_tanh_settles_forward_but_grows_backward(four_pairings):
    row = four_pairings[0][("he_normal", "tanh")]
    assert row["forward_verdict"] == "stable"
    assert row["forward_variance"][-1] == pytest.approx(0.62, rel=0.1)  # the settled variance
    assert row["backward_verdict"] == "growing" and row["verdict"] == "growing"
    # Mean field: ~1.087 per layer, ~59x from the last layer to the first.
    assert row["backward"]["predicted_gain_per_layer"] == pytest.approx(1.087, abs=0.005)
    assert row["backward"]["predicted_change"] == pytest.approx(59, rel=0.1)
    assert row["backward"]["change"] == pytest.approx(59, rel=0.3)
    # The reason quotes the measured end-to-end change and the per-layer gain.
    assert f"backward growing: variance x{row['backward']['change']:.2g}" in row["reason"]
    assert f"{row['backward']['gain_per_layer']:.3g} per layer" in row["reason"]


def test_xavier_tanh_decays_slowly_forward(four_pairings):
    row = four_pairings[0][("glorot_normal", "tanh")]
    assert row["forward_verdict"] == "decaying"
    assert 1e-3 < row["forward"]["change"] < 1e-1
    assert 0.85 < row["forward"]["gain_per_layer"] < 0.95
    assert row["backward_verdict"] in ("decaying", "stable")


def test_xavier_relu_vanishes_both_ways(four_pairings):
    row = four_pairings[0][("glorot_normal", "relu")]
    assert (row["forward_verdict"], row["backward_verdict"]) == ("vanishing", "vanishing")
    assert row["forward"]["gain_per_layer"] == pytest.approx(0.5, rel=0.05)


def test_table_and_json_say_what_verdicts_mean_and_show_gains(four_pairings, tmp_path):
    from keras_init_lab.report import write_propagation

    rows, result = four_pairings
    table = result.format_table()
    for word, meaning in prop.VERDICT_MEANINGS.items():
        assert f"{word:<9} {meaning}" in table
    assert "gain = its geometric mean per layer" in " ".join(table.split())
    assert max(len(line) for line in table.splitlines()) <= 100
    kaiming = rows[("he_normal", "tanh")]
    line = next(t for t in table.splitlines() if t.startswith("he_normal, tanh"))
    assert "growing" in line and f"{kaiming['backward']['gain_per_layer']:.4g}" in line
    paths = write_propagation(result, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["config"]["verdict_meanings"] == prop.VERDICT_MEANINGS
    stored = {(r["initializer"], r["activation"]): r for r in data["settings"]}
    assert stored[("he_normal", "tanh")]["backward"]["verdict"] == "growing"
    assert stored[("he_normal", "tanh")]["backward"]["gain_per_layer"] == pytest.approx(
        kaiming["backward"]["gain_per_layer"]
    )


def test_backward_after_a_forward_overflow_is_the_prediction_and_says_so(seed_002):
    huge = _by_sigma(seed_002[0])[1.0]
    assert huge["forward"]["overflow_layer"] is not None
    assert huge["backward_verdict"] == "exploding"  # mean field: 50x per layer
    assert huge["backward"]["change"] is None and huge["backward"]["underflow_layer"] is None
    assert "not measurable, the forward pass overflowed at layer" in huge["reason"]
    assert huge["backward"]["predicted_gain_per_layer"] == pytest.approx(50, rel=1e-3)
