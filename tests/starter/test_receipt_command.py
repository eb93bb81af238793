"""``orders document ID --receipt N``: a payment's receipt from the document store, checked
against the hash the order recorded on the payment; exactly one of --version and --receipt."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from starter import cli
from starter.console import CliError, Exit
from tests.conftest import make_worker
from tests.helpers import draft, start_order, until
from workflows import names
from workflows.models import ApproveInput, IssueConfirmationInput, OrderView, RecordPaymentInput

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


async def test_document_saves_a_receipt_checked_against_the_order(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, run: Run, tmp_path: Path
) -> None:
    handle = await start_order(dev_env.client, task_queue)
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await handle.signal(names.APPROVE, ApproveInput(version=1))
    await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    order: OrderView = await until(
        handle, lambda v: bool(v.payments) and v.payments[0].receipt is not None, "the receipt recorded"
    )
    receipt = order.payments[0].receipt
    assert receipt is not None
    docs = str(settings.documents_path)

    out = tmp_path / "receipt.pdf"
    printed = await run("document", order.order_id, "--receipt", "1", "--out", str(out), "--dir", docs)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == receipt.sha256
    flat = printed.replace("\n", "")
    assert f"Receipt 1 of order {order.order_id}" in flat and receipt.sha256 in flat and str(out) in flat

    where = json.loads(await run("document", order.order_id, "--receipt", "1", "--dir", docs, "--json"))
    assert where["receipt"] == 1 and where["sha256"] == receipt.sha256 and where["id"] == receipt.id

    status = (await run("status", order.order_id)).replace("\n", " ")
    assert f"receipts 1: orders document {order.order_id} --receipt N" in " ".join(status.split())

    with pytest.raises(CliError, match=r"no receipt 2 \(receipts: 1\)") as unknown:
        await run("document", order.order_id, "--receipt", "2", "--dir", docs)
    assert unknown.value.code == Exit.USAGE

    (settings.documents_path / receipt.id).write_bytes(out.read_bytes() + b"%% altered")
    with pytest.raises(CliError, match="refused") as tampered:
        await run("document", order.order_id, "--receipt", "1", "--dir", docs, "--out", str(tmp_path / "x.pdf"))
    assert tampered.value.code == Exit.REJECTED
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize("argv", [["ORD-1"], ["ORD-1", "--version", "1", "--receipt", "1"]])
def test_document_takes_exactly_one_of_version_and_receipt(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(["document", *argv])
    assert exited.value.code == 2
    assert "--version" in capsys.readouterr().err
