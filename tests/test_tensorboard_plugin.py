"""The "gradient flow" TensorBoard plugin: its data route against the callbacks' own history,
the layer order, the entry point, and (``slow``) its page in a real TensorBoard and Chromium."""

from __future__ import annotations

import configparser
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from keras_init_lab.tensorboard_plugin import profiles
from keras_init_lab.tensorboard_plugin.profiles import (
    STATISTIC,
    build_profiles,
    depth_verdict,
    layout_layer_order,
    natural_key,
    order_layers,
)

REPO = Path(__file__).resolve().parents[1]

#: Layer names whose alphabetical and natural orders are not the forward order, so only the
#: layout written by GradientStats can give the right one.
LAYERS = ("zeta_2", "alpha_10", "mid_1", "out")
#: Event files store scalars as float32: a value read back differs from the float64 history
#: by at most half a float32 ulp, a relative 2^-24; 2^-23 (float32 eps) leaves room for the
#: square of the activation std (two roundings).
FLOAT32_RTOL = float(np.finfo(np.float32).eps)


def _fit_with_callbacks(log_dir: Path, steps: int = 4, seed: int = 0, scale: float = 1.0):
    """A tiny Dense model fit for ``steps`` steps with GradientStats and ActivationStats."""
    import keras

    from keras_init_lab.callbacks import ActivationStats, GradientStats

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8 * steps, 6)).astype("float32")
    y = rng.integers(0, 3, size=8 * steps)
    inputs = keras.Input((6,))
    h = inputs
    for name in LAYERS[:-1]:
        h = keras.layers.Dense(
            5,
            activation="relu" if name != "mid_1" else "tanh",
            name=name,
            kernel_initializer=keras.initializers.RandomNormal(stddev=scale * 0.6, seed=seed),
        )(h)
    outputs = keras.layers.Dense(3, name=LAYERS[-1])(h)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    gradients = GradientStats(every_n_steps=1, log_dir=log_dir)
    activations = ActivationStats(x[:16], log_dir=log_dir)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[gradients, activations])
    return gradients, activations


def _plugin(log_dir: Path):
    """The plugin over ``log_dir`` through TensorBoard's own multiplexer data provider."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin

    from keras_init_lab.tensorboard_plugin import GradientFlowPlugin

    # Keep every scalar (TensorBoard's default reservoir for tensors is 10 per tag).
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={"scalars": 0, "custom_scalars": 0}
    )
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(log_dir))
    return GradientFlowPlugin(base_plugin.TBContext(data_provider=provider, logdir=str(log_dir)))


def _get(plugin, route: str, query: str = ""):
    """Call one of the plugin's routes as TensorBoard's WSGI app would."""
    from werkzeug.test import Client

    apps = plugin.get_plugin_apps()
    # Exact routes, or a prefix route such as "/static/*" (TensorBoard matches it by prefix).
    key = route if route in apps else next(k for k in apps if route.startswith(k.rstrip("*")))
    app = apps[key]
    response = Client(app).get(f"/data/plugin/gradient_flow{route}?{query}")
    return response.status_code, response.get_data()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("gradient_flow") / "exp"
    gradients, activations = _fit_with_callbacks(log_dir)
    return log_dir, gradients.history, activations.history


def _tag_layers(history_layers):
    """GradientStats tags drop the model's name from the front (``tiny/zeta_2`` -> ``zeta_2``)."""
    return [
        layer.split("/", 1)[1] if layer.startswith("tiny/") else layer for layer in history_layers
    ]


