"""keras_init_lab.lessons.scaling: fitted on train, saved in the model, raw vs scaled."""

import keras
import numpy as np
import pytest

from keras_init_lab.lessons import scaling


def test_scalers_fit_on_the_training_split_only():
    x_train, _, x_test, _ = scaling.image_like_data()
    params = scaling.fit_scaler("zscore", x_train)
    np.testing.assert_allclose(params["mean"], x_train.mean(axis=0), rtol=1e-6)
    z_train, z_test = scaling.transform(params, x_train), scaling.transform(params, x_test)
    np.testing.assert_allclose(z_train.mean(axis=0), 0.0, atol=1e-9)
    assert np.abs(z_test.mean(axis=0)).max() > 1e-3  # test is not re-centred
    m = scaling.transform(scaling.fit_scaler("minmax", x_train), x_train)
    assert m.min() == 0.0 and m.max() == 1.0
    c = scaling.transform(scaling.fit_scaler("constant", x_train), np.array([[0.0, 255.0]]))
    np.testing.assert_allclose(c, [[0.0, 1.0]])


def test_scalers_by_hand():
    # Two samples per feature, minima away from 0 so that min-max must subtract them.
    train = np.array([[2.0, -1.0], [6.0, 3.0]])
    new = np.array([[4.0, 1.0], [10.0, -3.0]])
    z = scaling.transform(scaling.fit_scaler("zscore", train), new)
    # mean (4, 1), population std (2, 2)
    np.testing.assert_allclose(z, [[0.0, 0.0], [3.0, -2.0]], rtol=1e-12)
    m = scaling.transform(scaling.fit_scaler("minmax", train), new)
    # min (2, -1), max - min (4, 4); new data may fall outside [0, 1]
    np.testing.assert_allclose(m, [[0.5, 0.5], [2.0, -0.5]], rtol=1e-12)
    c = scaling.transform(scaling.fit_scaler("constant", train), [[51.0, 255.0]])
    np.testing.assert_allclose(c, [[0.2, 1.0]], rtol=1e-12)  # 8-bit pixels: / (2^8 - 1)


@pytest.mark.parametrize("kind", scaling.SCALINGS)
def test_keras_layer_equals_the_numpy_scaler(kind):
    x_train, _, x_test, _ = scaling.image_like_data()
    layer = scaling.scaler_layer(kind, x_train)
    got = keras.ops.convert_to_numpy(layer(x_test))
    want = scaling.transform(scaling.fit_scaler(kind, x_train), x_test)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kind",
    # Each starts TensorFlow in a child process: one scaler in the default suite, both in -m slow.
    ["zscore", pytest.param("minmax", marks=pytest.mark.slow)],
)
def test_saved_model_predicts_the_same_on_raw_inputs_in_a_fresh_process(kind, tmp_path):
    r = scaling.saved_model_round_trip(kind, directory=tmp_path, epochs=2)
    assert (tmp_path / f"scaled_{kind}.keras").exists()
    np.testing.assert_allclose(r["fresh_process"], r["in_process"], rtol=1e-6, atol=1e-7)
    assert r["in_process"].std() > 1e-3  # not a constant prediction


def test_raw_inputs_saturate_and_train_worse():
    r = scaling.raw_vs_scaled(epochs=3)
    assert r["raw"]["saturation"] > 0.9 > 0.05 > r["scaled"]["saturation"]
    assert r["raw"]["gradient_norm"] > r["scaled"]["gradient_norm"]
    assert r["raw"]["final_loss"] > r["scaled"]["final_loss"]


def test_bad_names():
    with pytest.raises(ValueError, match="Did you mean: 'zscore'"):
        scaling.fit_scaler("z-score", [[0.0]])
