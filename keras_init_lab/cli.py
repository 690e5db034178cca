"""Command-line front end: ``keras-init-lab <command>``.

Commands print what they do and return 0 on success; a bad argument prints one line
(``keras-init-lab: error: ...``) and returns 2, like ``argparse`` itself.

Starts fast and quietly:

- Nothing here imports TensorFlow at module level, and neither does ``import keras_init_lab``
  (its public face is lazy). ``keras-init-lab --help``, an unknown command and the path checks
  of ``check`` answer without loading TensorFlow. The options of ``propagate``, ``compare``
  and ``demo`` show the experiments' defaults, which live in modules that use Keras, so
  their parsers (and their ``--help``) are built only when one of them is the command.
- When a command does load TensorFlow, its start-up lines (absl's "All log messages before
  absl::InitializeLog()", oneDNN, "Could not find cuda drivers", the error-level "failed call
  to cuInit" of a CPU-only machine) are not shown: ``TF_CPP_MIN_LOG_LEVEL`` defaults to 2
  (unless the user set it), and while ``tensorflow`` loads and probes its devices the
  process's stderr (file descriptor 2, where TensorFlow's C++ logging writes) goes to a
  temporary file, replayed if the import fails. Environment variables alone do not silence
  the absl lines. ``--verbose`` (anywhere on the line) or ``KERAS_INIT_LAB_VERBOSE=1`` shows
  everything.

Example:
    >>> main(["--help"])  # doctest: +SKIP
    usage: keras-init-lab [-h] [-v] COMMAND ...
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shlex
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from keras_init_lab._import_hooks import around_first_import, remove_hook

__all__ = ["COMMAND_HELP", "EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
#: A command stopped by Ctrl-C: 128 + SIGINT (2), the shell's convention.
EXIT_INTERRUPTED = 130
#: argparse's own exit status for usage errors; every bad-argument path uses it too.
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command-line value: reported in one line, exit status 2."""


def _cmd_list(args: argparse.Namespace) -> int:
    from keras_init_lab import activations, initializers
    from keras_init_lab.activations._table import COLUMNS, format_table
    from keras_init_lab.fans import gain_table

    print("Initializers (name, distribution, aliases):")
    for row in initializers.describe():
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        text = f"{row['formula']}{aliases}"
        if len(text) > LINE_WIDTH - 29:  # the formula on its line, the aliases below it
            text = f"{row['formula']}\n{aliases.strip()}" if aliases else row["formula"]
        lines = text.split("\n")
        print(f"  {row['name']:<26} {lines[0]}")
        for line in lines[1:]:
            print(f"  {'':<26} {line}")
        if row["note"]:
            _print_wrapped(f"note: {row['note']}", indent=" " * 29)
    print("\nGains (calculate_gain; elu/gelu/swish extend PyTorch's by 1/sqrt(E[f(z)^2])):")
    for row in gain_table():
        _print_wrapped(
            f"{row['nonlinearity']:<18} {row['value']:<8.4f} {row['formula']}",
            indent="  ",
            subsequent=" " * 30,
        )
    table = activations.describe()
    # Two tables of at most LINE_WIDTH characters, the name first in each.
    print("\nActivations: what each one is")
    print(format_table(table, COLUMNS[:6]))
    print("\nActivations: how to initialize for it")
    print(format_table(table, COLUMNS[:1] + COLUMNS[6:]))
    print("\nColumns:")
    print(table.legend)
    return EXIT_OK


#: Default parent of new run directories: TensorBoard logs and reports live under ``logs/``.
DEFAULT_LOG_ROOT = "logs"


