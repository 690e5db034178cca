"""Tests for experiments.compare, report.py and the comparison figures.

One ``keras-init-lab compare --quick`` run (module-scoped fixture, ~30 s on 2 shared cores) is
checked end to end: He + ReLU learns, zeros do not (symmetry: every hidden gradient exactly
0), the measured numbers come from the package's callbacks, every file is written, the HTML
embeds its images, and each run has its own TensorBoard folder with event files. The verdict
rules are unit-tested on hand-made runs.
"""

import base64
import csv
import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_init_lab import cli  # noqa: E402
from keras_init_lab.experiments.compare import verdict  # noqa: E402
from keras_init_lab.report import write_report  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare_quick")
    import contextlib
    import io

    import keras_init_lab.experiments as experiments
    import keras_init_lab.report as report

    calls = []  # every course_pairings call, from the CLI's name or from the report's

    def counted(original):
        def course_pairings(*args, **kwargs):
            calls.append(args)
            return original(*args, **kwargs)

        return course_pairings

    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(buffer):
        patch.setattr(experiments, "course_pairings", counted(experiments.course_pairings))
        patch.setattr(report, "course_pairings", counted(report.course_pairings))
        code = cli.main(["compare", "--quick", "--out", str(out), "--seed", "0", "--progress"])
    results = json.loads((out / "results.json").read_text())
    runs = {(r["initializer"], r["activation"]): r for r in results["runs"]}
    return code, out, results, runs, buffer.getvalue(), calls


def test_quick_compare_exits_0_and_shows_progress(quick_run):
    code, out, results, runs, stdout = quick_run[:5]
    assert code == 0
    assert len(runs) == 4
    assert "run 1/4: zeros + tanh" in stdout and "run 4/4: he_normal + relu" in stdout
    assert "Epoch 1/8" in stdout  # Keras's own progress inside each run, with --progress
    # One line per run (wrapped within 100 columns) with its time and verdict, and the
    # sweep's line: done / running / left, elapsed and ETA.
    assert re.search(r"run 4/4: he_normal \+ relu \[(\d+ min )?\d+ s\] -> learns: ", stdout)
    done = r"^  4/4 done, 0 running, 0 left; elapsed (\d+ min )?\d+ s, ETA 0 s$"
    assert re.search(done, stdout, re.M)
    assert "Target validation accuracy: 80% (--quick lowers the default 90% to 80%)" in stdout
    assert "chance = share of the majority training class in the validation split" in stdout
    assert f"tensorboard --logdir {out / 'tensorboard'}" in stdout
    assert "report.html" in stdout


def test_he_relu_learns(quick_run):
    he = quick_run[3][("he_normal", "relu")]
    assert he["verdict_kind"] == "learns", he["verdict"]
    assert he["final_accuracy"] >= 0.8
    assert he["epochs_to_target"] is not None and he["epochs_to_target"] <= 8
    assert 0.01 < he["grad_ratio_start"] < 100  # gradients reach the first layer
    assert he["history"]["val_accuracy"][-1] > he["history"]["val_accuracy"][0]


def test_zeros_do_not_learn_because_of_symmetry(quick_run):
    results, runs = quick_run[2], quick_run[3]
    chance = results["config"]["chance_accuracy"]
    for activation in ("tanh", "relu"):
        run = runs[("zeros", activation)]
        assert run["verdict_kind"] == "stuck", run["verdict"]
        assert run["final_accuracy"] <= chance + 0.05
        assert run["symmetric_start"] is True
        # GradientStats at step 0: every hidden kernel's gradient is exactly zero; only the
        # output bias learns (the class prior).
        assert all(norm == 0 for norm in run["gradient_norms_start"][:-1])
        assert "symmetry" in run["verdict"]
    assert runs[("zeros", "relu")]["dead_fraction_start"] == 1.0  # relu(0) = 0 everywhere


def test_measurements_come_from_the_callbacks(quick_run):
    runs = quick_run[3]
    he = runs[("he_normal", "relu")]
    assert he["gradient_layers"] == ["dense_1", "dense_2", "dense_3", "dense_4", "output"]
    assert he["saturated_fraction_end"] is None and he["dead_fraction_end"] is not None
    tanh = runs[("he_normal", "tanh")]
    assert tanh["dead_fraction_end"] is None and 0 <= tanh["saturated_fraction_end"] <= 1


