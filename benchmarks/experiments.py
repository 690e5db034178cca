"""Wall time and peak memory of ``keras-init-lab propagate`` and ``keras-init-lab demo``.

Each command runs in a fresh Python process (as a user would run it, TensorFlow import
included), interleaved (propagate, demo --quick, demo, propagate, ...) so background load
hits all of them alike; the table reports medians. Peak memory is the child's maximum
resident set size from ``os.wait4`` (Linux reports it in KiB). The load average of the
machine is printed beside the numbers, since background load changes wall times.

Run:
    python benchmarks/experiments.py --repeats 3
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

COMMANDS = {
    "propagate": ["propagate"],
    "demo --quick": ["demo", "--quick"],
    "demo": ["demo"],
}


def run_once(arguments: list[str], out_dir: str) -> tuple[float, float, float, float]:
    """Return (wall seconds, CPU seconds, peak RSS in MiB, 1-minute load average at the end).

    CPU seconds are the child's user + system time (``os.wait4``'s ``ru_utime + ru_stime``),
    the figure the README and ``--help`` quote: on a busy machine it grows less than the wall
    time.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "keras_init_lab.cli", *arguments, "--out", out_dir]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {status}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024.0, os.getloadavg()[0]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=list(COMMANDS), default=list(COMMANDS))
    args = parser.parse_args()
    samples = {name: [] for name in args.only}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name in args.only:
                out = os.path.join(tmp, f"{name.replace(' ', '_')}-{repeat}")
                samples[name].append(run_once(COMMANDS[name], out))
                wall, cpu_s, rss, load = samples[name][-1]
                print(
                    f"# {name} run {repeat + 1}: {wall:.1f} s wall, {cpu_s:.1f} s CPU, "
                    f"{rss:.0f} MiB, load {load:.1f}",
                    flush=True,
                )
    import tensorflow as tf  # only for the version line

    cpu = cpu_model()
    print(
        f"\nMachine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}\n"
    )
    print(
        "| command | runs | wall time median (min-max) | CPU time median | peak RSS median "
        "| load avg (1 min) |"
    )
    print("|---|---|---|---|---|---|")
    for name, rows in samples.items():
        walls, cpus, rss, loads = zip(*rows)
        print(
            f"| `keras-init-lab {name}` | {len(rows)} | {statistics.median(walls):.1f} s "
            f"({min(walls):.1f}-{max(walls):.1f}) | {statistics.median(cpus):.1f} s | "
            f"{statistics.median(rss):.0f} MiB | "
            f"{min(loads):.1f}-{max(loads):.1f} |"
        )


if __name__ == "__main__":
    main()
