"""keras_init_lab.lessons.gradient_descent: closed form, minima, chain rule, batch noise."""

import numpy as np
import pytest

from keras_init_lab.lessons import gradient_descent as gd


def test_learning_rate_regimes_match_the_closed_form():
    results = gd.learning_rate_regimes(steps=25)
    for eta, r in results.items():
        np.testing.assert_allclose(r["trajectory"], (1 - 2 * eta) ** np.arange(26), atol=1e-12)
        assert r["max_abs_difference"] < 1e-12
    assert results[0.01]["regime"] == "converges monotonically"
    assert abs(results[0.01]["trajectory"][-1]) > 0.5  # too small: still far away
    assert abs(results[0.4]["trajectory"][-1]) < 1e-12  # good
    signs = np.sign(results[0.75]["trajectory"][:6])
    assert list(signs) == [1, -1, 1, -1, 1, -1]  # 0.5 < eta < 1 oscillates
    assert results[0.75]["regime"] == "oscillates and converges"
    assert results[1.05]["regime"] == "diverges"
    assert abs(results[1.05]["trajectory"][-1]) > 5  # |1 - 2.1|^25 = 10.8
    assert "diverges" in results[1.05]["verdict"]
    assert gd.learning_rate_regimes([1.0])[1.0]["regime"] == "oscillates forever"


def test_nonconvex_starts_reach_different_minima():
    r = gd.nonconvex_starts()
    np.testing.assert_allclose(r["critical_points"], [-1.1072, 0.2696, 0.8376], atol=1e-4)
    assert r[0.3]["minimum"] == "local" and r[0.0]["minimum"] == "global"
    assert r[0.0]["f"] < r[0.3]["f"]


def _chain_loss(x1, y, w1, w2, w3):
    """Lecture 003's chain written out here: three sigmoid neurons, squared error."""
    s = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    return (s(w3 * s(w2 * s(w1 * x1))) - y) ** 2


def test_backprop_by_hand_equals_central_differences():
    point = {"x1": 1.5, "y": 1.0, "w1": 0.5, "w2": -1.2, "w3": 2.0}
    r = gd.backprop_by_hand(**point)
    assert r["forward"]["loss"] == pytest.approx(_chain_loss(**point), rel=1e-12)
    h = 1e-6
    for name in ("w1", "w2", "w3"):
        up = _chain_loss(**{**point, name: point[name] + h})
        down = _chain_loss(**{**point, name: point[name] - h})
        # central difference in float64: truncation ~h^2, rounding ~eps / h ~ 1e-10
        assert r["hand"][name] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_backprop_by_hand_equals_tape_and_dz1_dw1_is_x1():
    r = gd.backprop_by_hand(x1=1.5, w1=0.5)
    for name in ("w1", "w2", "w3"):
        assert r["hand"][name] == pytest.approx(r["tape"][name], rel=1e-6, abs=1e-15)
    # The slide's factor w1 instead of x1 gives a different (wrong) number unless x1 == w1.
    assert r["slide_w1"] == pytest.approx(r["hand"]["w1"] * 0.5 / 1.5)
    assert r["slide_w1"] != pytest.approx(r["tape"]["w1"])


def test_regression_problem_has_the_documented_true_weights():
    x, y = gd.regression_problem(samples=64, features=5, noise=0.0)
    w, *_ = np.linalg.lstsq(x, y, rcond=None)  # noiseless: least squares recovers w*
    np.testing.assert_allclose(w, [1.0, -2.0, 3.0, -4.0, 5.0], rtol=1e-10)
    x, y = gd.regression_problem(samples=4096, features=5, noise=0.5)
    residual = y - x @ np.array([1.0, -2.0, 3.0, -4.0, 5.0])
    # sample std of 4096 normals: standard error 0.5 / sqrt(2 * 4096) = 0.0055; 5 of them
    assert abs(np.std(residual) - 0.5) < 0.03


def test_gradient_noise_falls_as_one_over_batch_size():
    x, y = gd.regression_problem()
    noise = gd.gradient_noise(x, y, [None, 32, 8, 1])
    assert noise["full"]["measured"] < 1e-20
    assert noise["B=1"]["measured"] == pytest.approx(noise["B=1"]["predicted"], rel=1e-9)
    for label in ("B=32", "B=8"):
        assert noise[label]["measured"] == pytest.approx(noise[label]["predicted"], rel=0.15)
    assert noise["B=1"]["measured"] > noise["B=8"]["measured"] > noise["B=32"]["measured"]


def test_batch_size_runs_count_updates_and_sgd_gets_further_per_epoch():
    x, y = gd.regression_problem()
    runs = gd.batch_size_runs(x, y, [None, 32, 1], epochs=3)
    assert [runs[k]["updates"] for k in ("full", "B=32", "B=1")] == [3, 24, 768]
    assert runs["B=1"]["losses"][-1] < runs["B=32"]["losses"][-1] < runs["full"]["losses"][-1]


def test_bad_values():
    with pytest.raises(ValueError, match="learning_rate=-0.1"):
        gd.descend(lambda v: v, 1.0, -0.1, 3)
    x, y = gd.regression_problem(samples=16)
    with pytest.raises(ValueError, match="batch_size=0"):
        gd.batch_size_runs(x, y, [0])
    with pytest.raises(ValueError, match="batch_size=17"):
        gd.gradient_noise(x, y, [17])
    with pytest.raises(TypeError, match="batch_size"):
        gd.batch_size_runs(x, y, ["32"])
