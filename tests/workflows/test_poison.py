"""Poison payloads: whatever arrives as a signal or an update, the order goes on.

Each payload is sent raw, as hand-made ``Payload`` messages, the way
``temporal workflow signal --input-meta ... --input ...`` or a foreign SDK
would send it. A signal must end up under ``OrderView.rejected`` with a
reason; an update must be refused by its validator with a clear message.
Either way the order still answers its status query and takes the next valid
action. Dev server, because updates are tested there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.helpers import draft, start_order, view
from workflows import names
from workflows.models import ActionResult, AddNoteInput, IssueConfirmationInput, OrderStatus, OrderView

# How long a poison payload may take to show up under ``rejected``. Today's
# failure mode is a workflow task that fails forever, which the check below
# spots at once, so this only bounds a genuinely slow machine.
REJECTION_DEADLINE_SECONDS = 20.0


def _payload(encoding: bytes, data: bytes, **metadata: bytes) -> RawValue:
    return RawValue(Payload(metadata={"encoding": encoding, **metadata}, data=data))


def _json(data: bytes) -> RawValue:
    return _payload(b"json/plain", data)


POISON: dict[str, tuple[list[RawValue], str]] = {
    # kind: (payloads, a fragment of the recorded reason)
    "no payload": ([], "no payload"),
    "two payloads": ([_json(b'{"text": "a"}'), _json(b'{"text": "b"}')], "2 payloads"),
    "binary/plain": ([_payload(b"binary/plain", b"hello")], "bytes"),
    "binary/null": ([_payload(b"binary/null", b"")], "null"),
    "json/protobuf": ([_payload(b"json/protobuf", b"{}", messageType=b"no.such.Message")], "json/protobuf"),
    "unknown encoding": ([_payload(b"x-custom/whatever", b"\x00\x01")], "x-custom/whatever"),
    "json null": ([_json(b"null")], "payload"),
    "json list": ([_json(b'["text", "hi"]')], "payload"),
    "json string": ([_json(b'"hi"')], "payload"),
    "broken json": ([_json(b'{"text": ')], "payload"),
    "not utf-8": ([_json(b'{"text": "\xff\xfe"}')], "payload"),
    "wrong field types": ([_json(b'{"text": {"nested": [1, 2]}, "author": 7}')], "text"),
}


@pytest.fixture
async def order(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await start_order(dev_env.client, task_queue)
        yield handle
        await handle.terminate("test over")


async def _task_failures(handle: WorkflowHandle[Any, Any]) -> list[str]:
    failures = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failures.append(event.workflow_task_failed_event_attributes.failure.message)
    return failures


async def _rejections_once_recorded(handle: WorkflowHandle[Any, Any], count: int) -> OrderView:
    """The order's view once ``count`` rejections are recorded; fails fast on a
    failed workflow task instead of waiting for a query that never answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REJECTION_DEADLINE_SECONDS
    while True:
        failures = await _task_failures(handle)
        assert not failures, f"the workflow task failed: {failures[0]}"
        current = await asyncio.wait_for(view(handle), timeout=5)
        if len(current.rejected) >= count:
            return current
        assert loop.time() < deadline, "the poison payload was never recorded"
        await asyncio.sleep(0.05)


async def _next_stage_still_reachable(handle: WorkflowHandle[Any, Any]) -> None:
    confirmation = IssueConfirmationInput(confirmation=draft())
    result = await handle.execute_update(names.ISSUE_CONFIRMATION, confirmation, result_type=ActionResult)
    assert result.applied and result.status is OrderStatus.AWAITING_APPROVAL
    assert not await _task_failures(handle)


@pytest.mark.parametrize("kind", list(POISON))
async def test_a_poison_signal_is_recorded_and_the_order_goes_on(order: WorkflowHandle[Any, Any], kind: str) -> None:
    payloads, reason = POISON[kind]
    await order.signal(names.ADD_NOTE, args=payloads)

    current = await _rejections_once_recorded(order, 1)
    [rejected] = current.rejected
    assert (rejected.action, rejected.via) == (names.ADD_NOTE, "signal")
    assert rejected.reason.startswith("invalid add_note payload: ")
    assert reason in rejected.reason
    assert current.notes == []
    await _next_stage_still_reachable(order)


