import json
import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_init_lab  # noqa: F401  (registers the package's names with Keras)
from keras_init_lab import initializers as inits
from keras_init_lab.fans import compute_fans

DENSE = (1024, 512)
CONV = (3, 3, 128, 256)

# name -> expected variance as a function of (fan_in, fan_out), written from the formulas.
EXPECTED_VARIANCE = {
    "glorot_normal": lambda i, o: 2 / (i + o),
    "glorot_uniform": lambda i, o: 2 / (i + o),
    "he_normal": lambda i, o: 2 / i,
    "he_uniform": lambda i, o: 2 / i,
    "lecun_normal": lambda i, o: 1 / i,
    "lecun_uniform": lambda i, o: 1 / i,
    "he_avg_normal": lambda i, o: 4 / (i + o),
    "he_avg_uniform": lambda i, o: 4 / (i + o),
    "leaky_he_normal": lambda i, o: 2 / ((1 + 0.01**2) * i),
    "leaky_he_uniform": lambda i, o: 2 / ((1 + 0.01**2) * i),
    "glorot_heuristic_uniform": lambda i, o: (1 / math.sqrt(i)) ** 2 / 3,
    "small_normal": lambda i, o: 0.001**2,
    "small_uniform": lambda i, o: 0.001**2 / 3,
    "variance_scaling": lambda i, o: 1 / i,
}


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv2d"])
@pytest.mark.parametrize("name", sorted(EXPECTED_VARIANCE))
def test_variance_matches_formula(name, shape):
    init = inits.get(name)
    fan_in, fan_out = compute_fans(shape)
    expected = EXPECTED_VARIANCE[name](fan_in, fan_out)
    assert init.variance(shape) == pytest.approx(expected, rel=1e-12)
    w = np.asarray(init(shape), dtype=np.float64)
    # 0.5M+ samples: the sampling error of the variance is below 0.3%; allow 3%.
    assert w.var() == pytest.approx(expected, rel=0.03)
    assert abs(w.mean()) < 0.05 * math.sqrt(expected)


def _excess_kurtosis(w):
    w = np.asarray(w, dtype=np.float64).ravel()
    return np.mean((w - w.mean()) ** 4) / w.var() ** 2 - 3.0


def test_distributions_have_their_shapes():
    shape = (1024, 1024)
    normal = inits.VarianceScaling(2.0, "fan_in", "normal", seed=1)(shape)
    trunc = inits.VarianceScaling(2.0, "fan_in", "truncated_normal", seed=1)(shape)
    unif = inits.VarianceScaling(2.0, "fan_in", "uniform", seed=1)(shape)
    target = 2 / 1024
    for w in (normal, trunc, unif):
        assert np.var(w) == pytest.approx(target, rel=0.02)
    # An untruncated normal has excess kurtosis 0 and tails beyond 2 sigma (4.6% of values).
    assert abs(_excess_kurtosis(normal)) < 0.05
    assert np.mean(np.abs(normal) > 2 * math.sqrt(target)) == pytest.approx(0.0455, abs=0.003)
    # The truncated one is cut at 2 of its own (wider) standard deviations.
    cut = 2 * math.sqrt(target) / inits.TRUNCATED_NORMAL_STD
    assert np.max(np.abs(trunc)) <= cut + 1e-6
    assert _excess_kurtosis(trunc) < -0.5
    # Uniform: bounded by sqrt(3 * variance), excess kurtosis -1.2.
    assert np.max(np.abs(unif)) <= math.sqrt(3 * target) + 1e-6
    assert _excess_kurtosis(unif) == pytest.approx(-1.2, abs=0.03)


def test_truncated_normal_constant_matches_keras_and_sampling():
    assert inits.TRUNCATED_NORMAL_STD == pytest.approx(0.87962566103423978, abs=1e-15)
    z = np.random.default_rng(0).standard_normal(4_000_000)
    assert np.std(z[np.abs(z) < 2]) == pytest.approx(inits.TRUNCATED_NORMAL_STD, rel=2e-3)


