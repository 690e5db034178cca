"""Run every example of ``examples/`` and check it prints what its docstring promises.

Each example's ``main()`` is imported and run in this process (one TensorFlow start-up for all
of them). The printed output is compared with the "Expected output" block of the example's
docstring line by line: the words must match exactly, the numbers within a tolerance chosen
per example (exact for the slide computations, looser for the trained networks). Then the
returned numbers are checked against the course's values.
"""

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from _example_checks import EXAMPLES, assert_output_matches, expected_output, load  # noqa: E402


def run(module, capsys):
    result = module.main()
    printed = capsys.readouterr().out
    return result, printed


def test_01_perceptron_and_xor(capsys):
    module = load("01_perceptron_and_xor")
    result, printed = run(module, capsys)
    # Slide values are exact to the printed precision; trained losses to 0.02.
    assert_output_matches(printed, expected_output(module), abs_tol=0.02)
    assert [round(v, 2) for v in result["perceptron"]] == [0.94, 0.01]
    assert [round(v, 2) for v in result["xor_y_hat"]] == [0.60, 0.62, 0.64, 0.66]
    assert [round(v, 2) for v in result["xor_loss"]] == [0.92, 0.48, 0.44, 1.07]
    assert result["trained_from_glorot"][2] == [0, 1, 1, 0]
    assert result["trained_from_slide"][2] != [0, 1, 1, 0]


def test_02_computational_graph(capsys):
    module = load("02_computational_graph")
    result, printed = run(module, capsys)
    assert_output_matches(printed, expected_output(module))
    assert (result["dL_dw"], result["dL_db"]) == (-12.0, -4.0)
    assert (result["hand_dL_dw"], result["hand_dL_db"]) == (-12.0, -4.0)


def test_03_init_decides_the_minimum(capsys):
    module = load("03_init_decides_the_minimum")
    result, printed = run(module, capsys)
    assert_output_matches(printed, expected_output(module), abs_tol=1e-4)
    assert result["from_0.3"][2] == "local" and result["from_0"][2] == "global"
    assert result["from_0"][0] == pytest.approx(-1.1072, abs=1e-4)
    assert result["from_0.3"][0] == pytest.approx(0.8376, abs=1e-4)


def test_04_symmetry_zeros_and_constant(capsys):
    module = load("04_symmetry_zeros_and_constant")
    result, printed = run(module, capsys)
    assert_output_matches(
        printed, expected_output(module), abs_tol=0.06, loose_lines=("Constant(5.0)",)
    )
    zeros, five, glorot = result["Zeros"], result["Constant(5.0)"], result["GlorotUniform"]
    assert zeros["max_first_gradient"] == 0.0  # "las derivadas son 0"
    assert zeros["distinct_units"] == five["distinct_units"] == 1  # symmetry never broken
    assert glorot["distinct_units"] == module.HIDDEN_UNITS
    assert glorot["accuracy"] > 0.9 > five["accuracy"] and zeros["accuracy"] < 0.6


def test_05_vanishing_gradients_sigmoid_vs_relu(capsys):
    module = load("05_vanishing_gradients_sigmoid_vs_relu")
    result, printed = run(module, capsys)
    # Gradient norms depend on the random draw: compare the words, check magnitudes below.
    assert_output_matches(printed, expected_output(module), loose_lines=("hidden",))
    sigmoid, relu = result["norms"]["sigmoid+Glorot"], result["norms"]["relu+He"]
    assert result["bound"] == pytest.approx(9.1e-13, rel=0.01)  # lecture 004's number
    # Sigmoid: the gradient shrinks by ~4x per layer on its way back, ~0.25^19 over the stack.
    assert result["ratios"]["sigmoid+Glorot"] < 1e-9
    assert all(sigmoid[f"hidden_{i:02d}"] < sigmoid[f"hidden_{i + 1:02d}"] for i in range(1, 20))
    # ReLU + He: every layer's gradient within one order of magnitude of the last one.
    assert 0.1 < result["ratios"]["relu+He"] < 10
    assert all(0.1 < relu[f"hidden_{i:02d}"] / relu["hidden_20"] < 10 for i in range(1, 21))


@pytest.mark.slow  # trains four 10x64 MLPs; ActivationStats and compare() are tested in process
def test_06_init_activation_pairings(capsys):
    module = load("06_init_activation_pairings")
    result, printed = run(module, capsys)
    assert_output_matches(
        printed, expected_output(module), abs_tol=0.12, loose_lines=("Kaiming+ReLU", "Xavier+ReLU")
    )
    xt, kr, xr, kt = (result[name] for name in module.PAIRINGS)
    assert xr["std_ratio"] < 0.15 < 0.7 < kr["std_ratio"] < 1.5  # varianza baja vs buena
    assert xr["pre_std_last"] < 0.2 < 1.0 < kr["pre_std_last"]
    assert kt["pre_std_last"] > 2 * xt["pre_std_last"]  # He drives tanh harder
    assert kt["tanh_saturated"] >= xt["tanh_saturated"]
    assert xr["test_accuracy"] < kr["test_accuracy"]
    assert xr["dead_after_training"] > kr["dead_after_training"]
    assert xt["dead_after_training"] is None and kr["tanh_saturated"] is None


