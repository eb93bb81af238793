"""The two sides of the comparison (the project and the floor), and how an order is driven on one:
each action waits for its emails, as the email activity finishes sending them, and an idle workflow."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.config import Settings
from activities.document_store import LocalDocumentStore
from activities.email import EmailActivities, backend_from_settings
from bench.canonical import CANONICAL, CUSTOMER, K, Step, start_input
from bench.floor import PROBE_WORKFLOW, probe_activity
from bench.history import HistoryCost, cost, runs
from bench.workers import WorkerProcess
from workflows import names, search
from workflows.models import EmailReceipt, EmailRequest, MessageKind, OrderStatus

POLL: Final = 0.01


class Outbox:
    """Which emails each order has sent, and when: the email activity reports here."""

    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[MessageKind, float]]] = defaultdict(list)

    def record(self, request: EmailRequest) -> None:
        self.sent[request.order_id].append((request.kind, time.perf_counter()))

    def count(self, order_id: str, kind: MessageKind) -> int:
        return sum(1 for k, _ in self.sent[order_id] if k == kind)

    def done_at(self, order_id: str, kind: MessageKind, nth: int) -> float:
        return [at for k, at in self.sent[order_id] if k == kind][nth - 1]

    async def wait(self, order_id: str, expected: dict[MessageKind, int], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while any(self.count(order_id, kind) < n for kind, n in expected.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"order {order_id} never sent {expected}: {self.sent[order_id]}")
            await asyncio.sleep(POLL)


def email_activity(
    settings: Settings, outbox: Outbox, *, documents: bool = False
) -> Callable[[EmailRequest], Awaitable[EmailReceipt]]:
    """The project's ``send_email``, unchanged, reporting each message it sent; with ``documents``,
    as the worker runs it, rendering and storing each confirmation's PDF (the order's side only)."""
    store = LocalDocumentStore(settings.documents_path) if documents else None
    email = EmailActivities(settings, backend_from_settings(settings), store)

    @activity.defn(name=names.SEND_EMAIL)
    async def send_email(request: EmailRequest) -> EmailReceipt:
        receipt = await email.send_email(request)
        outbox.record(request)
        return receipt

    return send_email


async def idle(handle: WorkflowHandle[Any, Any], timeout: float = 60) -> None:
    """Wait until the workflow has nothing in flight: no task, no activity.
    ``describe`` is not a billable action, unlike a query."""
    deadline = time.monotonic() + timeout
    while True:
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{handle.id} never went idle")
        await asyncio.sleep(POLL)


@dataclass
class Side:
    """One side of the comparison: its task queue, its worker process, its emails."""

    name: str
    workflow: str
    queue: str
    outbox: Outbox = field(default_factory=Outbox)
    child: WorkerProcess | None = None
    documents: bool = False
    """Whether its email activity renders and stores each confirmation's PDF, as the worker does."""

    def order_id(self) -> str:
        return f"{self.name}-{uuid.uuid4().hex[:10]}"

    async def start(self, client: Client, order_id: str) -> WorkflowHandle[Any, Any]:
        if self.workflow == PROBE_WORKFLOW:
            return await client.start_workflow(self.workflow, id=order_id, task_queue=self.queue)
        # The order starts as OrderClient starts it; the floor's statuses are its own.
        status = OrderStatus.DISCUSSING.value if self.name == "order" else "discussing"
        return await client.start_workflow(
            self.workflow,
            start_input(order_id),
            id=names.workflow_id(order_id) if self.name == "order" else order_id,
            task_queue=self.queue,
            search_attributes=search.initial(status, CUSTOMER.customer_ref),
        )


class Driver:
    """Drives one order step by step: each action waits for its emails and an idle workflow."""

    def __init__(self, side: Side, client: Client) -> None:
        self.side = side
        self.client = client
        self.expected: dict[MessageKind, int] = defaultdict(int)
        self.order_id = side.order_id()
        self.handle: WorkflowHandle[Any, Any] | None = None

    async def start(self, *, settle: bool = True) -> None:
        self.handle = await self.side.start(self.client, self.order_id)
        self.expected[K.CONTACT_ACK] += 1
        await self.side.outbox.wait(self.order_id, self.expected)
        if settle:
            await idle(self.handle)

    async def act(self, step: Step, *, settle: bool = True) -> float:
        """Send one action; return when its emails went (and the order is idle, with ``settle``)."""
        assert self.handle is not None
        for kind in step.emails:
            self.expected[kind] += 1
        sent = time.perf_counter()
        await self.handle.signal(step.action, step.request)
        await self.side.outbox.wait(self.order_id, self.expected)
        if settle:
            await idle(self.handle)
        return sent


async def canonical_orders(side: Side, client: Client, count: int) -> tuple[HistoryCost, list[Any], list[Any]]:
    """The median canonical order (by events) of ``count`` driven at once: its cost, its longest
    run (what an evicted order replays) and the events of all its runs."""
    measured = await asyncio.gather(*(canonical_order(side, client) for _ in range(count)))
    return sorted(measured, key=lambda m: m[0].events)[count // 2]


async def canonical_order(side: Side, client: Client) -> tuple[HistoryCost, list[Any], list[Any]]:
    driver = Driver(side, client)
    await driver.start()
    for step in CANONICAL:
        await driver.act(step)
    assert driver.handle is not None
    await driver.handle.result()
    found = await runs(client, driver.handle.id, driver.handle.first_execution_run_id)
    # An evicted order replays its current run only: the longest one is the worst case.
    events = [event for run in found for event in run]
    return cost(events), max(found, key=len), events


@asynccontextmanager
async def activity_worker(client: Client, side: Side, settings: Settings) -> AsyncIterator[None]:
    """The side's activities, in this process; its workflows run in a worker process."""
    import worker as project_worker

    send_email = email_activity(settings, side.outbox, documents=side.documents)
    activities: list[Any]
    if side.name == "order":
        others = [a for a in project_worker.activities_for(settings) if _activity_name(a) != names.SEND_EMAIL]
        activities = [send_email, *others]
    elif side.name == "floor":
        activities = [send_email]
    else:
        activities = [probe_activity]
    async with Worker(client, task_queue=side.queue, activities=activities, max_concurrent_activities=200):
        yield


def _activity_name(fn: Any) -> str | None:
    definition = activity._Definition.from_callable(fn)
    return definition.name if definition else None