def _output_dir(args: argparse.Namespace, command: str) -> Path:
    """Return a writable output folder: ``--out``, or a new ``logs/<command>-<time>``.

    A folder this call creates is remembered in ``args.created_out`` so that ``main`` can
    remove it again (if still empty) when the command then fails on a bad argument.

    Raises:
        UsageError: when the folder cannot be created or written (one line, exit 2).
    """
    requested = args.out
    if requested:
        out = Path(requested)
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(DEFAULT_LOG_ROOT) / f"{command}-{stamp}"
        suffix = 2
        while out.exists():
            out = Path(DEFAULT_LOG_ROOT) / f"{command}-{stamp}-{suffix}"
            suffix += 1
    try:
        if not out.exists():
            out.mkdir(parents=True)
            args.created_out = out
        probe = out / ".keras-init-lab-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(
            f"cannot write to output directory {str(out)!r}: {reason}. "
            f"Pass --out with a folder you can write to."
        ) from None
    return out


def _check_depths(depths) -> None:
    for depth in depths if isinstance(depths, (list, tuple)) else [depths]:
        if depth is not None and depth < 1:
            raise UsageError(
                f"--depth must be a positive integer (number of layers); received {depth}."
            )


def _check_names(initializer_names, activation_names) -> None:
    """Resolve every name before any work starts (ValueError lists the closest names)."""
    from keras_init_lab import activations, initializers

    for name in initializer_names or []:
        initializers.get(name)
    for name in activation_names or []:
        activations.get(name)


def _seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def _cmd_propagate(args: argparse.Namespace) -> int:
    from keras_init_lab.experiments import propagate
    from keras_init_lab.report import write_propagation

    _check_depths(args.depth)
    if args.width < 1:
        raise UsageError(f"--width must be a positive integer; received {args.width}.")
    _check_names(args.initializer, args.activation)
    out = _output_dir(args, "propagate")
    _seed_everything(args.seed)
    result = propagate(
        sigma2=args.sigma2,
        initializers=args.initializer,
        activations=args.activation,
        depth=args.depth,
        width=args.width,
        n_samples=args.samples,
        n_trials=args.trials,
        seed=args.seed,
    )
    paths = write_propagation(result, out)
    print(result.format_table())
    print(f"\nWrote {paths['json']} and {paths['png']}")
    return EXIT_OK


def _compare_kwargs(args: argparse.Namespace) -> dict:
    both = {"off": [False], "on": [True], "both": [False, True]}
    return dict(
        dataset=args.dataset,
        model=args.model,
        initializers=args.initializer,
        activations=args.activation,
        depths=args.depth,
        batchnorm=both[args.batchnorm],
        residual=both[args.residual],
        scalings=args.scaling,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        target_accuracy=args.target,
        max_train_samples=args.max_train_samples,
        optimizers=args.optimizers,
        learning_rates=args.learning_rates,
        batch_sizes=args.batch_sizes,
        losses=args.losses,
        l2=args.l2 if args.l2 is not None else 0.0,
        weight_decay=args.weight_decay,
        dropout=args.dropout if args.dropout is not None else 0.0,
    )


def _compare_header(config: dict, depths) -> str:
    """One line naming model, depth, width, optimizer, epochs, dataset, seed and notes."""
    depth = ", ".join(str(d) for d in depths)
    return (
        f"{config['model'].upper()}, {depth} hidden layers of {config['width']}, "
        f"{config['optimizer']}, {config['epochs']} epochs of batch {config['batch_size']}, "
        f"{config['dataset_description']} ({config['n_train']} train / {config['n_test']} "
        f"validation), seed {config['seed']}; {config['target_note']}; "
        f"{config['scaling_note']}; {config['chance_note']}: "
        f"{config['chance_accuracy']:.0%}."
    )


