"""Change orders (workflows/confirmations.py): a new version issued while the work goes on,
approved, declined or left to expire; the total moves and the bills follow it.

The walks run on the time-skipping server with the Stripe double; the refusals are updates,
so they run on the dev server, as tests/workflows/test_actions.py explains."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.doubles.stripe_api import StripeDouble
from tests.helpers import card, draft, eventually, kinds, start_order, until, view
from workflows import names
from workflows.models import (
    AcceptInput,
    Action,
    ActionResult,
    ApproveInput,
    ConfirmationDraft,
    ConfirmationState,
    DeliverInput,
    Instalment,
    InstalmentStatus,
    IssueConfirmationInput,
    LineItem,
    OrderStatus,
    OrderView,
    PaymentMethod,
    PostUpdateInput,
    RecordPaymentInput,
    RequestChangesInput,
)

Handle = WorkflowHandle[Any, Any]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def changed(price: str, *extra: tuple[str, str], **terms: Any) -> ConfirmationDraft:
    """``draft()`` (one line, EUR ``price``) with extra lines, e.g. ("SSO", "500.00")."""
    data = draft(price).model_dump()
    data["line_items"] += [LineItem(description=d, unit_price=Decimal(p)).model_dump() for d, p in extra]
    data["terms"].update(terms)
    return ConfirmationDraft.model_validate(data)


async def in_progress(order: Handle, settings: Settings, *methods: str, **terms: Any) -> OrderView:
    """v1 (EUR 4,800) approved and paid in full by bank transfer, or by card when ``methods`` say so."""
    confirmation = draft(payment_methods=list(methods or ["bank_transfer"]), **terms)
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await order.signal(names.APPROVE, ApproveInput(version=1))
    if "card" in methods:
        await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    elif confirmation.terms.payment_schedule is None:
        await order.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    else:
        await order.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-1"))
    return await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work started")


def sent(settings: Settings, order: OrderView) -> list[str]:
    return kinds(settings.outbox_dir, order.order_id)


async def test_a_change_order_up_bills_the_difference_as_its_own_instalment(order: Handle, settings: Settings) -> None:
    started = await in_progress(order, settings)
    await order.signal(
        names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=changed("4800.00", ("SSO", "500.00")))
    )
    issued = await until(order, lambda o: o.version == 2, "change order issued")
    assert issued.status is OrderStatus.IN_PROGRESS, "the work goes on"
    assert issued.approved_version == 1 and issued.total == Decimal("4800.00"), "v1 stays in force until approved"
    change = issued.confirmations[1]
    assert change.change_of == 1 and change.state is ConfirmationState.ISSUED
    assert change.changes == ["total EUR 4800.00 -> 5300.00", "line added: SSO (EUR 500.00)"]
    metadata: WorkflowMetadata = await order.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "Change order v2 waits for the customer's approval" in metadata.current_details
    await eventually(lambda: sent(settings, started).count("confirmation_issued") == 2, "change order emailed")

    await order.signal(names.APPROVE, ApproveInput(version=2))
    approved = await until(order, lambda o: o.approved_version == 2, "change order approved")
    assert approved.status is OrderStatus.IN_PROGRESS and approved.total == Decimal("5300.00")
    assert [(b.name, b.amount, b.status) for b in approved.instalments] == [
        ("Order confirmation v1", Decimal("4800.00"), InstalmentStatus.PAID),
        ("Change order v2", Decimal("500.00"), InstalmentStatus.OPEN),
    ]
    assert approved.balance_due == Decimal("500.00")
    assert [c.state for c in approved.confirmations] == [ConfirmationState.APPROVED, ConfirmationState.APPROVED]
    await eventually(lambda: "change_order_approved" in sent(settings, started), "approval confirmed")
    await eventually(lambda: "instalment_due" in sent(settings, started), "the difference is requested")

    bill = approved.instalments[1]
    await order.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("500.00"), reference=bill.reference))
    paid = await until(order, lambda o: o.balance_due == 0, "the change order paid")
    assert paid.amount_paid == Decimal("5300.00") and paid.overpaid == 0
    assert paid.failed_emails == [] and paid.rejected == []


async def test_a_change_order_down_refunds_what_was_paid_above_the_new_total(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    started = await in_progress(order, settings, "card")
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=changed("4300.00")))
    await until(order, lambda o: o.version == 2, "change order issued")
    await order.signal(names.APPROVE, ApproveInput(version=2))
    refunded = await until(order, lambda o: len(o.refunds) == 1, "the excess refunded")
    [refund] = refunded.refunds
    assert (refund.amount, refund.method, refund.status) == (Decimal("500.00"), PaymentMethod.CARD, "succeeded")
    assert refunded.total == Decimal("4300.00") and refunded.amount_paid == Decimal("4300.00")
    assert refunded.overpaid == 0 and refunded.balance_due == 0
    [request] = stripe_api.requests_to("POST", "/v1/refunds")
    assert request.form["amount"] == "50000"
    [payment] = refunded.payments
    assert request.idempotency_key == f"order-{started.order_id}:refund:change:v2:{payment.reference}"
    assert request.form["payment_intent"] == payment.reference and refund.overpaid_by == payment.reference


async def test_a_declined_change_order_changes_nothing(order: Handle, settings: Settings) -> None:
    started = await in_progress(order, settings)
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=changed("5300.00")))
    await order.signal(names.REQUEST_CHANGES, RequestChangesInput(version=2, comments="Too expensive"))
    declined = await until(
        order, lambda o: o.confirmations[-1].state is ConfirmationState.CHANGES_REQUESTED, "declined"
    )
    assert declined.status is OrderStatus.IN_PROGRESS and declined.approved_version == 1
    assert declined.total == Decimal("4800.00") and declined.instalments == []
    assert "change order declined" in [entry.event for entry in declined.timeline]
    await eventually(lambda: "changes_received" in sent(settings, started), "the customer hears we got it")


async def test_an_unanswered_change_order_expires_and_changes_nothing(
    ts_env: WorkflowEnvironment, order: Handle, settings: Settings
) -> None:
    started = await in_progress(order, settings)
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=changed("5300.00")))
    await until(order, lambda o: o.version == 2, "change order issued")
    await ts_env.sleep(timedelta(days=14, hours=1))  # the default confirmation expiry
    expired = await until(order, lambda o: o.confirmations[-1].state is ConfirmationState.EXPIRED, "expired")
    assert expired.status is OrderStatus.IN_PROGRESS and expired.total == Decimal("4800.00")
    emails = sent(settings, started)
    assert "confirmation_reminder" in emails and "confirmation_expired" in emails


async def test_a_change_order_moves_milestones_and_the_schedule_still_to_come(
    order: Handle, settings: Settings
) -> None:
    schedule = [
        Instalment(name="Deposit", percent=Decimal(30), due="approval"),
        Instalment(name="Design", percent=Decimal(40), due="milestone:Design"),
        Instalment(name="Handover", percent=Decimal(30), due="acceptance"),
    ]
    await in_progress(order, settings, payment_schedule=schedule)
    new_schedule = [
        Instalment(name="Deposit", amount=Decimal("1440.00"), due="approval"),
        Instalment(name="Design", amount=Decimal("2000.00"), due="milestone:Design"),
        Instalment(name="Extra", amount=Decimal("600.00"), due="approval"),
        Instalment(name="Handover", amount=Decimal("1760.00"), due="acceptance"),
    ]
    change = changed("4800.00", ("Extra pages", "1000.00"), payment_schedule=new_schedule)
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=change))
    await order.signal(names.APPROVE, ApproveInput(version=2))
    approved = await until(order, lambda o: o.approved_version == 2, "approved")
    assert [(b.name, b.amount, b.status) for b in approved.instalments] == [
        ("Deposit", Decimal("1440.00"), InstalmentStatus.PAID),
        ("Design", Decimal("2000.00"), InstalmentStatus.SCHEDULED),
        ("Extra", Decimal("600.00"), InstalmentStatus.OPEN),
        ("Handover", Decimal("1760.00"), InstalmentStatus.SCHEDULED),
    ]
    assert approved.balance_due == Decimal("600.00") and approved.total == Decimal("5800.00")


async def test_the_examples_schedule_then_change_order(order: Handle, settings: Settings) -> None:
    """examples/confirmation-with-schedule.json approved and its deposit paid, then examples/change-order.json
    (single sign-on, EUR 500 more, billed on the change's approval; Build moves to 30 days)."""
    first = ConfirmationDraft.model_validate_json((EXAMPLES / "confirmation-with-schedule.json").read_text())
    change = ConfirmationDraft.model_validate_json((EXAMPLES / "change-order.json").read_text())
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=first))
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await order.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-1"))
    working = await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work started")
    build_due = working.milestones[1].due_at
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=change))
    await order.signal(names.APPROVE, ApproveInput(version=2))
    approved = await until(order, lambda o: o.approved_version == 2, "approved")
    assert approved.confirmations[1].changes == [
        "total EUR 4800.00 -> 5300.00",
        "line added: Single sign-on with Azure AD (EUR 500.00)",
        "milestone moved: Build",
        "payment schedule changed",
        "estimated delivery changed",
    ]
    assert [(b.name, b.status, b.due) for b in approved.instalments] == [
        ("Deposit", InstalmentStatus.PAID, "approval"),
        ("Design", InstalmentStatus.SCHEDULED, "milestone:Design"),
        ("Single sign-on", InstalmentStatus.OPEN, "change:v2"),
        ("Handover", InstalmentStatus.SCHEDULED, "acceptance"),
    ]
    assert approved.milestones[1].due_at == build_due + timedelta(days=5)
    assert approved.balance_due == Decimal("500.00")


