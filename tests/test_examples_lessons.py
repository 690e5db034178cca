"""Run examples 09-14 (the lessons of lectures 003 and 004) and check what they print.

Same pattern as ``tests/test_examples.py``: each example's ``main()`` runs in this process,
its printed lines are compared with the "Expected output" block of its docstring (words
exactly, numbers within a tolerance per example: tight for closed forms, looser for trained
networks, none for rounding-level numbers), then the returned numbers are checked against the
lesson's claims.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from _example_checks import assert_output_matches, expected_output, load  # noqa: E402


def run(name, capsys, **kwargs):
    module = load(name)
    result = module.main(**kwargs)
    return module, result, capsys.readouterr().out


def test_09_gradient_descent_and_learning_rate(capsys):
    module, result, printed = run("09_gradient_descent_and_learning_rate", capsys)
    # Closed forms and NumPy runs: exact to the printed digits (rounding-level numbers aside).
    assert_output_matches(printed, expected_output(module), rel=1e-3, abs_tol=1e-9)
    regimes = result["regimes"]
    assert abs(regimes[1.05]["trajectory"][-1]) > 1 > abs(regimes[0.01]["trajectory"][-1])
    assert result["starts"][0.3]["minimum"] == "local"
    assert result["chain"]["max_abs_difference"] < 1e-12
    noise = result["noise"]
    assert noise["B=1"]["measured"] > 30 * noise["B=32"]["measured"] > 0


@pytest.mark.slow  # trains 4 optimizers; lessons.optimizers: test_lessons_optimizers.py
def test_10_optimizers(capsys):
    module, result, printed = run("10_optimizers", capsys)
    assert_output_matches(printed, expected_output(module), rel=0.1, abs_tol=0.02)
    for name, r in result["runs"].items():
        assert 1e-4 <= r["median_update_ratio"] <= 1e-2, name  # CS231n's band
        assert r["final_loss"] < r["losses"][0]
    assert result["too_large"]["median_update_ratio"] > 1e-2


@pytest.mark.slow  # two trainings; test_lessons_output_activation.py, test_losses.py
def test_11_loss_and_output_activation(capsys, tmp_path):
    figure = tmp_path / "logit_gradients.png"
    module, result, printed = run("11_loss_and_output_activation", capsys, figure=str(figure))
    assert_output_matches(printed, expected_output(module), rel=1e-3, abs_tol=0.02)
    assert figure.stat().st_size > 10_000
    p, mse, bce = result["table"][-10.0]
    assert mse < 1e-4 and bce > 0.99
    assert result["huber"] == pytest.approx([0.5, 1.0])
    assert result["multilabel"]["softmax"]["exact_match_multi"] == 0.0
    assert result["single"]["softmax"]["gradient_norm"] == 0.0


@pytest.mark.slow  # three trainings; test_lessons_regularization.py
def test_12_regularization_l2_vs_weight_decay(capsys):
    module, result, printed = run("12_regularization_l2_vs_weight_decay", capsys)
    assert_output_matches(printed, expected_output(module), rel=1e-3, abs_tol=0.01)
    runs = result["runs"]
    assert runs["sgd"]["relative_difference"] < 1e-8  # 5e-16 on Keras 3.15, 5e-10 on 3.3
    assert runs["sgd, weight_decay = l2"]["relative_difference"] > 1e-3
    assert runs["adam"]["relative_difference"] > 1e-2


def test_13_batchnorm_computed(capsys):
    module, result, printed = run("13_batchnorm_computed", capsys)
    assert_output_matches(printed, expected_output(module), rel=0.05, abs_tol=0.01)
    assert result["check"]["max_abs_difference"] < 1e-10
    assert result["depth"]["none"]["variance"][-1] < 1e-20
    for name in ("batch", "layer", "group"):
        assert 0.3 < min(result["depth"][name]["variance"]) < 0.4


@pytest.mark.slow  # a child process starts TensorFlow; test_lessons_scaling.py
def test_14_input_scaling(capsys):
    module, result, printed = run("14_input_scaling", capsys)
    assert_output_matches(printed, expected_output(module), rel=0.05, abs_tol=0.02)
    assert max(result["layers"].values()) < 1e-4
    assert result["round_trip"]["max_abs_difference"] < 1e-6
    raw, scaled = result["raw_vs_scaled"]["raw"], result["raw_vs_scaled"]["scaled"]
    assert raw["saturation"] > 0.9 and scaled["saturation"] < 0.05
    assert raw["final_loss"] > scaled["final_loss"]
