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


def test_erratum_19_batchnorm_gamma_sets_the_standard_deviation():
    z = np.array([[-1.0], [1.0]])  # batch variance 1
    for gamma in (2.0, 0.5):
        bn = keras.layers.BatchNormalization(gamma_initializer=keras.initializers.Constant(gamma))
        out = np.asarray(bn(z, training=True))
        predicted_std = gamma / math.sqrt(1.0 + bn.epsilon)  # Keras's epsilon 1e-3
        assert float(out.std()) == pytest.approx(predicted_std, rel=1e-6)  # float32 output
        assert float(out.var()) == pytest.approx(predicted_std**2, rel=1e-6)
    # gamma = 2: standard deviation 2.0 and variance 4.0, not the lecture's variance 2.
    assert float(out.std()) != pytest.approx(math.sqrt(0.5), rel=0.01)


def test_keras_batchnorm_defaults_differ_from_the_lecture_example():
    """Formerly erratum 19: a framework difference, now in the list of differing defaults."""
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


def test_erratum_22_he_and_glorot_scale_have_the_same_dead_units():
    from keras_init_lab.lessons import dead_units

    same = dead_units.compare_scales(depth=20)
    # Exact equality of counts is right: positive homogeneity keeps every sign, and the margin
    # of every sign over the float64 dot product's rounding (width * 2^-53 relative) is kept
    # far above it (see tests/test_lessons_dead_units.py).
    assert same.identical
    assert np.array_equal(
        same.he.dead_masks.sum(axis=(1, 2)), same.glorot.dead_masks.sum(axis=(1, 2))
    )
    assert same.he.overall == pytest.approx(0.157, abs=5e-4)
    assert np.nanmin(same.glorot.margin) > 1e4 * 32 * 2.0**-53
    ratio = same.glorot.second_moment / same.he.second_moment
    assert ratio[-1] / ratio[0] == pytest.approx(0.5**19, rel=1e-9)
    assert 0.5**19 == pytest.approx(1.9e-6, rel=0.01)
    lesson = dead_units.dead_unit_lesson()
    shares = {n: he for n, (he, _) in lesson.by_depth().items()}
    assert shares[4] == pytest.approx(0.007, abs=5e-4)
    assert shares[50] == pytest.approx(0.287, abs=5e-4)
    assert lesson.variants["leaky 0.01"].he.overall == 0.0
    assert lesson.variants["batchnorm"].he.overall == 0.0
    assert not lesson.variants["bias -0.1"].identical


def test_erratum_23_the_first_xavier_uniform_slide_is_lecun():
    def bound(init, shape):
        return math.sqrt(3 * init.variance(shape))  # U(-a, a) has variance a^2 / 3

    lecun, xavier = initializers.LecunUniform(), initializers.GlorotUniform()
    assert bound(lecun, (2, 32)) == pytest.approx(math.sqrt(3) / math.sqrt(2), rel=1e-12)
    assert bound(lecun, (2, 32)) == pytest.approx(1.22, abs=5e-3)
    assert bound(xavier, (2, 32)) == pytest.approx(math.sqrt(6 / 34), rel=1e-12)
    assert bound(xavier, (2, 32)) == pytest.approx(0.42, abs=5e-3)
    assert bound(lecun, (32, 32)) == pytest.approx(bound(xavier, (32, 32)), rel=1e-12)
    # Drawn: Keras's lecun_uniform stays within the LeCun bound, which Xavier's is far below.
    w = np.asarray(keras.initializers.LecunUniform(seed=0)((2, 32)))
    assert 0.42 < float(np.abs(w).max()) <= bound(lecun, (2, 32))