def test_profiles_route_returns_gradient_stats_history(fitted):
    log_dir, history, _ = fitted
    plugin = _plugin(log_dir)
    code, body = _get(plugin, "/profiles", "stat=gradient_norm")
    assert code == 200, body
    runs = json.loads(body)["runs"]
    assert sorted(runs) == ["train"]  # the activations run has no gradient tags
    train = runs["train"]
    assert train["layers"] == _tag_layers(history["layers"]) == list(LAYERS)
    assert train["order"] == {"source": "layout", "run": "train"}
    assert train["steps"] == history["step"].tolist() and len(train["steps"]) == 8
    np.testing.assert_allclose(
        np.array(train["values"], dtype=float), history["per_layer"]["norm"], rtol=FLOAT32_RTOL
    )
    for stat, key in (("update_ratio", "update_ratio"), ("weight_std", "weight_std")):
        _, body = _get(plugin, "/profiles", f"stat={stat}&run=train")
        values = np.array(json.loads(body)["runs"]["train"]["values"], dtype=float)
        np.testing.assert_allclose(values, history["per_layer"][key], rtol=FLOAT32_RTOL)
    _, body = _get(plugin, "/profiles", "stat=gradient_log10_norm")
    values = np.array(json.loads(body)["runs"]["train"]["values"], dtype=float)
    # log10 is taken in float64 then stored as float32: 2^-23 relative of |log10 norm|.
    np.testing.assert_allclose(
        values, np.log10(history["per_layer"]["norm"]), rtol=FLOAT32_RTOL, atol=1e-7
    )


def test_profiles_route_verdict_is_the_end_to_end_change(fitted):
    log_dir, history, _ = fitted
    body = json.loads(_get(_plugin(log_dir), "/profiles", "stat=gradient_norm")[1])
    train = body["runs"]["train"]
    norms = history["per_layer"]["norm"]
    for step, change, verdict in zip(range(len(norms)), train["change"], train["verdict"]):
        expected = norms[step, 0] / norms[step, -1]  # backprop: from the output to the input
        assert math.isclose(change, expected, rel_tol=2 * FLOAT32_RTOL)
        assert verdict == depth_verdict(expected, 10.0, 1000.0)


def test_activation_variance_is_the_square_of_the_std_in_layer_order(fitted):
    log_dir, _, history = fitted
    plugin = _plugin(log_dir)
    body = json.loads(_get(plugin, "/profiles", "stat=activation_variance")[1])
    run = body["runs"]["activations"]
    # ActivationStats's own layout names its layers in forward order.
    assert run["order"] == {"source": "layout", "run": "activations"}
    assert run["layers"] == history["layers"] == list(LAYERS[:-1])
    # At the global step (4 steps per epoch), the step axis of the gradient statistics.
    assert run["steps"] == history["step"].tolist() == [0, 4, 8]
    np.testing.assert_allclose(
        np.array(run["values"], dtype=float),
        history["per_layer"]["std"] ** 2,
        rtol=2 * FLOAT32_RTOL,
    )
    dead = json.loads(_get(plugin, "/profiles", "stat=dead_fraction")[1])["runs"]["activations"]
    # mid_1 is tanh: no dead fraction tag, so it is not a layer of that profile.
    assert dead["layers"] == ["zeta_2", "alpha_10"]
    np.testing.assert_allclose(
        np.array(dead["values"], dtype=float),
        history["per_layer"]["dead_fraction"][:, [0, 1]],
        rtol=FLOAT32_RTOL,
    )
    assert dead["verdict"] == [None, None, None]  # fractions have no band and no verdict


def _write_legacy_logs(log_dir: Path) -> dict:
    """Event files with the tag names of the callbacks' earlier versions, written by hand.

    ``exp/train``: ``<layer>/gradient/norm`` and a layout naming the layers in the order
    ``b_2, a_10`` (neither alphabetical nor natural); ``exp/activations``:
    ``<layer>/activation/std`` and a layout that names no layer (``.*/activation/std$``).
    """
    from keras_init_lab.callbacks import SummaryWriters

    norms = {"b_2": [0.5, 0.25], "a_10": [2.0, 4.0]}
    stds = {"b_2": [1.5, 3.0], "a_10": [0.5, 0.75]}
    with SummaryWriters(log_dir / "exp") as writers:
        writers.custom_scalars_layout({"g": {"norm": [r"^(?:b_2|a_10)/gradient/norm$"]}})
        writers.custom_scalars_layout({"a": {"std": [r".*/activation/std$"]}}, run="activations")
        for index, step in enumerate((0, 10)):
            writers.scalars({f"{k}/gradient/norm": v[index] for k, v in norms.items()}, step)
            writers.scalars(
                {f"{k}/activation/std": v[index] for k, v in stds.items()}, step, run="activations"
            )
    return {"norms": norms, "stds": stds}


