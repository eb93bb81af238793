"""``orders document ID --version N``: the stored PDF, checked against the hash the
order recorded; and ``orders confirm`` printing that hash. A real worker on the
dev server (orders confirm is an update); the commands' handlers run in the test's event loop."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from starter import cli, document_command
from starter.console import CliError, Exit
from tests.conftest import make_worker
from tests.helpers import draft, new_order_id, start_order, view

Run = Any


@pytest.fixture
async def run(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Run]:
    address = dev_env.client.service_client.config.target_host

    async def run_command(*argv: str) -> str:
        args = cli.parse_args([*argv, "--address", address])
        assert await args.handler(args) == Exit.OK
        return capsys.readouterr().out

    async with make_worker(dev_env.client, settings, task_queue):
        yield run_command


async def _confirmed(dev_env: WorkflowEnvironment, task_queue: str, run: Run, tmp_path: Path) -> tuple[str, str]:
    """An order with confirmation v1 issued through ``orders confirm``; its id and what confirm printed."""
    order_id = new_order_id()
    await start_order(dev_env.client, task_queue, order_id)
    path = tmp_path / "confirmation.json"
    path.write_text(draft().model_dump_json())
    return order_id, await run("confirm", order_id, "--file", str(path))


async def test_confirm_prints_the_pdfs_hash_and_document_saves_it(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    task_queue: str,
    run: Run,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    order_id, printed = await _confirmed(dev_env, task_queue, run, tmp_path)
    order = await view(dev_env.client.get_workflow_handle(f"order-{order_id}"))
    document = order.confirmations[0].document
    assert document is not None
    assert f"SHA-256 {document.sha256}" in printed.replace("\n", "")

    docs = str(settings.documents_path)
    out = tmp_path / "v1.pdf"
    printed = await run("document", order_id, "--version", "1", "--out", str(out), "--dir", docs)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == document.sha256
    assert str(out) in printed.replace("\n", "") and document.sha256 in printed.replace("\n", "")

    # The outbox shows the confirmation email with its PDF attached.
    outbox = cli.parse_args(["outbox", "show", "2", "--order", order_id, "--dir", str(settings.outbox_dir)])
    assert outbox.handler(outbox) == Exit.OK
    shown = capsys.readouterr().out
    assert "confirmation_issued" in shown
    assert f"Attached\torder-{order_id}-confirmation-v1.pdf ({document.size} bytes)" in shown  # a pipe: tabs

    where = json.loads(await run("document", order_id, "--version", "1", "--dir", docs, "--json"))
    assert where == {
        "order_id": order_id,
        "version": 1,
        "id": document.id,
        "size": document.size,
        "sha256": document.sha256,
        "path": str(settings.documents_path / document.id),
        "out": None,
    }


async def test_a_tampered_or_missing_document_is_refused_in_words(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, run: Run, tmp_path: Path
) -> None:
    order_id, _ = await _confirmed(dev_env, task_queue, run, tmp_path)
    docs = str(settings.documents_path)

    with pytest.raises(CliError, match="no confirmation version 3") as unknown:
        await run("document", order_id, "--version", "3", "--dir", docs)
    assert unknown.value.code == Exit.USAGE

    with pytest.raises(CliError, match="ORDERS_DOCUMENTS_DIR") as missing:
        await run("document", order_id, "--version", "1", "--dir", str(tmp_path / "elsewhere"))
    assert missing.value.code == Exit.REJECTED

    stored = settings.documents_path / order_id / "confirmation-v1.pdf"
    stored.write_bytes(stored.read_bytes() + b"%% altered")
    out = tmp_path / "v1.pdf"
    with pytest.raises(CliError, match="refused") as tampered:
        await run("document", order_id, "--version", "1", "--dir", docs, "--out", str(out))
    assert tampered.value.code == Exit.REJECTED
    assert not out.exists()


async def test_confirm_says_when_the_pdf_is_not_there_yet(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    task_queue: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker whose document store cannot be written: the email goes, the order has no PDF.
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    monkeypatch.setattr(document_command, "PDF_POLLS", 2)
    async with make_worker(dev_env.client, replace(settings, documents_dir=blocked), task_queue):
        order_id = new_order_id()
        await start_order(dev_env.client, task_queue, order_id)
        path = tmp_path / "confirmation.json"
        path.write_text(draft().model_dump_json())
        args = cli.parse_args(["confirm", order_id, "--file", str(path), "--address", _address(dev_env)])
        assert await args.handler(args) == Exit.OK
    printed = capsys.readouterr().out.replace("\n", "")
    assert "PDF of v1: being prepared" in printed
    assert f"orders document {order_id} --version 1" in printed

    args = cli.parse_args(["document", order_id, "--version", "1", "--address", _address(dev_env)])
    with pytest.raises(CliError, match="no PDF of confirmation version 1") as refused:
        async with make_worker(dev_env.client, settings, task_queue):
            await args.handler(args)
    assert refused.value.code == Exit.REJECTED


def _address(dev_env: WorkflowEnvironment) -> str:
    return str(dev_env.client.service_client.config.target_host)