def test_erratum_24_skewness_and_kurtosis_are_standardized():
    fourth = gaussian_expectation(lambda x: x**4, std=2.0)
    assert fourth == pytest.approx(48.0, rel=1e-8)
    assert fourth / 2.0**4 == pytest.approx(3.0, rel=1e-8)
    third = gaussian_expectation(lambda x: x**3, std=2.0)
    assert third == pytest.approx(0.0, abs=1e-8)
    # Kurtosis is scale-free; the raw fourth central moment is not.
    for std in (0.5, 1.0, 3.0):
        moment = gaussian_expectation(lambda x: x**4, std=std)
        assert moment / std**4 == pytest.approx(3.0, rel=1e-8)
        assert moment == pytest.approx(3 * std**4, rel=1e-8)


def test_lecture_002_expected_value_rules_and_a_monte_carlo_check():
    mu, sigma = 1.0, 2.0

    def expect(g):
        return gaussian_expectation(g, std=sigma, mean=mu)

    assert expect(lambda x: 3 + 0 * x) == pytest.approx(3.0, rel=1e-9)  # E[k] = k
    assert expect(lambda x: 5 * x) == pytest.approx(5 * expect(lambda x: x), rel=1e-9)
    assert expect(lambda x: x + x**2) == pytest.approx(
        expect(lambda x: x) + expect(lambda x: x**2), rel=1e-9
    )
    variance = expect(lambda x: x**2) - expect(lambda x: x) ** 2
    assert variance == pytest.approx(expect(lambda x: (x - mu) ** 2), rel=1e-9)
    assert variance == pytest.approx(sigma**2, rel=1e-9)
    n = 10**6
    x = np.random.default_rng(0).normal(mu, sigma, n)
    y = np.random.default_rng(1).normal(2.0, 1.0, n)
    m, s = x.mean(), x.std()
    # Tolerances: 5 standard errors of each Monte-Carlo estimate.
    assert abs(m - mu) < 5 * sigma / math.sqrt(n)
    assert abs(np.mean(x**2) - m**2 - sigma**2) < 5 * math.sqrt(2) * sigma**2 / math.sqrt(n)
    assert abs(np.mean((x - m) ** 3) / s**3) < 6 * math.sqrt(6 / n)
    assert abs(np.mean((x - m) ** 4) / s**4 - 3.0) < 6 * math.sqrt(24 / n)
    assert abs(np.mean(x * y) - mu * 2.0) < 5 * math.sqrt(21 / n)  # Var(xy) = 5 * 5 - 4
    assert np.mean(x * x) == pytest.approx(5.0, abs=0.05)  # not independent: E[x]^2 = 1


def test_he_first_layer_factor_two_does_not_compound():
    from keras_init_lab.diagnostics import check_model

    def relu_net(first):
        return keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(64, "relu", kernel_initializer=first)]
            + [keras.layers.Dense(64, "relu", kernel_initializer="he_normal") for _ in range(9)]
        )

    he = check_model(relu_net("he_normal")).predictions
    lecun = check_model(relu_net("lecun_normal")).predictions
    ratios = [a.pre_activation_variance / b.pre_activation_variance for a, b in zip(he, lecun)]
    assert ratios == pytest.approx([2.0] * 10, rel=1e-9)


