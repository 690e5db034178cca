"""BatchNormalization computed by hand, what it does to a badly initialized deep net, LN/GN.

Lecture 004 (other network specifications) gives BatchNorm in four steps:
batch mean and variance, normalization with a small ``epsilon``, scale ``gamma`` and shift
``beta``, then the activation; in inference the moving averages from training replace the
batch statistics. :func:`batchnorm_reference` writes exactly that in NumPy and
:func:`compare_with_keras` checks it against ``keras.layers.BatchNormalization``, whose
defaults differ from the lecture's example: ``epsilon=1e-3`` (the lecture says "like 1e-5",
PyTorch's default) and ``momentum=0.99`` (PyTorch's ``momentum=0.1`` is the weight of the
*new* batch, i.e. Keras's 0.9).

Reference:
    Lecture 004, other network specifications (BatchNorm, LayerNorm,
    GroupNorm).
    S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift", ICML 2015, Algorithm 1, https://arxiv.org/abs/1502.03167.
    J. L. Ba, J. R. Kiros, G. E. Hinton, "Layer Normalization", 2016,
    https://arxiv.org/abs/1607.06450. Y. Wu, K. He, "Group Normalization", ECCV 2018,
    https://arxiv.org/abs/1803.08494.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from keras_init_lab._arrays import check_array, check_sequence
from keras_init_lab._validation import check_choice, check_int, check_number

__all__ = [
    "NORMALIZATIONS",
    "batch_dependence",
    "batchnorm_reference",
    "compare_with_keras",
    "keras_batchnorm_defaults",
    "variance_through_depth",
]

#: Normalizations compared through depth ("none" = plain Dense -> tanh).
NORMALIZATIONS = ("none", "batch", "layer", "group")
#: Groups of GroupNormalization in the depth lesson: 8 groups of 8 units for width 64
#: (Wu & He 2018 use 32 groups of larger layers; 8 keeps several units per group here).
GROUPS = 8
#: Lecture 004's example epsilon ("como 1e-5"), for the comparison with Keras's default.
LECTURE_EPSILON = 1e-5


def keras_batchnorm_defaults() -> dict:
    """Read ``epsilon`` and ``momentum`` from a fresh ``keras.layers.BatchNormalization``.

    Example:
        >>> keras_batchnorm_defaults()
        {'epsilon': 0.001, 'momentum': 0.99}
    """
    layer = keras.layers.BatchNormalization()
    return {"epsilon": float(layer.epsilon), "momentum": float(layer.momentum)}


def batchnorm_reference(
    x,
    gamma,
    beta,
    moving_mean,
    moving_variance,
    training: bool,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
):
    """BatchNorm over the batch axis in NumPy (float64), training or inference mode.

    Formula (training, Ioffe & Szegedy 2015, Algorithm 1, and Keras's moving update)::

        mu_B = mean_i x_i,  var_B = mean_i (x_i - mu_B)^2           (biased variance)
        y_i = gamma (x_i - mu_B) / sqrt(var_B + epsilon) + beta
        moving_mean <- momentum moving_mean + (1 - momentum) mu_B    (same for the variance)

    Inference: ``y = gamma (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``, and the
    moving statistics do not change.

    Example:
        >>> y, m, v = batchnorm_reference([[0.0], [2.0]], [1.0], [0.0], [0.0], [1.0], True,
        ...                               epsilon=0.0)
        >>> y.ravel().tolist(), m.round(6).tolist()
        ([-1.0, 1.0], [0.01])

    Args:
        x: ``(batch, features)``.
        gamma, beta, moving_mean, moving_variance: ``(features,)``.
        training: use batch statistics and update the moving ones.
        momentum: weight of the old moving statistics, in ``[0, 1]``.
        epsilon: added to the variance, ``>= 0``.

    Returns:
        ``(y, new_moving_mean, new_moving_variance)``.

    Raises:
        TypeError: arrays that are not numbers, ``training`` not a bool.
        ValueError: ``x`` not 2-D, parameters not of shape ``(features,)``, a negative moving
            variance, non-finite entries, ``momentum`` outside ``[0, 1]``, ``epsilon < 0``.
    """
    momentum = check_number("momentum", momentum, minimum=0.0, maximum=1.0)
    epsilon = check_number("epsilon", epsilon, minimum=0.0)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be True or False; received training={training!r}.")
    x = check_array("x", x, ndim=2)
    features = (x.shape[1],)
    parameters = {
        "gamma": check_array("gamma", gamma),
        "beta": check_array("beta", beta),
        "moving_mean": check_array("moving_mean", moving_mean),
        "moving_variance": check_array("moving_variance", moving_variance),
    }
    for name, value in parameters.items():
        if value.shape != features:
            raise ValueError(
                f"{name} must hold one value per feature, shape {features}; received "
                f"{name}.shape={value.shape}."
            )
    gamma, beta, moving_mean, moving_variance = parameters.values()
    if np.any(moving_variance < 0):
        raise ValueError(
            "moving_variance must be >= 0 (a variance); received moving_variance="
            f"{float(moving_variance.min())!r}."
        )
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_variance = momentum * moving_variance + (1.0 - momentum) * variance
    else:
        mean, variance = moving_mean, moving_variance
    y = gamma * (x - mean) / np.sqrt(variance + epsilon) + beta
    return y, moving_mean, moving_variance


def compare_with_keras(batch: int = 32, features: int = 6, seed: int = 0) -> dict:
    """Compare :func:`batchnorm_reference` with ``keras.layers.BatchNormalization`` (float64).

    The layer gets random ``gamma``, ``beta`` and moving statistics; one call with
    ``training=True`` (output and updated moving statistics compared), then one with
    ``training=False`` on new data (output compared).

    Example:
        >>> compare_with_keras()["max_abs_difference"] < 1e-10     # doctest: +SKIP
        True

    Returns:
        ``{"defaults", "train_output", "moving_mean", "moving_variance", "inference_output"}``
        (max absolute differences), ``"max_abs_difference"`` and ``"verdict"``.
    """
    batch, features = check_int("batch", batch, minimum=2), check_int("features", features)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    x = rng.normal(loc=3.0, scale=2.0, size=(batch, features))
    x_new = rng.normal(loc=3.0, scale=2.0, size=(batch, features))
    gamma, beta = rng.uniform(0.5, 2.0, features), rng.normal(size=features)
    mean0, var0 = rng.normal(size=features), rng.uniform(0.5, 2.0, features)
    layer = keras.layers.BatchNormalization(dtype="float64")
    layer.build((None, features))
    layer.set_weights([gamma, beta, mean0, var0])
    defaults = keras_batchnorm_defaults()
    ref_y, ref_mean, ref_var = batchnorm_reference(
        x, gamma, beta, mean0, var0, True, defaults["momentum"], defaults["epsilon"]
    )
    keras_y = keras.ops.convert_to_numpy(layer(x, training=True))
    moving_mean = keras.ops.convert_to_numpy(layer.moving_mean)
    moving_variance = keras.ops.convert_to_numpy(layer.moving_variance)
    ref_inf, _, _ = batchnorm_reference(
        x_new, gamma, beta, ref_mean, ref_var, False, defaults["momentum"], defaults["epsilon"]
    )
    keras_inf = keras.ops.convert_to_numpy(layer(x_new, training=False))
    differences = {
        "train_output": float(np.max(np.abs(keras_y - ref_y))),
        "moving_mean": float(np.max(np.abs(moving_mean - ref_mean))),
        "moving_variance": float(np.max(np.abs(moving_variance - ref_var))),
        "inference_output": float(np.max(np.abs(keras_inf - ref_inf))),
    }
    worst = max(differences.values())
    return {
        "defaults": defaults,
        **differences,
        "max_abs_difference": worst,
        "verdict": (
            f"the NumPy reference equals keras.layers.BatchNormalization in both modes to "
            f"{worst:.1e} (epsilon={defaults['epsilon']:g}, momentum="
            f"{defaults['momentum']:g}; the lecture's example epsilon is "
            f"{LECTURE_EPSILON:g})."
        ),
    }


def _deep_net(normalization: str, depth: int, width: int, init_std: float, seed: int):
    layers = [keras.Input((width,))]
    for i in range(1, depth + 1):
        layers.append(
            keras.layers.Dense(
                width,
                use_bias=normalization == "none",
                name=f"dense_{i:02d}",
                kernel_initializer=keras.initializers.RandomNormal(stddev=init_std, seed=seed + i),
            )
        )
        if normalization == "batch":
            layers.append(keras.layers.BatchNormalization(name=f"norm_{i:02d}"))
        elif normalization == "layer":
            layers.append(keras.layers.LayerNormalization(name=f"norm_{i:02d}"))
        elif normalization == "group":
            layers.append(keras.layers.GroupNormalization(GROUPS, name=f"norm_{i:02d}"))
        layers.append(keras.layers.Activation("tanh", name=f"tanh_{i:02d}"))
    return keras.Sequential(layers)


def variance_through_depth(
    normalizations: Sequence[str] = NORMALIZATIONS,
    depth: int = 20,
    width: int = 64,
    init_std: float = 0.01,
    samples: int = 256,
    seed: int = 0,
) -> dict:
    """Activation variance per layer of a badly initialized deep tanh net, with each norm.

    Formula: ``a_l = tanh(N(W_l a_{l-1}))`` with ``W_l ~ N(0, init_std^2)``; without a norm
    ``Var(z_l) ~ width * init_std^2 * Var(a_{l-1})`` (``64 * 1e-4 = 0.0064`` per layer: the
    signal vanishes); with a norm ``Var(N(z)) = 1`` at every layer whatever ``init_std``.

    The forward pass runs with ``training=True``: that is where BatchNormalization uses the
    batch statistics. ``keras_init_lab.callbacks.activation_statistics`` measures in inference
    mode (``training=False``), where a fresh BatchNormalization applies its initial moving
    statistics (mean 0, variance 1), i.e. is nearly the identity and would hide the effect;
    so this lesson reads the ``tanh`` layers' outputs with a plain multi-output model instead.

    Example:
        >>> v = variance_through_depth(["none", "batch"], depth=5)   # doctest: +SKIP
        >>> v["batch"]["variance"][-1] > 0.1 > v["none"]["variance"][-1]   # doctest: +SKIP
        True

    Args:
        normalizations: names from :data:`NORMALIZATIONS`.
        depth, width: network shape (``width`` divisible by :data:`GROUPS` for "group").
        init_std: the (bad) standard deviation of every kernel.
        samples: batch of standard-normal inputs.
        seed: weights and inputs.

    Returns:
        ``{name: {"variance": (depth,) activation variance per layer, "verdict"}}``.
    """
    normalizations = check_sequence("normalizations", normalizations, one_string=True)
    for name in normalizations:
        check_choice("normalizations", name, NORMALIZATIONS, kind="normalization")
    depth, width = check_int("depth", depth), check_int("width", width)
    init_std = check_number("init_std", init_std, positive=True)
    samples = check_int("samples", samples, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    if "group" in normalizations and width % GROUPS:
        raise ValueError(
            f"width must be divisible by GROUPS={GROUPS} for 'group'; received width={width}."
        )
    x = np.random.default_rng(seed).normal(size=(samples, width)).astype("float32")
    results = {}
    for name in normalizations:
        model = _deep_net(name, depth, width, init_std, seed)
        outputs = [layer.output for layer in model.layers if layer.name.startswith("tanh_")]
        probe = keras.Model(model.inputs[0], outputs)
        values = probe(x, training=True)
        variance = np.array([float(np.var(keras.ops.convert_to_numpy(v))) for v in values])
        results[name] = {
            "variance": variance,
            "verdict": (
                f"{name}: activation variance {variance[0]:.2g} at layer 1 and "
                f"{variance[-1]:.2g} at layer {depth} "
                + (
                    "(the signal vanishes with depth)."
                    if variance[-1] < 1e-3 * variance[0]
                    else "(kept at every depth)."
                )
            ),
        }
    return results


def batch_dependence(
    batch: int = 256, small_batch: int = 4, width: int = 16, seed: int = 0
) -> dict:
    """How much one sample's normalized output depends on the rest of its batch.

    Formula: ``|N(x_0 | batch of B) - N(x_0 | batch of b)|`` for the same sample ``x_0``:
    BatchNorm (training mode) normalizes with the batch's statistics, so it changes;
    LayerNorm and GroupNorm normalize each sample over its own features, so it does not.
    This is why lecture 004 recommends LayerNorm or GroupNorm for very small batches.

    Args:
        batch: the large batch (>= 2).
        small_batch: the small batch, its first ``small_batch`` samples.
        width: features (divisible by 4, GroupNorm's groups here).
        seed: NumPy seed.

    Returns:
        ``{"batch": diff, "layer": diff, "group": diff, "verdict"}`` (max absolute differences).
    """
    batch = check_int("batch", batch, minimum=2)
    small_batch = check_int("small_batch", small_batch, minimum=2, maximum=batch)
    width = check_int("width", width)
    seed = check_int("seed", seed, minimum=0)
    if width % 4:
        raise ValueError(
            f"width must be divisible by 4 (GroupNorm groups); received width={width}."
        )
    x = np.random.default_rng(seed).normal(loc=1.0, scale=2.0, size=(batch, width))
    x = x.astype("float32")
    layers = {
        "batch": keras.layers.BatchNormalization(),
        "layer": keras.layers.LayerNormalization(),
        "group": keras.layers.GroupNormalization(4),
    }
    result = {}
    for name, layer in layers.items():
        big = keras.ops.convert_to_numpy(layer(x, training=True))[0]
        small = keras.ops.convert_to_numpy(layer(x[:small_batch], training=True))[0]
        result[name] = float(np.max(np.abs(big - small)))
    result["verdict"] = (
        f"sample 0's output moves by {result['batch']:.2g} under BatchNorm when its batch shrinks "
        f"from {batch} to {small_batch}, by {result['layer']:.1g} under LayerNorm and "
        f"{result['group']:.1g} under GroupNorm (per-sample statistics)."
    )
    return result
