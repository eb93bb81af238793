"""The dates an order holds its customer and staff to, as the ``status`` query gives them.

The customer's emails name a payment due date and the end of a delivery's
review; the portal and ``orders status`` read the same dates from named fields
of the order (``payment_due_at``, ``deliveries[].review_ends_at``), and the
next deadline is always a real obligation (approve by, pay by, a milestone's
due date, the end of a review or of support), recomputed whenever anything
changes. Internal reminders (a reminder, a digest) are ``next_alarm`` only.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from activities.email_format import format_date, format_datetime_utc
from tests.conftest import make_worker
from tests.helpers import awaiting_payment, draft, eventually, kinds, outbox, start_order, view
from workflows import names
from workflows.models import (
    AcceptInput,
    ApproveInput,
    DeliverInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    OrderStatus,
    PostUpdateInput,
    RecordPaymentInput,
)


def _text(settings: Settings, kind: str) -> str:
    found = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == kind]
    assert found, f"no {kind} email"
    body = found[-1].get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


def _day(moment: object) -> str:
    """``"<date>|<date and time>"`` as the emails write them."""
    return f"{format_date(moment)}|{format_datetime_utc(moment)}"


async def test_the_status_names_the_payment_due_date_and_each_review_end_the_emails_give(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await awaiting_payment(handle, settings.outbox_dir)
        order = await view(handle)
        assert order.payment_due_at is not None
        assert timedelta(days=14) <= order.payment_due_at - order.created_at < timedelta(days=14, hours=1)
        by_date, by_time = _day(order.payment_due_at).split("|")
        assert by_date in _text(settings, "payment_requested") and by_time in _text(settings, "payment_requested")
        assert order.model_dump(mode="json")["payment_due_at"] is not None

        # An operator's extension moves the named date too.
        before = order.payment_due_at
        await handle.signal(
            names.EXTEND_DEADLINE, ExtendDeadlineInput(target="payment_due", extend_by=timedelta(days=5))
        )
        order = await view(handle)
        assert order.payment_due_at == before + timedelta(days=5)

        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await handle.signal(names.DELIVER, DeliverInput(summary="All done"))
        await eventually(lambda: "delivered" in kinds(settings.outbox_dir), "delivered")
        order = await view(handle)
        delivery = order.deliveries[-1]
        assert delivery.review_ends_at == delivery.at + timedelta(days=7)
        assert _day(delivery.review_ends_at).split("|")[1] in _text(settings, "delivered")
        assert order.model_dump(mode="json")["deliveries"][-1]["review_ends_at"] is not None


async def test_the_next_deadline_is_a_real_obligation_and_follows_every_change(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        assert (await view(handle)).next_deadline is None  # staff's turn: nothing is due from anyone

        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        order = await view(handle)
        issued = order.confirmations[-1].issued_at
        assert order.next_deadline is not None
        assert order.next_deadline.at == issued + timedelta(days=14)
        assert "approve" in order.next_deadline.what and "reminder" not in order.next_deadline.what
        # The reminder is the order's own business: the next alarm, not a deadline.
        assert order.next_alarm is not None and "reminder" in order.next_alarm.what

        await handle.signal(names.APPROVE, ApproveInput(version=1))
        await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment requested")
        order = await view(handle)
        assert order.next_deadline is not None and order.next_deadline.at == order.payment_due_at
        assert "pay" in order.next_deadline.what

        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        order = await view(handle)
        design, build = order.milestones
        assert order.status is OrderStatus.IN_PROGRESS
        assert order.next_deadline is not None
        assert (order.next_deadline.at, order.next_deadline.what) == (design.due_at, "milestone 'Design' due")

        # Completing a milestone moves the next deadline at once, without any timer firing.
        await handle.signal(names.POST_UPDATE, PostUpdateInput(text="Designs signed off", milestone="Design"))
        order = await view(handle)
        assert order.next_deadline is not None
        assert (order.next_deadline.at, order.next_deadline.what) == (build.due_at, "milestone 'Build' due")

        # So does an operator's extension.
        await handle.signal(
            names.EXTEND_DEADLINE,
            ExtendDeadlineInput(target="milestone", milestone="Build", extend_by=timedelta(days=3)),
        )
        order = await view(handle)
        assert order.next_deadline is not None and order.next_deadline.at == build.due_at + timedelta(days=3)

        await handle.signal(names.POST_UPDATE, PostUpdateInput(text="Build finished", milestone="Build"))
        order = await view(handle)
        assert order.next_deadline is None  # nothing is due until the delivery
        assert order.next_alarm is not None and order.next_alarm.what == "progress digest"

        await handle.signal(names.DELIVER, DeliverInput(summary="All done"))
        order = await view(handle)
        delivery = order.deliveries[-1]
        assert order.next_deadline is not None and order.next_deadline.at == delivery.review_ends_at
        assert "review" in order.next_deadline.what and "acceptance" in order.next_deadline.what

        await handle.signal(names.ACCEPT, AcceptInput())
        order = await view(handle)
        assert order.support is not None
        assert order.next_deadline is not None
        assert (order.next_deadline.at, order.next_deadline.what) == (order.support.ends_at, "support period ends")


async def test_a_partial_payment_email_gives_the_balance_its_due_date_and_the_pay_link(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await awaiting_payment(handle, settings.outbox_dir)
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1800.00"), reference="TX-1"))
        await eventually(lambda: "payment_received" in kinds(settings.outbox_dir), "payment received")
        order = await view(handle)
        text = " ".join(_text(settings, "payment_received").split())
        assert "EUR 3,000.00" in text
        assert _day(order.payment_due_at).split("|")[1] in text
        assert f"/orders/{order.order_id}/pay" in text


async def test_a_new_payment_due_date_is_emailed_to_the_customer(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await awaiting_payment(handle, settings.outbox_dir)
        await handle.signal(
            names.EXTEND_DEADLINE,
            ExtendDeadlineInput(target="payment_due", extend_by=timedelta(days=10), reason="agreed on the phone"),
        )
        await eventually(lambda: "payment_due_changed" in kinds(settings.outbox_dir), "the new due date emailed")
        order = await view(handle)
        text = " ".join(_text(settings, "payment_due_changed").split())
        assert _day(order.payment_due_at).split("|")[1] in text
        assert "EUR 4,800.00" in text and f"/orders/{order.order_id}/pay" in text
