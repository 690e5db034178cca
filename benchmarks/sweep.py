"""Wall time of one 8-point ``compare --quick`` grid: sequential, ``--workers 2``, local Ray.

The grid is 2 initializers x 2 activations x 2 depths (``glorot_uniform he_normal`` x
``tanh relu`` x depths 2 and 4), ``--quick`` otherwise (8 epochs on the spirals). Each way
runs as a user would run it: ``keras-init-lab compare`` in a fresh Python process, its own
empty ``--out``, interleaved (sequential, workers, Ray, sequential, ...) so background load
hits all of them alike; the table reports medians. ``--ray`` with no address starts a local
Ray inside the command (one CPU per task), so its wall time includes starting and stopping
Ray; that cost is measured on its own too (``ray.init(num_cpus=2)`` then ``ray.shutdown()``
in a fresh process, TensorFlow not imported). CPU time is the child's user + system time
(``os.wait4``) and does not see the worker processes Ray starts outside the command's
process tree, so only the wall times compare across the three ways.

The physical limit on 2 cores is half the sequential time (two runs at once, each on one
core, with no start-up cost); the table gives each way's distance to it.

Run (on a quiet machine: nothing else running):
    python benchmarks/sweep.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from experiments import cpu_model  # benchmarks/experiments.py (the script's folder)

#: The 8-point grid: 2 initializers x 2 activations x 2 depths, ``--quick`` otherwise.
GRID = [
    "compare",
    "--quick",
    "--initializer",
    "glorot_uniform",
    "he_normal",
    "--activation",
    "tanh",
    "relu",
    "--depth",
    "2",
    "4",
]

WAYS = {
    "sequential": [],
    "--workers 2": ["--workers", "2"],
    "--ray (local)": ["--ray"],
}

RAY_START = (
    "import time, ray\n"
    "t = time.perf_counter()\n"
    "ray.init(num_cpus=2, include_dashboard=False)\n"
    "ray.shutdown()\n"
    "print(time.perf_counter() - t)\n"
)


def run_once(arguments: list[str]) -> tuple[float, float, float]:
    """Return (wall seconds, CPU seconds, 1-minute load average at the end) of one command.

    CPU seconds: the command's user + system time with its waited-for worker processes
    (``os.wait4``); Ray's processes are not counted (the table says so).
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "keras_init_lab.cli", *arguments, "--out", out]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} failed with status {status}")
        runs = len(os.listdir(os.path.join(out, "runs")))
        if runs != 8:
            raise RuntimeError(f"{' '.join(command)} wrote {runs} run files, expected 8")
    return wall, usage.ru_utime + usage.ru_stime, os.getloadavg()[0]


def ray_start_seconds() -> float:
    """Seconds to start and stop a local Ray (2 CPUs, no dashboard) in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", RAY_START], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = {name: [] for name in WAYS}
    ray_starts = []
    for repeat in range(args.repeats):
        for name, extra in WAYS.items():
            samples[name].append(run_once(GRID + extra))
            wall, cpu_s, load = samples[name][-1]
            print(
                f"# {name} run {repeat + 1}: {wall:.1f} s wall, {cpu_s:.1f} s CPU, load {load:.1f}",
                flush=True,
            )
        ray_starts.append(ray_start_seconds())
        print(f"# ray.init + shutdown {repeat + 1}: {ray_starts[-1]:.1f} s", flush=True)

    cpu = cpu_model()
    import ray
    import tensorflow as tf  # only for the version line

    print(
        f"\nMachine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Ray {ray.__version__}\n"
    )
    sequential = statistics.median(row[0] for row in samples["sequential"])
    floor = sequential / 2
    print(
        "| way | runs | wall time median (min-max) | CPU time median | speed-up vs sequential "
        "| x the 2-core floor | load avg (1 min) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, rows in samples.items():
        walls, cpus, loads = zip(*rows)
        median = statistics.median(walls)
        cpu_text = (
            "not counted (Ray's processes)"
            if "ray" in name
            else (f"{statistics.median(cpus):.1f} s")
        )
        print(
            f"| `{name}` | {len(rows)} | {median:.1f} s ({min(walls):.1f}-{max(walls):.1f}) "
            f"| {cpu_text} | {sequential / median:.2f}x | {median / floor:.2f}x | "
            f"{min(loads):.1f}-{max(loads):.1f} |"
        )
    print(
        f"\nStarting and stopping a local Ray (2 CPUs, no dashboard): median "
        f"{statistics.median(ray_starts):.1f} s ({min(ray_starts):.1f}-{max(ray_starts):.1f})"
        f"; the 2-core floor is half the sequential median, {floor:.1f} s."
    )


if __name__ == "__main__":
    main()
