"""keras_init_lab.losses: every analytic dL/dz equals tf.GradientTape (float64, rtol 1e-6)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_init_lab import losses

PAIRS = [
    (loss, act)
    for loss in losses.LOSSES
    for act in losses.OUTPUT_ACTIVATIONS
    if not (loss in ("binary_crossentropy", "categorical_crossentropy") and act == "linear")
]


def _tf_loss(loss, activation, z, y, delta):
    """The same loss written with TensorFlow ops (independent of the NumPy code)."""
    if activation == "linear":
        p = z
    elif activation == "sigmoid":
        p = tf.sigmoid(z)
    else:
        p = tf.nn.softmax(z, axis=-1)
    r = p - y
    if loss == "mse":
        return tf.reduce_mean(r**2, axis=-1)
    if loss == "mae":
        return tf.reduce_mean(tf.abs(r), axis=-1)
    if loss == "huber":
        a = tf.abs(r)
        return tf.reduce_mean(tf.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta)), -1)
    if loss == "binary_crossentropy":
        return tf.reduce_mean(-(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p)), axis=-1)
    return -tf.reduce_sum(y * tf.math.log(p), axis=-1)


def _data(activation, loss, k=3, n=64, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, k))
    if loss == "categorical_crossentropy" or activation == "softmax":
        y = np.eye(k)[rng.integers(0, k, size=n)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(n, k)).astype(float)
    else:
        y = rng.normal(size=(n, k)) if activation == "linear" else rng.uniform(size=(n, k))
    return z, y


@pytest.mark.parametrize("loss,activation", PAIRS)
@pytest.mark.parametrize("delta", [0.3, 1.0])
def test_logit_gradient_equals_gradient_tape(loss, activation, delta):
    z, y = _data(activation, loss)
    zt = tf.Variable(z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(_tf_loss(loss, activation, zt, tf.constant(y), delta))
    expected = tape.gradient(total, zt).numpy()
    got = losses.logit_gradient(loss, activation, z, y, delta=delta)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    values = losses.loss_value(loss, activation, z, y, delta=delta)
    np.testing.assert_allclose(values, _tf_loss(loss, activation, zt, y, delta).numpy(), rtol=1e-6)


def test_huber_two_regimes_both_exercised():
    # residuals both inside and outside delta: gradient r/K inside, delta*sign(r)/K outside
    z = np.array([[0.2, -0.4, 3.0, -5.0]])
    g = losses.logit_gradient("huber", "linear", z, np.zeros_like(z), delta=1.0)
    np.testing.assert_allclose(g, [[0.2 / 4, -0.4 / 4, 1 / 4, -1 / 4]])


def test_loss_values_match_keras_losses():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(32, 4))
    y_reg = rng.normal(size=(32, 4))
    y_bin = rng.integers(0, 2, size=(32, 4)).astype(float)
    y_cls = np.eye(4)[rng.integers(0, 4, size=32)]
    p_sig, p_soft = losses.activate("sigmoid", z), losses.activate("softmax", z)
    # Keras 3.3's huber mixes a float32 delta with float64 inputs: compare in float32.
    f32 = lambda a: a.astype("float32")  # noqa: E731
    pairs = [
        ("mse", "linear", y_reg, keras.losses.mean_squared_error(f32(y_reg), f32(z))),
        ("mae", "linear", y_reg, keras.losses.mean_absolute_error(f32(y_reg), f32(z))),
        ("huber", "linear", y_reg, keras.losses.huber(f32(y_reg), f32(z), delta=1.0)),
        (
            "binary_crossentropy",
            "sigmoid",
            y_bin,
            keras.losses.binary_crossentropy(f32(y_bin), f32(p_sig)),
        ),
        (
            "categorical_crossentropy",
            "softmax",
            y_cls,
            keras.losses.categorical_crossentropy(f32(y_cls), f32(p_soft)),
        ),
    ]
    for loss, act, y, reference in pairs:
        np.testing.assert_allclose(
            losses.loss_value(loss, act, z, y),
            keras.ops.convert_to_numpy(reference),
            rtol=1e-4,
            err_msg=loss,
        )


def test_sigmoid_mse_vanishes_when_confidently_wrong_but_bce_does_not():
    z, y = np.array([[-10.0]]), np.array([[1.0]])
    mse = abs(losses.logit_gradient("mse", "sigmoid", z, y)[0, 0])
    bce = abs(losses.logit_gradient("binary_crossentropy", "sigmoid", z, y)[0, 0])
    assert mse < 1e-4 < 0.99 < bce
    # the closed forms named in the docs
    p = losses.activate("sigmoid", z)[0, 0]
    assert mse == pytest.approx(2 * (1 - p) * p * (1 - p))
    assert bce == pytest.approx(1 - p)


def test_softmax_cce_is_p_minus_y():
    z = np.array([[1.0, -2.0, 0.5]])
    y = np.array([[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        losses.logit_gradient("cce", "softmax", z, y), losses.activate("softmax", z) - y
    )


def test_task_table_follows_the_lecture():
    assert losses.recipe("binary").output_activation == "sigmoid"
    assert losses.recipe("multi-class").loss == "categorical_crossentropy"
    assert losses.recipe("multi-label").output_activation.startswith("sigmoid")
    assert losses.recipe("regression").output_activation == "linear"
    text = losses.format_task_table()
    assert len(text.splitlines()) == 1 + len(losses.TASKS)
    assert all(row.task in text for row in losses.TASKS)


def test_bad_names_and_values():
    with pytest.raises(ValueError, match="Did you mean: 'binary_crossentropy'"):
        losses.logit_gradient("binary_crossentropie", "sigmoid", [[0.0]], [[1.0]])
    with pytest.raises(ValueError, match="Did you mean: 'softmax'"):
        losses.logit_gradient("mse", "sofmax", [[0.0]], [[1.0]])
    with pytest.raises(ValueError, match="needs probabilities"):
        losses.logit_gradient("binary_crossentropy", "linear", [[0.0]], [[1.0]])
    with pytest.raises(ValueError, match="delta=-1"):
        losses.loss_value("huber", "linear", [[0.0]], [[1.0]], delta=-1)
    with pytest.raises(ValueError, match="same shape"):
        losses.loss_value("mse", "linear", [[0.0, 1.0]], [[1.0]])
    with pytest.raises(ValueError, match="Did you mean: 'multi-label'"):
        losses.recipe("multilabel")
    with pytest.raises(TypeError):
        losses.loss_value(3, "linear", [[0.0]], [[1.0]])


def test_logit_gradient_figure_data_and_file(tmp_path):
    from keras_init_lab.plots.losses import logit_gradient_curves, plot_logit_gradients

    data = logit_gradient_curves(num_points=201)
    mse, bce = data["curves"]["mse+sigmoid"], data["curves"]["binary_crossentropy+sigmoid"]
    wrong = data["z"] < -5  # confidently wrong for y = 1
    assert np.all(mse[wrong] < 0.02) and np.all(bce[wrong] > 0.99)
    right = data["z"] > 5  # both vanish where the prediction is right
    assert np.all(mse[right] < 0.01) and np.all(bce[right] < 0.01)
    path = plot_logit_gradients(tmp_path / "g.png", num_points=51)
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="low < high"):
        logit_gradient_curves(logit_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="softmax"):
        logit_gradient_curves(pairs=[("categorical_crossentropy", "softmax")])
    with pytest.raises(ValueError, match="num_points=1"):
        logit_gradient_curves(num_points=1)
