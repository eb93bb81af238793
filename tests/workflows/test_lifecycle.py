"""The whole order lifecycle and every timer path, on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.helpers import draft, eventually, finished, kinds, start_input, start_order, view
from workflows import names
from workflows import search as sa
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    OrderStatus,
    PostUpdateInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    SupportRequestInput,
)


async def test_order_walks_from_contact_to_completed(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    client = ts_env.client
    async with make_worker(client, settings, task_queue):
        handle = await start_order(client, task_queue)
        await handle.signal(names.ADD_NOTE, AddNoteInput(text="Needs SSO with Azure AD", author="customer"))
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await handle.signal(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Please split the payment"))
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("4500.00")))
        await handle.signal(names.APPROVE, ApproveInput(version=2))
        await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment requested")
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("2000.00"), reference="TX-1"))
        order = await view(handle)
        assert order.status is OrderStatus.AWAITING_PAYMENT
        assert order.balance_due == Decimal("2500.00")
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("2500.00"), reference="TX-2"))
        await handle.signal(names.POST_UPDATE, PostUpdateInput(text="Designs ready", milestone="Design"))
        await handle.signal(names.DELIVER, DeliverInput(summary="Site is live", links=["https://staging.example.com"]))
        await handle.signal(names.REQUEST_REVISION, RequestRevisionInput(comments="Logo too small"))
        await handle.signal(names.DELIVER, DeliverInput(summary="Logo fixed"))
        await handle.signal(names.ACCEPT, AcceptInput())
        await handle.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="SSO fails on Safari"))
        result = await finished(handle)

    assert result.status is OrderStatus.COMPLETED
    assert [c.state for c in result.confirmations] == ["changes_requested", "approved"]
    assert result.amount_paid == Decimal("4500.00") and result.balance_due == 0
    assert len(result.deliveries) == 2 and len(result.revisions) == 1
    assert result.support is not None and result.support.closed_at is not None
    assert result.rejected == []
    sent = kinds(settings.outbox_dir, result.order_id)
    for kind in [
        "contact_ack",
        "confirmation_issued",
        "changes_received",
        "payment_requested",
        "payment_received",
        "work_commenced",
        "progress_update",
        "delivered",
        "revision_received",
        "accepted",
        "support_opened",
        "support_team_notice",
        "support_request_forwarded",
        "support_request_ack",
        "support_ending_soon",
        "support_closed",
    ]:
        assert kind in sent, f"{kind} missing from {sent}"


async def _approved_order(
    env: WorkflowEnvironment, settings: Settings, task_queue: str, **terms: Any
) -> WorkflowHandle[Any, Any]:
    handle = await start_order(env.client, task_queue)
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(**terms)))
    await handle.signal(names.APPROVE, ApproveInput(version=1))
    await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment requested")
    return handle


async def test_confirmation_reminder_then_expiry(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await eventually(lambda: "confirmation_issued" in kinds(settings.outbox_dir), "confirmation sent")
        order = await view(handle)
        assert order.next_alarm is not None and order.next_alarm.what == "confirmation v1 reminder"

        await ts_env.sleep(timedelta(days=3, hours=1))  # default reminder: P3D
        await eventually(lambda: "confirmation_reminder" in kinds(settings.outbox_dir), "reminder sent")
        assert (await view(handle)).status is OrderStatus.AWAITING_APPROVAL

        result = await finished(handle)  # skips to the P14D expiry
    assert result.status is OrderStatus.EXPIRED
    assert result.confirmations[0].state == "expired"
    assert kinds(settings.outbox_dir).count("confirmation_reminder") == 1
    assert "confirmation_expired" in kinds(settings.outbox_dir)


async def test_payment_reminders_then_overdue_cancellation_refunds_partial_payment(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _approved_order(
            ts_env, settings, task_queue, payment_due=timedelta(days=10), payment_grace=timedelta(days=5)
        )
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("800.00"), reference="TX-9"))
        await ts_env.sleep(timedelta(days=7, hours=1))  # 3 days before due
        await eventually(lambda: kinds(settings.outbox_dir).count("payment_reminder") == 1, "first reminder")
        await ts_env.sleep(timedelta(days=3))  # at the due date
        await eventually(lambda: kinds(settings.outbox_dir).count("payment_reminder") == 2, "second reminder")
        assert (await view(handle)).status is OrderStatus.AWAITING_PAYMENT
        result = await finished(handle)

    assert result.status is OrderStatus.CANCELLED
    assert result.cancellation is not None and result.cancellation.by == "system"
    assert [(r.amount, r.status) for r in result.refunds] == [(Decimal("800.00"), "manual")]
    sent = kinds(settings.outbox_dir)
    assert "payment_overdue_cancelled" in sent and "refund_needed" in sent
    assert sent.count("payment_reminder") == 2


async def test_digest_milestone_alert_and_deemed_acceptance(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _approved_order(ts_env, settings, task_queue, update_interval=timedelta(days=4))
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await ts_env.sleep(timedelta(days=4, hours=1))
        await eventually(lambda: "progress_digest" in kinds(settings.outbox_dir), "digest")
        await ts_env.sleep(timedelta(days=6))  # Design was due on day 10
        await eventually(lambda: "milestone_overdue" in kinds(settings.outbox_dir), "milestone alert")
        order = await view(handle)
        assert [m.overdue_alerted for m in order.milestones] == [True, False]
        assert kinds(settings.outbox_dir).count("progress_digest") == 2  # days 4 and 8

        await handle.signal(names.POST_UPDATE, PostUpdateInput(text="Build done", milestone="Build"))
        await handle.signal(names.DELIVER, DeliverInput(summary="All done"))
        await ts_env.sleep(timedelta(days=5, hours=1))  # reminder 2 days before the P7D review ends
        await eventually(lambda: "acceptance_reminder" in kinds(settings.outbox_dir), "acceptance reminder")
        await ts_env.sleep(timedelta(days=2))
        await eventually(lambda: "deemed_accepted" in kinds(settings.outbox_dir), "deemed acceptance")
        assert (await view(handle)).status is OrderStatus.IN_SUPPORT
        result = await finished(handle)

    assert result.status is OrderStatus.COMPLETED
    assert kinds(settings.outbox_dir).count("milestone_overdue") == 1


async def test_without_deemed_acceptance_operations_are_told_and_the_order_waits(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _approved_order(ts_env, settings, task_queue, deemed_acceptance=False)
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await handle.signal(names.DELIVER, DeliverInput(summary="All done"))
        await ts_env.sleep(timedelta(days=7, hours=1))
        await eventually(lambda: "review_lapsed" in kinds(settings.outbox_dir), "review lapsed alert")
        order = await view(handle)
        assert order.status is OrderStatus.AWAITING_ACCEPTANCE and order.next_deadline is None
        await handle.signal(names.ACCEPT, AcceptInput())
        result = await finished(handle)
    assert result.status is OrderStatus.COMPLETED


async def test_customer_cancels_after_payment_and_operations_refund_by_hand(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _approved_order(ts_env, settings, task_queue, cancellation_fee=Decimal("300.00"))
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await handle.signal(names.CANCEL, CancelInput(reason="Budget frozen", by="customer"))
        result = await finished(handle)
    assert result.status is OrderStatus.CANCELLED
    assert [(r.amount, r.status) for r in result.refunds] == [(Decimal("4500.00"), "manual")]
    assert {"refund_needed", "cancelled"} <= set(kinds(settings.outbox_dir))


async def test_invalid_signals_are_recorded_and_never_stall_the_order(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await handle.signal(names.APPROVE, ApproveInput(version=1, request_id="early"))  # nothing issued yet
        await handle.signal(names.RECORD_PAYMENT, {"amount": "-5", "reference": "x", "request_id": "neg"})
        await handle.signal(names.ISSUE_CONFIRMATION, {"confirmation": {"line_items": []}})
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("5000.00")))
        await handle.signal(names.APPROVE, ApproveInput(version=1))  # superseded
        order = await view(handle)
        reasons = [r.reason for r in order.rejected]
        assert len(reasons) == 4, reasons
        assert "cannot approve while the order is DISCUSSING" in reasons[0]
        assert "amount" in reasons[1] and "greater than 0" in reasons[1]
        assert "line_items" in reasons[2]
        assert "the current version is 2" in reasons[3]
        assert order.rejected[1].request_id == "neg"
        # The order still works.
        await handle.signal(names.APPROVE, ApproveInput(version=2))
        assert (await view(handle)).status is OrderStatus.AWAITING_PAYMENT
        await handle.signal(names.CANCEL, CancelInput(reason="test over"))
        assert (await finished(handle)).status is OrderStatus.CANCELLED


async def test_moving_the_payment_due_date_moves_the_running_timers(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _approved_order(
            ts_env, settings, task_queue, payment_due=timedelta(days=10), payment_grace=timedelta(days=5)
        )
        before = await view(handle)
        await handle.signal(
            names.EXTEND_DEADLINE, ExtendDeadlineInput(target="payment_due", extend_by=timedelta(days=10))
        )
        await ts_env.sleep(timedelta(days=8))  # the old reminder (3 days before day 10) would have fired
        assert (await view(handle)).status is OrderStatus.AWAITING_PAYMENT
        assert "payment_reminder" not in kinds(settings.outbox_dir)
        await ts_env.sleep(timedelta(days=9, hours=1))  # past the new reminder on day 17, and the old cancellation
        await eventually(lambda: "payment_reminder" in kinds(settings.outbox_dir), "the reminder at its new time")
        order = await view(handle)
        assert order.status is OrderStatus.AWAITING_PAYMENT
        description = await handle.describe()
        payment_due = description.typed_search_attributes.get(sa.ORDER_PAYMENT_DUE)
        assert payment_due is not None and payment_due - order.created_at >= timedelta(days=20)
        assert order.next_deadline is not None and before.next_deadline is not None
        assert order.next_deadline.at > before.next_deadline.at
        result = await finished(handle)
    assert result.status is OrderStatus.CANCELLED
    assert result.cancellation is not None
    assert result.cancellation.at - result.created_at >= timedelta(days=25)


async def test_moving_a_milestone_earlier_wakes_the_order(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _approved_order(ts_env, settings, task_queue)
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        order = await view(handle)
        soon = order.created_at + timedelta(days=2)
        await handle.signal(
            names.EXTEND_DEADLINE, ExtendDeadlineInput(target="milestone", milestone="Design", new_due_at=soon)
        )
        await ts_env.sleep(timedelta(days=2, hours=1))
        await eventually(lambda: "milestone_overdue" in kinds(settings.outbox_dir), "alert at the new, earlier date")
        await handle.signal(names.CANCEL, CancelInput(reason="test over"))
        await handle.result()


async def test_a_bad_start_input_fails_the_order_with_the_field_named(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await ts_env.client.start_workflow(
            names.WORKFLOW_TYPE,
            {"order_id": "bad-1", "customer": {"name": "X", "email": "not-an-email"}, "message": "hi"},
            id=names.workflow_id("bad-1"),
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidStartInput"
    assert "customer.email: not a valid email address" in cause.message


async def test_signal_with_start_applies_the_first_action_before_run(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    inp = start_input()
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await ts_env.client.start_workflow(
            names.WORKFLOW_TYPE,
            inp,
            id=names.workflow_id(inp.order_id),
            task_queue=task_queue,
            start_signal=names.ISSUE_CONFIRMATION,
            start_signal_args=[IssueConfirmationInput(confirmation=draft())],
        )
        await eventually(lambda: "confirmation_issued" in kinds(settings.outbox_dir), "confirmation sent")
        assert (await view(handle)).status is OrderStatus.AWAITING_APPROVAL
        await handle.signal(names.CANCEL, CancelInput(reason="test over"))
        await handle.result()


async def test_an_order_started_without_search_attributes_is_searchable_at_once(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)  # a bare start: no search attributes
        await eventually(lambda: "contact_ack" in kinds(settings.outbox_dir), "acknowledged")
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(sa.ORDER_STATUS) == "DISCUSSING"
        assert attributes.get(sa.ORDER_CUSTOMER_REF) == "cus-1001"
        await handle.signal(names.CANCEL, CancelInput(reason="test over"))
        await handle.result()
