"""The explorable page: its embedded data against the package's mean-field function, the page
file and the ``explore`` command, and (``slow``) its numbers read back from a real Chromium."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from keras_init_lab import activations
from keras_init_lab.experiments.propagation import (
    EXTREME_FACTOR,
    STABLE_FACTOR,
    VERDICTS,
    predict_variances,
)
from keras_init_lab.explore import build_page, data, make_server, write_page
from keras_init_lab.tensorboard_plugin.profiles import depth_verdict

REPO = Path(__file__).resolve().parents[1]
#: The tables hold 8 significant digits (relative rounding 5e-9 per value); 30 layers of
#: two table reads compound to ~3e-7, and the quadrature of the two sides agrees to ~1e-9.
RELU_RTOL = 1e-6
#: Catmull-Rom interpolation of the tables at 4 points per decade: after 30 layers the
#: smooth activations stay within 0.5% of predict_variances (measured: tanh 0.29%, sigmoid
#: 0.32%, gelu 0.47% at the worst of c = 1, 2, 4); 1% leaves room, 10x below what a
#: student reads off the log plot.
SMOOTH_RTOL = 1e-2
#: Widths and c = width * sigma_w^2 the tests check (He: c = 2, Xavier/LeCun: c = 1).
WIDTH = 100


def _table_at(table, q, grid):
    """Python copy of the page's ``tableAt`` (Catmull-Rom in log-log, linear at the ends)."""
    n = len(table)
    lq = math.log10(q) if q > 0 else grid["log10_min"] - 1
    pos = (lq - grid["log10_min"]) * grid["per_decade"]
    i = min(max(math.floor(pos), 0), n - 2)
    t = pos - i
    if 1 <= i <= n - 3 and 0 <= t <= 1 and min(table[i - 1 : i + 3]) > 0:
        p0, p1, p2, p3 = (math.log10(x) for x in table[i - 1 : i + 3])
        y = p1 + 0.5 * t * (
            p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0))
        )
        return 10**y
    a, b = table[i], table[i + 1]
    if a > 0 and b > 0:
        return 10 ** ((1 - t) * math.log10(a) + t * math.log10(b))
    return (1 - t) * a + t * b


def _mean_field(page_data, activation, c, bias, depth):
    """Python copy of the page's ``meanField`` recursion on the embedded tables."""
    tables, grid = page_data["activations"][activation], page_data["q_grid"]
    forward = [c + bias]
    for _ in range(1, depth):
        forward.append(c * _table_at(tables["m2"], forward[-1], grid) + bias)
    backward = [0.0] * depth
    backward[-1] = 1.0
    for k in range(depth - 1, 0, -1):
        backward[k - 1] = c * _table_at(tables["d2"], forward[k - 1], grid) * backward[k]
    return np.array(forward), np.array(backward)


def _predicted(activation, sigma2, depth=30, width=WIDTH):
    return predict_variances(
        activations.get(activation), [sigma2] * depth, width, width, output_gradient_variance=1.0
    )


@pytest.fixture(scope="module")
def small_data():
    """The page's data for ReLU and tanh only (the tables cost ~1 s of CPU per activation)."""
    return data.explore_data(activations=("relu", "tanh"))


def test_relu_tables_are_the_exact_moments(small_data):
    relu = small_data["activations"]["relu"]
    grid = small_data["q_grid"]
    q = 10.0 ** (grid["log10_min"] + np.arange(len(relu["m2"])) / grid["per_decade"])
    assert len(q) == (grid["log10_max"] - grid["log10_min"]) * grid["per_decade"] + 1
    # E[relu(z)^2] = q / 2 and E[relu'(z)^2] = 1 / 2 (He et al. 2015). The trapezoid rule of
    # gaussian_expectation (step h = 1e-4 in z) is within 2e-8 of the first (a kink at 0);
    # the step of relu' at 0 (relu'(0) = 0) costs it half a point, h phi(0) / 2 = 2e-5
    # absolute (4e-5 relative), as in predict_variances, which uses the same rule.
    np.testing.assert_allclose(relu["m2"], q / 2, rtol=1e-7)
    np.testing.assert_allclose(relu["d2"], 0.5, rtol=1e-4)
    z = np.arange(len(relu["a"])) * data.Z_STEP - data.Z_HALF_WIDTH
    np.testing.assert_allclose(relu["a"], np.maximum(z, 0.0), atol=1e-12)
    assert (relu["slope_left"], relu["slope_right"]) == (0.0, 1.0)


def test_tables_reproduce_predict_variances(small_data):
    for activation, initializer, c in (
        ("relu", "he_normal", 2.0),
        ("relu", "glorot_uniform", 1.0),
        ("relu", None, 4.0),
        ("tanh", "glorot_uniform", 1.0),
        ("tanh", "he_normal", 2.0),
        ("tanh", None, 4.0),
    ):
        sigma2 = small_data["initializers"][initializer][str(WIDTH)] if initializer else c / WIDTH
        assert math.isclose(sigma2 * WIDTH, c, rel_tol=1e-12)
        forward, backward = _mean_field(small_data, activation, WIDTH * sigma2, 0.0, 30)
        expected_forward, expected_backward = _predicted(activation, sigma2)
        rtol = RELU_RTOL if activation == "relu" else SMOOTH_RTOL
        np.testing.assert_allclose(forward, expected_forward, rtol=rtol, err_msg=activation)
        np.testing.assert_allclose(backward, expected_backward, rtol=rtol, err_msg=activation)