@pytest.mark.parametrize("kind", list(POISON))
async def test_a_poison_update_is_refused_by_its_validator(order: WorkflowHandle[Any, Any], kind: str) -> None:
    payloads, reason = POISON[kind]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await order.execute_update(names.ADD_NOTE, args=payloads, result_type=ActionResult)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ActionRejected", cause
    assert cause.message.startswith("invalid add_note payload: ")
    assert reason in cause.message
    # Refused by the validator: nothing of it reaches the order's history.
    assert (await view(order)).rejected == []
    await _next_stage_still_reachable(order)


async def test_an_unknown_signal_name_is_recorded_not_buffered(order: WorkflowHandle[Any, Any]) -> None:
    await order.signal("add_notes", AddNoteInput(text="typo in the name"))
    current = await _rejections_once_recorded(order, 1)
    assert current.rejected[0].action == "add_notes"
    assert "unknown action" in current.rejected[0].reason
    await _next_stage_still_reachable(order)


async def test_an_unknown_update_name_is_refused(order: WorkflowHandle[Any, Any]) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await order.execute_update("add_notes", AddNoteInput(text="typo"), result_type=ActionResult)
    assert isinstance(caught.value.cause, ApplicationError)
    assert "unknown action 'add_notes'" in caught.value.cause.message
    await _next_stage_still_reachable(order)


async def test_several_poison_signals_in_one_task_are_all_recorded(order: WorkflowHandle[Any, Any]) -> None:
    for payloads, _ in POISON.values():
        await order.signal(names.ADD_NOTE, args=payloads)
    await order.signal(names.ADD_NOTE, AddNoteInput(text="a good one"))
    await _rejections_once_recorded(order, len(POISON))
    await _next_stage_still_reachable(order)  # after the good note, in signal order
    current = await view(order)
    assert len(current.rejected) == len(POISON)
    assert [n.text for n in current.notes] == ["a good one"]


@pytest.mark.parametrize(
    "payload",
    [
        _payload(b"binary/plain", b"hello"),
        _payload(b"binary/null", b""),
        _payload(b"x-custom/whatever", b"\x00"),
        _payload(b"json/protobuf", b"{}", messageType=b"no.such.Message"),
    ],
    ids=["binary/plain", "binary/null", "unknown encoding", "json/protobuf"],
)
async def test_a_start_input_in_a_foreign_encoding_fails_the_order_cleanly(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, payload: RawValue
) -> None:
    """Not a workflow task that fails forever: the run fails, naming the problem."""
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await dev_env.client.start_workflow(
            names.WORKFLOW_TYPE, payload, id=f"order-poison-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), timeout=REJECTION_DEADLINE_SECONDS)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidStartInput", cause
    assert cause.message.startswith("invalid start input: ")
    assert not await _task_failures(handle)


@pytest.mark.parametrize(
    "payloads",
    [[], [_json(b'{"order_id": "a"}'), _json(b'{"order_id": "b"}')]],
    ids=["no payload", "two payloads"],
)
async def test_a_start_with_no_payload_or_several_fails_the_order_cleanly(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, payloads: list[RawValue]
) -> None:
    """The SDK calls the workflow with as many arguments as payloads arrived;
    the run fails naming the count instead of a TypeError retried forever."""
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await dev_env.client.start_workflow(
            names.WORKFLOW_TYPE, args=payloads, id=f"order-poison-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), timeout=REJECTION_DEADLINE_SECONDS)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidStartInput", cause
    assert cause.non_retryable
    what = "no payload" if not payloads else f"{len(payloads)} payloads"
    assert cause.message == f"invalid start input: expected exactly one payload, got {what}"
    assert not await _task_failures(handle)