def test_logs_with_the_earlier_tag_names_still_draw(tmp_path):
    """Logs written before the tags were renamed: read through the legacy suffixes, the
    activations run ordered by its sibling's layout."""
    written = _write_legacy_logs(tmp_path)
    plugin = _plugin(tmp_path)
    assert plugin.is_active()
    train = json.loads(_get(plugin, "/profiles", "stat=gradient_norm")[1])["runs"]["exp/train"]
    assert train["layers"] == ["b_2", "a_10"] and train["steps"] == [0, 10]
    assert train["order"] == {"source": "layout", "run": "exp/train"}
    # Dyadic values: exact in float32.
    assert train["values"] == [[0.5, 2.0], [0.25, 4.0]]
    body = json.loads(_get(plugin, "/profiles", "stat=activation_variance")[1])
    run = body["runs"]["exp/activations"]
    assert run["order"] == {"source": "sibling_layout", "run": "exp/train"}
    assert run["layers"] == ["b_2", "a_10"]
    assert run["values"] == [[s[i] ** 2 for s in written["stds"].values()] for i in (0, 1)]


def test_current_names_win_over_legacy_ones():
    tags = ["d/details/gradient_norm", "d/details/kernel/gradient_norm", "e/gradient/norm"]
    statistic = STATISTIC["gradient_norm"]
    assert profiles.suffix_of(tags, statistic) == "details/gradient_norm"
    assert profiles.layers_of(tags, statistic) == ["d"]
    assert profiles.layers_of(tags[2:], statistic) == ["e"]
    assert profiles.layers_of(tags[1:2], statistic) == []  # a per-variable tag is no layer


def test_statistics_read_the_names_the_callbacks_write():
    """Each statistic's suffix is the name from the one table the writers use."""
    from keras_init_lab import _tags

    expected = {
        "gradient_norm": _tags.GRADIENT_NORM,
        "gradient_log10_norm": _tags.GRADIENT_LOG10_NORM,
        "activation_variance": _tags.ACTIVATION_STD,
        "update_ratio": _tags.UPDATE_RATIO,
        "weight_std": _tags.WEIGHT_STD,
        "dead_fraction": _tags.DEAD_FRACTION,
        "saturation_fraction": _tags.SATURATED_FRACTION,
    }
    assert {key: s.suffix for key, s in STATISTIC.items()} == expected
    assert _tags.activation_tag("x", "std") == f"x/{_tags.ACTIVATION_STD}"
    assert _tags.activation_tag("x", "saturation_fraction") == f"x/{_tags.SATURATED_FRACTION}"


def test_statistics_route_lists_runs_and_propagate_verdicts(fitted):
    from keras_init_lab.experiments.propagation import EXTREME_FACTOR, STABLE_FACTOR, VERDICTS

    log_dir, _, _ = fitted
    plugin = _plugin(log_dir)
    assert plugin.is_active()
    body = json.loads(_get(plugin, "/statistics")[1])
    runs = {entry["key"]: entry["runs"] for entry in body["statistics"]}
    assert runs["gradient_norm"] == ["train"] and runs["activation_variance"] == ["activations"]
    assert runs["saturation_fraction"] == ["activations"]
    assert body["verdicts"]["words"] == list(VERDICTS)
    assert body["verdicts"]["stable_factor"] == STABLE_FACTOR
    assert body["verdicts"]["extreme_factor"] == EXTREME_FACTOR


def test_unknown_statistic_is_a_400_naming_the_closest(fitted):
    code, body = _get(_plugin(fitted[0]), "/profiles", "stat=gradient_nrm")
    assert code == 400
    message = json.loads(body)["error"]
    assert "gradient_nrm" in message and "gradient_norm" in message


