"""The whole order lifecycle and every timer path, on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.helpers import draft, eventually, kinds, start_order, view
from workflows import names
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    DeliverInput,
    IssueConfirmationInput,
    OrderStatus,
    OrderView,
    PostUpdateInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    SupportRequestInput,
)


async def test_order_walks_from_contact_to_completed(ts_env: WorkflowEnvironment, settings: Settings, task_queue: str) -> None:
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
        result: OrderView = await handle.result()

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