# --------------------------------------------------------------------------
# Refusals, as updates on the dev server
# --------------------------------------------------------------------------


@pytest.fixture
async def dev_order(dev_env: WorkflowEnvironment, settings: Settings, task_queue: str) -> AsyncIterator[Handle]:
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await start_order(dev_env.client, task_queue)
        yield handle
        if not (await view(handle)).status.is_final:
            await handle.terminate("test over")


async def act(handle: Handle, name: str, request: Action) -> ActionResult:
    result: ActionResult = await handle.execute_update(name, request, result_type=ActionResult)
    return result


async def rejection(handle: Handle, name: str, request: Action) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await act(handle, name, request)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def _working(handle: Handle, **terms: Any) -> None:
    await act(handle, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(**terms)))
    await act(handle, names.APPROVE, ApproveInput(version=1))
    amount = "1440.00" if terms.get("payment_schedule") else "4800.00"
    result = await act(handle, names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal(amount), reference="TX-1"))
    assert result.status is OrderStatus.IN_PROGRESS


async def test_a_change_order_is_refused_after_acceptance(dev_order: Handle) -> None:
    await _working(dev_order)
    await act(dev_order, names.DELIVER, DeliverInput(summary="Live"))
    await act(dev_order, names.ACCEPT, AcceptInput())
    message = await rejection(dev_order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    assert message == (
        "a change order cannot be issued after the work was accepted; support requests stay what they are"
    )


async def test_no_change_order_waiting_means_nothing_to_approve(dev_order: Handle) -> None:
    await _working(dev_order)
    message = await rejection(dev_order, names.APPROVE, ApproveInput(version=1))
    assert message == "there is no change order waiting for approval; version 1 is in force"


async def test_a_change_order_in_another_currency_is_refused(dev_order: Handle) -> None:
    await _working(dev_order)
    other = draft().model_copy(update={"currency": "USD"})
    message = await rejection(dev_order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=other))
    assert message == "currency: a change order keeps the order's currency EUR, not USD"