def test_result_files_exist_and_agree(quick_run):
    out, results = quick_run[1], quick_run[2]
    for name in (
        "results.json",
        "results.csv",
        "report.md",
        "report.html",
        "loss_curves.png",
        "gradient_flow.png",
        "unit_fractions.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["label"] for row in rows] == [r["label"] for r in results["runs"]]
    assert rows[3]["verdict"] == results["runs"][3]["verdict"]
    json.loads(
        (out / "results.json").read_text(),
        parse_constant=lambda token: pytest.fail(f"non-JSON token {token}"),
    )


def test_each_run_has_a_run_file_and_the_same_command_resumes_without_training(quick_run):
    """The rerun reads the four run files back: nothing trains, results.json is the same."""
    import contextlib
    import io

    out, results = quick_run[1], quick_run[2]
    files = sorted((out / "runs").glob("*.json"))
    assert len(files) == 4
    stored = {json.loads(p.read_text())["result"]["label"] for p in files}
    assert stored == {r["label"] for r in results["runs"]}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(["compare", "--quick", "--out", str(out), "--seed", "0"])
    assert code == 0
    assert "resuming: 4 of 4 runs read back from" in buffer.getvalue()
    assert "Epoch 1/" not in buffer.getvalue() and "run 1/4" not in buffer.getvalue()
    assert json.loads((out / "results.json").read_text()) == results


def test_each_run_has_its_own_tensorboard_folder(quick_run):
    out = quick_run[1]
    folders = sorted(p.name for p in (out / "tensorboard").iterdir())
    # Activation first, so that one activation's runs sit together in TensorBoard.
    assert folders == ["relu_02_zeros", "relu_04_he_normal", "tanh_01_zeros", "tanh_03_he_normal"]
    for folder in folders:
        events = list((out / "tensorboard" / folder).rglob("events.out.tfevents.*"))
        assert events, folder


def test_html_is_self_contained(quick_run):
    out = quick_run[1]
    page = (out / "report.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    # loss curves, gradient flow, unit fractions, and the depth profile of the pairings
    assert len(images) == 4
    assert "(depth_profile.png)" in (out / "report.md").read_text()
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "he_normal + relu" in page and "symmetry" in page
    markdown = (out / "report.md").read_text()
    assert "![" in markdown and "(loss_curves.png)" in markdown
    assert "| he_normal + relu |" in markdown


def test_pairings_are_computed_once_and_the_report_reads_results_json(quick_run, tmp_path):
    out, results, calls = quick_run[1], quick_run[2], quick_run[5]
    assert len(calls) == 1  # by the CLI, which passes the rows to write_report
    # The report and the figures read a results.json dict as they read a CompareResult.
    from keras_init_lab.plots.experiments import plot_loss_curves

    paths = write_report(tmp_path, comparison=results)

    def tables(path):
        return [line for line in path.read_text().splitlines() if line.startswith("|")]

    assert tables(paths["md"]) == tables(out / "report.md") and len(tables(paths["md"])) > 10
    assert plot_loss_curves(results["runs"], tmp_path / "curves.png").stat().st_size > 0


def test_report_needs_a_result(tmp_path):
    with pytest.raises(ValueError, match="at least one result"):
        write_report(tmp_path)


def _run(**overrides):
    run = {
        "first_nonfinite_epoch": None,
        "epochs_to_target": None,
        "final_accuracy": 0.5,
        "grad_ratio_start": 1.0,
        "symmetric_start": False,
        "hidden_gradients_zero": False,
        "dead_fraction_end": None,
        "saturated_fraction_end": None,
    }
    run.update(overrides)
    return run


VERDICT_CASES = [
    (dict(epochs_to_target=3, final_accuracy=0.95), "learns", "90% validation accuracy at epoch 3"),
    (dict(final_accuracy=0.7), "slow", "70% validation accuracy, target 90% not reached"),
    (dict(grad_ratio_start=2e-6), "stuck", "vanishing gradients: first-layer gradient is 2.0e-06"),
    (dict(grad_ratio_start=5e4), "stuck", "exploding gradients"),
    (dict(first_nonfinite_epoch=2, grad_ratio_start=5e4), "diverged", "NaN/inf in epoch 2"),
    (dict(saturated_fraction_end=0.8), "stuck", "80% of tanh/sigmoid outputs saturated"),
    (dict(dead_fraction_end=0.7), "stuck", "70% of ReLU units dead"),
    (dict(symmetric_start=True, hidden_gradients_zero=True), "stuck", "exactly 0"),
]


def test_verdict_rules():
    # One test over a table (not parametrized): conftest clears the Keras session before
    # every test (about half a second each), which pure-Python cases need not pay.
    for overrides, kind, fragment in VERDICT_CASES:
        got_kind, text = verdict(_run(**overrides), target=0.9, chance=0.5)
        assert (got_kind, fragment in text, "\n" in text) == (kind, True, False), (overrides, text)


def test_optional_axes_seed_and_cnn():
    """Depth / BatchNorm / residual / scaling axes label their runs; the seed reproduces."""
    from keras_init_lab.experiments import compare

    kwargs = dict(
        dataset="xor",
        initializers=["he_normal"],
        activations=["relu"],
        depths=[2, 3],
        batchnorm=[False, True],
        residual=True,
        scalings=["standardize"],
        width=8,
        epochs=2,
        verbose=0,
        seed=4,
    )
    first = compare(**kwargs)
    assert [run["label"] for run in first.runs] == [
        "he_normal + relu + depth 2 + no BN",
        "he_normal + relu + depth 2 + BN",
        "he_normal + relu + depth 3 + no BN",
        "he_normal + relu + depth 3 + BN",
    ]
    assert [len(run["gradient_layers"]) for run in first.runs] == [3, 3, 4, 4]
    assert all(run["residual"] and run["scaling"] == "standardize" for run in first.runs)
    again = compare(**{**kwargs, "depths": [2], "batchnorm": [True]})
    assert again.runs[0]["history"] == first.runs[1]["history"]
    assert again.runs[0]["gradient_norms_start"] == first.runs[1]["gradient_norms_start"]
    cnn = compare(
        dataset="digits",
        initializers=["he_normal"],
        activations=["relu"],
        depths=[2],
        width=4,
        epochs=1,
        max_train_samples=128,
        verbose=0,
    )
    assert cnn.config["model"] == "cnn" and cnn.config["n_train"] == 128
    assert cnn.runs[0]["gradient_layers"] == ["conv_1", "conv_2", "output"]


def test_pixel_inputs_are_scaled_by_default_and_unscaled_failures_name_the_flag():
    from keras_init_lab.experiments import grid, settings

    assert grid.resolve_scaling("auto", pixels=True) == "standardize"
    assert grid.resolve_scaling("auto", pixels=False) == "none"
    assert grid.resolve_scaling("minmax", pixels=True) == "minmax"
    note = settings._scaling_note(["standardize"], pixels=True)
    assert "fitted on the training split only" in note and "--scaling none" in note
    kind, text = verdict(
        _run(final_accuracy=0.09, scaling="none", input_abs_max=16.0, dead_fraction_end=0.67),
        target=0.8,
        chance=0.1,
    )
    assert kind == "stuck"
    assert "inputs are unscaled (largest |x| = 16)" in text and "--scaling standardize" in text
    # Scaled inputs, or a run that reached the target, never blame the scaling.
    assert "unscaled" not in verdict(_run(scaling="standardize", input_abs_max=16.0), 0.8, 0.1)[1]
    assert (
        "unscaled"
        not in verdict(
            _run(scaling="none", input_abs_max=16.0, epochs_to_target=2, final_accuracy=0.9),
            0.8,
            0.1,
        )[1]
    )


def test_slow_and_stuck_verdicts_say_why_with_the_chance_level():
    kind, text = verdict(_run(final_accuracy=0.7), target=0.9, chance=0.49)
    assert kind == "slow" and "21 points above chance 49%" in text
    kind, text = verdict(_run(final_accuracy=0.52), target=0.9, chance=0.49)
    assert kind == "stuck"
    assert "chance (majority-class share of the validation split) is 49%" in text
    assert "less than 10 points above chance" in text


def test_quick_config_states_target_scaling_and_chance(quick_run):
    config = quick_run[2]["config"]
    assert config["target_accuracy"] == 0.8
    assert "the quick preset's; the full default is 90%" in config["target_note"]
    assert config["scaling_note"] == "inputs used as they are (no scaling)"
    run = quick_run[3][("he_normal", "relu")]
    assert len(run["activation_variance_start"]) == 4  # one per hidden layer, at init
    assert len(run["grad_ratio_history"]) == 8  # first step of each of the 8 epochs
    assert run["grad_ratio_history"][0] == pytest.approx(run["grad_ratio_start"])
    assert run["grad_ratio_end"] == run["grad_ratio_history"][-1]


def test_fastest_to_target_names_a_tie_as_a_tie():
    """Two runs reaching the target at the same epoch are a tie, not one "fastest" run."""
    from keras_init_lab.experiments.training import RunResult
    from keras_init_lab.report import _takeaways

    history = {"val_accuracy": [0.5] * 20}
    a = RunResult(
        label="he_normal + relu", epochs_to_target=20, final_accuracy=0.88, history=history
    )
    b = RunResult(
        label="he_normal + tanh", epochs_to_target=20, final_accuracy=0.87, history=history
    )
    c = RunResult(label="zeros + relu", epochs_to_target=None, final_accuracy=0.5, history=history)
    tie = _takeaways({"target_accuracy": 0.85}, [c, b, a])[0]
    assert tie == (
        "Fastest to 85%: a tie at epoch 20 (the last) between **he_normal + relu** (final 88%), "
        "**he_normal + tanh** (final 87%)."
    )
    one = _takeaways(
        {"target_accuracy": 0.85}, [a, RunResult(**{**a.to_dict(), "epochs_to_target": 21})]
    )
    assert one[0] == "Fastest to 85%: **he_normal + relu** (final 88%), at epoch 20 (the last)."