def test_bias_variance_adds_to_every_layer(small_data):
    forward, _ = _mean_field(small_data, "relu", 2.0, 0.1, 5)
    # ReLU, c = 2: v_k = 2 * v_{k-1} / 2 + 0.1 = v_{k-1} + 0.1, from v_1 = 2.1.
    np.testing.assert_allclose(forward, [2.1, 2.2, 2.3, 2.4, 2.5], rtol=RELU_RTOL)


def test_page_data_names_the_course_and_propagate(small_data):
    from keras_init_lab.experiments.pairings import COURSE_PAIRINGS
    from keras_init_lab.plots.experiments import VERDICT_COLOURS

    assert small_data["initializers"]["he_normal"]["100"] == pytest.approx(2 / 100, rel=1e-12)
    assert small_data["initializers"]["glorot_uniform"]["16"] == pytest.approx(1 / 16, rel=1e-12)
    assert [(p["initializer"], p["activation"], p["grade"]) for p in small_data["presets"]] == [
        row[:3] for row in COURSE_PAIRINGS
    ]
    facts = small_data["verdicts"]
    assert facts["words"] == list(VERDICTS) and facts["colours"] == VERDICT_COLOURS
    assert (facts["stable_factor"], facts["extreme_factor"]) == (STABLE_FACTOR, EXTREME_FACTOR)
    assert facts["severity"]["exploding"] > facts["severity"]["stable"]


def test_unknown_activation_names_the_closest():
    with pytest.raises(ValueError, match="tanh"):
        data.explore_data(activations=("tahn",))


def _embedded(html: str) -> dict:
    start = html.index("const DATA = ") + len("const DATA = ")
    return json.loads(html[start : html.index(";\n", start)])


def test_page_is_one_offline_file_with_the_data(small_data):
    html = build_page(small_data)
    assert _embedded(html) == json.loads(json.dumps(small_data))
    assert "/*__" not in html and "__DATA_SIZE__" not in html
    # Nothing to fetch: no URL but the SVG namespace, no external script, style or font.
    text = html.replace('"http://www.w3.org/2000/svg"', "")
    assert "http://" not in text and "https://" not in text
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    size = len(json.dumps(small_data, separators=(",", ":")))
    assert f"{size / 1024:.0f} kB of embedded tables" in html


def test_write_page_policy(tmp_path, small_data):
    path = write_page(tmp_path / "sub" / "page.html", small_data)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="page.txt"):
        write_page(tmp_path / "page.txt", small_data)
    with pytest.raises(TypeError, match="3"):
        write_page(3, small_data)