def _cmd_compare(args: argparse.Namespace) -> int:
    from keras_init_lab.experiments import compare, course_pairings
    from keras_init_lab.experiments.compare import PRESETS
    from keras_init_lab.report import write_compare, write_report

    _check_depths(args.depth)
    _check_names(args.initializer, args.activation)
    out = _output_dir(args, "compare")
    preset = "quick" if args.quick else "full"
    target = PRESETS[preset]["target_accuracy"] if args.target is None else args.target
    print(
        f"Target validation accuracy: {target:.0%}"
        + (
            " (--quick lowers the default 90% to 80%)" if args.quick and args.target is None else ""
        ),
        flush=True,
    )
    if args.workers < 1:
        raise UsageError(
            f"--workers must be a positive integer; received --workers {args.workers}."
        )
    try:
        result = compare(
            **_compare_kwargs(args),
            preset=preset,
            seed=args.seed,
            log_dir=out / "tensorboard",
            runs_dir=out / "runs",
            workers=args.workers,
            ray=args.ray,
            verbose=2 if args.progress else 1,
        )
    except KeyboardInterrupt:
        print(f"Resume with:\n  {_resume_command(args, out)}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    write_compare(result, out)
    rows = course_pairings(result.runs, target=result.config["target_accuracy"])
    paths = write_report(out, comparison=result, command=_command_line(args), pairings=rows)
    print()
    print(textwrap.fill(_compare_header(result.config, result.config["depths"]), 100))
    print(result.format_table())
    print()
    print(textwrap.fill(f"Update size: {result.config['update_ratio_note']}.", 100))
    print(result.format_settings_table())
    _print_endings(out, paths)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from keras_init_lab.experiments.demo import DemoSettings, run_demo
    from keras_init_lab.report import write_demo

    out = _output_dir(args, "demo")
    settings = DemoSettings.quick_settings() if args.quick else DemoSettings()
    _print_wrapped(
        f"== 1/2 At initialization: the four pairings (glorot_uniform / he_normal x tanh / "
        f"relu) through lecture 002's net, {settings.init_depth} hidden layers of "
        f"{settings.init_width} units and nothing else (input N(0, 1), no output layer), "
        f"{settings.init_trials} weight draws x {settings.init_samples} inputs; forward and "
        "backward, measured and predicted =="
    )

    def on_part(part, result):
        if part == "initialization":
            print(result.format_table(), flush=True)
            return
        pairs = "; ".join(
            f"{p.activation}: {p.ideal} vs {p.risky}, {p.depth} hidden layers, learning "
            f"rate {p.learning_rate:g}, {p.epochs} epochs"
            for p in settings.pairs
        )
        print()
        _print_wrapped(
            f"== 2/2 In training: each activation's two pairings where the effect shows, on "
            f"the 8x8 digits (standardized), width {settings.width}, SGD (momentum "
            f"{settings.momentum:g}), batch {settings.batch_size}, seeds {args.seed}-"
            f"{args.seed + settings.seeds - 1}, deterministic ops; {pairs} =="
        )

    result = run_demo(
        seed=args.seed, verbose=2 if args.progress else 1, settings=settings, on_part=on_part
    )
    paths = write_demo(out, result, command=_command_line(args))
    print()
    print(result.format_training())
    print("\nLecture 002's summary next to what was measured:")
    print(result.format_marks())
    left_out = result.format_left_out()
    if left_out:
        print("\n" + left_out)
    print(f"\nReport: {paths['html']}")
    print(f"Markdown: {paths['md']}; figure: {paths['png'].name}; numbers: {paths['json'].name}")
    return EXIT_OK


#: Widest line the command line prints (the tables are laid out within it; prose is wrapped).
LINE_WIDTH = 100


def _print_wrapped(text: str, indent: str = "", subsequent: str | None = None) -> None:
    """Print ``text`` wrapped at :data:`LINE_WIDTH` columns."""
    print(
        textwrap.fill(
            text,
            LINE_WIDTH,
            initial_indent=indent,
            subsequent_indent=indent if subsequent is None else subsequent,
            break_on_hyphens=False,
        ),
        flush=True,
    )


def _command_line(args: argparse.Namespace) -> str:
    return "keras-init-lab " + " ".join(shlex.quote(a) for a in args.argv)


def _resume_command(args: argparse.Namespace, out: Path) -> str:
    """The command line that resumes this one: the same arguments, ``--out`` the folder used."""
    if args.out:
        return _command_line(args)
    words = ["keras-init-lab", *args.argv, "--out", str(out)]
    return " ".join(shlex.quote(word) for word in words)


def _print_endings(out: Path, paths: dict) -> None:
    print(f"\nReport: {paths['html']}")
    print(f"Markdown: {paths['md']}")
    print(f"TensorBoard: tensorboard --logdir {shlex.quote(str(out / 'tensorboard'))}")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help=f"output folder (default: a new run folder under {DEFAULT_LOG_ROOT}/)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed reproduces every number (default 0)",
    )


