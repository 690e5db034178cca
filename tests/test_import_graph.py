"""The package's import graph, read from every module's source with ``ast`` (nothing imported).

What it shows: no module of ``keras_init_lab`` imports itself back through any chain (every
circle is listed with the lines that close it), and no ``keras_init_lab.experiments`` module
reaches ``keras_init_lab.report``: experiments compute and return data, only the command line
calls the report. Every ``import`` counts, at module level or inside a function (a deferred
import still ties the two modules together). The reader itself is checked on a small package
written to a temporary folder, with a known circle, so a blind reader cannot pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "keras_init_lab"


def _module_names(package_dir: Path, package: str) -> dict[str, Path]:
    """``dotted name -> file`` for every ``.py`` file under ``package_dir``."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package, *parts])] = path
    return names


def _imports(name: str, path: Path, modules: dict) -> dict[str, int]:
    """``imported module -> first line`` for every import of a module of the package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    root = name.split(".")[0]

    def add(target: str, line: int) -> None:
        while target and target not in modules:  # "a.b.c" that is an attribute of a.b
            target = target.rpartition(".")[0]
        if target:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root:
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != root:
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                add(candidate if candidate in modules else base, node.lineno)
    return found


def import_graph(package_dir: Path, package: str) -> tuple[dict, dict]:
    """``(edges, files)``: ``edges[a] = {b: line}`` when module ``a`` imports module ``b``;
    ``files[a]`` is ``a``'s file relative to the package's parent folder."""
    modules = _module_names(package_dir, package)
    edges = {name: _imports(name, path, modules) for name, path in modules.items()}
    files = {
        name: path.relative_to(package_dir.parent).as_posix() for name, path in modules.items()
    }
    return edges, files


def cycles(edges: dict) -> list[list[str]]:
    """Every strongly connected component with a circle (Tarjan), each sorted, in name order."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, {}):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(component: list[str], edges: dict, files: dict) -> str:
    """One circle: its modules, and each import that ties two of them, with file and line."""
    lines = [f"circle of {len(component)} modules: {', '.join(component)}"]
    for source in component:
        for target, line in sorted(edges[source].items()):
            if target in component:
                lines.append(f"    {source} -> {target}  ({files[source]}:{line})")
    return "\n".join(lines)


def _path_to(edges: dict, start: str, goal: str) -> list[str] | None:
    """A shortest import chain from ``start`` to ``goal`` (breadth first), or ``None``."""
    previous, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges.get(node, {})):
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        if goal in previous:
            chain, node = [], goal
            while node is not None:
                chain.append(node)
                node = previous[node]
            return chain[::-1]
        frontier = following
    return None


def test_no_import_cycle_in_the_package():
    edges, files = import_graph(ROOT / PACKAGE, PACKAGE)
    found = cycles(edges)
    report = "\n".join(describe(component, edges, files) for component in found)
    assert not found, f"{len(found)} import circle(s) in {PACKAGE}:\n{report}"


def test_no_experiments_module_reaches_the_report():
    edges, files = import_graph(ROOT / PACKAGE, PACKAGE)
    report = f"{PACKAGE}.report"
    assert report in files and f"{PACKAGE}.experiments.pairings" in edges[report]
    experiments = [name for name in edges if name.startswith(f"{PACKAGE}.experiments")]
    assert len(experiments) > 5
    chains = {name: _path_to(edges, name, report) for name in experiments}
    reaching = {name: chain for name, chain in chains.items() if chain}
    assert not reaching, "experiments modules that import the report:\n" + "\n".join(
        f"    {' -> '.join(chain)}" for chain in reaching.values()
    )


def test_the_reader_finds_a_known_circle_and_a_known_chain(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub import a\n")
    (pkg / "sub" / "a.py").write_text("import os\nfrom . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg.sub.c import thing\n")
    (pkg / "sub" / "c.py").write_text("from ..sub.a import x as y\nimport pkg.top\n")
    (pkg / "top.py").write_text("from pkg import sub\n")
    edges, files = import_graph(pkg, "pkg")
    assert edges["pkg.sub.a"] == {"pkg.sub.b": 2}
    assert edges["pkg.sub.b"] == {"pkg.sub.c": 2}  # an import inside a function counts
    assert edges["pkg.sub.c"] == {"pkg.sub.a": 1, "pkg.top": 2}  # relative: ..sub.a
    assert edges["pkg.top"] == {"pkg.sub": 1}
    assert cycles(edges) == [["pkg.sub", "pkg.sub.a", "pkg.sub.b", "pkg.sub.c", "pkg.top"]]
    text = describe(cycles(edges)[0], edges, files)
    assert "pkg.sub.b -> pkg.sub.c  (pkg/sub/b.py:2)" in text
    assert _path_to(edges, "pkg.sub.a", "pkg.top") == [
        "pkg.sub.a",
        "pkg.sub.b",
        "pkg.sub.c",
        "pkg.top",
    ]
    assert _path_to(edges, "pkg.top", "pkg.nothing") is None