def test_make_server_serves_the_page_on_localhost(tmp_path, small_data):
    path = write_page(tmp_path / "explore.html", small_data)
    server, url = make_server(path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/explore.html")
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.read().decode("utf-8") == path.read_text(encoding="utf-8")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_cli_explore_writes_the_page(tmp_path, monkeypatch, capsys, small_data):
    from keras_init_lab import cli

    # Two activations keep the command fast; the slow tests build the whole page.
    monkeypatch.setattr(data, "ACTIVATIONS", ("relu", "tanh"))
    out = tmp_path / "page.html"
    assert cli.main(["explore", "--out", str(out)]) == cli.EXIT_OK
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(_embedded(out.read_text(encoding="utf-8"))["activations"]) == ["relu", "tanh"]
    assert cli.main(["explore", "--out", str(tmp_path / "page.txt")]) == cli.EXIT_USAGE
    assert "page.txt" in capsys.readouterr().err
    assert cli.main(["explore", "--port", "70000", "--serve"]) == cli.EXIT_USAGE
    assert "--port 70000" in capsys.readouterr().err


def test_report_links_the_explorable_page(tmp_path, monkeypatch, small_data):
    from keras_init_lab.experiments import propagate
    from keras_init_lab.report import write_report

    monkeypatch.setattr(data, "ACTIVATIONS", ("relu", "tanh"))
    result = propagate(sigma2=[0.02], depth=3, width=4, n_samples=4, n_trials=1)
    paths = write_report(tmp_path, propagation=result)
    page = tmp_path / "explore.html"
    assert _embedded(page.read_text(encoding="utf-8"))["presets"] == small_data["presets"]
    assert '<a href="explore.html">explore.html</a>' in paths["html"].read_text()
    assert "[explore.html](explore.html)" in paths["md"].read_text()


# ----------------------------------------------------------------------------- in a browser

#: Set to a folder (e.g. examples/figures) to save the page's screenshot there.
SCREENSHOTS_ENV = "KERAS_INIT_LAB_SCREENSHOTS"


def _read_direction(browser, direction: str, kind: str = "mean-field") -> list[float]:
    return browser.evaluate(
        f"Array.from(document.querySelectorAll('#ex-{direction} circle.point[data-kind="
        f'"{kind}"]\')).map((c) => [Number(c.dataset.layer), Number(c.dataset.value)])'
    )


def _set(browser, element_id: str, value, event: str = "input") -> None:
    browser.evaluate(
        f"(() => {{ const e = document.getElementById({json.dumps(element_id)}); e.value = "
        f"{json.dumps(str(value))}; e.dispatchEvent(new Event('{event}')); }})()"
    )


def _settle(browser) -> None:
    """Wait until the sampled network of the current setting is drawn."""
    browser.wait_for("document.body.dataset.mc === document.body.dataset.state", 180)


@pytest.mark.slow
def test_explore_page_numbers_in_chromium(tmp_path):
    from _browser import Chromium, require_chromium

    executable = require_chromium()
    page_data = data.explore_data()
    path = write_page(tmp_path / "explore.html", page_data)
    with Chromium(executable, 1200, 1100) as browser:
        browser.navigate(path.as_uri())
        browser.wait_for("document.body.dataset.ready === 'true'")
        presets = browser.evaluate(
            "Array.from(document.querySelectorAll('#ex-presets button')).map((b) => "
            "b.dataset.preset)"
        )
        assert presets == [f"{p['initializer']}+{p['activation']}" for p in page_data["presets"]]
        _set(browser, "ex-depth", 30)
        _set(browser, "ex-width", page_data["widths"].index(WIDTH))
        for initializer, sentence_number in (("he_normal", "1 of"), ("glorot_uniform", "1.9e-9")):
            browser.evaluate(
                f"document.querySelector('button[data-preset=\"{initializer}+relu\"]').click()"
            )
            _settle(browser)
            sigma2 = page_data["initializers"][initializer][str(WIDTH)]
            expected = dict(zip(("forward", "backward"), _predicted("relu", sigma2)))
            for direction, values in expected.items():
                plotted = _read_direction(browser, direction)
                assert [layer for layer, _ in plotted] == list(range(1, 31))
                np.testing.assert_allclose(
                    [value for _, value in plotted], values, rtol=RELU_RTOL, err_msg=initializer
                )
                text = browser.evaluate(
                    f"Object.assign({{}}, document.getElementById('ex-{direction}-text').dataset)"
                )
                change = (
                    values[-1] / values[0] if direction == "forward" else values[0] / values[-1]
                )
                assert math.isclose(float(text["change"]), change, rel_tol=RELU_RTOL)
                assert text["verdict"] == depth_verdict(change, STABLE_FACTOR, EXTREME_FACTOR)
                # The sampled network: 30 points per direction, same side of the verdict.
                sampled = _read_direction(browser, direction, "monte-carlo")
                assert len(sampled) == 30
                assert (
                    depth_verdict(float(text["mcChange"]), STABLE_FACTOR, EXTREME_FACTOR)
                    == (text["verdict"])
                )
            sentence = browser.evaluate("document.getElementById('ex-forward-text').textContent")
            assert sentence_number in sentence and "after 30 layers" in sentence
        # Xavier + ReLU: x0.5 per layer, vanishing; the headline says it in propagate's words.
        assert browser.evaluate("document.getElementById('ex-headline').dataset.verdict") == (
            "vanishing"
        )
        assert "x0.5 per layer" in browser.evaluate(
            "document.getElementById('ex-forward-text').textContent"
        )
        # tanh, within the interpolation tolerance; then a bias variance moves every layer.
        browser.evaluate("document.querySelector('button[data-preset=\"he_normal+tanh\"]').click()")
        _settle(browser)
        forward, backward = _predicted("tanh", page_data["initializers"]["he_normal"]["100"])
        np.testing.assert_allclose(
            [v for _, v in _read_direction(browser, "backward")], backward, rtol=SMOOTH_RTOL
        )
        before = _read_direction(browser, "forward")
        _set(browser, "ex-bias", page_data["bias_variances"].index(0.1))
        _settle(browser)
        after = _read_direction(browser, "forward")
        expected, _ = _mean_field(page_data, "tanh", 2.0, 0.1, 30)
        np.testing.assert_allclose([v for _, v in after], expected, rtol=SMOOTH_RTOL)
        assert before != after
        assert browser.external_requests() == []
        assert browser.requested_urls() == [path.as_uri()]
        folder = os.environ.get(SCREENSHOTS_ENV)
        if folder:
            _set(browser, "ex-bias", 0)
            browser.evaluate(
                "document.querySelector('button[data-preset=\"glorot_uniform+relu\"]').click()"
            )
            _settle(browser)
            browser.screenshot(Path(folder) / "explore_page.png")


@pytest.mark.slow
def test_cli_explore_serve_in_a_child_process(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = tmp_path / "explore.html"
    child = subprocess.Popen(
        [sys.executable, "-m", "keras_init_lab", "explore", "--out", str(out), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout.readline().startswith(f"wrote {out}")
        line = child.stdout.readline().strip()
        assert line.startswith("serving http://127.0.0.1:"), line
        url = line.split()[1]
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.read().decode("utf-8") == out.read_text(encoding="utf-8")
    finally:
        child.terminate()
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