@pytest.mark.parametrize("mode, fan", [("fan_in", 300), ("fan_out", 100), ("fan_avg", 200)])
def test_modes(mode, fan):
    assert inits.HeNormal(mode=mode).variance((300, 100)) == pytest.approx(2 / fan)
    assert inits.VarianceScaling(gain=3.0, mode=mode).variance((300, 100)) == pytest.approx(9 / fan)


@pytest.mark.parametrize("shape", [(256, 64), (64, 256), (3, 3, 16, 32)])
def test_orthogonal_is_orthogonal(shape):
    w = np.asarray(inits.Orthogonal(gain=2.0, seed=3)(shape), dtype=np.float64)
    m = w.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-4)
    assert np.var(w) == pytest.approx(inits.Orthogonal(gain=2.0).variance(shape), rel=0.05)


def test_zeros_and_constant():
    assert np.all(np.asarray(inits.get("zeros")((4, 3))) == 0)
    assert np.all(np.asarray(inits.Constant(5)((4, 3))) == 5)


def test_seeded_initializers_repeat_and_unseeded_ones_do_not():
    a = np.asarray(inits.HeNormal(seed=7)((64, 64)))
    b = np.asarray(inits.HeNormal(seed=7)((64, 64)))
    np.testing.assert_array_equal(a, b)
    c = np.asarray(inits.HeNormal(seed=8)((64, 64)))
    assert not np.allclose(a, c)
    unseeded = inits.HeNormal()
    assert not np.allclose(np.asarray(unseeded((64, 64))), np.asarray(unseeded((64, 64))))