def _digits_run(activation: str, depth: int, epochs: int = 4, seed: int = 0) -> float:
    """Best validation accuracy of a Glorot-initialized MLP on the standardized digits."""
    from keras_init_lab.experiments.datasets import load_digits

    data = load_digits(seed=0)
    x_train = data.x_train.reshape(len(data.x_train), -1).astype("float64")
    x_test = data.x_test.reshape(len(data.x_test), -1).astype("float64")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # constant border pixels
    x_train = ((x_train - mean) / std).astype("float32")
    x_test = ((x_test - mean) / std).astype("float32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((64,))]
        + [
            keras.layers.Dense(64, activation=activation, kernel_initializer="glorot_uniform")
            for _ in range(depth)
        ]
        + [keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train,
        data.y_train,
        validation_data=(x_test, data.y_test),
        epochs=epochs,
        batch_size=32,
        verbose=0,
    )
    return max(history.history["val_accuracy"])


def test_erratum_25_thirty_tanh_layers_with_xavier_train():
    def gradient_norm_factor(f, slope, depth):
        v, factor = 1.0, 1.0
        for _ in range(depth):
            factor *= gaussian_expectation(lambda z: slope(z) ** 2, std=math.sqrt(v))
            v = gaussian_expectation(lambda z: f(z) ** 2, std=math.sqrt(v))
        return math.sqrt(factor)

    tanh = gradient_norm_factor(np.tanh, lambda z: 1 - np.tanh(z) ** 2, 30)
    sigmoid = gradient_norm_factor(sigmoid_np, lambda z: sigmoid_np(z) * (1 - sigmoid_np(z)), 5)
    assert 1 / tanh == pytest.approx(6.5, abs=0.05)
    assert 1 / sigmoid == pytest.approx(1530, rel=0.01)
    # Trained: 78% after 4 epochs measured; chance is 10%.
    assert _digits_run("tanh", depth=30) > 0.7
    assert _digits_run("sigmoid", depth=5) < 0.2


def test_erratum_26_dropout_masks_are_drawn_per_sample():
    drop = keras.layers.Dropout(0.5, seed=0)
    out = np.asarray(drop(np.ones((4, 10000)), training=True))
    kept = out > 0
    assert set(np.unique(out).tolist()) == {0.0, 2.0}  # inverted dropout: 1 / (1 - 0.5)
    # Binomial(10000, 1/2): standard error 0.005, so +-0.03 is 6 standard errors.
    assert np.allclose(kept.mean(axis=1), 0.5, atol=0.03)
    for i in (1, 2, 3):
        assert abs(np.mean(kept[0] != kept[i]) - 0.5) < 0.03  # one mask per batch: 0


def test_erratum_27_the_weight_gradient_has_the_loss_and_weight_factors():
    w1, w2 = tf.Variable(0.5, dtype="float64"), tf.Variable(2.0, dtype="float64")
    x, y = 3.0, 1.0
    with tf.GradientTape() as tape:
        z1 = w1 * x
        z2 = w2 * z1
        loss = (z2 - y) ** 2
    gradient = float(tape.gradient(loss, w1))
    dl_dz2, dz2_dz1, dz1_dw1 = 2 * (float(z2) - y), float(w2), x
    assert gradient == pytest.approx(dl_dz2 * dz2_dz1 * dz1_dw1, rel=1e-12)
    assert gradient == pytest.approx(24.0, rel=1e-12)
    assert gradient != pytest.approx(dz2_dz1, rel=0.1)  # the lecture's product alone: 2


def test_erratum_28_leaky_relu_slope_for_negative_inputs_is_positive():
    z = np.linspace(-5.0, -0.1, 50)
    slope = np.asarray(activations.spec("leaky_relu").derivative(z))
    np.testing.assert_allclose(slope, 0.01, rtol=1e-6)  # float32 0.01
    assert np.all(np.asarray(activations.leaky_relu(z)) < 0)  # the value is negative
    elu = np.asarray(activations.spec("elu").derivative(z))
    np.testing.assert_allclose(elu, np.exp(z), rtol=1e-6)
    assert np.all(elu > 0)


def test_lecture_004_dropout_as_an_ensemble_is_exact_in_expectation_for_a_linear_unit():
    w = np.arange(1, 9) / 10
    drop = keras.layers.Dropout(0.5, seed=0)
    thinned = np.asarray(drop(np.ones((20000, 8), "float32"), training=True)) @ w
    full = float((np.asarray(drop(np.ones((1, 8), "float32"), training=False)) @ w)[0])
    assert full == pytest.approx(3.6, rel=1e-6)
    standard_error = math.sqrt(np.sum(w**2)) / math.sqrt(20000)  # 0.01
    assert abs(thinned.mean() - full) < 6 * standard_error
    assert thinned.std() == pytest.approx(math.sqrt(np.sum(w**2)), rel=0.05)


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
