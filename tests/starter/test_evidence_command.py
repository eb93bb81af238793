"""``orders evidence ID``: the order's evidence certificate, through the ``certify`` update while
the order is open and from its record once closed, saved only while the stored bytes have the
hash the order recorded. A real worker on the dev server; the handlers run in the test's loop."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from starter import cli
from starter.console import CliError, Exit
from tests.conftest import make_worker
from tests.helpers import draft, start_order, until
from workflows import names
from workflows.models import ApproveInput, CancelInput, Evidence, IssueConfirmationInput, OrderStatus

Run = Any


@pytest.fixture
async def run(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Run]:
    address = dev_env.client.service_client.config.target_host
    docs = str(settings.documents_path)

    async def run_command(*argv: str) -> str:
        args = cli.parse_args([*argv, "--dir", docs, "--address", address])
        assert await args.handler(args) == Exit.OK
        return capsys.readouterr().out.replace("\n", "")

    async with make_worker(dev_env.client, settings, task_queue):
        yield run_command


async def _issued(handle: WorkflowHandle[Any, Any]) -> str:
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    order = await until(handle, lambda v: bool(v.confirmations) and v.confirmations[0].document, "v1's PDF")
    document = order.confirmations[0].document
    assert document is not None
    return document.sha256


async def _closed(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal(names.CANCEL, CancelInput(reason="Customer withdrew"))
    await handle.result()


async def test_evidence_saves_the_certificate_the_order_recorded(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, run: Run, tmp_path: Path
) -> None:
    handle = await start_order(dev_env.client, task_queue)
    order_id = handle.id.removeprefix("order-")
    with pytest.raises(CliError, match="no order confirmation yet") as early:
        await run("evidence", order_id)
    assert early.value.code == Exit.REJECTED

    pdf = await _issued(handle)
    evidence = Evidence(channel="cli", by="Dana Staff", document_sha256=pdf)
    await handle.execute_update(names.APPROVE, ApproveInput(version=1, evidence=evidence))
    out = tmp_path / "evidence.pdf"
    printed = await run("evidence", order_id, "--out", str(out), "--by", "Dana Staff")
    [certificate] = (await until(handle, lambda v: len(v.certificates) == 1, "the certificate")).certificates
    saved = out.read_bytes()
    assert hashlib.sha256(saved).hexdigest() == certificate.document.sha256
    stored = settings.documents_path / certificate.document.id
    assert stored.read_bytes() == saved
    assert f"Evidence certificate 1 of order {order_id}" in printed and str(out) in printed
    assert f"SHA-256 {certificate.document.sha256}" in printed

    # Closed (cancelled with nothing new to state): the one it has, from its record.
    await _closed(handle)
    shown = json.loads(await run("evidence", order_id, "--json"))
    assert shown["closed"] is True and shown["number"] == 1 and shown["sha256"] == certificate.document.sha256
    assert shown["path"] == str(stored)

    stored.write_bytes(saved + b"%% altered")
    out.unlink()
    with pytest.raises(CliError, match="refused") as tampered:
        await run("evidence", order_id, "--out", str(out))
    assert tampered.value.code == Exit.REJECTED and not out.exists()


async def test_a_closed_order_without_a_certificate_says_so(
    dev_env: WorkflowEnvironment, task_queue: str, run: Run
) -> None:
    handle = await start_order(dev_env.client, task_queue)
    await _issued(handle)
    await _closed(handle)  # nobody decided anything: nothing to certify
    order = await until(handle, lambda v: v.status is OrderStatus.CANCELLED, "cancelled")
    assert order.certificates == []
    with pytest.raises(CliError, match="is closed and issued no evidence certificate") as closed:
        await run("evidence", handle.id.removeprefix("order-"))
    assert closed.value.code == Exit.REJECTED