def test_global_seed_makes_unseeded_draws_reproducible():
    keras.utils.set_random_seed(123)
    a = np.asarray(inits.GlorotUniform()((32, 32)))
    keras.utils.set_random_seed(123)
    b = np.asarray(inits.GlorotUniform()((32, 32)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_float_dtypes(dtype):
    for name in ("he_normal", "glorot_uniform", "orthogonal", "zeros", "small_normal"):
        w = inits.get(name)((8, 8), dtype=dtype)
        assert keras.backend.standardize_dtype(w.dtype) == dtype


ALL_INSTANCES = [
    inits.VarianceScaling(scale=3.0, mode="fan_avg", distribution="truncated_normal", seed=1),
    inits.VarianceScaling(gain=1.5, mode="fan_out", distribution="uniform"),
    inits.GlorotNormal(seed=1),
    inits.GlorotUniform(),
    inits.HeNormal(mode="fan_out", seed=2),
    inits.HeUniform(),
    inits.LecunNormal(seed=4),
    inits.LecunUniform(),
    inits.HeAvgNormal(seed=5),
    inits.HeAvgUniform(),
    inits.LeakyHeNormal(negative_slope=0.2, mode="fan_avg", seed=6),
    inits.LeakyHeUniform(),
    inits.GlorotHeuristicUniform(seed=7),
    inits.SmallNormal(stddev=0.01, seed=8),
    inits.SmallUniform(limit=0.05),
    inits.Orthogonal(gain=1.3, seed=9),
    inits.Zeros(),
    inits.Constant(5.0),
]


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=lambda i: type(i).__name__)
def test_config_round_trip(init):
    config = init.get_config()
    clone = type(init).from_config(config)
    assert clone.get_config() == config
    assert json.loads(json.dumps(config)) == config
    # Through Keras's serializer too (what .keras files store).
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert type(restored) is type(init) and restored.get_config() == config
    if getattr(init, "seed", None) is not None:
        np.testing.assert_array_equal(np.asarray(init((16, 8))), np.asarray(clone((16, 8))))


def test_every_registered_class_is_covered_by_round_trip():
    covered = {type(i) for i in ALL_INSTANCES}
    assert {inits.get(n).__class__ for n in inits.names()} <= covered


def test_package_names_work_as_keras_strings():
    layer = keras.layers.Dense(64, kernel_initializer="he_avg_normal")
    layer.build((None, 300))
    assert isinstance(layer.kernel_initializer, inits.HeAvgNormal)
    assert np.var(layer.kernel.numpy()) == pytest.approx(4 / 364, rel=0.05)
    conv = keras.layers.Conv2D(32, 3, kernel_initializer="xavier_uniform")
    conv.build((None, 16, 16, 8))
    assert isinstance(conv.kernel_initializer, inits.GlorotUniform)
    assert np.var(conv.kernel.numpy()) == pytest.approx(2 / (72 + 288), rel=0.1)


@pytest.mark.parametrize(
    "name", ["he_normal", "glorot_uniform", "glorot_normal", "orthogonal", "zeros"]
)
def test_keras_names_keep_keras_meaning(name):
    assert type(keras.initializers.get(name)).__module__.startswith("keras.")
    assert name not in inits.KERAS_STRING_NAMES


def test_get_resolves_everything():
    assert isinstance(inits.get("he_normal"), inits.HeNormal)  # ours: untruncated
    assert isinstance(inits.get("kaiming_uniform"), inits.HeUniform)
    assert type(inits.get("random_normal")).__name__ == "RandomNormal"  # Keras's own
    assert (
        inits.get(
            {"class_name": "leaky_he_normal", "config": {"negative_slope": 0.1}}
        ).negative_slope
        == 0.1
    )
    instance = inits.Orthogonal()
    assert inits.get(instance) is instance
    assert isinstance(inits.get(inits.Zeros), inits.Zeros)
    assert inits.get(None) is None
    assert "he_avg_normal" in inits.names() and "xavier_normal" not in inits.names()
    assert inits.aliases()["xavier_normal"] == "glorot_normal"


def test_unknown_name_lists_closest():
    with pytest.raises(ValueError, match=r"Unknown initializer 'he_avg_nromal'.*'he_avg_normal'"):
        inits.get("he_avg_nromal")
    with pytest.raises(ValueError, match="'xavier_uniform'"):
        inits.get("xavier_unifrom")


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: inits.VarianceScaling(mode="fan_inn"),
            r"mode 'fan_inn'.*'fan_in'.*fan_avg, fan_in, fan_out",
        ),
        (lambda: inits.VarianceScaling(scale=0), r"scale must be > 0.*scale=0"),
        (lambda: inits.VarianceScaling(scale=-2.0), r"scale=-2.0"),
        (lambda: inits.VarianceScaling(scale=float("nan")), r"scale=nan"),
        (
            lambda: inits.VarianceScaling(distribution="gaussian"),
            r"distribution 'gaussian'.*normal, truncated_normal, uniform",
        ),
        (lambda: inits.VarianceScaling(scale=2.0, gain=1.4), r"not both.*scale=2.0, gain=1.4"),
        (lambda: inits.HeNormal(seed=-1), r"seed=-1"),
        (lambda: inits.LeakyHeNormal(negative_slope=1.5), r"negative_slope=1.5"),
        (lambda: inits.SmallNormal(stddev=0), r"stddev must be > 0.*stddev=0"),
        (lambda: inits.HeNormal()((4, 4), dtype="int32"), r"dtype='int32'.*'float32'"),
        (lambda: inits.Orthogonal()((5,)), r"rank >= 2.*\(5,\)"),
        (lambda: inits.HeNormal()((0, 4)), r"shape=\(0, 4\)"),
    ],
)
def test_bad_inputs_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# Wrong type -> TypeError, the package's one validation policy (these raised ValueError before).
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: inits.HeNormal(seed="abc"), r"seed='abc'"),
        (lambda: inits.Constant("five"), r"value='five'"),
        (lambda: inits.VarianceScaling(scale="2"), r"scale='2'"),
        (lambda: inits.LeakyHeNormal(negative_slope=True), r"negative_slope=True"),
        (lambda: inits.VarianceScaling(mode=3), r"mode=3"),
        (lambda: inits.get(3.5), r"3.5"),
    ],
)
def test_inputs_of_the_wrong_type_raise_type_error(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_small_normal_vanishes_in_lecture_002_experiment():
    # Lecture 001's "normal zone" sigma = 0.001 in lecture 002's 50-layer width-100 ReLU net.
    factor = inits.layer_variance_factor(inits.SmallNormal().variance((100, 100)))
    assert factor == pytest.approx(100 * 0.001**2 / 2, rel=1e-12) == pytest.approx(5e-5)
    assert factor**50 == pytest.approx(8.9e-216, rel=0.01)
    first_zero = next(
        k for k in range(1, 51) if factor**k < np.finfo(np.float32).smallest_subnormal
    )
    assert first_zero == 11
    # He's variance keeps the factor at 1.
    assert inits.layer_variance_factor(inits.HeNormal().variance((100, 100))) == pytest.approx(1.0)
    # A float32 simulation of the forward pass: the signal is gone well before layer 50.
    rng = np.random.default_rng(0)
    h = rng.standard_normal((256, 100)).astype(np.float32)
    for _ in range(50):
        h = np.maximum(h @ (0.001 * rng.standard_normal((100, 100))).astype(np.float32), 0.0)
    assert not h.any()
    doc = " ".join(inits.SmallNormal.__doc__.split())
    for number in ("5e-05", "8.9e-216", "layer 11"):
        assert number in doc
    note = next(r["note"] for r in inits.describe() if r["name"] == "small_normal")
    assert "5.0e-05" in note and "8.9e-216" in note and "lecture 001" in note


SAVE_LOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_init_lab
    from keras_init_lab import initializers as inits
    path = sys.argv[1]
    if sys.argv[2] == "save":
        inputs = keras.Input((12,))
        x = keras.layers.Dense(16, activation="relu", kernel_initializer="he_avg_normal")(inputs)
        x = keras.layers.Dense(16, activation="relu",
                               kernel_initializer=inits.LeakyHeNormal(0.1, seed=3))(x)
        x = keras.layers.Dense(8, kernel_initializer=inits.SmallNormal(0.01))(x)
        x = keras.layers.Dense(8, kernel_initializer=inits.HeNormal(mode="fan_out"))(x)
        outputs = keras.layers.Dense(1, kernel_initializer="xavier_normal")(x)
        model = keras.Model(inputs, outputs)
        model.save(path)
    else:
        model = keras.saving.load_model(path)  # no custom_objects
    print(json.dumps([
        [type(layer.kernel_initializer).__name__, layer.kernel_initializer.get_config(),
         float(np.sum(layer.kernel.numpy()))]
        for layer in model.layers[1:]]))
    """
)


@pytest.mark.slow  # two child processes start TensorFlow; in process: test_config_round_trip; fresh: test_saved_models.py
def test_model_saves_and_loads_in_a_fresh_process(tmp_path):
    script = tmp_path / "roundtrip.py"
    script.write_text(SAVE_LOAD_SCRIPT)
    path = str(tmp_path / "model.keras")

    def run(mode):
        out = subprocess.run(
            [sys.executable, str(script), path, mode], capture_output=True, text=True, timeout=240
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    saved, loaded = run("save"), run("load")
    assert saved == loaded
    assert [row[0] for row in loaded] == [
        "HeAvgNormal",
        "LeakyHeNormal",
        "SmallNormal",
        "HeNormal",
        "GlorotNormal",
    ]


def test_all_lists_every_public_name():
    public = {
        name
        for name, value in vars(inits).items()
        if not name.startswith("_")
        and getattr(value, "__module__", inits.__name__) == inits.__name__
        and (isinstance(value, type) or callable(value))
    }
    assert public <= set(inits.__all__)
    assert all(hasattr(inits, name) for name in inits.__all__)


# ------------------------------------------------------------------------------------------
# Against independent references: Keras's own initializers, PyTorch's names, scipy
# ------------------------------------------------------------------------------------------

#: Initializers whose Keras class of the same name has the same scale and fan (Keras's
#: normals are truncated, ours are not: the distribution is compared by family only).
KERAS_TWINS = {
    "glorot_normal": keras.initializers.GlorotNormal,
    "glorot_uniform": keras.initializers.GlorotUniform,
    "he_normal": keras.initializers.HeNormal,
    "he_uniform": keras.initializers.HeUniform,
    "lecun_normal": keras.initializers.LecunNormal,
    "lecun_uniform": keras.initializers.LecunUniform,
}


def _keras_fan(shape, mode):
    """The fan as Keras's VarianceScaling documents it: receptive field times channels."""
    receptive_field = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


@pytest.mark.parametrize("name", sorted(KERAS_TWINS))
def test_scale_and_fan_agree_with_keras(name):
    ours, theirs = inits.get(name), KERAS_TWINS[name]()
    assert (ours.scale, ours.mode) == (theirs.scale, theirs.mode)
    assert ours.distribution.endswith("uniform") == theirs.distribution.endswith("uniform")
    for shape in ((300, 100), (100, 300), (3, 3, 16, 32)):
        expected = theirs.scale / _keras_fan(shape, theirs.mode)
        assert ours.variance(shape) == pytest.approx(expected, rel=1e-12), shape
    # Keras's draws have variance scale / fan too (262144 draws: sampling error < 0.3%).
    sample = np.asarray(KERAS_TWINS[name](seed=0)((512, 512)), dtype=np.float64)
    assert sample.var() == pytest.approx(ours.variance((512, 512)), rel=0.02)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_uniform", "lecun_uniform"])
def test_uniform_bounds_are_keras_bounds(name):
    # U[-limit, limit] with limit = sqrt(3 scale / fan): Keras draws the same bound (and, with
    # the same integer seed, the same keras.random.uniform values).
    shape = (256, 128)
    ours = np.asarray(inits.get(name).__class__(seed=3)(shape))
    theirs = np.asarray(KERAS_TWINS[name](seed=3)(shape))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    fan = {"glorot_uniform": (256 + 128) / 2, "he_uniform": 256, "lecun_uniform": 256}[name]
    scale = {"glorot_uniform": 1.0, "he_uniform": 2.0, "lecun_uniform": 1.0}[name]
    limit = math.sqrt(3.0 * scale / fan)
    assert np.max(np.abs(ours)) <= limit * (1 + 1e-6)
    assert np.max(np.abs(ours)) == pytest.approx(limit, rel=1e-3)  # 32768 draws reach it


def test_truncated_normal_constant_is_scipys_truncated_normal_std():
    from scipy import stats

    assert inits.TRUNCATED_NORMAL_STD == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-12)
    # And Keras's TruncatedNormal-based VarianceScaling draws the same variance as ours.
    ours = np.asarray(inits.VarianceScaling(2.0, "fan_in", "truncated_normal", seed=1)((1024, 512)))
    theirs = np.asarray(
        keras.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal", seed=1)((1024, 512))
    )
    assert ours.var() == pytest.approx(theirs.var(), rel=0.01)
    assert ours.var() == pytest.approx(2.0 / 1024, rel=0.01)


