"""Tests for the ``keras-init-lab`` command line (propagate, compare, demo; list stays).

What they show: every bad argument (unknown initializer/activation/dataset names with the
closest valid ones, non-positive depth, unwritable output folder, bad .npz, offline Keras
dataset) exits 2 with one ``keras-init-lab: error:`` line; every subcommand has ``--help``
with examples; ``propagate`` writes its files into ``--out`` or a new folder under
``logs/``; ``demo --quick`` runs end to end and ends with the report's paths; every line
every command prints fits in 100 columns.
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


@pytest.mark.slow  # the real `demo --quick`; its wiring on tiny settings is the next test
def test_demo_quick_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short relative --out: printed paths are the user's length
    out = Path("demo")
    assert cli.main(["demo", "--quick", "--out", str(out), "--no-progress-bar"]) == 0
    stdout = capsys.readouterr().out
    for name in ("demo.json", "demo_pairings.png", "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert "run 10/10: glorot_uniform + relu, seed 4:" in stdout
    assert "Left out by --quick" in stdout and "the tanh pair" in stdout
    assert max(len(line) for line in stdout.splitlines()) <= cli.LINE_WIDTH
    data = json.loads((out / "demo.json").read_text())
    rows = {row["pairing"]: row for row in data["rows"]}
    # A short run supports the ReLU pair's marks (He ahead of Glorot by far more than the
    # margin after 10 epochs) and the initialization marks; the tanh rows have no training
    # mark and no overall mark.
    assert rows["he_normal + relu"]["training_mark"] == "agrees"
    assert rows["glorot_uniform + relu"]["mark"] == "agrees"
    assert rows["he_normal + tanh"]["training_mark"] is None
    assert rows["he_normal + tanh"]["mark"] is None
    assert rows["he_normal + tanh"]["initialization_mark"] == "agrees"
    assert stdout.strip().splitlines()[-2] == f"Report: {out / 'report.html'}"


def _tiny_demo(monkeypatch):
    """``demo --quick`` cut to seconds: part 1 on 5 layers of 16 units, the ReLU pair at 3
    layers for 2 epochs on 128 images (the real settings have their own tests)."""
    from keras_init_lab.experiments import demo

    tiny = demo.DemoSettings(
        pairs=(demo.PairSettings("relu", "he_normal", "glorot_uniform", 3, 0.01, 2, "tiny"),),
        seeds=3,
        init_depth=5,
        init_width=16,
        init_trials=1,
        init_samples=16,
        max_train_samples=128,
        quick=True,
    )
    monkeypatch.setattr(demo.DemoSettings, "quick_settings", classmethod(lambda cls: tiny))


def test_demo_wiring_on_tiny_settings(tmp_path, capsys, monkeypatch):
    """`demo --quick` in seconds: both parts print, the files are written, every line fits in
    100 columns, what --quick leaves out is said, and the output ends with the report."""
    _tiny_demo(monkeypatch)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    for name in ("demo.json", "demo_pairings.png", "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert "== 1/2 At initialization" in stdout and "== 2/2 In training" in stdout
    assert "run 6/6: glorot_uniform + relu, seed 2:" in stdout
    assert "Lecture 002's summary next to what was measured:" in stdout
    assert "Left out by --quick" in stdout and "the tanh pair" in stdout
    lines = stdout.strip().splitlines()
    assert lines[-2] == f"Report: {out / 'report.html'}"
    assert lines[-1].startswith(f"Markdown: {out / 'report.md'}")
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "at initialization" in page
    data = json.loads((out / "demo.json").read_text())
    assert [p["settings"]["activation"] for p in data["pairs"]] == ["relu"]
    assert all(len(row["forward_variance"]) == 5 for row in data["initialization"]["settings"])


def _saved_model(path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])
    model.save(path)
    return path


def test_every_commands_output_fits_in_100_columns(tmp_path, capsys, monkeypatch):
    """Every line any command prints (help included) is at most 100 characters: the demo on
    tiny settings, propagate, compare on one tiny run, check, explore and list."""
    from keras_init_lab import experiments

    _tiny_demo(monkeypatch)
    real_compare = experiments.compare

    def tiny_compare(**kwargs):
        small = dict(initializers=["zeros", "he_normal"], activations=["relu"], epochs=1)
        return real_compare(**{**kwargs, **small, "max_train_samples": 64})

    monkeypatch.setattr(experiments, "compare", tiny_compare)
    # Relative output folders: a printed path is as long as the user makes it.
    monkeypatch.chdir(tmp_path)
    commands = [
        ["list"],
        ["demo", "--quick", "--out", "d"],
        ["propagate", "--depth", "4", "--trials", "1", "--samples", "8", "--out", "p"],
        ["compare", "--quick", "--out", "c"],
        ["check", str(_saved_model(Path("m.keras")))],
        ["explore", "--out", "e.html"],
    ]
    too_long = {}
    for argv in commands:
        code = cli.main(argv)
        assert code in (cli.EXIT_OK, cli.EXIT_FINDINGS), argv
        lines = capsys.readouterr().out.splitlines()
        assert lines, argv
        too_long[argv[0]] = [line for line in lines if len(line) > cli.LINE_WIDTH]
    for command in ("demo", "propagate", "compare", "check", "list", "explore"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        lines = capsys.readouterr().out.splitlines()
        too_long[f"{command} --help"] = [line for line in lines if len(line) > cli.LINE_WIDTH]
    assert not any(too_long.values()), {k: v for k, v in too_long.items() if v}


def test_compare_prints_the_zero_initialization_as_the_cause_of_tiny_updates(
    tmp_path, capsys, monkeypatch
):
    """compare --quick's zero-initialized runs: the update reading names the symmetry."""
    from keras_init_lab import experiments

    real_compare = experiments.compare

    def tiny_compare(**kwargs):
        small = dict(initializers=["zeros"], activations=["tanh"], epochs=1)
        return real_compare(**{**kwargs, **small, "max_train_samples": 64})

    monkeypatch.setattr(experiments, "compare", tiny_compare)
    assert cli.main(["compare", "--quick", "--out", str(tmp_path)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "update/weight 0.0e+00 is below 0.0001: the kernels start with all their entries" in text
    assert "a learning rate too low or gradients that vanish" not in text


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
    assert "Initializers (name, distribution, aliases):" in done.stdout
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


def test_readme_and_demo_help_give_the_same_run_times(capsys):
    """The README's quick start and ``demo --help`` quote one measured time."""
    readme = " ".join(
        (Path(cli.__file__).resolve().parent.parent / "README.md").read_text().split()
    )
    assert (
        f"({cli.DEMO_TIME}," in readme
        and f"`--quick` for a short version, {cli.QUICK_DEMO_TIME}," in readme
    )
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        f"{cli.DEMO_TIME[0].upper()}{cli.DEMO_TIME[1:]}; --quick: {cli.QUICK_DEMO_TIME}."
        in help_text
    )
