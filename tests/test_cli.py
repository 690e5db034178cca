"""Tests for the ``keras-init-lab`` command line (propagate, compare, demo; list stays).

What they show: every bad argument (unknown initializer/activation/dataset names with the
closest valid ones, non-positive depth, unwritable output folder, bad .npz, offline Keras
dataset) exits 2 with one ``keras-init-lab: error:`` line; every subcommand has ``--help``
with examples; ``propagate`` writes its files into ``--out`` or a new folder under
``logs/``; ``demo --quick`` runs end to end and ends with the report path and the
TensorBoard command.
"""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_init_lab import cli  # noqa: E402
from keras_init_lab._import_hooks import around_first_import, remove_hook  # noqa: E402


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


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (
            ["propagate", "--initializer", "he_nromal"],
            ["Unknown initializer 'he_nromal'", "Did you mean: 'he_normal'"],
        ),
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
    ],
)
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
    argv = [
        "propagate",
        "--depth",
        "6",
        "--trials",
        "2",
        "--samples",
        "16",
        "--sigma2",
        "0.01",
        "0.02",
        "--activation",
        "relu",
        "tanh",
        "--seed",
        "3",
    ]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0  # a second run gets its own folder
    folders = sorted((tmp_path / "logs").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("propagate-") for f in folders)
    first, second = (json.loads((f / "propagation.json").read_text()) for f in folders)
    assert len(first["settings"]) == 4
    assert first["settings"] == second["settings"]  # --seed reproduces every number
    out = capsys.readouterr().out
    assert "sigma2=0.02, tanh" in out and "propagation.png" in out


@pytest.mark.slow  # the real `demo --quick`; its wiring on a tiny grid is the next test
def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out), "--no-progress-bar"]) == 0
    stdout = capsys.readouterr().out
    for name in (
        "propagation.json",
        "propagation.png",
        "results.json",
        "results.csv",
        "report.md",
        "report.html",
        "loss_curves.png",
        "gradient_flow.png",
        "unit_fractions.png",
    ):
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
    assert verdicts == {
        0.001: "vanishing",
        0.01: "vanishing",
        0.02: "stable",
        0.1: "exploding",
        1.0: "exploding",
    }


def test_demo_wiring_on_a_tiny_grid(tmp_path, capsys, monkeypatch):
    """`demo --quick` in seconds: its propagation cut to 6 layers and its comparison to one
    run of one epoch (the real experiments have their own tests); checked: both land in one
    report, and the demo prints the comparison and ends with the report and TensorBoard lines."""
    from keras_init_lab import experiments

    real_propagate, real_compare, calls = experiments.propagate, experiments.compare, []

    def tiny_propagate(**kwargs):
        calls.append("propagate")
        return real_propagate(**{**kwargs, "depth": 6})

    def tiny_compare(**kwargs):
        calls.append(f"compare {kwargs['preset']}")
        tiny = dict(initializers=["he_normal"], activations=["relu"], epochs=1)
        return real_compare(**{**kwargs, **tiny, "max_train_samples": 64})

    monkeypatch.setattr(experiments, "propagate", tiny_propagate)
    monkeypatch.setattr(experiments, "compare", tiny_compare)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out), "--no-progress-bar"]) == 0
    assert calls == ["propagate", "compare quick"]
    stdout = capsys.readouterr().out
    for name in ("propagation.json", "propagation.png", "results.json", "report.html"):
        assert (out / name).is_file(), name
    assert "run 1/1: he_normal + relu" in stdout
    lines = stdout.strip().splitlines()
    assert lines[-2] == f"Report: {out / 'report.html'} (Markdown: {out / 'report.md'})"
    assert lines[-1] == f"TensorBoard: tensorboard --logdir {out / 'tensorboard'}"
    page = (out / "report.html").read_text()
    assert "1. Variance through depth" in page and "2. Initializer x activation" in page
    propagation = json.loads((out / "propagation.json").read_text())
    assert sorted(row["sigma2"] for row in propagation["settings"]) == [0.001, 0.01, 0.02, 0.1, 1]
    assert all(len(row["forward_variance"]) == 6 for row in propagation["settings"])


# ------------------------------------------------------------------ start-up: fast and quiet

_NO_TENSORFLOW_CHILD = """
import sys
from keras_init_lab.cli import main
codes = []
for argv in (["--help"], ["frobnicate"], [], ["check", "missing.keras"], ["check", "x.txt"],
             ["--verbose", "--help"]):
    try:
        codes.append(main(argv))
    except SystemExit as exit:
        codes.append(exit.code)
loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("RESULT", codes, loaded, file=sys.stderr)
"""


