"""Updates, validators, request ids and search attributes, on the dev server.

Updates behave differently on the time-skipping server, so they are tested
here, against the same server binary ``orders dev`` runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.helpers import card, draft, eventually, start_order, view
from workflows import names
from workflows.models import (
    AcceptInput,
    Action,
    ActionResult,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    Instalment,
    IssueConfirmationInput,
    OrderStatus,
    PostUpdateInput,
    RecordPaymentInput,
    RequestRevisionInput,
    UpdateCustomerInput,
)


@pytest.fixture
async def order(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await start_order(dev_env.client, task_queue)
        yield handle
        if not (await view(handle)).status.is_final:
            await handle.terminate("test over")


async def act(handle: WorkflowHandle[Any, Any], name: str, request: Action | dict[str, Any]) -> ActionResult:
    result: ActionResult = await handle.execute_update(name, request, result_type=ActionResult)
    return result


async def rejection(handle: WorkflowHandle[Any, Any], name: str, request: Action | dict[str, Any]) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await act(handle, name, request)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def _to_in_progress(handle: WorkflowHandle[Any, Any]) -> None:
    await act(handle, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await act(handle, names.APPROVE, ApproveInput(version=1))
    result = await act(handle, names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    assert result.status is OrderStatus.IN_PROGRESS


async def test_updates_answer_with_the_new_status(order: WorkflowHandle[Any, Any]) -> None:
    result = await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    assert result.status is OrderStatus.AWAITING_APPROVAL and result.applied
    result = await act(order, names.APPROVE, ApproveInput(version=1))
    assert result.status is OrderStatus.AWAITING_PAYMENT
    result = await act(order, names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1000.00"), reference="TX-1"))
    assert result.status is OrderStatus.AWAITING_PAYMENT
    assert (await view(order)).balance_due == Decimal("3800.00")


async def test_wrong_status_is_rejected_with_the_status_named(order: WorkflowHandle[Any, Any]) -> None:
    message = await rejection(order, names.DELIVER, DeliverInput(summary="too early"))
    assert message == "cannot deliver while the order is DISCUSSING"


async def test_superseded_version_names_the_current_one(order: WorkflowHandle[Any, Any]) -> None:
    await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("4000.00")))
    message = await rejection(order, names.APPROVE, ApproveInput(version=1))
    assert "the current version is 2" in message


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        (names.RECORD_PAYMENT, {"amount": "0", "reference": "TX"}, "amount: Input should be greater than 0"),
        (names.RECORD_PAYMENT, {"amount": "-10.00", "reference": "TX"}, "amount: Input should be greater than 0"),
        (names.ADD_NOTE, {"text": "   "}, "text: String should have at least 1 character"),
        (names.UPDATE_CUSTOMER, {"email": "not-an-email"}, "email: not a valid email address"),
        (names.UPDATE_CUSTOMER, {}, "needs at least one field"),
        (names.APPROVE, {"version": "two"}, "version: Input should be a valid integer"),
    ],
)
async def test_invalid_payloads_are_rejected_naming_the_field(
    order: WorkflowHandle[Any, Any], name: str, payload: dict[str, Any], expected: str
) -> None:
    if name == names.RECORD_PAYMENT:
        await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await act(order, names.APPROVE, ApproveInput(version=1))
    message = await rejection(order, name, payload)
    assert expected in message


async def test_unknown_milestone_is_rejected_listing_the_known_ones(order: WorkflowHandle[Any, Any]) -> None:
    await _to_in_progress(order)
    message = await rejection(order, names.POST_UPDATE, PostUpdateInput(text="x", milestone="Launch"))
    assert message == "unknown milestone 'Launch'; known milestones: Design, Build"
    await act(order, names.POST_UPDATE, PostUpdateInput(text="Designs done", milestone="Design"))
    message = await rejection(order, names.POST_UPDATE, PostUpdateInput(text="again", milestone="Design"))
    assert "already completed" in message


async def test_repeated_request_id_is_applied_once(order: WorkflowHandle[Any, Any]) -> None:
    await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await act(order, names.APPROVE, ApproveInput(version=1))
    payment = RecordPaymentInput(amount=Decimal("100.00"), reference="TX-7", request_id="bank-feed-7")
    first = await act(order, names.RECORD_PAYMENT, payment)
    second = await act(order, names.RECORD_PAYMENT, payment)
    await order.signal(names.RECORD_PAYMENT, payment)
    assert first.applied and not second.applied
    assert len((await view(order)).payments) == 1


async def test_overpayment_is_recorded_and_flagged(order: WorkflowHandle[Any, Any], settings: Settings) -> None:
    await _to_in_progress(order)
    result = await act(order, names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("50.00"), reference="TX-2"))
    assert result.applied and result.status is OrderStatus.IN_PROGRESS
    order_view = await view(order)
    assert order_view.overpaid == Decimal("50.00") and order_view.balance_due == 0

    def flagged() -> bool:
        return any("overpayment_alert" in p.name for p in settings.outbox_dir.glob("*.eml"))

    await eventually(flagged, "overpayment alert to operations")


async def test_rejected_updates_leave_no_trace_but_signals_are_recorded(order: WorkflowHandle[Any, Any]) -> None:
    await rejection(order, names.ACCEPT, {"request_id": "u1"})
    await order.signal(names.ACCEPT, {"request_id": "s1"})
    await act(order, names.ADD_NOTE, AddNoteInput(text="still fine"))
    rejected = (await view(order)).rejected
    assert [(r.request_id, r.via) for r in rejected] == [("s1", "signal")]


async def test_search_attributes_follow_the_status(
    dev_env: WorkflowEnvironment, order: WorkflowHandle[Any, Any]
) -> None:
    await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await act(order, names.APPROVE, ApproveInput(version=1))

    async def listed() -> bool:
        query = f"WorkflowId = '{order.id}' AND OrderStatus = 'AWAITING_PAYMENT' AND OrderTotal = 4800"
        return [w.id async for w in dev_env.client.list_workflows(query)] == [order.id]

    await eventually(listed, "order listed by status and total")
    description = await order.describe()
    assert description.typed_search_attributes  # no personal data is among them:
    values = {str(p.value) for p in description.typed_search_attributes}
    assert not any("@" in v or "Alice" in v for v in values)
    await act(order, names.CANCEL, CancelInput(reason="done"))


async def test_deadline_changes_are_validated(order: WorkflowHandle[Any, Any]) -> None:
    message = await rejection(order, names.EXTEND_DEADLINE, {"target": "payment_due", "extend_by": "P3D"})
    assert message == "cannot extend deadline while the order is DISCUSSING"
    message = await rejection(order, names.EXTEND_DEADLINE, {"target": "payment_due"})
    assert "give exactly one of new_due_at or extend_by" in message
    await _to_in_progress(order)
    message = await rejection(
        order, names.EXTEND_DEADLINE, {"target": "milestone", "milestone": "QA", "extend_by": "P1D"}
    )
    assert message.startswith("unknown milestone 'QA'")
    message = await rejection(
        order,
        names.EXTEND_DEADLINE,
        {"target": "milestone", "milestone": "Design", "new_due_at": "2020-01-01T00:00:00Z"},
    )
    assert message == "the new deadline must be in the future"
    result = await act(order, names.EXTEND_DEADLINE, {"target": "milestone", "milestone": "Design", "extend_by": "P5D"})
    assert result.applied
    design = (await view(order)).milestones[0]
    assert design.due_at - (await view(order)).created_at > timedelta(days=14)


async def test_absurd_values_are_rejected_not_crashed_on(order: WorkflowHandle[Any, Any]) -> None:
    huge = {"confirmation": {"line_items": [{"description": "x", "quantity": "9999999", "unit_price": "999999999.99"}]}}
    assert "larger than" in await rejection(order, names.ISSUE_CONFIRMATION, huge)
    await order.signal(names.ISSUE_CONFIRMATION, huge)
    await _to_in_progress(order)
    far = {"target": "milestone", "milestone": "Design", "new_due_at": "9999-12-31T00:00:00Z"}
    assert await rejection(order, names.EXTEND_DEADLINE, far) == "the new deadline is more than ten years away"
    await order.signal(names.EXTEND_DEADLINE, far)
    await order.signal(names.EXTEND_DEADLINE, {"target": "milestone", "milestone": "Design", "extend_by": "P99999D"})
    result = await act(order, names.ADD_NOTE, AddNoteInput(text="still alive"))
    assert result.status is OrderStatus.IN_PROGRESS
    assert len((await view(order)).rejected) == 3


async def test_a_request_id_is_one_attempt_at_one_action(order: WorkflowHandle[Any, Any]) -> None:
    # A link's token is the same for "pay" and "support": the id names the attempt, not the link.
    first = await act(order, names.ADD_NOTE, AddNoteInput(text="From the portal", request_id="link-7"))
    other = await act(order, names.UPDATE_CUSTOMER, UpdateCustomerInput(phone="+49 30 1234", request_id="link-7"))
    again = await act(order, names.ADD_NOTE, AddNoteInput(text="Double click", request_id="link-7"))
    assert first.applied and other.applied and not again.applied
    order_view = await view(order)
    assert [n.text for n in order_view.notes] == ["From the portal"] and order_view.customer.phone == "+49 30 1234"


async def test_update_customer_with_nulls_keeps_every_field(order: WorkflowHandle[Any, Any]) -> None:
    before = (await view(order)).customer
    result = await act(order, names.UPDATE_CUSTOMER, {"name": None, "email": "ada@new.example", "company": None})
    assert result.applied
    after = (await view(order)).customer
    assert (after.name, after.company, after.email) == (before.name, before.company, "ada@new.example")
    message = await rejection(order, names.UPDATE_CUSTOMER, {"name": None})
    assert "needs at least one field" in message
    assert "name" in await rejection(order, names.UPDATE_CUSTOMER, {"name": "  "})


async def test_a_stale_delivery_link_cannot_answer_a_newer_delivery(order: WorkflowHandle[Any, Any]) -> None:
    await _to_in_progress(order)
    await act(order, names.DELIVER, DeliverInput(summary="First cut"))
    await act(order, names.REQUEST_REVISION, RequestRevisionInput(comments="Logo too small", round=1))
    await act(order, names.DELIVER, DeliverInput(summary="Second cut"))

    message = await rejection(order, names.ACCEPT, AcceptInput(round=1))
    assert message == "delivery round 1 is not the current delivery; the current round is 2"
    result = await act(order, names.ACCEPT, AcceptInput(round=2))
    assert result.status is OrderStatus.IN_SUPPORT


async def test_a_card_after_work_started_is_refused_without_a_payment_schedule(
    order: WorkflowHandle[Any, Any],
) -> None:
    """Paid in full before work started: nothing is left to charge, in the words such orders always had."""
    await _to_in_progress(order)
    message = await rejection(order, names.PROVIDE_PAYMENT_METHOD, card())
    assert message == "cannot provide payment method while the order is IN_PROGRESS"


async def test_a_confirmation_with_a_payment_schedule_is_issued(order: WorkflowHandle[Any, Any]) -> None:
    scheduled = draft(
        payment_schedule=[
            Instalment(name="Deposit", percent=Decimal(30), due="approval"),
            Instalment(name="Rest", percent=Decimal(70), due="acceptance"),
        ]
    )
    result = await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=scheduled))
    assert result.status is OrderStatus.AWAITING_APPROVAL
