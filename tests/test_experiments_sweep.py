"""Tests for experiments.sweep: run files written atomically, read back and checked, a sweep
resumed (only new points trained), progress lines, Ctrl-C, and grid points in worker processes.

The fast tests replace ``train_point`` by a fake that needs no TensorFlow training; the tests
marked ``slow`` train for real on the tiny XOR data (one epoch, one hidden layer): a sweep
killed by SIGKILL in a child process and resumed, and a grid run sequentially and in two
worker processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_init_lab.experiments import _text, sweep  # noqa: E402
from keras_init_lab.experiments.grid import GridAxes, GridPoint, SweepSettings  # noqa: E402
from keras_init_lab.experiments.training import RESULT_COLUMNS, RunResult  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SWEEP = SweepSettings(dataset="xor", model="mlp", width=4, epochs=1)


def _points(initializers=("zeros", "he_normal"), activations=("tanh", "relu"), seed=0):
    axes = GridAxes(
        initializers=tuple(initializers), activations=tuple(activations), scalings=("none",)
    )
    return axes.points(SWEEP, seed=seed)


def _fake_result(point: GridPoint, loss=float("nan")) -> RunResult:
    return RunResult(
        run=point.index,
        label=point.label,
        initializer=point.initializer,
        activation=point.activation,
        depth=point.depth,
        batchnorm=point.batchnorm,
        residual=point.residual,
        scaling=point.scaling,
        batch_size=point.batch_size,
        loss=point.loss,
        output_activation=point.output_activation,
        l2=point.l2,
        dropout=point.dropout,
        final_loss=loss,
        final_accuracy=0.5 + 0.125 * point.index,
        verdict_kind="learns",
        verdict=f"learns: fake run of {point.label}",
        seconds=0.25,
        history={"loss": [1.0, loss]},
        activation_variance_start=[1.0, float("inf")],
    )


class FakeTrainer:
    """Stands in for ``train_point``: records the points it trains, optionally Ctrl-C at one."""

    def __init__(self, interrupt_at: int | None = None):
        self.trained: list[GridPoint] = []
        self.interrupt_at = interrupt_at

    def __call__(self, point, data, log_dir=None, verbose=0):
        if self.interrupt_at is not None and len(self.trained) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        self.trained.append(point)
        return _fake_result(point)


@pytest.fixture
def fake(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(sweep, "train_point", trainer)
    return trainer


def _sweep(points, runs_dir, **kwargs):
    buffer = io.StringIO()

    def write(text, flush=False):
        buffer.write(text + "\n")

    kwargs.setdefault("verbose", 1)
    results = sweep.run_sweep(points, {"none": None}, runs_dir=runs_dir, write=write, **kwargs)
    return results, buffer.getvalue()


# ----------------------------------------------------------------------------- run files


def test_the_seed_is_part_of_the_id():
    (a,) = _points(["he_normal"], ["relu"], seed=0)
    (b,) = _points(["he_normal"], ["relu"], seed=1)
    assert a.settings()["seed"] == 0 and b.settings()["seed"] == 1
    assert a.id != b.id
    assert a.id == _points(["zeros", "he_normal"], ["relu"])[1].id  # position is not part


def test_run_file_round_trip_keeps_nan_inf_and_leaves_no_temporary_file(tmp_path):
    point = _points()[1]
    result = _fake_result(point)
    path = sweep.write_run_file(tmp_path, point, result)
    assert path == tmp_path / f"{point.id}.json"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    document = json.loads(path.read_text())
    assert document["format"] == sweep.RUN_FILE_FORMAT and document["id"] == point.id
    assert document["settings"] == point.settings()
    settings, back = sweep.read_run_file(path)
    assert settings == point.settings()
    assert math.isnan(back.final_loss) and back.activation_variance_start == [1.0, math.inf]
    same = {k: v for k, v in back.to_dict().items() if k not in ("final_loss", "history")}
    assert same == {k: v for k, v in result.to_dict().items() if k not in ("final_loss", "history")}


def test_a_killed_write_leaves_the_old_file_or_none(tmp_path, monkeypatch):
    """os.replace failing (a kill between the write and the rename) keeps no partial file."""
    point = _points()[0]

    def boom(*args):
        raise OSError("killed before the rename")

    monkeypatch.setattr(sweep.os, "replace", boom)
    with pytest.raises(OSError, match="killed"):
        sweep.write_run_file(tmp_path, point, _fake_result(point))
    assert list(tmp_path.iterdir()) == []


def _write_all(tmp_path, points):
    return [sweep.write_run_file(tmp_path, p, _fake_result(p)) for p in points]


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda d, text: text[: len(text) // 2], "is corrupt (not readable JSON"),
        (lambda d, text: json.dumps({"runs": []}), "is not a keras-init-lab run file"),
        (lambda d, text: json.dumps({**d, "version": 99}), "has version 99"),
        (
            lambda d, text: json.dumps({**d, "settings": {**d["settings"], "seed": 7}}),
            "disagree with its id",
        ),
        (
            lambda d, text: json.dumps({**d, "result": {**d["result"], "activation": "elu"}}),
            "result's activation='elu' disagrees with its settings' activation='tanh'",
        ),
        (
            lambda d, text: json.dumps({**d, "result": {**d["result"], "colour": 1}}),
            "holds no valid RunResult",
        ),
    ],
    ids=["truncated", "foreign", "version", "settings-edited", "result-edited", "unknown-field"],
)
def test_a_bad_run_file_is_an_error_naming_it(tmp_path, fake, damage, fragment):
    points = _points()
    path = _write_all(tmp_path, points)[0]
    text = path.read_text()
    path.write_text(damage(json.loads(text), text))
    with pytest.raises(sweep.RunFileError) as info:
        _sweep(points, tmp_path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert fake.trained == []  # checked before anything trains


def test_a_file_under_another_id_is_refused(tmp_path, fake):
    points = _points()
    path = _write_all(tmp_path, points[:1])[0]
    path.rename(tmp_path / f"{points[1].id}.json")
    with pytest.raises(sweep.RunFileError, match="says its id is"):
        _sweep(points, tmp_path)


# -------------------------------------------------------------------------------- resume


def test_finished_runs_are_read_back_and_a_changed_grid_trains_only_new_points(tmp_path, fake):
    first, out1 = _sweep(_points(["zeros", "he_normal"], ["relu"]), tmp_path)
    assert [p.label for p in fake.trained] == ["zeros + relu", "he_normal + relu"]
    assert "resuming" not in out1
    fake.trained.clear()
    grid = _points(["zeros", "glorot_uniform", "he_normal"], ["relu"])
    second, out2 = _sweep(grid, tmp_path)
    assert [p.label for p in fake.trained] == ["glorot_uniform + relu"]
    assert "resuming: 2 of 3 runs read back from" in out2
    # Grid order, the current grid's positions; the read-back rows equal the first call's.
    assert [r.label for r in second] == [p.label for p in grid]
    assert [r.run for r in second] == [1, 2, 3]
    assert second[0].to_dict() == first[0].to_dict()
    he_then, he_now = first[1].to_dict(), second[2].to_dict()
    assert he_now.pop("run") == 3 and he_then.pop("run") == 2
    assert json.dumps(he_now) == json.dumps(he_then)  # NaN == NaN in text
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(p.id for p in grid)
    fake.trained.clear()
    third, _ = _sweep(grid, tmp_path)
    assert fake.trained == []
    assert [r.label for r in third] == [r.label for r in second]


def test_a_grid_with_one_setting_twice_is_refused(tmp_path, fake):
    with pytest.raises(ValueError, match=r"'zeros \+ relu', 'zeros \+ relu'; list each axis"):
        _sweep(_points(["zeros", "zeros"], ["relu"]), tmp_path)


def test_a_stale_temporary_file_is_ignored_and_removed(tmp_path, fake):
    points = _points()
    stale = tmp_path / f".{points[0].id}.123.abcd1234.tmp"
    stale.write_text('{"format": "keras-init-lab run", "ver')  # a write killed halfway
    _sweep(points, tmp_path)
    assert not stale.exists()
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_an_unfinished_runs_tensorboard_folder_is_emptied_before_it_runs(tmp_path, fake):
    points = _points(["zeros"], ["relu"])
    from keras_init_lab import _tags

    stale = tmp_path / "tb" / _tags.run_name(points[0]) / "train" / "events.out.old"
    stale.parent.mkdir(parents=True)
    stale.write_text("partial")
    _sweep(points, tmp_path / "runs", log_dir=tmp_path / "tb")
    assert not stale.exists()


# ------------------------------------------------------------------------------ progress


def test_progress_lines_name_the_verdict_and_the_overall_state(tmp_path, fake, monkeypatch):
    clock = iter(range(0, 1000, 10))  # every perf_counter call: 10 s later
    monkeypatch.setattr(sweep.time, "perf_counter", lambda: float(next(clock)))
    _, out = _sweep(_points(), tmp_path)
    lines = out.splitlines()
    assert all(len(line) <= _text.LINE_WIDTH for line in lines)
    assert lines[0] == "run 1/4: zeros + tanh [0 s] -> learns: fake run of zeros + tanh"
    # started at 0, first line at 10 s: ETA = 3 left x 10 s / 1 trained.
    assert lines[1] == "  1/4 done, 0 running, 3 left; elapsed 10 s, ETA 30 s"
    assert lines[-1] == "  4/4 done, 0 running, 0 left; elapsed 40 s, ETA 0 s"


def test_progress_eta_counts_only_trained_runs():
    progress = sweep._Progress(total=10, read_back=4, workers=2, verbose=1, write=None)
    progress.started -= 60  # 60 s ago
    assert progress.overall(running=2).startswith("4/10 done (4 read back), 2 running, 4 left")
    assert progress.overall(running=2).endswith("ETA ? (no run finished yet)")
    progress.trained = 2  # 2 runs in 60 s: the 2 running and 2 left take 4 x 30 s
    assert progress.overall(running=2) == (
        "6/10 done (4 read back), 2 running, 2 left; elapsed 1 min 00 s, ETA 2 min 00 s"
    )


def test_ctrl_c_keeps_finished_runs_and_says_how_to_resume(tmp_path, monkeypatch):
    points = _points()
    trainer = FakeTrainer(interrupt_at=3)
    monkeypatch.setattr(sweep, "train_point", trainer)
    with pytest.raises(sweep.SweepInterrupted) as info:
        _sweep(points, tmp_path)
    assert isinstance(info.value, KeyboardInterrupt)
    assert (info.value.done, info.value.total) == (2, 4)
    assert f"2 of 4 runs finished, saved in {tmp_path}" in str(info.value)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(p.id for p in points[:2])
    trainer = FakeTrainer()
    monkeypatch.setattr(sweep, "train_point", trainer)
    _sweep(points, tmp_path)
    assert [p.index for p in trainer.trained] == [3, 4]


def test_cli_ctrl_c_prints_the_command_that_resumes(tmp_path, monkeypatch, capsys):
    import keras_init_lab.experiments as experiments
    from keras_init_lab import cli

    def interrupted(**kwargs):
        assert kwargs["runs_dir"] == kwargs["log_dir"].parent / "runs"
        assert kwargs["workers"] == 2
        raise sweep.SweepInterrupted(1, 4, kwargs["runs_dir"])

    monkeypatch.setattr(experiments, "compare", interrupted)
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--quick", "--dataset", "xor", "--workers", "2"]
    assert cli.main(argv) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    created = next((tmp_path / "logs").iterdir())
    expected = f"keras-init-lab {' '.join(argv)} --out logs/{created.name}"
    assert err.splitlines()[-1].strip() == expected
    assert cli.main([*argv, "--out", "mine"]) == cli.EXIT_INTERRUPTED
    assert (
        capsys.readouterr().err.splitlines()[-1].strip()
        == f"keras-init-lab {' '.join(argv)} --out mine"
    )


def test_cli_refuses_zero_workers(tmp_path, capsys):
    from keras_init_lab import cli

    code = cli.main(["compare", "--quick", "--workers", "0", "--out", str(tmp_path / "o")])
    assert code == cli.EXIT_USAGE
    assert "--workers must be a positive integer; received --workers 0" in capsys.readouterr().err


# ------------------------------------------------------------------------------- workers


def test_worker_threads_are_the_share_of_the_cores():
    assert sweep.worker_threads(2, cores=8) == 4
    assert sweep.worker_threads(3, cores=8) == 2
    assert sweep.worker_threads(4, cores=2) == 1


def test_stopping_the_pool_ends_a_worker_in_the_middle_of_a_task():
    """Ctrl-C's _stop terminates the workers, not waits for their runs (here a 10-min sleep)."""
    import concurrent.futures
    import multiprocessing

    executor = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    )
    executor.submit(time.sleep, 600)
    processes = list(executor._processes.values())
    deadline = time.monotonic() + 120  # the worker starts a Python interpreter first
    while not processes[0].is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes[0].is_alive()
    sweep._stop(executor)
    # The executor's own thread may reap the process a moment after _stop returns (two
    # threads join it); a worker still running its 10-minute task stays alive for 60 s.
    deadline = time.monotonic() + 60
    while processes[0].is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes[0].is_alive()