def test_static_route_serves_the_frontend_and_refuses_other_paths(fitted):
    plugin = _plugin(fitted[0])
    code, body = _get(plugin, "/index.js")
    assert code == 200 and b"export async function render" in body
    assert _get(plugin, "/static/chart.js")[0] == 200
    for bad in ("../plugin.py", "..%2Fplugin.py", "missing.js"):
        assert _get(plugin, f"/static/{bad}")[0] == 404


def test_frontend_fetches_nothing_from_outside():
    static = REPO / "keras_init_lab" / "tensorboard_plugin" / "static"
    for path in static.iterdir():
        # The SVG namespace is an identifier that the browser never fetches.
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_inactive_without_the_tags(tmp_path):
    import tensorflow as tf

    with tf.summary.create_file_writer(str(tmp_path / "run")).as_default():
        tf.summary.scalar("loss", 1.0, step=0)
    plugin = _plugin(tmp_path)
    assert not plugin.is_active()
    assert json.loads(_get(plugin, "/profiles", "stat=gradient_norm")[1])["runs"] == {}


def test_entry_point_names_the_plugin_class():
    from keras_init_lab.tensorboard_plugin import GradientFlowPlugin

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    line = config["options.entry_points"]["tensorboard_plugins"].strip()
    name, target = (part.strip() for part in line.split("="))
    module, attribute = target.split(":")
    assert name == GradientFlowPlugin.plugin_name == "gradient_flow"
    assert getattr(__import__(module, fromlist=[attribute]), attribute) is GradientFlowPlugin
    assert GradientFlowPlugin.frontend_metadata(None).es_module_path == "/index.js"
    data = config["options.package_data"]["keras_init_lab.tensorboard_plugin"]
    assert "static/*.js" in data


# ----------------------------------------------------------------------------- pure logic


def _layout(*patterns):
    from tensorboard.plugins.custom_scalar import layout_pb2

    layout = layout_pb2.Layout()
    chart = layout.category.add(title="c").chart.add(title="t")
    chart.multiline.tag.extend(patterns)
    return layout.SerializeToString()


def test_layout_order_reads_escaped_names_and_ignores_wildcards():
    import re

    names = ["b.1", "a|x", "c(2)"]
    pattern = rf"^(?:{'|'.join(re.escape(n) for n in names)})/gradient/norm$"
    assert layout_layer_order(_layout(".*/activation/std$", pattern, r"^z/update/ratio$")) == [
        *names,
        "z",
    ]


def test_order_falls_back_to_natural_names_and_says_so():
    layers, order = order_layers("run", ["dense_10", "dense", "dense_2"], {"run": ["other"]})
    assert layers == ["dense", "dense_2", "dense_10"]
    assert order == {"source": "names", "run": None}
    assert natural_key("dense_2") < natural_key("dense_10")


def test_build_profiles_marks_gaps_and_non_finite_values():
    series = {
        "r": {
            "a/gradient/norm": [(0, 1.0), (5, float("nan"))],
            "b/gradient/norm": [(5, 2.0)],
            "a/kernel/gradient_norm": [(0, 9.0)],  # per-variable tag: not a layer
        }
    }
    profile = build_profiles(series, STATISTIC["gradient_norm"], {"r": ["b", "a"]})["r"]
    assert profile["layers"] == ["b", "a"]
    assert profile["steps"] == [0, 5]
    assert profile["values"] == [[None, 1.0], [2.0, None]]


def test_depth_verdict_matches_propagate_bands():
    from keras_init_lab.experiments.propagation import EXTREME_FACTOR, STABLE_FACTOR

    cases = {
        0.0: "vanishing",
        0.5**29: "vanishing",
        0.05: "decaying",
        0.2: "stable",
        10.0: "stable",
        11.0: "growing",
        1000.0: "growing",
        1001.0: "exploding",
        math.inf: "exploding",
    }
    for change, word in cases.items():
        assert depth_verdict(change, STABLE_FACTOR, EXTREME_FACTOR) == word, change


def test_get_statistic_policy():
    with pytest.raises(TypeError, match="stat=3"):
        profiles.get_statistic(3)
    with pytest.raises(ValueError, match="dead_fraction"):
        profiles.get_statistic("dead_fractoin")