@pytest.mark.slow  # a full fit with every callback; each callback has its own tests
def test_07_fit_with_tensorboard(capsys, tmp_path):
    module = load("07_fit_with_tensorboard")
    log_dir = tmp_path / "07_fit"
    result = module.main(log_dir=log_dir)
    printed = capsys.readouterr().out.replace(str(log_dir), "logs/07_fit")
    assert_output_matches(
        printed,
        expected_output(module),
        abs_tol=0.05,
        loose_lines=("gradient norm", "scalar tags", "dead ReLU"),
    )
    assert result["findings"] == 0
    assert result["steps"] == 115 and result["accuracy"] > 0.9
    assert result["gradient_steps"] == list(range(0, 115, 10))
    assert result["activation_epochs"] == [0, 1, 2, 3, 4, 5]
    runs = result["runs"]
    assert set(runs) == {"activations", "train", "validation"}
    # Gradient histograms from GradientStats, weight histograms from Keras, activation scalars.
    train_histograms = " ".join(runs["train"]["histograms"])
    assert "gradient_log10_abs" in train_histograms
    assert any("dead_fraction" in tag for tag in runs["activations"]["scalars"])
    assert all(path.exists() and path.stat().st_size > 10_000 for path in result["figures"])


def test_08_remedies_scaling_batchnorm_residual(capsys):
    module = load("08_remedies_scaling_batchnorm_residual")
    result, printed = run(module, capsys)
    assert_output_matches(
        printed,
        expected_output(module),
        abs_tol=0.05,
        loose_lines=("raw", "plain", "BatchNorm", "residual"),
    )
    raw, scaled = result["scaling"]["raw"], result["scaling"]["standardized"]
    assert raw["saturated"] > 0.9 and scaled["saturated"] < 0.05
    assert scaled["accuracy"] > 0.9 and scaled["accuracy"] > raw["accuracy"] + 0.15
    plain, bn, residual = (result["remedies"][k] for k in ("plain", "batchnorm", "residual"))
    assert plain["gradient_ratio"] < 1e-9 and plain["first_update_ratio"] < 1e-10
    for remedy in (bn, residual):
        assert remedy["gradient_ratio"] > 1e-2
        assert 1e-4 < remedy["first_update_ratio"] < 1e-1


def test_committed_notebook_matches_its_generator():
    import nbformat

    generator = load("make_notebook")
    committed = nbformat.read(EXAMPLES / "init_lab.ipynb", as_version=4)
    fresh = generator.build()
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in fresh.cells
    ]


def test_notebook_sections_are_numbered_in_order_and_listed_in_the_title_cell():
    generator = load("make_notebook")
    titles = generator.section_titles()
    assert len(titles) >= 7
    numbers = [int(title.split(".", 1)[0]) for title in titles]
    assert numbers == list(range(1, len(titles) + 1))
    assert all(re.search(r"\(lectures? 00\d", title) for title in titles), titles
    first = generator.build().cells[0].source
    assert first.startswith("# Weight initialization and activation functions")
    assert "{contents}" not in first
    for title in titles:
        assert title in first
    # The symmetry lesson is that fixed values break training, not that they break nothing.
    notebook_text = " ".join(source for _, source in generator.CELLS)
    assert "break nothing" not in notebook_text
    assert "keep the neurons symmetric" in first


@pytest.mark.slow  # a fresh kernel runs every cell; the cells' sources are checked above
def test_notebook_runs_headless_top_to_bottom(tmp_path):
    """Execute every code cell in a fresh kernel (nbclient), then check what it printed."""
    generator = load("make_notebook")
    notebook = generator.execute(generator.build(), tmp_path, timeout=300)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "[0.94 0.01]" in text  # lecture 003 perceptron
    for row in ("y_hat=0.60 L=0.92", "y_hat=0.62 L=0.48", "y_hat=0.64 L=0.44", "y_hat=0.66 L=1.07"):
        assert row in text  # lecture 003 XOR table
    assert "dL/dw = -12.0  dL/db = -4.0" in text  # computational graph
    assert "zeros       distinct hidden units: 1/8" in text  # lecture 001 symmetry
    assert "constant 5  distinct hidden units: 1/8" in text
    assert "0.25**20 = 9.1e-13" in text  # lecture 004
    assert "He: predicted Var(pre-activation) at layers 1, 25, 50: [2.0, 2.0, 2.0]" in text
    after = float(re.search(r"output variance after LSUV:\s+([0-9.e+-]+)", text).group(1))
    assert after > 0.1  # LSUV restored the signal
    # Lectures 003 and 004, the lessons (sections 8-14): each prints its verdict.
    assert "eta=1.05: each step multiplies x by -1.10" in text and "(diverges)" in text
    assert "the chain rule by hand equals tf.GradientTape" in text
    assert re.search(r"sgd, lr 2 .*update/weight \S+ is above 0.01", text)
    trip = re.search(r"in a fresh process within ([0-9.e+-]+) of the original", text)
    assert float(trip.group(1)) < 1e-5  # the scaler saved inside the .keras model
    assert "equals keras.layers.BatchNormalization in both modes" in text
    assert "epsilon=0.001, momentum=0.99" in text
    assert "none: activation variance" in text and "(the signal vanishes with depth)" in text
    assert "a one-unit softmax outputs 1 for every input" in text
    assert re.search(r"sgd: L2\(0.01\) and weight_decay=0.02 .* so they are the same update", text)
    assert re.search(r"adam: L2\(0.01\) and weight_decay=0.02 .* different updates", text)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 11  # plots inline
    assert (tmp_path / "notebook_output" / "tensorboard").is_dir()


@pytest.mark.slow
def test_readme_figures_are_written(tmp_path):
    written = load("make_readme_figures").main(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        [
            "propagation.png",
            "vanishing_gradients.png",
            "activations.png",
            "gradient_flow.png",
            "activation_stats.png",
            "tensorboard_gradient_histograms.png",
        ]
    )
    assert all(p.stat().st_size > 10_000 for p in written)
