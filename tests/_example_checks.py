"""Helpers shared by the example tests: load an example, read its "Expected output" block,
compare what it printed with that block (words exactly, numbers within a tolerance)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def load(name: str):
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def expected_output(module) -> list[str]:
    """The indented block after 'Expected output' in the module docstring."""
    lines = module.__doc__.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("Expected output"))
    start = next(i for i in range(first, len(lines)) if lines[i].rstrip().endswith("::"))
    block = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if block:
                block.append("")
            continue
        if not line.startswith("    "):
            break
        block.append(line[4:])
    while block and not block[-1]:
        block.pop()
    return block


def assert_output_matches(
    printed: str,
    expected: list[str],
    rel: float = 0.0,
    abs_tol: float = 0.0,
    loose_lines: tuple = (),
):
    """Same words line by line; numbers equal within (rel, abs_tol).

    ``loose_lines``: substrings of expected lines whose numbers are not compared (a number
    that depends on training details and is asserted separately with its own criterion).
    """
    got = [line for line in printed.splitlines() if line.strip()]
    want = [line for line in expected if line.strip()]
    assert len(got) == len(want), "\n".join(["printed:", *got, "expected:", *want])
    for line_got, line_want in zip(got, want):
        assert " ".join(NUMBER.sub("#", line_got).split()) == " ".join(
            NUMBER.sub("#", line_want).split()
        ), (line_got, line_want)
        if any(marker in line_want for marker in loose_lines):
            continue
        numbers_got = [float(n) for n in NUMBER.findall(line_got)]
        numbers_want = [float(n) for n in NUMBER.findall(line_want)]
        assert numbers_got == pytest.approx(numbers_want, rel=rel, abs=abs_tol), (
            line_got,
            line_want,
        )
