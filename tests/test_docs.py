"""The docs can't drift: their JSON payloads, list filters and code are checked here.

Conventions in ``docs/*.md``:

- ``<!-- payload: NAME -->`` on the line before a ```json block: NAME is an
  action (``workflows.ACTION_NAMES``), ``start``, ``action_result`` or
  ``status``, and the block must validate against that model. Every json
  block must be labelled.
- ``<!-- list-filter -->`` before a ```text block: a Temporal visibility query,
  run against the dev server (``<now>`` and ``<now + N days>`` are filled in).
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from temporalio.testing import WorkflowEnvironment

from orderclient.contract import ACTION_MODELS
from workflows import names, search
from workflows.action_registry import ACTION_NAMES
from workflows.models import ActionResult, OrderView, StartOrderInput

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHECKED = ("integration.md", "operations.md")

MODELS: dict[str, type[BaseModel]] = {
    **ACTION_MODELS,
    "start": StartOrderInput,
    "action_result": ActionResult,
    "status": OrderView,
}

_FENCE = re.compile(r"^```(\w*)\s*$")
_LABEL = re.compile(r"^<!--\s*(payload:\s*(?P<payload>[\w-]+)|(?P<filter>list-filter))\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    language: str
    label: str | None
    kind: str | None
    text: str

    @property
    def where(self) -> str:
        return f"docs/{self.doc}:{self.line}"


def blocks(doc: str) -> list[Block]:
    """Every fenced block of a doc, with the label on the line before it, if any."""
    lines = (DOCS / doc).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        label = _LABEL.match(lines[start - 1]) if start > 0 else None
        kind = None if label is None else ("payload" if label["payload"] else "list-filter")
        found.append(
            Block(
                doc=doc,
                line=start + 1,
                language=opening[1],
                label=None if label is None else (label["payload"] or "list-filter"),
                kind=kind,
                text="\n".join(body),
            )
        )
    return found


ALL = [b for doc in CHECKED for b in blocks(doc)]
PAYLOADS = [b for b in ALL if b.kind == "payload"]
FILTERS = [b for b in ALL if b.kind == "list-filter"]


def test_the_docs_have_examples() -> None:
    assert len(PAYLOADS) >= len(ACTION_NAMES) and len(FILTERS) >= 5


@pytest.mark.parametrize("block", [b for b in ALL if b.language == "json"], ids=lambda b: b.where)
def test_every_json_block_is_labelled(block: Block) -> None:
    assert block.kind == "payload", f"{block.where}: put <!-- payload: NAME --> on the line before this block"


@pytest.mark.parametrize("block", PAYLOADS, ids=lambda b: f"{b.where}:{b.label}")
def test_payloads_validate_against_their_models(block: Block) -> None:
    assert block.language == "json", f"{block.where}: a payload label goes before a ```json block"
    assert block.label in MODELS, f"{block.where}: unknown payload name {block.label!r}; one of {sorted(MODELS)}"
    try:
        MODELS[block.label].model_validate_json(block.text)
    except ValidationError as error:
        pytest.fail(f"{block.where}: the {block.label} example does not validate:\n{error}")


def test_integration_shows_every_action_and_the_start_and_result() -> None:
    shown = {b.label for b in PAYLOADS if b.doc == "integration.md"}
    missing = ({*ACTION_NAMES, "start", "action_result", "status"}) - shown
    assert not missing, f"docs/integration.md has no example payload for {sorted(missing)}"
    text = (DOCS / "integration.md").read_text(encoding="utf-8")
    for action in ACTION_NAMES:
        assert f"### `{action}`" in text, f"docs/integration.md has no section for {action}"


def test_operations_shows_what_operators_paste() -> None:
    shown = {b.label for b in PAYLOADS if b.doc == "operations.md"}
    assert {names.RECORD_PAYMENT, names.EXTEND_DEADLINE, names.CANCEL} <= shown
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    for key in search.ALL_KEYS:
        assert f"`{key.name}`" in text, f"docs/operations.md does not describe the search attribute {key.name}"


def _python_blocks() -> list[Block]:
    return [b for b in ALL if b.language == "python"]


@pytest.mark.parametrize("block", _python_blocks(), ids=lambda b: b.where)
def test_python_examples_compile_and_import_what_exists(block: Block) -> None:
    tree = compile(block.text, block.where, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert isinstance(tree, ast.Module)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PRODUCT_PACKAGES:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{block.where}: {node.module} has no {alias.name}"


PRODUCT_PACKAGES = {"workflows", "activities", "ordersecurity", "orderclient", "orderweb", "starter"}
ENV_READERS = sorted(PRODUCT_PACKAGES - {"workflows"})
"""Where configuration is read (workflow code reads no environment)."""

_PLACEHOLDER = re.compile(r"<now(?:\s*([+-])\s*(\d+)\s*days?)?>")


def _fill(query: str, now: datetime) -> str:
    def moment(match: re.Match[str]) -> str:
        days = int(match[2] or 0) * (-1 if match[1] == "-" else 1)
        return (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    return _PLACEHOLDER.sub(moment, query)


def test_placeholders_are_filled() -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    filled = _fill("OrderNextDeadline BETWEEN '<now>' AND '<now + 7 days>'", now)
    assert filled == "OrderNextDeadline BETWEEN '2026-11-27T09:00:00Z' AND '2026-12-04T09:00:00Z'"


@pytest.mark.parametrize("block", FILTERS, ids=lambda b: b.where)
async def test_list_filters_run_on_the_dev_server(dev_env: WorkflowEnvironment, block: Block) -> None:
    assert block.language == "text", f"{block.where}: a list-filter label goes before a ```text block"
    query = _fill(block.text.strip(), datetime.now(UTC))
    assert "<" not in query.replace(" < ", "").replace(" <= ", ""), f"{block.where}: unfilled placeholder"
    # Visibility refuses an unknown attribute, a type mismatch or bad syntax.
    await dev_env.client.count_workflows(query)
    _ = [w async for w in dev_env.client.list_workflows(query, limit=5)]


# --------------------------------------------------------------------------
# The README and the deployment guide against what ships (issue 13)
# --------------------------------------------------------------------------

README = DOCS.parent / "README.md"
_ENV_NAME = re.compile(r"\"((?:ORDERS|SENDGRID|STRIPE)_[A-Z_]+)\"")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start : end if end != -1 else None]


def test_readme_configuration_table_lists_every_variable_the_code_reads() -> None:
    root = DOCS.parent
    sources = [root / "worker.py", *(path for package in ENV_READERS for path in (root / package).glob("*.py"))]
    read = {name for path in sources for name in _ENV_NAME.findall(path.read_text(encoding="utf-8"))}
    assert "ORDERS_METRICS_ADDRESS" in read
    table = _section(README.read_text(encoding="utf-8"), "## Configuration")
    rows = {line.split("|")[1] for line in table.splitlines() if line.startswith("| `")}
    missing = sorted(name for name in read if not any(f"`{name}`" in row for row in rows))
    assert not missing, f"README.md's configuration table has no row for {missing}"


_NUMBERS = {"five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def test_the_docs_count_the_search_attributes_right() -> None:
    for path in (README, *DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for word in re.findall(r"\b(\w+) search attributes\b", text):
            if word.lower() in _NUMBERS:
                assert _NUMBERS[word.lower()] == len(search.ALL_KEYS), f"{path.name} says {word} search attributes"


def test_operations_says_where_the_bundled_ui_shows_the_details() -> None:
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    reading = _section(text, "## Reading an order")
    assert "**User\nMetadata** tab" in reading or "**User Metadata** tab" in reading
    assert "2.54.1" in reading
    assert "add the `OrderStatus` column" in text.replace("\n", " ")


def test_the_compose_stack_says_it_needs_compose_v2() -> None:
    deployment = (DOCS / "deployment.md").read_text(encoding="utf-8")
    assert "Compose v2" in _section(deployment, "### Run it")
    assert "Compose v2" in (DOCS.parent / "docker-compose.yml").read_text(encoding="utf-8")
