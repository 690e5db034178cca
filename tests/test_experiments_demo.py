"""Tests for experiments.demo: the demo's two parts, its determinism, and the README's copy.

What they show. On a tiny demo (part 1: 5 layers of 16 units; part 2: both pairs at 3 layers,
2 epochs, 128 training images; one module-scoped run of a few seconds): two runs in one
process give identical numbers, op determinism is off again afterwards, every text line fits
in 100 columns, each run starts as a freshly built and compiled model would (the reused
model's weights and optimizer are reset, not carried over), the JSON round-trips and the
marks are ``pairings.demo_rows`` of the numbers. The README's demo section is generated from
the stored run (``examples/figures/demo_result.json``): its text is ``report.demo_markdown``
of that file and its marks follow from its numbers by the marking rule. Slow: the tiny demo
in a fresh process gives the same numbers (the full demo against the README is in
``tests/test_demo_readme_run.py``, a file of its own so that a pytest-xdist worker can run it
beside the rest).

Equality of floats is asserted only between two runs of the same computation on the same
machine under op determinism, which is what determinism promises; numbers against the
README (possibly from another machine) are compared with tolerances.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (loaded before _keras_compat, as the package expects)
import pytest  # noqa: E402

from keras_init_lab.experiments import demo  # noqa: E402
from keras_init_lab.experiments.pairings import demo_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "examples" / "figures" / "demo_result.json"
README = ROOT / "README.md"

TINY_PAIRS = (
    demo.PairSettings("relu", "he_normal", "glorot_uniform", 3, 0.01, 2, "a tiny relu pair"),
    demo.PairSettings("tanh", "glorot_uniform", "he_normal", 3, 0.01, 2, "a tiny tanh pair"),
)
TINY = demo.DemoSettings(
    pairs=TINY_PAIRS,
    seeds=3,
    init_depth=5,
    init_width=16,
    init_trials=1,
    init_samples=16,
    max_train_samples=128,
)


def _numbers(result_json: dict) -> dict:
    """The JSON without wall times (the only thing that may differ between two runs)."""
    data = json.loads(json.dumps(result_json))
    data["config"].pop("training_seconds")
    for pair in data["pairs"]:
        for run in pair["runs"]:
            run.pop("seconds")
    return data


@pytest.fixture(scope="module")
def two_runs():
    from keras_init_lab._keras_compat import op_determinism_enabled

    before = op_determinism_enabled()
    first = demo.run_demo(settings=TINY, verbose=0)
    second = demo.run_demo(settings=TINY, verbose=0)
    return first, second, before, op_determinism_enabled()


def test_two_runs_in_one_process_give_identical_numbers(two_runs):
    first, second, *_ = two_runs
    assert _numbers(first.to_json()) == _numbers(second.to_json())


def test_op_determinism_is_restored_after_the_demo(two_runs):
    *_, before, after = two_runs
    assert before is False and after is False


def test_the_result_has_both_parts_and_its_marks_follow_from_its_numbers(two_runs):
    result = two_runs[0]
    labels = sorted((s["initializer"], s["activation"]) for s in result.initialization.settings)
    assert labels == sorted(
        (i, a) for i in ("glorot_uniform", "he_normal") for a in ("tanh", "relu")
    )
    assert [pair.settings.activation for pair in result.pairs] == ["relu", "tanh"]
    for pair in result.pairs:
        assert [(r.initializer, r.seed) for r in pair.runs] == [
            (pair.settings.ideal, 0),
            (pair.settings.ideal, 1),
            (pair.settings.ideal, 2),
            (pair.settings.risky, 0),
            (pair.settings.risky, 1),
            (pair.settings.risky, 2),
        ]
        for run in pair.runs:
            assert len(run.val_accuracy) == 2 and run.final_accuracy == run.val_accuracy[-1]
            assert run.forward_change_start > 0 and run.backward_change_start > 0
            assert (run.saturated_end is None) == (run.activation == "relu")
        assert pair.outcome["ideal_accuracies"] == [
            r.final_accuracy for r in pair.runs_of(pair.settings.ideal)
        ]
    data = result.to_json()
    recomputed = demo_rows(
        data["initialization"]["settings"],
        {p["settings"]["activation"]: p["outcome"] for p in data["pairs"]},
        epochs={p["settings"]["activation"]: p["settings"]["epochs"] for p in data["pairs"]},
        depths={p["settings"]["activation"]: p["settings"]["depth"] for p in data["pairs"]},
    )
    assert recomputed == data["rows"]
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert result.config["left_out"] == [
        "the relu pair's epochs 3-20",
        "the tanh pair's epochs 3-20",
        "part 1's larger sample (4 draws x 128 inputs; here 1 x 16)",
    ]


def test_every_text_line_fits_in_100_columns(two_runs):
    result = two_runs[0]
    text = "\n".join(
        [
            result.initialization.format_table(),
            result.format_training(),
            result.format_marks(),
            result.format_left_out(),
        ]
    )
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "after epoch 2" in text and "at the end" in text  # when each accuracy was taken


def test_a_reused_model_starts_each_run_as_a_fresh_model_would(two_runs):
    """The demo compiles one model per pair; a run on a freshly built model with the same
    initial weights and a new optimizer gives the same history: nothing (momentum, the
    step counter, metrics) carries over from the runs before."""
    from keras_init_lab.experiments.datasets import load_dataset, scale_inputs
    from keras_init_lab.experiments.models import build_mlp

    result = two_runs[0]
    pair = result.pairs[1]  # tanh: its first run is the pair's, the one checked is the last
    target = pair.runs[-1]
    data = scale_inputs(load_dataset("digits", seed=0).subset(n_train=128), "standardize")
    from keras_init_lab._keras_compat import op_determinism

    with op_determinism():
        model = build_mlp(
            data.input_shape,
            data.num_classes,
            depth=pair.settings.depth,
            width=TINY.width,
            initializer=target.initializer,
            activation=pair.settings.activation,
        )
        demo._draw_weights(model, target.initializer, target.seed)
        model.compile(
            optimizer=keras.optimizers.SGD(pair.settings.learning_rate, momentum=TINY.momentum),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        keras.utils.set_random_seed(target.seed)
        history = model.fit(
            demo._batches(data.x_train, data.y_train, TINY.batch_size, shuffle_seed=target.seed),
            validation_data=demo._batches(data.x_test, data.y_test, demo.VALIDATION_BATCH),
            epochs=pair.settings.epochs,
            shuffle=False,
            verbose=0,
        )
    assert tuple(history.history["val_loss"]) == target.val_loss
    assert tuple(history.history["val_accuracy"]) == target.val_accuracy


def test_quick_settings_train_the_relu_pair_and_say_what_they_leave_out():
    quick = demo.DemoSettings.quick_settings()
    assert quick.quick and [p.activation for p in quick.pairs] == ["relu"]
    assert quick.pairs[0].epochs == demo.QUICK_EPOCHS < demo.PAIRS[0].epochs
    left_out = " ".join(quick.left_out())
    assert "the tanh pair" in left_out and "epochs 11-20" in left_out
    assert demo.DemoSettings().left_out() == []
    full = {p.activation: p for p in demo.PAIRS}
    assert (full["relu"].ideal, full["relu"].risky) == ("he_normal", "glorot_uniform")
    assert (full["tanh"].ideal, full["tanh"].risky) == ("glorot_uniform", "he_normal")


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="seed must be an integer"):
        demo.run_demo(seed="0")
    with pytest.raises(ValueError, match="verbose must be"):
        demo.run_demo(verbose=3)
    with pytest.raises(TypeError, match="settings must be a DemoSettings"):
        demo.run_demo(settings={"seeds": 3})
    with pytest.raises(TypeError, match="quick must be True or False"):
        demo.run_demo(quick="yes")


# ---------------------------------------------------------------- the README's demo section

README_START = "<!-- demo:start"
README_END = "<!-- demo:end -->"


def _readme_block() -> str:
    text = README.read_text()
    start = text.index(README_START)
    start = text.index("\n", start) + 1
    return text[start : text.index(README_END)]


def test_readme_demo_section_is_generated_from_the_stored_run():
    """The README's table is ``report.demo_markdown`` of the stored run, not typed: the
    script ``examples/make_readme_demo.py`` writes both."""
    from keras_init_lab.report import demo_markdown

    stored = json.loads(STORED.read_text())
    assert _readme_block() == demo_markdown(stored, figure="examples/figures/demo_pairings.png")


def test_stored_run_marks_follow_from_its_numbers_and_its_margins_are_wide():
    from keras_init_lab.experiments.pairings import TRAINING_MARGIN, pair_outcome

    stored = json.loads(STORED.read_text())
    pairs = {}
    for pair in stored["pairs"]:
        s = pair["settings"]
        finals = {
            name: [r["val_accuracy"][-1] for r in pair["runs"] if r["initializer"] == name]
            for name in (s["ideal"], s["risky"])
        }
        outcome = pair_outcome(
            s["activation"], s["ideal"], finals[s["ideal"]], s["risky"], finals[s["risky"]]
        )
        assert json.loads(json.dumps(outcome)) == pair["outcome"]
        # The README's pairs are far from the margin: a tie needs the gap to lose more than
        # half of itself.
        assert outcome["outcome"] == "ideal ahead" and outcome["gap"] > 2 * TRAINING_MARGIN
        pairs[s["activation"]] = outcome
    rows = demo_rows(
        stored["initialization"]["settings"],
        pairs,
        epochs={p["settings"]["activation"]: p["settings"]["epochs"] for p in stored["pairs"]},
        depths={p["settings"]["activation"]: p["settings"]["depth"] for p in stored["pairs"]},
    )
    assert json.loads(json.dumps(rows)) == stored["rows"]
    assert stored["settings"] == json.loads(json.dumps(dataclasses.asdict(demo.DemoSettings())))


def test_the_figure_is_drawn_from_the_stored_run(tmp_path):
    from keras_init_lab.plots.demo import plot_demo

    path = plot_demo(json.loads(STORED.read_text()), tmp_path / "demo.png")
    assert path.stat().st_size > 10_000
    with pytest.raises(TypeError, match="DemoResult.to_json"):
        plot_demo([1, 2], tmp_path / "x.png")


def test_the_reports_link_the_explorable_page_and_say_where_tensorboard_logs_come_from(
    tmp_path,
):
    """Both reports link ``explore.html`` (written beside them) and say that the demo writes
    no event files and which command does."""
    from keras_init_lab.report import write_demo

    paths = write_demo(tmp_path, json.loads(STORED.read_text()), command="keras-init-lab demo")
    assert (tmp_path / "explore.html").stat().st_size > 1_000
    for kind in ("md", "html"):
        text = paths[kind].read_text()
        assert "the demo writes no event files" in text
        assert "keras-init-lab compare --out DIR" in text
    assert "[explore.html](explore.html)" in paths["md"].read_text()
    assert '<a href="explore.html">' in paths["html"].read_text()


# ------------------------------------------------------------------------------------ slow

_CHILD = """
import json, sys
from tests.test_experiments_demo import TINY, _numbers
from keras_init_lab.experiments.demo import run_demo
print(json.dumps(_numbers(run_demo(settings=TINY, verbose=0).to_json())))
"""


@pytest.mark.slow  # a second Python with TensorFlow
def test_a_fresh_process_gives_the_same_numbers(two_runs):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == _numbers(two_runs[0].to_json())