# ----------------------------------------------------------------------------- in a browser

#: Set to a folder (e.g. examples/figures) to save the screenshots of the browser test there.
SCREENSHOTS_ENV = "KERAS_INIT_LAB_SCREENSHOTS"

#: The browser test's runs: three of the course's pairings (lecture 002) and the sigmoid
#: network of lecture 004's vanishing gradients, at DEPTH hidden layers.
PAIRINGS = (
    ("he_relu", "he_normal", "relu"),
    ("xavier_relu", "glorot_uniform", "relu"),
    ("he_tanh", "he_normal", "tanh"),
    ("xavier_sigmoid", "glorot_uniform", "sigmoid"),
)
DEPTH = 10


def _fit_pairing(log_dir: Path, initializer: str, activation: str, seed: int = 0):
    """A DEPTH-layer MLP of the package fit 3 epochs x 6 steps, recorded every 2 steps."""
    import keras

    from keras_init_lab.callbacks import ActivationStats, GradientStats
    from keras_init_lab.experiments import build_mlp

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96, 16)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 1).astype("int64")
    model = build_mlp(
        (16,), 3, depth=DEPTH, width=32, initializer=initializer, activation=activation
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    gradients = GradientStats(every_n_steps=2, log_dir=log_dir)
    activations = ActivationStats(x[:32], log_dir=log_dir)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[gradients, activations])
    return gradients.history


def _slider_to(browser, index: int) -> None:
    browser.evaluate(
        "(() => { const s = document.getElementById('gf-step'); s.value = String("
        f"{index}); s.dispatchEvent(new Event('input')); }})()"
    )


def _plotted(browser) -> dict:
    """``{run: [(layer, step, value), ...]}`` read back from the SVG's points."""
    return browser.evaluate(
        "(() => { const out = {}; for (const c of document.querySelectorAll("
        "'#gf-chart circle.point')) { (out[c.dataset.run] = out[c.dataset.run] || []).push("
        "[c.dataset.layer, Number(c.dataset.step), Number(c.dataset.value)]); } return out; })()"
    )


