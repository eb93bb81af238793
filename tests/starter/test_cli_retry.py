"""The ``orders`` CLI against the dev server, as a user runs it: request ids,
the retry after exit 5, and only the fields given on the wire.

The CLI runs as a subprocess (it is what users run); the order is started and
read with ``OrderClient``, and a worker runs in this process only when a step
needs one.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import OrderClient
from tests.conftest import make_worker
from tests.helpers import draft, eventually, kinds, start_input
from workflows import names
from workflows.models import ApproveInput, IssueConfirmationInput, OrderStatus

ORDERS = str(Path(sys.executable).parent / "orders")
ROOT = Path(__file__).resolve().parents[2]
# This checkout's code, even when the virtualenv's `orders` was installed from another one.
CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


async def orders_cli(env: WorkflowEnvironment, cwd: Path, *args: str) -> Ran:
    address = env.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        ORDERS,
        *args,
        "--address",
        address,
        cwd=cwd,
        env=CLI_ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Ran(process.returncode, stdout.decode(), stderr.decode())


def one_line(text: str) -> str:
    return " ".join(text.split())


async def signal_payloads(env: WorkflowEnvironment, order_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The signals in the order's history, as the raw JSON that was sent (decrypted, when keys are set)."""
    found = []
    codec = env.client.data_converter.payload_codec
    assert codec is not None
    async for event in env.client.get_workflow_handle(names.workflow_id(order_id)).fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            [payload] = await codec.decode([attrs.input.payloads[0]])
            found.append((attrs.signal_name, json.loads(payload.data)))
    return found


async def test_retry_after_exit_5_with_the_printed_request_id_pays_once(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    orders = OrderClient(dev_env.client, task_queue=task_queue, settings=settings)
    async with make_worker(dev_env.client, settings, task_queue):
        order = (await orders.start(start_input())).order_id
        await orders.act(order, IssueConfirmationInput(confirmation=draft()))
        assert (await orders.act(order, ApproveInput(version=1))).status is OrderStatus.AWAITING_PAYMENT
    try:
        # No worker now: the update is admitted and held, and the CLI gives up.
        pay = ("pay", order, "--amount", "4800.00", "--reference", "TX-78")
        held = await orders_cli(dev_env, tmp_path, *pay, "--timeout", "2")
        assert held.code == 5, held.stderr
        message = one_line(held.stderr)
        found = re.search(r"request id ([0-9a-f]{32})", message)
        assert found, message
        request_id = found.group(1)
        assert "is held by Temporal" in message and "when a worker starts" in message
        assert f"--request-id {request_id}" in message
        assert "or send with --signal" not in message  # the advice that paid twice

        # Following the advice: the same request id, as a signal.
        queued = await orders_cli(dev_env, tmp_path, *pay, "--signal", "--request-id", request_id, "--json")
        assert queued.code == 0, queued.stderr
        assert json.loads(queued.stdout)["request_id"] == request_id

        # A worker starts: the held update and the signal are one payment.
        async with make_worker(dev_env.client, settings, task_queue):

            async def paid() -> bool:
                return (await orders.status(order)).status is OrderStatus.IN_PROGRESS

            await eventually(paid, "the held payment is applied")
            # The signal carried the printed request id. (Read only now: a signal that
            # meets a workflow task in flight enters the history when that task ends.)
            [(signal, sent)] = await signal_payloads(dev_env, order)
            assert (signal, sent["request_id"]) == (names.RECORD_PAYMENT, request_id)
            await eventually(lambda: "payment_received" in kinds(settings.outbox_dir, order), "payment_received")
            again = await orders_cli(dev_env, tmp_path, *pay, "--request-id", request_id, "--json")
            assert again.code == 0, again.stderr
            answer = json.loads(again.stdout)
            assert (answer["applied"], answer["request_id"]) == (False, request_id)
            view = await orders.status(order)
        assert [p.amount for p in view.payments] == [Decimal("4800.00")]
        assert view.amount_paid == Decimal("4800.00") and not view.overpaid
        assert kinds(settings.outbox_dir, order).count("payment_received") == 1
    finally:
        await orders.handle(order).terminate("test over")


async def test_every_action_prints_its_request_id(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    orders = OrderClient(dev_env.client, task_queue=task_queue, settings=settings)
    async with make_worker(dev_env.client, settings, task_queue):
        order = (await orders.start(start_input())).order_id
        try:
            text = await orders_cli(dev_env, tmp_path, "note", order, "Needs SSO", "--request-id", "crm-note-5")
            assert text.code == 0 and "request id crm-note-5" in one_line(text.stdout)
            data = await orders_cli(dev_env, tmp_path, "note", order, "Again", "--json")
            assert data.code == 0
            answer = json.loads(data.stdout)
            assert re.fullmatch(r"[0-9a-f]{32}", answer["request_id"]) and answer["applied"] is True
            refused = await orders_cli(dev_env, tmp_path, "deliver", order, "Too early", "--request-id", "pm-9")
            assert refused.code == 1 and "request id pm-9" in one_line(refused.stderr)
        finally:
            await orders.handle(order).terminate("test over")


async def test_update_customer_sends_only_the_fields_given(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    # No worker: the signal stays in the history exactly as the CLI sent it.
    order = start_input()
    handle = await dev_env.client.start_workflow(
        names.WORKFLOW_TYPE, order, id=names.workflow_id(order.order_id), task_queue="nobody-polls-this"
    )
    try:
        args = ("update-customer", order.order_id, "--email", "ada@new.example", "--signal", "--request-id", "crm-1")
        ran = await orders_cli(dev_env, tmp_path, *args)
        assert ran.code == 0, ran.stderr
        [(signal, sent)] = await signal_payloads(dev_env, order.order_id)
        assert signal == names.UPDATE_CUSTOMER
        assert sent == {"request_id": "crm-1", "email": "ada@new.example"}  # no "name": null
    finally:
        await handle.terminate("test over")