def test_workers_refuse_a_point_that_cannot_be_sent(tmp_path):
    import dataclasses

    point = dataclasses.replace(_points()[0], optimizer=lambda: None)
    with pytest.raises(ValueError, match=r"workers=2 .* cannot be pickled"):
        sweep.run_sweep([point, _points()[1]], {"none": None}, runs_dir=tmp_path, workers=2)


def test_compare_puts_run_files_beside_the_logs_and_checks_its_new_arguments(tmp_path):
    from keras_init_lab.experiments.compare import _runs_folder

    assert _runs_folder(None, tmp_path / "tb") == tmp_path / "tb" / "runs"
    assert _runs_folder(None, None) is None
    assert _runs_folder(str(tmp_path / "r"), None) == tmp_path / "r"
    with pytest.raises(ValueError, match="runs_dir is an empty path"):
        _runs_folder("", None)
    with pytest.raises(TypeError, match="received runs_dir=3"):
        _runs_folder(3, None)


# ------------------------------------------------------------------ real training (slow)

#: Relative tolerance of a row's float compared across processes: the runs' numbers come
#: out of float32 sums whose order may follow the thread count (1 in a worker, the cores in
#: the parent); float32 eps (1.2e-7) times the ~10^3 roundings of one epoch's reductions.
ROW_RTOL = 1e-4
#: Columns that are not results: wall time, and where the run's event files went.
NOT_RESULTS = ("seconds", "log_dir")

