"""The course companion ``docs/course.md``: its structure, its snippets and every erratum's number.

Each erratum of the companion states a corrected number computed by the package; each test
below recomputes it with the package (activations and their derivatives, the one Gaussian
expectation, the initializers, ``tf.GradientTape``, Keras's layers) and compares it with both
the corrected value and the lecture's wrong one, so a wrong number fails. A last test runs
every ``>>>`` snippet of the page as a doctest.
"""

import doctest
import math
import re
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from _tolerances import exp_rtol

from keras_init_lab import activations, initializers
from keras_init_lab.fans import gaussian_expectation

COURSE = Path(__file__).resolve().parent.parent / "docs" / "course.md"
LECTURES = ("000", "001", "002", "003", "004")


def course_text() -> str:
    return COURSE.read_text(encoding="utf-8")


def relu_second_moment() -> float:
    """E[ReLU(z)^2] for z ~ N(0, 1): the per-layer variance factor of a ReLU layer per D sigma^2."""
    return gaussian_expectation(lambda z: np.maximum(z, 0.0) ** 2)


def sigmoid_np(z):
    return 1.0 / (1.0 + np.exp(-z))


# ------------------------------------------------------------------------------ the page


def test_one_section_per_lecture_then_errata():
    headers = re.findall(r"^## (.+)$", course_text(), re.M)
    lecture_headers = [h for h in headers if h.startswith("Lecture ")]
    assert [h.split()[1].rstrip(":") for h in lecture_headers] == list(LECTURES)
    assert headers[-1] == "Errata"
    errata = course_text().split("## Errata", 1)[1]
    numbered = re.findall(r"^### (\d+)\. Lectures? ([0-9, and]+)", errata, re.M)
    assert [int(n) for n, _ in numbered] == list(range(1, len(numbered) + 1))
    assert len(numbered) >= 20
    # Every erratum says what the lecture says and what is correct.
    for entry in re.split(r"^### \d+\. ", errata, flags=re.M)[1:]:
        assert "*Correct" in entry, entry[:80]
        assert "Says:*" in entry or "says:*" in entry or "shows:*" in entry, entry[:80]


def test_every_snippet_of_the_page_runs_as_a_doctest():
    blocks = re.findall(r"```python\n(.*?)```", course_text(), re.S)
    assert len(blocks) >= 20
    source = "\n".join(blocks)
    test = doctest.DocTestParser().get_doctest(source, {}, "course.md", str(COURSE), 0)
    assert len(test.examples) >= 50
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about the one-unit softmax on purpose
        runner.run(test, out=lambda text: failures.append(text))
    assert runner.failures == 0, "".join(failures)


# ------------------------------------------------------------------------------ the errata


def test_erratum_01_a_factor_above_one_explodes_and_exactly_one_is_stable():
    moment = relu_second_moment()
    assert moment == pytest.approx(0.5, abs=1e-8)
    vanish, stable, explode = ((100 * s * moment) ** 50 for s in (0.018, 0.02, 0.022))
    assert vanish == pytest.approx(0.9**50, rel=1e-6) and vanish < 0.01
    assert stable == pytest.approx(1.0, rel=1e-6)
    assert explode == pytest.approx(1.1**50, rel=1e-6) and explode > 100


def test_erratum_02_lecture_001_small_weights_vanish_in_lecture_002_experiment():
    moment = relu_second_moment()
    per_layer = 100 * 0.001**2 * moment
    assert per_layer == pytest.approx(5e-5, rel=1e-6)
    assert per_layer**50 == pytest.approx(8.88e-216, rel=1e-2)
    assert (100 * 0.001 * moment) ** 50 == pytest.approx(8.88e-66, rel=1e-2)
    # Measured in float32: 50 ReLU layers of 100 units with SmallNormal (sigma = 0.001).
    h = tf.random.stateless_normal((256, 100), seed=(0, 0))
    largest = []
    for k in range(50):
        h = activations.relu(h @ initializers.SmallNormal(seed=k)((100, 100)))
        largest.append(float(tf.reduce_max(tf.abs(h))))
    assert 0.01 < largest[0] < 0.1  # ~ sqrt(100 * 1e-6) * 0.4
    first_zero = next(i for i, v in enumerate(largest) if v == 0.0) + 1
    assert first_zero <= 20 and largest[-1] == 0.0
    # He's variance 2/100 keeps the signal.
    h = tf.random.stateless_normal((256, 100), seed=(0, 0))
    for k in range(50):
        h = activations.relu(h @ initializers.HeNormal(seed=k)((100, 100)))
    assert 0.1 < float(tf.math.reduce_std(h)) < 10


