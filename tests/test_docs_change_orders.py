"""docs/integration.md's "Change orders" section shows examples/change-order.json as it is, so the
example a web backend copies is the one the workflow tests run (tests/workflows/test_change_orders.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_change_order_example_is_the_examples_file() -> None:
    doc = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")
    section = doc.split("\n## Change orders\n", 1)
    assert len(section) == 2, "docs/integration.md has no 'Change orders' section"
    block = re.search(r"<!-- payload: issue_confirmation -->\n```json\n(.*?)\n```", section[1], re.S)
    assert block is not None, "the section shows no issue_confirmation payload"
    example = json.loads((ROOT / "examples" / "change-order.json").read_text(encoding="utf-8"))
    assert json.loads(block.group(1))["confirmation"] == example
