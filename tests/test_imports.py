"""The import graph of the product: no cycles, and each part loads only what it should.

Counted from the source (``ast``), so an import inside a function or under
``TYPE_CHECKING`` counts as much as one at the top: a cycle hidden that way is
still a cycle for whoever reads or moves the code.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def product_modules() -> dict[str, Path]:
    """Every module the package installs (pyproject's ``[tool.setuptools]``), by dotted name."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {name: ROOT / f"{name}.py" for name in setup["py-modules"]}
    for package in setup["packages"]:
        for path in (ROOT / package.replace(".", "/")).glob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imported(path: Path) -> Iterator[str]:
    """Every module name ``path`` imports, wherever the import statement is."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {
        name: {target for target in imported(path) if target in modules and target != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def test_no_import_cycle_among_product_modules() -> None:
    assert cycles(import_graph(product_modules())) == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def later() -> None:\n    from a import thing\n")
    graph = import_graph({"a": tmp_path / "a.py", "b": tmp_path / "b.py"})
    assert cycles(graph) == [["a", "b"]]


def test_the_benchmark_imports_product_code_only() -> None:
    for path in (ROOT / "bench").glob("*.py"):
        assert not [name for name in imported(path) if name.split(".")[0] == "tests"], path


def loads_workflow_code(path: Path) -> bool:
    """Whether the module defines workflow code: it imports the SDK's workflow API."""
    return any(name in ("temporalio.workflow", "temporalio.workflow.workflow") for name in imported(path))


def test_the_client_library_loads_no_workflow_code() -> None:
    modules = product_modules()
    graph = import_graph(modules)
    for client in sorted(name for name in modules if name.split(".")[0] == "orderclient"):
        loaded = sorted(name for name in reachable(graph, client) if loads_workflow_code(modules[name]))
        assert loaded == [], f"{client} loads workflow code through {loaded}"