def test_erratum_03_the_half_line_integral_is_half_the_variance():
    assert relu_second_moment() == pytest.approx(0.5, abs=1e-8)
    assert gaussian_expectation(lambda z: z**2) == pytest.approx(1.0, abs=1e-8)
    assert gaussian_expectation(lambda z: np.maximum(z, 0.0) ** 2, std=3.0) == pytest.approx(4.5)


def test_erratum_04_xavier_uniform_limit_and_variance():
    limit = math.sqrt(6 / 200)
    assert limit == pytest.approx(0.1732, abs=1e-4)
    assert initializers.GlorotUniform().variance((100, 100)) == pytest.approx(limit**2 / 3)
    assert initializers.GlorotUniform().variance((100, 100)) == pytest.approx(0.01)
    w = np.asarray(initializers.GlorotUniform(seed=0)((100, 100)))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert float(w.var()) == pytest.approx(0.01, rel=0.05)
    # Xavier normal: the second argument is the standard deviation.
    w = np.asarray(initializers.GlorotNormal(seed=0)((100, 100)))
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 200), rel=0.03)


def test_erratum_05_chain_rule_keeps_the_cube():
    for value in (1.0, 0.7, -1.3):
        x = tf.Variable(value, dtype="float64")
        with tf.GradientTape() as tape:
            y = (6 * x**2 + 2) ** 4
        gradient = float(tape.gradient(y, x))
        assert gradient == pytest.approx(4 * (6 * value**2 + 2) ** 3 * 12 * value, rel=1e-12)
        assert gradient != pytest.approx(4 * (6 * value**2 + 2) * 12 * value, rel=1e-3)
    x = tf.Variable(1.0, dtype="float64")
    with tf.GradientTape() as tape:
        y = (6 * x**2 + 2) ** 4
    assert float(tape.gradient(y, x)) == 24576.0


def test_erratum_06_dz1_dw1_is_the_input():
    x1, w1_value, w2_value, w3_value = 2.0, 0.5, -0.8, 0.3
    w1, w2, w3 = (tf.Variable(v, dtype="float64") for v in (w1_value, w2_value, w3_value))
    with tf.GradientTape(persistent=True) as tape:
        z1 = w1 * x1
        h1 = activations.sigmoid(z1)
        z2 = w2 * h1
        h2 = activations.sigmoid(z2)
        z3 = w3 * h2
        y_hat = activations.sigmoid(z3)
        loss = (y_hat - 1.0) ** 2
    assert float(tape.gradient(z1, w1)) == x1
    slope = activations.spec("sigmoid").derivative
    chain = [
        float(2 * (y_hat - 1.0)),
        float(slope(z3)),
        w3_value,
        float(slope(z2)),
        w2_value,
        float(slope(z1)),
    ]
    by_hand_with_x1 = math.prod(chain) * x1
    by_hand_with_w1 = math.prod(chain) * w1_value
    assert float(tape.gradient(loss, w1)) == pytest.approx(by_hand_with_x1, rel=1e-12)
    assert float(tape.gradient(loss, w1)) != pytest.approx(by_hand_with_w1, rel=1e-3)


def _sigmoid_chain_from_zeros(steps: int) -> list[list[float]]:
    weights = [tf.Variable(0.0, dtype="float64") for _ in range(3)]
    history = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            h = tf.constant(1.0, "float64")
            for weight in weights:
                h = activations.sigmoid(weight * h)
            loss = -tf.math.log(h)
        gradients = [float(g) for g in tape.gradient(loss, weights)]
        history.append(gradients)
        for weight, g in zip(weights, gradients):
            weight.assign_sub(g)
    return history


def test_erratum_07_zero_weights_of_a_sigmoid_chain_still_get_gradients():
    history = _sigmoid_chain_from_zeros(3)
    # The first two are 0 exactly (each multiplies a zero weight); the last is
    # -(1 - sigmoid(0)) sigmoid(0) = -0.25 up to float64 roundings of exp (4 ulps).
    assert history[0][:2] == [0.0, 0.0]
    assert history[0][2] == pytest.approx(-0.25, rel=exp_rtol("float64"), abs=0)
    assert history[1][0] == 0.0 and history[1][1] != 0.0
    assert all(g != 0.0 for g in history[2])  # every weight has moved by step 3
    # With tanh (a(0) = 0) every weight's gradient is exactly zero, as lecture 001 says.
    weights = [tf.Variable(0.0, dtype="float64") for _ in range(3)]
    with tf.GradientTape() as tape:
        h = tf.constant(1.0, "float64")
        for weight in weights:
            h = activations.tanh(weight * h)
        loss = (h - 1.0) ** 2
    assert [float(g) for g in tape.gradient(loss, weights)] == [0.0, 0.0, 0.0]


