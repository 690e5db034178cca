"""Nothing in the repository points outside it.

Scans every tracked text file (``git ls-files``: ``*.py``, ``*.md``, ``*.ipynb``, ``*.cfg``,
``*.toml``, ``*.txt``) for

* paths outside the repository (a parent folder beside the clone, ``/work/``),
* the course's lecture file names (three digits, an underscore, sixteen hex digits) and
  "seed 00N" style references to them (lectures are cited by number and title instead:
  "lecture 002 (initialization)", see ``docs/course.md``),
* planning documents and issues that are not part of the repository (the contract and
  ``DESIGN.md`` pages, "issue 4"; a link such as ``keras-team/keras#17624`` is fine),
* timings of one particular machine written into comments and docs ("on this 2-core CPU",
  "on this machine"); benchmark results (``BENCHMARKS.md``, ``benchmarks/results/``) describe
  their machine on purpose and are exempt from this rule only.

A failure lists every offending ``file:line``.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = (".py", ".md", ".ipynb", ".cfg", ".toml", ".txt")

#: (rule name, pattern). Case-insensitive.
PATH_RULES = (
    ("path outside the repository", re.compile(r"\.\./shared|/work/")),
    ("course file name", re.compile(r"[0-9]{3}_[0-9a-f]{16}")),
    ("planning document outside the repository", re.compile(r"CONTRACTS\.md|DESIGN\.md")),
    # The project's own tracker is not part of a clone ("issue 4"); an "owner/repo#123" link to
    # a public tracker names where it is and stays allowed.
    ("issue of the project's tracker", re.compile(r"\bissues?\s+#?\d+\b", re.I)),
    ("lecture file cited as a seed", re.compile(r"\bseeds?\s*`*0\d\d\b|\bseeds?/", re.I)),
)
TIMING_RULE = (
    "timing of one machine",
    re.compile(r"this\s+2-core\s+CPU|on\s+this\s+machine|this\s+CPU\b", re.I),
)
#: Benchmark results describe the machine they were measured on.
TIMING_EXEMPT = ("BENCHMARKS.md", "benchmarks/results/")


def tracked_text_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    return sorted(name for name in listed if name.endswith(SUFFIXES) and (ROOT / name).is_file())


def offending_lines(name: str, text: str) -> list[str]:
    rules = list(PATH_RULES)
    if not name.startswith(TIMING_EXEMPT):
        rules.append(TIMING_RULE)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, pattern in rules:
            match = pattern.search(line)
            if match:
                found.append(f"{name}:{number}: {rule}: {match.group(0)!r}")
    return found


def test_the_rules_catch_what_they_are_for():
    # A test that cannot fail is a defect: each rule on a line it must flag, and one it must not.
    # Built from pieces so that this file does not itself contain the patterns it rejects.
    parent, lecture_file = "../" + "shared", "004_" + "1ff4b784" + "171ba958.txt"
    bad = {
        f"see {parent}/seeds/ for the notes": "path outside",
        f"open /work/shared/seeds/{lecture_file}": "path outside",
        f"Seed ``{lecture_file}`` says": "course file name",
        "as in seed 002, He": "lecture file cited",
        "(seeds 002, 000)": "lecture file cited",
        "see DESIGN.md": "planning document",
        "Goal (issue 4): 1.05x": "issue of the project",
        "took 3 s on this 2-core CPU": "timing of one machine",
        "measured on this machine": "timing of one machine",
    }
    for line, rule in bad.items():
        found = offending_lines("examples/x.py", line)
        assert found and rule in found[0], (line, found)
    good = (
        "lecture 002 (initialization): He = 2/D_h",
        "keras_init_lab.experiments.propagate(seed=0)",
        "random seed 0 gives the same numbers",
        "a 0.001 variance",
        "asked for in keras-team/keras#15972",
    )
    for line in good:
        assert offending_lines("examples/x.py", line) == [], line
    assert offending_lines("BENCHMARKS.md", "on this 2-core CPU") == []
    assert offending_lines("benchmarks/results/callbacks.md", "on this machine") == []
    assert offending_lines("BENCHMARKS.md", f"{parent}/x") != []


def test_no_tracked_file_points_outside_the_repository():
    names = tracked_text_files()
    assert "README.md" in names and "keras_init_lab/__init__.py" in names
    found = []
    for name in names:
        if name == "tests/test_self_contained.py":
            continue  # this file spells the patterns out
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        found += offending_lines(name, text)
    assert not found, "references outside the repository:\n" + "\n".join(found)