SLOW_GRID = dict(
    dataset="xor",
    quick=True,
    epochs=1,
    depths=1,
    initializers=["zeros", "he_normal"],
    activations=["tanh", "relu"],
)


def _rows_equal(a: list[RunResult], b: list[RunResult]) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b):
        for name in RESULT_COLUMNS:
            if name in NOT_RESULTS:
                continue
            x, y = getattr(left, name), getattr(right, name)
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=ROW_RTOL) or (math.isnan(x) and math.isnan(y)), (
                    name,
                    left.label,
                    x,
                    y,
                )
            else:
                assert x == y, (name, left.label, x, y)


CHILD = """
import sys
from keras_init_lab.experiments import compare
compare(**{grid}, runs_dir=sys.argv[1], verbose=1)
"""


@pytest.mark.slow
def test_a_sweep_killed_after_two_runs_resumes_to_exactly_the_grid(tmp_path, capsys):
    from keras_init_lab._result_files import write_compare_files
    from keras_init_lab.experiments import compare

    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(grid=repr(SLOW_GRID)), str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    seen = []
    try:
        for line in child.stdout:
            seen.append(line)
            if line.startswith("  2/4 done"):
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "".join(seen)
    saved = sorted(runs.glob("*.json"))
    assert len(saved) in (2, 3)  # the third may have finished before the signal landed
    with contextlib.redirect_stdout(io.StringIO()) as buffer:
        resumed = compare(**SLOW_GRID, runs_dir=runs, verbose=1)
    out = buffer.getvalue()
    assert f"resuming: {len(saved)} of 4 runs read back" in out
    assert len(re.findall(r"^run \d/4: ", out, re.M)) == 4 - len(saved)
    reference = compare(**SLOW_GRID, verbose=0)
    assert [r.label for r in resumed.runs] == [r.label for r in reference.runs]
    _rows_equal(resumed.runs, reference.runs)
    # Exactly the grid's run files, and results.csv rebuilt from them: four rows, no duplicate.
    files = write_compare_files(resumed, tmp_path / "out")
    lines = files["results_csv"].read_text().splitlines()
    assert len(lines) == 5 and len(set(lines)) == 5
    assert sorted(p.stem for p in runs.glob("*.json")) == sorted(
        {json.loads(p.read_text())["id"] for p in runs.glob("*.json")}
    )
    assert len(list(runs.iterdir())) == 4


