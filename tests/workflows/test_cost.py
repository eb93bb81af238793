"""What an order costs in history: search attributes are written once per
workflow task, with only what changed, and informing the support desk never
holds up the customer's email. On the time-skipping server."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import OrderClient
from tests.conftest import make_worker
from tests.helpers import draft, eventually, finished, kinds, start_input, start_order
from workflows import names
from workflows.models import (
    AcceptInput,
    ApproveInput,
    DeliverInput,
    IssueConfirmationInput,
    PostUpdateInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    SupportRequestInput,
)

E = EventType
T = TypeVar("T")


async def canonical_order(handle: WorkflowHandle[Any, Any], settings: Settings) -> None:
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await handle.signal(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Two instalments"))
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("4500.00")))
    await handle.signal(names.APPROVE, ApproveInput(version=2))
    await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment requested")
    await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4500.00"), reference="TX-1"))
    await handle.signal(names.POST_UPDATE, PostUpdateInput(text="Designs ready", milestone="Design"))
    await handle.signal(names.DELIVER, DeliverInput(summary="Site is live"))
    await handle.signal(names.REQUEST_REVISION, RequestRevisionInput(comments="Logo too small"))
    await handle.signal(names.DELIVER, DeliverInput(summary="Logo fixed"))
    await handle.signal(names.ACCEPT, AcceptInput())
    await handle.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="SSO fails on Safari"))
    await handle.result()


def by_task(events: Sequence[HistoryEvent], pick: Callable[[HistoryEvent], T | None]) -> list[list[T]]:
    """What ``pick`` finds in each workflow task's commands, one list per task."""
    tasks: list[list[T]] = [[]]
    for event in events:
        if event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
        elif (found := pick(event)) is not None:
            tasks[-1].append(found)
    return tasks


def upsert(event: HistoryEvent) -> dict[str, Any] | None:
    """The search attributes an upsert wrote, but for the SDK's own record of a workflow.patched marker."""
    if event.event_type != E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return None
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    if "TemporalChangeVersion" in fields:
        return None
    return {name: json.loads(p.data) if p.data else None for name, p in fields.items()}


def upserts_by_task(events: Sequence[HistoryEvent]) -> list[list[dict[str, Any]]]:
    """The search attributes each workflow task wrote, one list per task."""
    return by_task(events, upsert)


def scheduled_activity(event: HistoryEvent) -> str | None:
    """An activity scheduled: its name, or the kind of email for ``send_email``."""
    if event.event_type != E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return None
    attrs = event.activity_task_scheduled_event_attributes
    if attrs.activity_type.name == names.SEND_EMAIL:
        kind: str = json.loads(attrs.input.payloads[0].data)["kind"]
        return kind
    return attrs.activity_type.name


def timer_started(event: HistoryEvent) -> bool | None:
    return True if event.event_type == E.EVENT_TYPE_TIMER_STARTED else None


async def test_search_attributes_are_written_once_per_task_and_only_when_changed(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await canonical_order(handle, settings)
    history = await handle.fetch_history()

    tasks = upserts_by_task(list(history.events))
    assert all(len(upserts) <= 1 for upserts in tasks), f"at most one upsert per workflow task: {tasks}"
    current: dict[str, Any] = {}
    for upserts in tasks:
        for written in upserts:
            assert written, "never an upsert that changes nothing"
            repeated = {k: v for k, v in written.items() if current.get(k) == v}
            assert not repeated, f"re-sent unchanged attributes: {repeated}"
            current.update(written)
    assert current["OrderStatus"] == "COMPLETED" and current["OrderTotal"] == 4500.0
    statuses = [u["OrderStatus"] for t in tasks for u in t if "OrderStatus" in u]
    # Signals that land in one workflow task may pass through several statuses; only the last is written.
    # Under load the first confirmation may land in the first task, whose one upsert is then its status.
    assert statuses[0] in ("DISCUSSING", "AWAITING_APPROVAL") and statuses[-1] == "COMPLETED" and len(statuses) <= 11
    total = sum(len(t) for t in tasks)
    assert total <= len(statuses) + 3, f"{total} upserts for {len(statuses)} status changes"


async def test_a_signal_in_the_first_task_still_gets_one_upsert_for_that_task(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """The first workflow task loads the policy in a local activity, whose result
    comes back in a second activation of the same task. A confirmation issued
    before any worker ran lands in that task too: its status change and the
    deadline it sets (known only once the policy is loaded) go in one upsert."""
    handle = await start_order(ts_env.client, task_queue)
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    async with make_worker(ts_env.client, settings, task_queue):
        await eventually(lambda: "confirmation_issued" in kinds(settings.outbox_dir), "confirmation issued")
    tasks = upserts_by_task(list((await handle.fetch_history()).events))
    assert all(len(upserts) <= 1 for upserts in tasks), f"at most one upsert per workflow task: {tasks}"
    first = next(upserts for upserts in tasks if upserts)
    assert first[0]["OrderStatus"] == "AWAITING_APPROVAL" and first[0]["OrderNextDeadline"], tasks


async def test_an_order_started_through_the_client_writes_no_search_attribute_until_it_changes(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """The client sets what is known at the start (free of charge), so the first
    task has nothing to upsert; the first upsert is the first status change."""
    async with make_worker(ts_env.client, settings, task_queue):
        orders = OrderClient(ts_env.client, task_queue=task_queue, settings=settings)
        started = await orders.start(start_input())
        handle = ts_env.client.get_workflow_handle(started.workflow_id)
        await eventually(lambda: "contact_ack" in kinds(settings.outbox_dir), "contact acknowledged")
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await eventually(lambda: "confirmation_issued" in kinds(settings.outbox_dir), "confirmation issued")
    tasks = upserts_by_task(list((await handle.fetch_history()).events))
    written = [upsert for task in tasks for upsert in task]
    assert written and written[0]["OrderStatus"] == "AWAITING_APPROVAL", written


async def test_the_support_desk_never_holds_up_the_customer(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await canonical_order(handle, settings)
    history = await handle.fetch_history()

    # Each support step's customer email is scheduled no later than the desk's activity.
    scheduled = by_task(history.events, scheduled_activity)
    together = {
        names.OPEN_SUPPORT: "support_opened",
        names.FORWARD_SUPPORT_REQUEST: "support_request_ack",
        names.CLOSE_SUPPORT: "support_closed",
    }
    for desk, customer_email in together.items():
        [desk_task] = [n for n, t in enumerate(scheduled) if desk in t]
        [email_task] = [n for n, t in enumerate(scheduled) if customer_email in t]
        assert email_task <= desk_task, f"{customer_email} waited for {desk}: {scheduled}"


async def test_each_stage_arms_one_timer_at_a_time(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """A stage waits on one timer, for its earliest alarm; nothing else starts a
    timer that the next status change would cancel."""
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await canonical_order(handle, settings)
        order = await finished(handle)
    events = list((await handle.fetch_history()).events)

    started_per_task = [len(timers) for timers in by_task(events, timer_started)]
    assert max(started_per_task) == 1, f"one timer at a time: {started_per_task}"
    stages = [e for e in order.timeline if e.event.startswith("status ")]
    # Every stage but the last (completed) has a reminder; the support period has a second timer, its end.
    assert sum(started_per_task) <= len(stages), f"{sum(started_per_task)} timers for {len(stages)} stages"