def test_erratum_08_relu_slope_not_activation_is_one():
    assert float(activations.relu(3.0)) == 3.0
    assert float(activations.spec("relu").derivative(3.0)) == 1.0
    assert float(activations.spec("relu").derivative(-3.0)) == 0.0


def test_erratum_09_relu_with_xavier_scale_still_vanishes():
    moment = relu_second_moment()
    assert initializers.GlorotNormal().variance((100, 100)) == pytest.approx(0.01)
    assert (100 * 0.01 * moment) ** 50 == pytest.approx(0.5**50, rel=1e-6)
    assert f"{(100 * 0.01 * moment) ** 50:.2g}" == "8.9e-16"


def test_erratum_10_max_of_zero_ax_x_is_relu():
    x = np.linspace(-5.0, 5.0, 101)
    alpha = 0.01
    three_way = np.maximum(0.0, np.maximum(alpha * x, x))
    np.testing.assert_allclose(three_way, np.asarray(activations.relu(x)))
    leaky = np.asarray(activations.leaky_relu(x.astype("float32")), dtype="float64")
    np.testing.assert_allclose(leaky, np.maximum(alpha * x, x), atol=1e-6)
    assert not np.allclose(three_way, np.maximum(alpha * x, x))
    assert float(activations.leaky_relu(-2.0)) == pytest.approx(-0.02)


def test_erratum_11_softmax_of_the_lecture_logits():
    p = np.asarray(activations.softmax(np.array([5.0, 6.0, 11.0, 7.0])))
    np.testing.assert_allclose(p.round(3), [0.002, 0.007, 0.973, 0.018])
    assert p.round(2).tolist() == [0.0, 0.01, 0.97, 0.02]
    assert p.round(2).tolist() != [0.0, 0.01, 0.97, 0.01]  # the lecture's column
    assert p.sum() == pytest.approx(1.0)


def test_erratum_12_dag_gradient_has_the_direct_term():
    w1, w2 = tf.Variable(2.0, dtype="float64"), tf.Variable(3.0, dtype="float64")
    x = 1.0
    with tf.GradientTape() as tape:
        z1 = w1 * x
        z2 = w2 * (z1 + x)
        y_hat = w1 * (z1 + z2)
    total = float(tape.gradient(y_hat, w1))
    lecture_terms = 2.0 * x + 2.0 * 3.0 * x  # dy/dz1 dz1/dw1 + dy/dz2 dz2/dw1
    assert total == 19.0
    assert lecture_terms == 8.0
    assert total - lecture_terms == float(z1 + z2)  # the missing direct term z1 + z2 = 11