#: PyTorch's torch.nn.init function names (without the trailing underscore) and the
#: initializer each is (https://pytorch.org/docs/stable/nn.init.html).
PYTORCH_NAMES = {
    "xavier_normal": inits.GlorotNormal,
    "xavier_uniform": inits.GlorotUniform,
    "kaiming_normal": inits.HeNormal,
    "kaiming_uniform": inits.HeUniform,
}


def test_pytorch_names_are_aliases_of_the_same_initializers():
    for name, cls in PYTORCH_NAMES.items():
        assert type(inits.get(name)) is cls, name
        assert inits.aliases()[name] == cls.name
    # Leaky He under PyTorch's kaiming_*_(a=...) idea: the slope's gain sqrt(2 / (1 + a^2)).
    leaky = inits.get({"class_name": "kaiming_leaky_normal", "config": {"negative_slope": 0.2}})
    assert isinstance(leaky, inits.LeakyHeNormal)
    assert leaky.variance((100, 10)) == pytest.approx(2.0 / (1.04 * 100), rel=1e-12)
    uniform = inits.get("kaiming_leaky_uniform")
    assert isinstance(uniform, inits.LeakyHeUniform)
    assert inits.get("uniform_inv_sqrt_fan_in").variance((100, 10)) == pytest.approx(1 / 300)