@pytest.mark.slow
def test_plugin_page_in_tensorboard_and_chromium(tmp_path):
    from _browser import Chromium, TensorBoardServer, require_chromium

    executable = require_chromium()
    log_dir = tmp_path / "logs"
    histories = {
        name: _fit_pairing(log_dir / name, initializer, activation)
        for name, initializer, activation in PAIRINGS
    }
    with TensorBoardServer(log_dir) as server, Chromium(executable) as browser:
        server.wait_for_runs("gradient_norm", len(PAIRINGS))
        browser.navigate(server.url + "data/plugin_entry.html?name=gradient_flow")
        browser.wait_for("document.body.dataset.ready === 'true'")
        lines = browser.evaluate(
            "Array.from(document.querySelectorAll('#gf-chart path.line')).map("
            "(p) => [p.dataset.series, Number(p.dataset.points)])"
        )
        # One line per run, one point per layer (DEPTH hidden + the output layer).
        assert sorted(lines) == sorted([f"{name}/train", DEPTH + 1] for name, _, _ in PAIRINGS)
        steps = histories["he_relu"]["step"].tolist()
        assert steps == [0, 2, 4, 6, 8, 10, 12, 14, 16]
        assert browser.evaluate("Number(document.getElementById('gf-step').max)") == len(steps) - 1
        for index in (0, 3, len(steps) - 1):
            _slider_to(browser, index)
            plotted = _plotted(browser)
            assert sorted(plotted) == sorted(f"{name}/train" for name, _, _ in PAIRINGS)
            for name, history in histories.items():
                points = plotted[f"{name}/train"]
                layers = [layer.rsplit("/", 1)[-1] for layer in history["layers"]]
                assert [p[0] for p in points] == layers
                assert {p[1] for p in points} == {steps[index]}
                np.testing.assert_allclose(
                    [p[2] for p in points], history["per_layer"]["norm"][index], rtol=FLOAT32_RTOL
                )
        first = _plotted(browser)
        _slider_to(browser, 0)
        assert _plotted(browser) != first  # moving the slider moved the points
        # Play walks through the recorded steps; a second click pauses.
        browser.evaluate("document.getElementById('gf-play').click()")
        browser.wait_for("document.getElementById('gf-chart').dataset.step === '4'", 30)
        browser.evaluate("document.getElementById('gf-play').click()")
        assert browser.evaluate("document.getElementById('gf-play').textContent") == "play"
        _slider_to(browser, 0)
        # The course's band: x10 either way of the output layer's norm, one per run.
        bands = browser.evaluate(
            "Array.from(document.querySelectorAll('#gf-chart rect.band')).map("
            "(r) => [r.dataset.series, Number(r.dataset.y0), Number(r.dataset.y1)])"
        )
        for run, low, high in bands:
            output_norm = histories[run.split("/")[0]]["per_layer"]["norm"][0, -1]
            assert math.isclose(low * 10, output_norm, rel_tol=2 * FLOAT32_RTOL)
            assert math.isclose(high / 10, output_norm, rel_tol=2 * FLOAT32_RTOL)
        assert len(bands) == len(PAIRINGS)
        # Another statistic: the activation variance per hidden layer, from the activations runs.
        browser.evaluate(
            "(() => { const s = document.getElementById('gf-stat'); s.value = "
            "'activation_variance'; s.dispatchEvent(new Event('change')); })()"
        )
        browser.wait_for(
            "document.getElementById('gf-chart').dataset.statistic === 'activation_variance'"
        )
        lines = browser.evaluate(
            "Array.from(document.querySelectorAll('#gf-chart path.line')).map("
            "(p) => [p.dataset.series, Number(p.dataset.points)])"
        )
        assert sorted(lines) == sorted([f"{name}/activations", DEPTH] for name, _, _ in PAIRINGS)
        assert browser.external_requests() == []
        assert any("/data/plugin/gradient_flow/profiles" in u for u in browser.requested_urls())
        folder = os.environ.get(SCREENSHOTS_ENV)
        if folder:
            _screenshots(browser, server, Path(folder))


def _screenshots(browser, server, folder: Path) -> None:
    """The plugin's tab inside TensorBoard's own page, at the middle step, as a PNG."""
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1320, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    browser.navigate(server.url + "#gradient_flow")
    frame = "document.querySelector('iframe')"
    # The iframe appears before its document has a body: test each step.
    browser.wait_for(
        f"(() => {{ const f = {frame}; const b = f && f.contentDocument && "
        "f.contentDocument.body; return !!(b && b.dataset.ready === 'true'); })()",
        120,
    )
    browser.evaluate(
        f"(() => {{ const d = {frame}.contentDocument; const s = d.getElementById('gf-step');"
        "s.value = '4'; s.dispatchEvent(new Event('input')); })()"
    )
    browser.screenshot(folder / "tensorboard_gradient_flow_plugin.png")
    # The Time Series tab: each layer's group opens with the cards a user reads first
    # (1_gradient_log10_norm, 2_update_ratio_log10, 3_dead_fraction / 3_saturated_fraction).
    browser.navigate(server.url + "#timeseries")
    browser.wait_for(
        "Array.from(document.querySelectorAll('card-view, .card-title, .tag'))"
        ".some((e) => (e.textContent || '').includes('1_gradient_log10_norm'))",
        120,
    )
    time.sleep(3)  # the cards draw their lines after their titles appear
    browser.screenshot(folder / "tensorboard_time_series.png")


def test_the_plugin_and_the_tag_table_load_without_keras_or_tensorflow():
    """TensorBoard imports the plugin at start, and a writer for another backend imports the
    tag table: neither may pull Keras or TensorFlow in (the table lives outside
    ``callbacks``, whose ``__init__`` imports Keras)."""
    import subprocess
    import sys

    code = (
        "import sys; import keras_init_lab._tags, keras_init_lab.tensorboard_plugin; "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