def _counting(monkeypatch, module, name: str) -> list:
    """Wrap ``module.name`` (a runner taking the pending points first); return its calls."""
    calls, original = [], getattr(module, name)

    def counted(pending, *args, **kwargs):
        calls.append([point.label for point in pending])
        return original(pending, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.slow
def test_two_workers_give_the_rows_of_a_sequential_run(tmp_path, monkeypatch):
    from keras_init_lab.experiments import compare

    sequential = compare(**SLOW_GRID, verbose=0)
    calls = _counting(monkeypatch, sweep, "_run_in_workers")
    parallel = compare(**SLOW_GRID, runs_dir=tmp_path / "runs", workers=2, verbose=0)
    assert calls == [[run.label for run in sequential.runs]]  # all four went to the workers
    _rows_equal(sequential.runs, parallel.runs)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 4


@pytest.mark.slow
def test_a_worker_limits_tensorflow_to_its_share_of_the_cores():
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=sweep._init_worker,
        initargs=(1, {}),
    ) as pool:
        assert pool.submit(sweep._thread_limits).result(timeout=300) == (1, 1)


# ------------------------------------------------------------------------------------ Ray


def test_ray_argument_is_checked():
    from keras_init_lab.experiments.compare import _ray_address

    assert _ray_address(None, 1) is None and _ray_address(False, 1) is None
    assert _ray_address(True, 1) is True and _ray_address("auto", 1) == "auto"
    with pytest.raises(TypeError, match="received ray=3"):
        _ray_address(3, 1)
    with pytest.raises(ValueError, match="received ray=' '"):
        _ray_address(" ", 1)
    with pytest.raises(
        ValueError, match=r"give workers \(local processes\) or ray \(a Ray cluster\), not both"
    ):
        _ray_address(True, 2)