def _child_env(**extra):
    root = str(Path(cli.__file__).resolve().parent.parent)
    unset = ("TF_CPP_MIN_LOG_LEVEL", cli.VERBOSE_ENV)
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    env.update(extra)
    return env


def test_help_and_argument_errors_do_not_import_tensorflow():
    done = subprocess.run(
        [sys.executable, "-c", _NO_TENSORFLOW_CHILD],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = done.stderr.strip().splitlines()[-1]
    assert result == "RESULT [0, 2, 2, 2, 2, 0] []", done.stderr[-2000:]
    assert "keras-init-lab: error: no such model file: 'missing.keras'." in done.stderr
    assert "invalid choice: 'frobnicate'" in done.stderr


def test_python_dash_m_help_lists_every_command():
    done = subprocess.run(
        [sys.executable, "-m", "keras_init_lab", "--help"],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    for command, line in cli.COMMAND_HELP.items():
        assert command in done.stdout and line.split()[0] in done.stdout


@pytest.mark.slow  # TensorFlow starts in a child; in process: test_verbose_switches_the_quiet...
def test_list_is_quiet_by_default():
    done = subprocess.run(
        [sys.executable, "-m", "keras_init_lab", "list"],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    assert "Initializers (name, aliases, distribution):" in done.stdout
    assert "he_avg_normal" in done.stdout and "gelu_tanh" in done.stdout


@pytest.mark.parametrize(
    "argv, env, quiet",
    [
        (["list"], {}, True),
        (["--verbose", "list"], {}, False),
        (["list", "--verbose"], {}, False),
        (["list", "-v"], {}, False),
        (["list"], {"KERAS_INIT_LAB_VERBOSE": "1"}, False),
        (["list"], {"KERAS_INIT_LAB_VERBOSE": "0"}, True),
    ],
)
def test_verbose_switches_the_quiet_import_off(argv, env, quiet, monkeypatch, capsys):
    monkeypatch.delenv(cli.VERBOSE_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls = []
    monkeypatch.setattr(cli, "_quiet_tensorflow", lambda: calls.append(1))
    assert cli.main(argv) == 0
    assert "Initializers" in capsys.readouterr().out
    assert calls == ([1] if quiet else [])


class _FakeTensorFlow:
    """Stands in for the tensorflow module: its device probe writes to fd 2 as CUDA's does."""

    class config:  # noqa: N801 - mirrors tf.config
        @staticmethod
        def list_physical_devices():
            os.write(2, b"E0000 failed call to cuInit\n")
            return []


def test_stderr_is_hidden_while_tensorflow_loads_and_restored_after(capfd):
    with cli._stderr_to_temporary_file(_FakeTensorFlow):
        os.write(2, b"WARNING: All log messages before absl::InitializeLog()\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_stderr_is_replayed_when_the_import_fails(capfd):
    with pytest.raises(ImportError, match="broken build"):
        with cli._stderr_to_temporary_file(_FakeTensorFlow):
            os.write(2, b"the reason it failed\n")
            raise ImportError("broken build")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "the reason it failed\nafter\n"


def test_quiet_hook_is_removed_after_main(monkeypatch):
    name = "keras_init_lab_test_module_never_imported"
    hooks = []
    monkeypatch.setattr(
        cli,
        "_quiet_tensorflow",
        lambda: hooks.append(around_first_import(name, cli._stderr_to_temporary_file)) or hooks[-1],
    )
    assert cli.main(["check", "x.txt"]) == 2
    assert hooks and hooks[0] is not None
    assert hooks[0] not in sys.meta_path


def test_first_import_hook_wraps_the_module_body_once(tmp_path, monkeypatch):
    (tmp_path / "kil_hook_probe.py").write_text(
        "import sys\nEVENTS.append('body')\n".replace("EVENTS", "sys.kil_events")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "kil_events", [], raising=False)

    @contextlib.contextmanager
    def around(module):
        sys.kil_events.append("before")
        yield
        sys.kil_events.append(f"after {module.__name__}")

    hook = around_first_import("kil_hook_probe", around)
    try:
        import kil_hook_probe  # noqa: F401
    finally:
        remove_hook(hook)
        sys.modules.pop("kil_hook_probe", None)
    assert sys.kil_events == ["before", "body", "after kil_hook_probe"]
    assert hook not in sys.meta_path
    assert around_first_import("sys", around) is None  # already imported: nothing to wrap