async def test_a_change_orders_schedule_keeps_what_fell_due_and_bills_only_events_to_come(dev_order: Handle) -> None:
    schedule = [
        Instalment(name="Deposit", percent=Decimal(30), due="approval"),
        Instalment(name="Design", percent=Decimal(70), due="milestone:Design"),
    ]
    await _working(dev_order, payment_schedule=schedule)
    await act(dev_order, names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))

    moved = [
        Instalment(name="Deposit", amount=Decimal("1000.00"), due="approval"),
        Instalment(name="Rest", amount=Decimal("3800.00"), due="acceptance"),
    ]
    message = await rejection(
        dev_order,
        names.ISSUE_CONFIRMATION,
        IssueConfirmationInput(confirmation=draft(payment_schedule=moved)),
    )
    assert message.startswith("terms.payment_schedule.0: instalment 'Deposit' has fallen due already (EUR 1440.00)")

    passed = [
        Instalment(name="Deposit", amount=Decimal("1440.00"), due="approval"),
        Instalment(name="Design", amount=Decimal("3000.00"), due="milestone:Design"),
        Instalment(name="Rest", amount=Decimal("360.00"), due="acceptance"),
    ]
    message = await rejection(
        dev_order,
        names.ISSUE_CONFIRMATION,
        IssueConfirmationInput(confirmation=draft(payment_schedule=passed)),
    )
    assert message.startswith("terms.payment_schedule.1: instalment 'Design' has fallen due already (EUR 3360.00)")


async def test_an_instalment_due_on_a_completed_milestone_is_refused(dev_order: Handle) -> None:
    schedule = [
        Instalment(name="Deposit", percent=Decimal(30), due="approval"),
        Instalment(name="Rest", percent=Decimal(70), due="acceptance"),
    ]
    await _working(dev_order, payment_schedule=schedule)
    await act(dev_order, names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    late = [
        Instalment(name="Deposit", amount=Decimal("1440.00"), due="approval"),
        Instalment(name="Design bonus", amount=Decimal("500.00"), due="milestone:Design"),
        Instalment(name="Rest", amount=Decimal("3360.00"), due="acceptance"),
    ]
    message = await rejection(
        dev_order,
        names.ISSUE_CONFIRMATION,
        IssueConfirmationInput(confirmation=draft("5300.00", payment_schedule=late)),
    )
    assert message == (
        "terms.payment_schedule.1.due: instalment 'Design bonus' is due on milestone:Design, which has already "
        "happened; make it due on approval (of this change) or on an event to come"
    )