def _add_progress(parser: argparse.ArgumentParser) -> None:
    """``--progress``: Keras's own line per epoch; by default one line per run."""
    parser.add_argument(
        "--progress",
        action="store_true",
        help="also show Keras's line per epoch (default: one line per run "
        "with its verdict, time and ETA)",
    )
    # Accepted for old scripts: one line per run is now the default.
    parser.add_argument("--no-progress-bar", action="store_true", help=argparse.SUPPRESS)


def _add_experiment_commands(sub) -> None:
    from keras_init_lab.experiments.compare import DEFAULT_ACTIVATIONS, DEFAULT_INITIALIZERS
    from keras_init_lab.experiments.propagation import (
        DEFAULT_DEPTH,
        DEFAULT_SAMPLES,
        DEFAULT_SIGMA2,
        DEFAULT_TRIALS,
        DEFAULT_WIDTH,
    )

    raw = argparse.RawDescriptionHelpFormatter
    p_prop = sub.add_parser(
        "propagate",
        help=COMMAND_HELP["propagate"],
        description="Measure the per-layer variance of pre-activations (forward) and of "
        "gradients (backward: an independent output error, and least squares to a zero "
        "target) through a plain deep network, next to the mean-field prediction, with the "
        "per-layer gain of each direction and a verdict per direction: stable (within 10x "
        "end to end), decaying / growing (10x to 1000x), vanishing / exploding (beyond, or "
        f"float32 underflow / overflow). Default: lecture 002's sigma^2 in "
        f"{list(DEFAULT_SIGMA2)}, ReLU, {DEFAULT_DEPTH} layers of {DEFAULT_WIDTH} units. "
        "Writes propagation.json and propagation.png.",
        epilog="Examples:\n"
        "  keras-init-lab propagate\n"
        "  keras-init-lab propagate --sigma2 0.01 0.02 0.04 --activation relu tanh\n"
        "  keras-init-lab propagate --initializer he_normal glorot_uniform --activation tanh\n"
        "  keras-init-lab propagate --depth 100 --width 50 --out logs/deep --seed 3",
        formatter_class=raw,
    )
    p_prop.add_argument(
        "--sigma2",
        type=float,
        nargs="+",
        metavar="S",
        help="weight variances (weights ~ N(0, S)); default: the course's five "
        "unless --initializer is given",
    )
    p_prop.add_argument(
        "--initializer",
        "--initializers",
        dest="initializer",
        nargs="+",
        metavar="NAME",
        help="initializer names to sample kernels from (see 'list')",
    )
    p_prop.add_argument(
        "--activation",
        "--activations",
        dest="activation",
        nargs="+",
        metavar="NAME",
        default=["relu"],
        help="activation names (default: relu)",
    )
    p_prop.add_argument(
        "--depth",
        type=int,
        default=DEFAULT_DEPTH,
        help=f"number of layers (default {DEFAULT_DEPTH})",
    )
    p_prop.add_argument(
        "--width",
        type=int,
        default=DEFAULT_WIDTH,
        help=f"units per layer (default {DEFAULT_WIDTH})",
    )
    p_prop.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"inputs per weight draw (default {DEFAULT_SAMPLES})",
    )
    p_prop.add_argument(
        "--trials",
        type=int,
        default=DEFAULT_TRIALS,
        help=f"independent weight draws averaged (default {DEFAULT_TRIALS})",
    )
    _add_common(p_prop)
    p_prop.set_defaults(handler=_cmd_propagate)

    p_cmp = sub.add_parser(
        "compare",
        help=COMMAND_HELP["compare"],
        description="Train the same model on the same data for every grid point "
        f"(default: {', '.join(DEFAULT_INITIALIZERS)} x {', '.join(DEFAULT_ACTIVATIONS)}), "
        "with gradient and activation statistics and one TensorBoard run folder per run. "
        "Each finished run is saved at once in <out>/runs; the same command on the same --out "
        "resumes (finished runs are read back, a changed grid trains only its new points). "
        "Writes results.json, results.csv, report.md, report.html and PNGs.",
        epilog="Examples:\n"
        "  keras-init-lab compare\n"
        "  keras-init-lab compare --quick\n"
        "  keras-init-lab compare --initializer glorot_uniform he_normal --activation tanh relu "
        "--depth 4 10\n"
        "  keras-init-lab compare --dataset digits --batchnorm both --scaling none standardize\n"
        "  keras-init-lab compare --dataset my_data.npz --residual both --out logs/mine\n"
        "  keras-init-lab compare --optimizers sgd adam --learning-rates 0.01 0.1 "
        "--batch-sizes 1 32 full\n"
        "  keras-init-lab compare --losses categorical_crossentropy mse:softmax mse:linear\n"
        "  keras-init-lab compare --l2 0 1e-4 --dropout 0 0.2\n"
        "  keras-init-lab compare --quick --workers 2 --out logs/sweep",
        formatter_class=raw,
    )
    p_cmp.add_argument(
        "--dataset",
        default="spirals",
        help="spirals, xor, digits, mnist, fashion_mnist, cifar10 or a .npz file "
        "with x_train, y_train[, x_test, y_test] (default: spirals)",
    )
    p_cmp.add_argument(
        "--model",
        default="auto",
        choices=("auto", "mlp", "cnn"),
        help="architecture (auto: CNN for images, else MLP)",
    )
    p_cmp.add_argument(
        "--initializer",
        "--initializers",
        dest="initializer",
        nargs="+",
        metavar="NAME",
        help="initializer names (default: the 4 of the course grid)",
    )
    p_cmp.add_argument(
        "--activation",
        "--activations",
        dest="activation",
        nargs="+",
        metavar="NAME",
        help="activation names (default: sigmoid tanh relu leaky_relu)",
    )
    p_cmp.add_argument(
        "--depth",
        type=int,
        nargs="+",
        metavar="N",
        help="hidden-layer counts to compare (default 6; --quick 4)",
    )
    p_cmp.add_argument(
        "--batchnorm",
        choices=("off", "on", "both"),
        default="off",
        help="BatchNorm before each activation (both: compare)",
    )
    p_cmp.add_argument(
        "--residual",
        choices=("off", "on", "both"),
        default="off",
        help="residual connections (both: compare)",
    )
    p_cmp.add_argument(
        "--scaling",
        nargs="+",
        default=["auto"],
        metavar="NAME",
        help="input scalings, fitted on the training split only: auto "
        "(default: standardize pixel datasets, leave others), none, "
        "standardize, minmax, pixel (x / 255, or x / 16 for digits)",
    )
    p_cmp.add_argument("--width", type=int, help="units or filters per layer (default 32)")
    p_cmp.add_argument("--epochs", type=int, help="epochs per run (default 30; --quick 8)")
    p_cmp.add_argument("--batch-size", type=int, help="batch size")
    p_cmp.add_argument("--learning-rate", type=float, help="SGD learning rate (default 0.05)")
    p_cmp.add_argument(
        "--optimizers",
        nargs="+",
        metavar="NAME",
        help="optimizers to compare: sgd, momentum, rmsprop, adam, adamw (default: momentum, "
        "SGD with momentum 0.9)",
    )
    p_cmp.add_argument(
        "--learning-rates",
        type=float,
        nargs="+",
        metavar="LR",
        help="learning rates to compare, each > 0 (default: 0.05 for momentum, Keras's "
        "defaults for the other optimizers)",
    )
    p_cmp.add_argument(
        "--batch-sizes",
        nargs="+",
        metavar="N",
        help="batch sizes to compare: integers >= 1 (1: stochastic) or full (the whole "
        "training split per update)",
    )
    p_cmp.add_argument(
        "--losses",
        nargs="+",
        metavar="LOSS[:ACT]",
        help="losses to compare, optionally with the output activation: mse, mae, huber, "
        "binary_crossentropy, categorical_crossentropy; e.g. mse:softmax mse:linear "
        "(default: categorical_crossentropy:softmax)",
    )
    p_cmp.add_argument(
        "--l2",
        type=float,
        nargs="+",
        metavar="L",
        help="L2 penalties on every kernel, keras.regularizers.L2(L) (default 0: none)",
    )
    p_cmp.add_argument(
        "--weight-decay",
        type=float,
        nargs="+",
        metavar="WD",
        help="decoupled weight decay given to the optimizer (default: the optimizer's own, "
        "0 except adamw's 0.004)",
    )
    p_cmp.add_argument(
        "--dropout",
        type=float,
        nargs="+",
        metavar="P",
        help="dropout rates in [0, 1) after every hidden activation (default 0: none)",
    )
    p_cmp.add_argument(
        "--target",
        type=float,
        help="validation accuracy that counts as learned (default 0.9; --quick: 0.8)",
    )
    p_cmp.add_argument(
        "--max-train-samples", type=int, metavar="N", help="use only the first N training samples"
    )
    p_cmp.add_argument(
        "--quick",
        action="store_true",
        help="a small grid, depth 4, 8 epochs and target 0.8 (well under a minute)",
    )
    p_cmp.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="train N grid points at once, each in its own process with its share of the "
        "cores (default 1)",
    )
    p_cmp.add_argument(
        "--ray",
        nargs="?",
        const=True,
        default=None,
        metavar="ADDRESS",
        help="send each grid point to Ray as a task of 1 CPU: a local Ray, or the cluster at "
        'ADDRESS (pip install "keras-init-lab[ray]"; on a cluster --out must be storage '
        "every node sees)",
    )
    _add_progress(p_cmp)
    _add_common(p_cmp)
    p_cmp.set_defaults(handler=_cmd_compare)

    p_demo = sub.add_parser(
        "demo",
        help=COMMAND_HELP["demo"],
        description="Show lecture 002's summary of pairings (Xavier + tanh, He + ReLU: ideal; "
        "Xavier + ReLU, He + tanh: risky) in two parts: 1. at initialization, the four "
        "pairings through the lecture's 50 layers of 100 units, measured and predicted; "
        "2. in training, each activation's two pairings on the 8x8 digits at the depth where "
        "the effect shows, over 3 seeds, the ideal one marked against the risky one. Prints "
        "a table of what the course says next to what was measured and writes report.md, "
        "report.html, demo.json and the figure. "
        f"{DEMO_TIME[0].upper()}{DEMO_TIME[1:]}; --quick: {QUICK_DEMO_TIME}.",
        epilog="Examples:\n"
        "  keras-init-lab demo\n"
        "  keras-init-lab demo --quick --out logs/first-look\n"
        "  keras-init-lab demo --seed 1",
        formatter_class=raw,
    )
    p_demo.add_argument(
        "--quick",
        action="store_true",
        help="part 1 on fewer draws and only the ReLU pair, 8 epochs; says what it leaves out",
    )
    _add_progress(p_demo)
    _add_common(p_demo)
    p_demo.set_defaults(handler=_cmd_demo)
    for command in (p_prop, p_cmp, p_demo):  # raw formatting keeps the examples' lines
        command.description = textwrap.fill(command.description, 88)