def test_without_ray_installed_the_error_says_what_to_install(tmp_path, monkeypatch):
    from keras_init_lab.experiments import _ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=re.escape('pip install "keras-init-lab[ray]"')):
        sweep.run_sweep(_points(), {"none": None}, runs_dir=tmp_path, ray=True, verbose=0)
    assert _ray.INSTALL_HINT in str(pytest.raises(ImportError, _ray.import_ray).value)


@pytest.mark.slow
def test_ray_tasks_give_the_rows_of_a_sequential_run(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from keras_init_lab.experiments import _ray, compare

    sequential = compare(**SLOW_GRID, verbose=0)
    calls = _counting(monkeypatch, _ray, "run_on_ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        on_ray = compare(**SLOW_GRID, runs_dir=tmp_path / "runs", ray=True, verbose=0)
        assert ray.is_initialized()  # started by the caller, so left running for it
    finally:
        ray.shutdown()
    assert calls == [[run.label for run in sequential.runs]]  # all four went to Ray
    _rows_equal(sequential.runs, on_ray.runs)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 4


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_stops_the_workers_and_prints_the_resume_command(tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "sweep"
    argv = ["compare", "--quick", "--dataset", "xor", "--epochs", "1", "--depth", "1"]
    argv += ["--workers", "2", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "keras_init_lab", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in child.stdout:
            if re.match(r"  \d/4 done", line):
                workers = [
                    process
                    for process in psutil.Process(child.pid).children(recursive=True)
                    if "spawn_main" in " ".join(process.cmdline())  # not the resource tracker
                ]
                child.send_signal(signal.SIGINT)  # the parent only, as a test can
                break
        err = []
        for line in child.stderr:
            err.append(line.rstrip("\n"))
            if line.startswith("Resume with:"):
                # Printed after the workers were stopped, while the command still runs.
                running = [p for p in workers if p.is_running() and p.status() != "zombie"]
                break
        child.wait(timeout=120)  # the output left is a few lines: no pipe fills
        rest, tail = child.stdout.read(), child.stderr.read()
        err = [line for line in err + tail.splitlines() if line.strip()]
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert len(workers) == 2 and running == [], (workers, running)
    assert err[-2:] == ["Resume with:", f"  keras-init-lab {' '.join(argv)}"]
    assert not any("cuInit" in line or "absl" in line for line in err), err  # workers quiet
    said = " ".join(rest.split())  # the line is wrapped within 100 columns
    assert "sweep interrupted: " in said and f"saved in {out / 'runs'}" in said
    assert 1 <= len(list((out / "runs").glob("*.json"))) <= 4
