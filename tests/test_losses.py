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


def _soft_targets(loss, activation, k=3, n=64, seed=2):
    """Logits and *soft* targets that do not sum to 1 per sample, as far as each loss allows.

    Regression losses take any real target; binary cross-entropy takes probabilities in
    [0, 1] (each output its own, so rows need not sum to 1); categorical cross-entropy takes
    non-negative weights, here with row sums spread over (0.2, 3) and never within 0.1 of 1,
    the case a ``p - y`` shortcut gets wrong (the true gradient is ``p * sum(y) - y``).
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(n, k))
    if loss == "categorical_crossentropy":
        y = rng.dirichlet(np.ones(k), size=n) * rng.uniform(0.2, 3.0, size=(n, 1))
        keep = np.abs(y.sum(axis=-1) - 1.0) > 0.1
        z, y = z[keep], y[keep]
    elif loss == "binary_crossentropy":
        y = rng.uniform(0.05, 0.95, size=(n, k))
    elif activation == "linear":
        y = rng.normal(scale=2.0, size=(n, k))
    else:  # bounded outputs against soft targets inside and beyond their range
        y = rng.uniform(-0.5, 1.5, size=(n, k))
    return z, y


def _away_from_kinks(loss, activation, z, y, delta, margin=1e-3):
    """Drop samples whose residual sits within ``margin`` of MAE's or Huber's kink.

    A central difference across a kink measures the mean of two one-sided slopes; 1e-3 is
    100 times the step used below, so no difference straddles a kink.
    """
    if loss not in ("mae", "huber"):
        return z, y
    r = np.abs(losses.activate(activation, z) - y)
    near = r < margin
    if loss == "huber":
        near |= np.abs(r - delta) < margin
    keep = ~near.any(axis=-1)
    return z[keep], y[keep]


@pytest.mark.parametrize("loss,activation", PAIRS)
@pytest.mark.parametrize("delta", [0.3, 1.0])
def test_logit_gradient_with_soft_unnormalized_targets_equals_gradient_tape(
    loss, activation, delta
):
    z, y = _soft_targets(loss, activation)
    if loss == "categorical_crossentropy":
        assert len(z) > 10 and np.all(np.abs(y.sum(axis=-1) - 1.0) > 0.1)
    zt = tf.Variable(z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(_tf_loss(loss, activation, zt, tf.constant(y), delta))
    expected = tape.gradient(total, zt).numpy()
    got = losses.logit_gradient(loss, activation, z, y, delta=delta)
    # float64 throughout: rounding (eps 2.2e-16) amplified at most by 1/(p (1 - p)) ~ 1e4 for
    # |z| <= 9 stays far below 1e-9; a wrong formula is off by O(1).
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        losses.loss_value(loss, activation, z, y, delta=delta),
        _tf_loss(loss, activation, zt, y, delta).numpy(),
        rtol=1e-9,
    )


@pytest.mark.parametrize("loss,activation", PAIRS)
@pytest.mark.parametrize("delta", [0.3, 1.0])
def test_logit_gradient_equals_central_differences_of_the_loss(loss, activation, delta):
    z, y = _away_from_kinks(loss, activation, *_soft_targets(loss, activation), delta=delta)
    assert len(z) > 10
    h = 1e-5
    numeric = np.empty_like(z)
    for k in range(z.shape[1]):  # samples are independent: perturb column k of every row
        step = np.zeros_like(z)
        step[:, k] = h
        up = losses.loss_value(loss, activation, z + step, y, delta=delta)
        down = losses.loss_value(loss, activation, z - step, y, delta=delta)
        numeric[:, k] = (up - down) / (2 * h)
    # central difference: truncation h^2/6 times the third derivative ~ 1e-11, rounding
    # eps |L| / h ~ 1e-10
    np.testing.assert_allclose(
        losses.logit_gradient(loss, activation, z, y, delta=delta), numeric, rtol=1e-6, atol=1e-8
    )


KERAS_LOSSES = {
    ("mse", "linear"): lambda y, z: keras.losses.mean_squared_error(y, z),
    ("mae", "linear"): lambda y, z: keras.losses.mean_absolute_error(y, z),
    ("huber", "linear"): lambda y, z: keras.losses.huber(y, z, delta=1.0),
    ("binary_crossentropy", "sigmoid"): lambda y, z: keras.losses.binary_crossentropy(
        y, z, from_logits=True
    ),
    ("categorical_crossentropy", "softmax"): lambda y, z: keras.losses.categorical_crossentropy(
        y, z, from_logits=True
    ),
}


@pytest.mark.parametrize("loss,activation", sorted(KERAS_LOSSES))
def test_soft_targets_loss_and_gradient_match_keras_own_losses(loss, activation):
    # Keras computes the cross-entropies from the logits (TensorFlow's sigmoid/softmax
    # cross-entropy with logits, which take soft labels as they are) and the tape
    # differentiates them: a reference written by other hands.
    z, y = _away_from_kinks(loss, activation, *_soft_targets(loss, activation), delta=1.0)
    if loss == "categorical_crossentropy":
        # TensorFlow's fused softmax cross-entropy returns p - y as its gradient, which its
        # documentation makes valid only for rows summing to 1 (see the next test).
        y = y / y.sum(axis=-1, keepdims=True)
    zt = tf.Variable(z.astype("float32"))
    with tf.GradientTape() as tape:
        per_sample = KERAS_LOSSES[loss, activation](tf.constant(y.astype("float32")), zt)
        total = tf.reduce_sum(per_sample)
    expected = tape.gradient(total, zt).numpy()
    # Keras works in float32: eps 1.2e-7 times a few ops, on values of order 1.
    np.testing.assert_allclose(
        losses.loss_value(loss, activation, z, y), per_sample.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        losses.logit_gradient(loss, activation, z, y), expected, rtol=1e-4, atol=1e-6
    )


def test_unnormalized_cce_gradient_is_the_slope_of_keras_loss_not_keras_tape_gradient():
    # Keras's categorical_crossentropy(from_logits=True) on TensorFlow goes through
    # tf.nn.softmax_cross_entropy_with_logits, whose registered gradient is p - y: "if labels
    # are not a valid probability distribution, the gradient will be incorrect" (TensorFlow's
    # docs). The slope of Keras's own loss *value* (central differences, float64) is
    # p sum(y) - y, which is what logit_gradient returns.
    z, y = _soft_targets("categorical_crossentropy", "softmax")
    z, y = z[:8], y[:8]

    def keras_cce(logits):
        loss = keras.losses.categorical_crossentropy(y, logits, from_logits=True)
        return keras.ops.convert_to_numpy(loss)

    h = 1e-6
    slope = np.empty_like(z)
    for k in range(z.shape[1]):
        step = np.zeros_like(z)
        step[:, k] = h
        slope[:, k] = (keras_cce(z + step) - keras_cce(z - step)) / (2 * h)
    got = losses.logit_gradient("categorical_crossentropy", "softmax", z, y)
    # central difference in float64: truncation ~h^2, rounding eps |L| / h ~ 1e-9
    np.testing.assert_allclose(got, slope, rtol=1e-6, atol=1e-7)
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(
            keras.losses.categorical_crossentropy(tf.constant(y), zt, from_logits=True)
        )
    keras_tape = tape.gradient(total, zt).numpy()
    p = losses.activate("softmax", z)
    np.testing.assert_allclose(keras_tape, p - y, rtol=1e-9, atol=1e-12)  # TF's shortcut
    assert np.max(np.abs(keras_tape - got)) > 0.05


def test_softmax_cce_gradient_is_p_times_target_sum_minus_y_not_p_minus_y():
    z = np.array([[1.0, -2.0, 0.5], [0.0, 0.3, -0.7]])
    y = np.array([[0.2, 0.0, 0.4], [1.0, 0.5, 0.5]])  # sums 0.6 and 2.0
    p = tf.nn.softmax(tf.constant(z)).numpy()
    got = losses.logit_gradient("categorical_crossentropy", "softmax", z, y)
    # d/dz of -sum_k y_k log softmax(z)_k = p sum_k y_k - y (the log-sum-exp term carries
    # the weight sum_k y_k)
    np.testing.assert_allclose(got, p * y.sum(axis=-1, keepdims=True) - y, rtol=1e-12)
    assert np.max(np.abs(got - (p - y))) > 0.1  # p - y holds only when sum(y) = 1


@pytest.mark.parametrize("alias", sorted(losses.LOSS_ALIASES))
def test_every_alias_computes_the_keras_loss_of_that_name(alias):
    # Keras's own name lookup decides what an alias means; "cce" is no Keras name, so it is
    # read as the loss it abbreviates, Keras's categorical_crossentropy.
    if alias == "cce":
        reference = keras.losses.categorical_crossentropy
    else:
        reference = keras.losses.get(alias)
    if reference is keras.losses.categorical_crossentropy:
        activation = "softmax"
    elif reference is keras.losses.binary_crossentropy:
        activation = "sigmoid"
    else:
        activation = "linear"
    rng = np.random.default_rng(3)
    z = rng.normal(size=(16, 3))  # |z| < 5: probabilities far from Keras's 1e-7 clip
    y = rng.uniform(size=(16, 3))
    p = losses.activate(activation, z).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(y.astype("float32"), p))
    np.testing.assert_allclose(
        losses.loss_value(alias, activation, z, y), expected, rtol=1e-5, err_msg=alias
    )


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
