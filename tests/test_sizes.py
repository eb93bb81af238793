"""Product code stays in small parts: no module over about 700 lines, no function over about 80.

Issue 19's "Done when". Product is every module the package installs (the same
list as ``tests/test_imports.py``) and the benchmark.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_imports import ROOT, product_modules

MODULE_LINES = 700
FUNCTION_LINES = 80


def checked_modules() -> list[Path]:
    paths = set(product_modules().values()) | set((ROOT / "bench").glob("*.py"))
    return sorted(paths)


def test_no_product_module_is_over_700_lines() -> None:
    long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in checked_modules()
        if (lines := len(path.read_text().splitlines())) > MODULE_LINES
    }
    assert long == {}


def test_no_product_function_is_over_80_lines() -> None:
    long: dict[str, int] = {}
    for path in checked_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = lines
    assert long == {}


def test_the_order_workflow_class_stays_about_600_lines() -> None:
    # The process reads in one sitting; machinery belongs in the parts beside it (docs/design.md).
    tree = ast.parse((ROOT / "workflows" / "order.py").read_text())
    [workflow] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "ServiceOrderWorkflow"]
    assert workflow.end_lineno is not None and workflow.end_lineno - workflow.lineno + 1 <= 600