def test_erratum_13_two_unit_softmax_is_a_sigmoid_one_unit_softmax_is_constant():
    for logit in (-4.0, 0.0, 1.5, 6.0):
        two = np.asarray(activations.softmax(np.array([0.0, logit])))[1]
        assert two == pytest.approx(float(activations.sigmoid(np.float64(logit))), rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = np.asarray(activations.softmax(np.array([[-3.0], [0.0], [7.0]])))
    # 1 up to the float64 roundings of exp and of the sum (tests/_tolerances.py).
    np.testing.assert_allclose(one.ravel(), 1.0, rtol=0, atol=exp_rtol("float64"))


def test_erratum_14_xavier_sigmoid_stack_shrinks_gradients_about_4x_per_layer():
    v = 1.0
    for _ in range(100):
        v = gaussian_expectation(lambda z: sigmoid_np(z) ** 2, std=math.sqrt(v))
    gain = gaussian_expectation(
        lambda z: (sigmoid_np(z) * (1 - sigmoid_np(z))) ** 2, std=math.sqrt(v)
    )
    assert v == pytest.approx(0.265, abs=5e-4)
    assert gain == pytest.approx(0.056, abs=5e-4)
    assert 1 / math.sqrt(gain) == pytest.approx(4.24, abs=0.01)
    assert math.sqrt(gain) ** 19 == pytest.approx(1.2e-12, rel=0.05)
    # tanh, the activation Xavier was derived for, keeps slope 1 at 0.
    assert float(activations.spec("tanh").derivative(0.0)) == 1.0
    assert float(activations.spec("sigmoid").derivative(0.0)) == 0.25


def test_erratum_15_sigmoid_slope_maximum_is_attained_at_zero():
    slope = activations.spec("sigmoid").derivative
    assert float(slope(0.0)) == 0.25
    assert activations.spec("sigmoid").max_slope == 0.25
    grid = np.linspace(-10.0, 10.0, 2001)
    values = np.asarray(slope(grid))
    assert values.max() == 0.25 and grid[values.argmax()] == 0.0
    assert np.all(values > 0.0)


def test_erratum_16_gelu_mean_and_minimum():
    def gelu(z):
        return np.asarray(activations.gelu(z))

    mean = gaussian_expectation(gelu)
    assert mean == pytest.approx(1 / (2 * math.sqrt(math.pi)), abs=1e-7)
    assert mean == pytest.approx(0.2821, abs=1e-4)
    assert gaussian_expectation(lambda z: np.maximum(z, 0.0)) == pytest.approx(0.3989, abs=1e-4)
    grid = np.linspace(-3.0, 0.0, 30001)
    values = gelu(grid)
    assert values.min() == pytest.approx(-0.170, abs=5e-4)
    assert grid[values.argmin()] == pytest.approx(-0.752, abs=2e-3)
    assert activations.spec("gelu").zero_centered is False


def test_erratum_17_l2_penalty_gradient_is_two_lambda_w():
    w_value = np.array([1.0, -2.0, 3.0])
    w = tf.Variable(w_value, dtype="float64")
    with tf.GradientTape() as tape:
        penalty = keras.regularizers.L2(0.1)(w)
    assert float(penalty) == pytest.approx(0.1 * np.sum(w_value**2))
    gradient = np.asarray(tape.gradient(penalty, w))
    np.testing.assert_allclose(gradient, 2 * 0.1 * w_value, rtol=1e-6)  # l2 is a float32
    assert not np.allclose(gradient, 0.1 * w_value)


def test_erratum_18_adam_first_step_is_the_learning_rate():
    for g in (0.5, -3.0):
        w = keras.Variable(1.0)
        keras.optimizers.Adam(learning_rate=0.01).apply([tf.constant(g)], [w])
        assert 1.0 - float(w.numpy()) == pytest.approx(0.01 * np.sign(g), rel=1e-4)
    without_correction = (1 - 0.9) / math.sqrt(1 - 0.999)
    assert without_correction == pytest.approx(3.162, abs=1e-3)


def test_erratum_19_keras_batchnorm_defaults_and_their_effect():
    bn = keras.layers.BatchNormalization()
    assert bn.epsilon == 1e-3 and bn.momentum == 0.99
    z = np.array([[-1.0], [1.0]]) * math.sqrt(0.001)
    out = np.asarray(bn(z, training=True))
    assert float(np.std(out)) == pytest.approx(math.sqrt(0.001 / 0.002), rel=1e-3)  # 0.707
    small_epsilon = keras.layers.BatchNormalization(epsilon=1e-5)
    out = np.asarray(small_epsilon(z, training=True))
    assert float(np.std(out)) == pytest.approx(0.995, abs=1e-3)


def test_erratum_20_multilabel_loss_is_binary_cross_entropy_per_label():
    y, p = np.array([[1.0, 0.0, 1.0]]), np.array([[0.9, 0.2, 0.7]])
    lecture_formula = float(-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    keras_bce = float(keras.losses.binary_crossentropy(y, p)[0])
    assert lecture_formula == pytest.approx(3 * keras_bce, rel=1e-5)
    assert lecture_formula == pytest.approx(0.685, abs=5e-4)
    categorical = float(-np.sum(y * np.log(p)))
    assert categorical == pytest.approx(0.462, abs=5e-4)
    assert categorical != pytest.approx(lecture_formula, rel=0.1)


def test_erratum_13_trained_one_unit_softmax_is_constant_while_fit_reports_a_falling_loss():
    from keras_init_lab.lessons import output_activation

    run = output_activation.single_unit_softmax(epochs=10)
    soft, sig = run["softmax"], run["sigmoid"]
    # 1 up to the float32 roundings of exp and of the sum (tests/_tolerances.py).
    one = pytest.approx(1.0, rel=0, abs=exp_rtol("float32"))
    assert soft["output_min"] == one and soft["output_max"] == one
    # Exactly 0, not a rounding: every output is above 1 - epsilon, where binary
    # cross-entropy's clip passes no gradient.
    assert soft["output_min"] > 1.0 - keras.config.epsilon()
    assert soft["gradient_norm"] == 0.0
    assert soft["accuracy"] == run["positive_fraction"] == pytest.approx(0.502, abs=5e-4)
    assert sig["accuracy"] > 0.95
    # Keras's BCE reads the cached logits: the reported loss falls, the real one does not.
    assert soft["fit_first_loss"] == pytest.approx(0.490, abs=5e-3)
    assert soft["fit_last_loss"] == pytest.approx(0.041, abs=5e-3)
    assert soft["loss_on_outputs"] == pytest.approx(7.94, abs=5e-3)


def test_erratum_17_l2_equals_weight_decay_two_lambda_under_sgd_not_under_adam():
    from keras_init_lab.lessons import regularization

    assert regularization.weight_decay_for_l2(0.01) == 0.02
    sgd = regularization.l2_vs_weight_decay("sgd", l2=0.01)
    assert sgd["weight_decay"] == 0.02 and sgd["agree"]
    assert sgd["relative_difference"] < 1e-9  # 4.9e-16 on Keras 3.15, 5e-10 on Keras 3.3
    assert sgd["norm_l2"] == pytest.approx(4.4662, abs=5e-5)
    lecture = regularization.l2_vs_weight_decay("sgd", l2=0.01, weight_decay=0.01)
    assert not lecture["agree"]
    assert lecture["relative_difference"] == pytest.approx(1.1e-2, abs=5e-4)
    assert lecture["norm_decay"] == pytest.approx(4.5087, abs=5e-5)
    adam = regularization.l2_vs_weight_decay("adam", l2=0.01)
    assert not adam["agree"]
    assert adam["relative_difference"] == pytest.approx(1.8e-1, abs=5e-3)
    assert (adam["norm_l2"], adam["norm_decay"]) == pytest.approx((5.8829, 6.5050), abs=5e-4)


def test_erratum_21_inverted_dropout_keeps_the_mean_and_raises_the_variance():
    from keras_init_lab.lessons import regularization

    d = regularization.dropout_statistics(rate=0.5)
    assert d["train_mean"] == pytest.approx(d["input_mean"], abs=5e-3)
    assert d["input_mean"] == pytest.approx(0.400, abs=5e-4)
    assert d["input_var"] == pytest.approx(0.341, abs=5e-4)
    assert d["train_var"] == pytest.approx(0.843, abs=5e-4)
    assert d["predicted_train_var"] == pytest.approx(0.842, abs=5e-4)
    assert d["train_var"] == pytest.approx(d["predicted_train_var"], rel=0.01)
    # Without the 1/(1 - p) scaling the training mean would halve.
    assert d["train_mean"] != pytest.approx(0.5 * d["input_mean"], rel=0.1)
    assert (d["inference_mean"], d["inference_var"]) == (d["input_mean"], d["input_var"])


def test_update_to_weight_ratio_is_a_rule_of_thumb_not_a_law():
    from keras_init_lab.lessons import optimizers

    assert optimizers.UPDATE_RATIO_RULE_OF_THUMB == 1e-3
    default = optimizers.compare_optimizers(["sgd"])["sgd"]
    large = optimizers.compare_optimizers(["sgd"], learning_rates={"sgd": 2.0})["sgd"]
    assert default["median_update_ratio"] == pytest.approx(1.3e-3, abs=5e-5)
    assert large["median_update_ratio"] == pytest.approx(7.9e-2, abs=5e-4)
    assert large["median_update_ratio"] > 1e-2  # far outside the ~1e-3 band ...
    assert large["final_loss"] == pytest.approx(0.212, abs=5e-3)
    assert large["final_loss"] < default["final_loss"]  # ... and still the lower loss
    assert "above 0.01" in optimizers.update_ratio_verdict(large["median_update_ratio"])


def test_keras_defaults_that_differ_from_the_lectures():
    assert keras.layers.LeakyReLU().negative_slope == 0.3
    assert float(keras.activations.leaky_relu(tf.constant(-1.0))) == pytest.approx(-0.2)
    assert float(activations.leaky_relu(-1.0)) == pytest.approx(-0.01)
