"""Command-line front end: ``keras-init-lab <command>``.

Commands print what they do and return 0 on success; a bad argument prints one line
(``keras-init-lab: error: ...``) and returns 2, like ``argparse`` itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

EXIT_OK = 0
#: argparse's own exit status for usage errors; every bad-argument path uses it too.
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command-line value: reported in one line, exit status 2."""


def _cmd_list(args: argparse.Namespace) -> int:
    from keras_init_lab import initializers
    from keras_init_lab.fans import gain_table

    print("Initializers (name, aliases, distribution):")
    for row in initializers.describe():
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        print(f"  {row['name']:<26} {row['formula']}{aliases}")
    print("\nGains (calculate_gain):")
    for row in gain_table():
        print(f"  {row['nonlinearity']:<18} {row['value']:<8.4f} {row['formula']}")
    try:
        from keras_init_lab import activations
    except ImportError:  # pragma: no cover - activations land in their own module
        return EXIT_OK
    print("\nActivations:")
    print(activations.format_table(activations.describe()))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the ``keras-init-lab`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="keras-init-lab",
        description="See and diagnose weight initialization and activation functions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  keras-init-lab demo\n  keras-init-lab list\n",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p_list = sub.add_parser(
        "list",
        help="list initializers, gains and activations",
        description="Print every initializer with its formula and aliases, the gain table, "
        "and the activation facts table.",
        epilog="Example:\n  keras-init-lab list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_list.set_defaults(handler=_cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except (UsageError, ValueError) as error:
        print(f"keras-init-lab: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
