"""Builders and readers shared by the tests."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from workflows.models import (
    ConfirmationDraft,
    Customer,
    LineItem,
    MilestoneTerm,
    OrderView,
    StartOrderInput,
    Terms,
)
from workflows.names import STATUS_QUERY, workflow_id
from workflows.order import ServiceOrderWorkflow

ALICE = Customer(name="Alice Example", email="alice@example.com", company="ACME GmbH", customer_ref="cus-1001")


def new_order_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def start_input(order_id: str | None = None) -> StartOrderInput:
    return StartOrderInput(
        order_id=order_id or new_order_id(),
        customer=ALICE,
        channel="web_form",
        message="We need our website redesigned before the spring campaign.",
    )


def draft(price: str = "4800.00", **terms: Any) -> ConfirmationDraft:
    base: dict[str, Any] = {
        "payment_methods": ["bank_transfer"],
        "payment_due": timedelta(days=14),
        "milestones": [
            MilestoneTerm(name="Design", due=timedelta(days=10)),
            MilestoneTerm(name="Build", due=timedelta(days=25)),
        ],
        "estimated_delivery": timedelta(days=30),
        "review_period": timedelta(days=7),
        "support_period": timedelta(days=30),
        "support_scope": "Bug fixes and questions by email, next business day",
    }
    base.update(terms)
    return ConfirmationDraft(
        title="Website redesign",
        currency="EUR",
        line_items=[LineItem(description="Website redesign", quantity=Decimal(1), unit_price=Decimal(price))],
        terms=Terms(**base),
    )


async def start_order(client: Client, task_queue: str, order_id: str | None = None) -> WorkflowHandle[Any, Any]:
    inp = start_input(order_id)
    return await client.start_workflow(
        ServiceOrderWorkflow.run, inp, id=workflow_id(inp.order_id), task_queue=task_queue
    )


async def view(handle: WorkflowHandle[Any, Any]) -> OrderView:
    result: OrderView = await handle.query(STATUS_QUERY, result_type=OrderView)
    return result


def outbox(directory: Path) -> list[email.message.EmailMessage]:
    """Every message in the outbox, oldest first."""
    messages = []
    for path in sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        messages.append(msg)
    return messages


def kinds(directory: Path, order_id: str | None = None) -> list[str]:
    return [str(m["X-Message-Kind"]) for m in outbox(directory) if order_id is None or m["X-Order-Id"] == order_id]


async def eventually(check: Any, what: str, attempts: int = 200) -> None:
    """Poll for work a worker is doing (an activity, a task), never for a timer."""
    import asyncio

    for _ in range(attempts):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")
