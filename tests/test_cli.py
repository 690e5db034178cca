"""Tests for the ``keras-init-lab`` command line (propagate, compare, demo; list stays).

What they show: every bad argument (unknown initializer/activation/dataset names with the
closest valid ones, non-positive depth, unwritable output folder, bad .npz, offline Keras
dataset) exits 2 with one ``keras-init-lab: error:`` line; every subcommand has ``--help``
with examples; ``propagate`` writes its files into ``--out`` or a new folder under
``logs/``; ``demo --quick`` runs end to end and ends with the report path and the
TensorBoard command.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_init_lab import cli  # noqa: E402


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("keras-init-lab: error: ")
    return err[0]


@pytest.fixture
def blocked_dir(tmp_path):
    """A path under a regular file: not creatable, even for root."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    return str(blocker / "out")


@pytest.mark.parametrize("argv, fragments", [
    (["propagate", "--initializer", "he_nromal"], ["Unknown initializer 'he_nromal'",
                                                   "Did you mean: 'he_normal'"]),
    (["propagate", "--activation", "rleu"], ["Unknown activation 'rleu'", "'relu'"]),
    (["compare", "--initializers", "glorot_unifrom"], ["'glorot_uniform'"]),  # plural alias
    (["compare", "--activations", "leaky_rel"], ["'leaky_relu'"]),
    (["propagate", "--depth", "0"], ["--depth must be a positive integer", "received 0"]),
    (["propagate", "--depth", "-3"], ["--depth must be a positive integer", "received -3"]),
    (["compare", "--depth", "4", "0"], ["--depth must be a positive integer", "received 0"]),
    (["propagate", "--width", "0"], ["--width must be a positive integer"]),
    (["propagate", "--sigma2", "-1"], ["sigma2=-1"]),
    (["compare", "--dataset", "spiral"], ["Unknown dataset 'spiral'", "'spirals'"]),
    (["compare", "--scaling", "zscore"], ["Unknown input scaling 'zscore'"]),
    (["compare", "--target", "1.5"], ["target_accuracy must be in (0, 1]"]),
    (["compare", "--epochs", "0"], ["epochs must be a positive integer"]),
])
def test_bad_arguments_exit_2_with_one_line(argv, fragments, capsys, tmp_path):
    code = cli.main(argv + ["--out", str(tmp_path / "out")])
    assert code == 2
    line = _error_line(capsys)
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize("command", ["propagate", "compare", "demo"])
def test_unwritable_output_dir(command, blocked_dir, capsys):
    assert cli.main([command, "--out", blocked_dir]) == 2
    line = _error_line(capsys)
    assert "cannot write to output directory" in line and blocked_dir in line


def test_bad_npz_and_offline_dataset(tmp_path, capsys, monkeypatch):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 2, -1]))
    assert cli.main(["compare", "--dataset", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "labels outside" in _error_line(capsys)
    assert not (tmp_path / "o").exists()  # the folder the failed run created is gone again

    truncated = tmp_path / "truncated.npz"
    good = tmp_path / "good.npz"
    np.savez(good, x_train=np.zeros((40, 2)), y_train=np.zeros(40, dtype=int))
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert cli.main(["compare", "--dataset", str(truncated), "--out", str(tmp_path / "o")]) == 2
    assert "is not a readable .npz file" in _error_line(capsys)

    import keras

    def offline():
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    assert cli.main(["compare", "--dataset", "cifar10", "--out", str(tmp_path / "o")]) == 2
    line = _error_line(capsys)
    assert "cifar10.npz" in line and "offline" in line


@pytest.mark.parametrize("command", ["propagate", "compare", "demo", "list"])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "Example" in text and f"keras-init-lab {command}" in text
    if command != "list":
        assert "--out" in text and "--seed" in text


def test_propagate_writes_into_a_new_logs_folder_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["propagate", "--depth", "6", "--trials", "2", "--samples", "16",
            "--sigma2", "0.01", "0.02", "--activation", "relu", "tanh", "--seed", "3"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0  # a second run gets its own folder
    folders = sorted((tmp_path / "logs").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("propagate-") for f in folders)
    first, second = (json.loads((f / "propagation.json").read_text()) for f in folders)
    assert len(first["settings"]) == 4
    assert first["settings"] == second["settings"]  # --seed reproduces every number
    out = capsys.readouterr().out
    assert "sigma2=0.02, tanh" in out and "propagation.png" in out


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out), "--no-progress-bar"]) == 0
    stdout = capsys.readouterr().out
    for name in ("propagation.json", "propagation.png", "results.json", "results.csv",
                 "report.md", "report.html", "loss_curves.png", "gradient_flow.png",
                 "unit_fractions.png"):
        assert (out / name).is_file(), name
    assert "run 4/4: he_normal + relu" in stdout
    lines = stdout.strip().splitlines()
    assert lines[-2] == f"Report: {out / 'report.html'} (Markdown: {out / 'report.md'})"
    assert lines[-1] == f"TensorBoard: tensorboard --logdir {out / 'tensorboard'}"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5  # propagation + 4 comparison figures
    assert "1. Variance through depth" in page and "2. Initializer x activation" in page
    propagation = json.loads((out / "propagation.json").read_text())
    verdicts = {row["sigma2"]: row["verdict"] for row in propagation["settings"]}
    assert verdicts == {0.001: "vanishing", 0.01: "vanishing", 0.02: "stable",
                        0.1: "exploding", 1.0: "exploding"}