#: Exit status of ``check`` when any finding is an error (bad arguments still give 2).
EXIT_FINDINGS = 1


def _cmd_check(args: argparse.Namespace) -> int:
    from keras_init_lab.diagnostics.loading import check_model_path, load_model_file

    try:
        check_model_path(args.path)  # a typo is answered before TensorFlow starts
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    import keras_init_lab  # noqa: F401  (registers the package's initializers/activations)
    from keras_init_lab.diagnostics import check_model

    try:
        model = load_model_file(args.path)
    except ValueError as error:
        raise UsageError(str(error)) from None
    result = check_model(model)
    for line in str(result).splitlines():  # each finding wrapped within LINE_WIDTH
        indent = line[: len(line) - len(line.lstrip())]
        print(textwrap.fill(line, LINE_WIDTH, subsequent_indent=indent + "  ") if line else "")
    return EXIT_FINDINGS if result.has_errors else EXIT_OK


def _add_check_command(sub) -> None:
    p_check = sub.add_parser(
        "check",
        help=COMMAND_HELP["check"],
        description="Load a saved Keras model and print check_model's findings: zero or "
        "constant kernels, ReLU with Glorot in a deep stack, tanh/sigmoid with He, deep "
        "sigmoid stacks, softmax in a hidden layer, leaky ReLU without the leaky gain, and the "
        "predicted per-layer forward variance. Exit status 1 when any finding is an error, "
        "0 otherwise.",
        epilog="Examples:\n  keras-init-lab check model.keras\n"
        "  keras-init-lab check logs/run/best.keras || echo 'fix the errors first'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_check.description = textwrap.fill(p_check.description, 88)
    p_check.add_argument(
        "path", metavar="PATH.keras", help="a model saved with model.save('....keras') (or .h5)"
    )
    p_check.set_defaults(handler=_cmd_check)


#: The demo's run time, said in ``demo --help`` and in the README (a test checks that both say
#: the same): the CPU time (user + system) of the whole command, TensorFlow's start included,
#: measured by ``benchmarks/experiments.py`` on a 2-core x86 machine (the figures are in
#: BENCHMARKS.md). The demo's small models keep about one core busy, so on two idle cores the
#: wall time is about this too.
DEMO_TIME = "about 2 minutes of CPU time"
QUICK_DEMO_TIME = "about 50 seconds"

#: One line per command for ``keras-init-lab --help``; read without loading any command.
COMMAND_HELP = {
    "demo": "lecture 002's pairing table, at initialization and in training (+ report)",
    "propagate": "forward/backward variance through a deep net (UDL fig. 7.7)",
    "compare": "train one model on one dataset for every initializer x activation",
    "check": "check a saved model's initializers and activations (check_model)",
    "list": "list initializers, gains and activations",
}

#: Commands whose parsers read the experiments' defaults (modules that import Keras).
_EXPERIMENT_COMMANDS = ("propagate", "compare", "demo")

#: Set to 1 to show TensorFlow's start-up lines (as ``--verbose`` does).
VERBOSE_ENV = "KERAS_INIT_LAB_VERBOSE"


def build_parser(experiments: bool = True) -> argparse.ArgumentParser:
    """Return the ``keras-init-lab`` argument parser with every subcommand.

    Args:
        experiments: build the options of ``propagate``, ``compare`` and ``demo`` (their
            defaults come from the experiment modules, which import Keras). ``False`` lists
            those three commands with their one-line help only, enough for ``--help`` and
            for every other command, without importing TensorFlow.

    Returns:
        An ``argparse.ArgumentParser``; each subcommand sets ``handler``.

    Example:
        >>> build_parser(experiments=False).parse_args(["list"]).command
        'list'
    """
    parser = argparse.ArgumentParser(
        prog="keras-init-lab",
        description="See and diagnose weight initialization and activation functions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  keras-init-lab demo\n  keras-init-lab propagate\n"
        "  keras-init-lab compare --quick\n  keras-init-lab check model.keras\n"
        "  keras-init-lab list\n"
        f"\nTensorFlow's start-up lines are hidden; --verbose or {VERBOSE_ENV}=1 shows them.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up log lines (also accepted after the command)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p_list = sub.add_parser(
        "list",
        help=COMMAND_HELP["list"],
        description="Print every initializer with its formula and aliases, the gain table, "
        "and the activation facts table.",
        epilog="Example:\n  keras-init-lab list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_list.description = textwrap.fill(p_list.description, 88)
    p_list.set_defaults(handler=_cmd_list)
    if experiments:
        _add_experiment_commands(sub)
    else:
        for name in _EXPERIMENT_COMMANDS:
            sub.add_parser(name, help=COMMAND_HELP[name])
    _add_check_command(sub)
    _add_explore_command(sub)
    return parser


def _split_verbose(argv: list[str]) -> tuple[bool, list[str]]:
    """Take ``-v``/``--verbose`` out of ``argv`` wherever it is; return (verbose, the rest).

    ``KERAS_INIT_LAB_VERBOSE`` set to anything but empty or ``0`` also means verbose.
    """
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("-v", "--verbose", action="store_true")
    known, rest = pre.parse_known_args(argv)
    if known.verbose:
        return True, rest
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0"), argv


@contextlib.contextmanager
def _stderr_to_temporary_file(tensorflow):
    """Hide file descriptor 2 while ``tensorflow`` loads and probes its devices.

    TensorFlow's C++ start-up lines go to fd 2 directly, so the descriptor itself is
    redirected (``sys.stderr`` writes to it too) and restored afterwards; if the import fails,
    what was written is shown after all, above the error.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
            tensorflow.config.list_physical_devices()  # CUDA probing: the cuInit error line
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _quiet_tensorflow():
    """Hide TensorFlow's start-up lines if and when a command imports it; return the hook."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return around_first_import("tensorflow", _stderr_to_temporary_file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Example:
        >>> main(["list"])  # doctest: +SKIP
        Initializers (name, distribution, aliases):
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose, rest = _split_verbose(argv)
    hook = None if verbose else _quiet_tensorflow()
    try:
        command = next((word for word in rest if not word.startswith("-")), None)
        parser = build_parser(experiments=command in _EXPERIMENT_COMMANDS)
        args = parser.parse_args(rest)
        args.argv = argv
        try:
            return int(args.handler(args) or EXIT_OK)
        except (UsageError, ValueError) as error:
            _remove_if_empty(getattr(args, "created_out", None))
            print(f"keras-init-lab: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    finally:
        remove_hook(hook)


def _remove_if_empty(folder: Path | None) -> None:
    """Remove an output folder this run created if a bad argument left it empty."""
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _add_explore_command(sub) -> None:
    """``keras-init-lab explore [--out FILE] [--serve] [--port N]``."""
    p_explore = sub.add_parser(
        "explore",
        help="write the explorable page: depth, width, variance, activation, bias sliders",
        description="Write one offline HTML page with sliders for depth, width, weight variance "
        "(or a named initializer), activation and bias variance, and the forward and backward "
        "variance per layer: the mean-field prediction (the package's Gaussian expectations, "
        "embedded) and a seeded sampled network, with propagate's verdict words.",
        epilog="Examples:\n  keras-init-lab explore\n  keras-init-lab explore --out page.html "
        "--serve --port 8000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_explore.description = textwrap.fill(p_explore.description, 88)
    p_explore.add_argument(
        "--out", default="explore.html", help="the HTML file to write (default explore.html)"
    )
    p_explore.add_argument(
        "--serve",
        action="store_true",
        help="then serve it on http://127.0.0.1:PORT/ until Ctrl-C",
    )
    p_explore.add_argument(
        "--port", type=int, default=0, help="port for --serve (default 0: any free port)"
    )
    p_explore.set_defaults(handler=_cmd_explore)


def _cmd_explore(args: argparse.Namespace) -> int:
    from keras_init_lab.explore import serve, write_page

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535; received --port {args.port}.")
    path = write_page(args.out)
    size = path.stat().st_size / 1024
    print(f"wrote {path} ({size:.0f} kB, works offline: open it in a browser)", flush=True)
    if args.serve:
        serve(path, port=args.port)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
