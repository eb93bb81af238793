"""Billing a payment schedule (workflows/billing.py), on the time-skipping server: a deposit
before work starts, instalments at a milestone and on acceptance, the saved card charged on
the due dates, reminders and overdue instalments, and cancellation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.doubles.stripe_api import StripeDouble
from tests.helpers import card, draft, eventually, kinds, outbox, until, view
from workflows import names
from workflows import search as sa
from workflows.models import (
    AcceptInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    ExtendDeadlineInput,
    Instalment,
    InstalmentStatus,
    IssueConfirmationInput,
    OrderStatus,
    OrderView,
    PaymentMethod,
    PostUpdateInput,
    RecordPaymentInput,
)

Handle = WorkflowHandle[Any, Any]

DEPOSIT = Instalment(name="Deposit", percent=Decimal(30), due="approval")
DESIGN = Instalment(name="Design", percent=Decimal(40), due="milestone:Design")
HANDOVER = Instalment(name="Handover", percent=Decimal(30), due="acceptance")
THIRTY_FORTY_THIRTY = [DEPOSIT, DESIGN, HANDOVER]


async def approved(order: Handle, settings: Settings, *methods: str, **terms: Any) -> OrderView:
    """Confirmation v1 (EUR 4,800, 30/40/30) issued and approved; the deposit is requested."""
    terms.setdefault("payment_schedule", THIRTY_FORTY_THIRTY)
    confirmation = draft(payment_methods=list(methods or ["bank_transfer"]), **terms)
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "the deposit is requested")
    return await view(order)


def statuses(order: OrderView) -> list[tuple[str, InstalmentStatus, Decimal]]:
    return [(bill.name, bill.status, bill.paid) for bill in order.instalments]


def sent(settings: Settings, order: OrderView) -> list[str]:
    return kinds(settings.outbox_dir, order.order_id)


async def raw_attribute(client: Client, order: Handle, name: str) -> bytes:
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=order.id))
    )
    return described.workflow_execution_info.search_attributes.indexed_fields[name].data


async def current_details(order: Handle) -> str:
    """What the Temporal UI shows an operator as the order's current details."""
    metadata: WorkflowMetadata = await order.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def pay(order: Handle, amount: str, reference: str) -> None:
    await order.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal(amount), reference=reference))


async def test_thirty_forty_thirty_with_bank_payments(order: Handle, settings: Settings) -> None:
    started = await approved(order, settings)
    assert started.status is OrderStatus.AWAITING_PAYMENT
    assert started.balance_due == Decimal("1440.00"), "only the deposit is due before work starts"
    assert [(b.amount, b.reference) for b in started.instalments] == [
        (Decimal("1440.00"), f"SO-{started.order_id}".upper()),
        (Decimal("1920.00"), f"SO-{started.order_id}-2".upper()),
        (Decimal("1440.00"), f"SO-{started.order_id}-3".upper()),
    ]
    await pay(order, "1440.00", "TX-1")
    working = await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts on the deposit")
    assert working.balance_due == 0
    assert statuses(working) == [
        ("Deposit", InstalmentStatus.PAID, Decimal("1440.00")),
        ("Design", InstalmentStatus.SCHEDULED, Decimal("0.00")),
        ("Handover", InstalmentStatus.SCHEDULED, Decimal("0.00")),
    ]

    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs signed off", milestone="Design"))
    design = await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "Design falls due")
    bill = design.instalments[1]
    assert bill.fell_due_at is not None and bill.due_at == bill.fell_due_at + timedelta(days=14)
    assert design.balance_due == Decimal("1920.00")
    await eventually(lambda: "instalment_due" in sent(settings, design), "the Design instalment is requested")
    await pay(order, "1920.00", bill.reference)

    await order.signal(names.DELIVER, DeliverInput(summary="Live"))
    await order.signal(names.ACCEPT, AcceptInput())
    handover = await until(order, lambda o: o.instalments[2].status is InstalmentStatus.OPEN, "Handover falls due")
    assert handover.status is OrderStatus.IN_SUPPORT and handover.balance_due == Decimal("1440.00")
    await pay(order, "1440.00", handover.instalments[2].reference)

    await order.result()
    done = await view(order)
    assert done.status is OrderStatus.COMPLETED
    assert done.amount_paid == Decimal("4800.00") and done.balance_due == 0 and done.overpaid == 0
    assert [b.status for b in done.instalments] == [InstalmentStatus.PAID] * 3
    emails = sent(settings, done)
    assert emails.count("payment_requested") == 1 and emails.count("instalment_due") == 2
    assert "instalment_reminder" not in emails, "paid in time: no reminders"
    assert done.failed_emails == [] and done.rejected == []


async def test_money_paid_early_counts_towards_the_next_instalment(order: Handle, settings: Settings) -> None:
    await approved(order, settings)
    await pay(order, "2000.00", "TX-1")  # the deposit and 560.00 of Design
    working = await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    assert statuses(working)[:2] == [
        ("Deposit", InstalmentStatus.PAID, Decimal("1440.00")),
        ("Design", InstalmentStatus.SCHEDULED, Decimal("560.00")),
    ]
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    design = await until(order, lambda o: o.instalments[1].fell_due_at is not None, "Design falls due")
    assert design.balance_due == Decimal("1360.00"), "what is left of it"


async def test_an_instalment_due_on_approval_alone_lets_work_start_at_once(order: Handle, settings: Settings) -> None:
    schedule = [Instalment(name="All", percent=Decimal(100), due="acceptance")]
    confirmation = draft(payment_schedule=schedule)
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await order.signal(names.APPROVE, ApproveInput(version=1))
    working = await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "nothing due on approval")
    assert working.balance_due == 0 and working.instalments[0].status is InstalmentStatus.SCHEDULED


async def test_an_unpaid_later_instalment_is_reminded_alerted_and_holds_completion(
    ts_env: WorkflowEnvironment, order: Handle, settings: Settings
) -> None:
    started = await approved(order, settings)
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "Design falls due")

    await ts_env.sleep(timedelta(days=11, hours=1))  # 3 days before its due date (P14D)
    await eventually(lambda: sent(settings, started).count("instalment_reminder") == 1, "reminder before")
    await ts_env.sleep(timedelta(days=3))  # its due date: overdue
    overdue = await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OVERDUE, "overdue")
    assert overdue.status is OrderStatus.IN_PROGRESS, "a later instalment never cancels the order"
    details = await current_details(order)
    assert f"Next instalment: Design, EUR 1920.00 due {overdue.instalments[1].due_at:%Y-%m-%d} (overdue)" in details
    assert "Overdue: Design" in details
    attributes = (await order.describe()).typed_search_attributes
    assert attributes.get(sa.ORDER_PAYMENT_OVERDUE) is True
    assert attributes.get(sa.ORDER_PAYMENT_DUE) == overdue.instalments[1].due_at
    await ts_env.sleep(timedelta(days=7))  # a week after: the last reminder, and operations hear
    await eventually(lambda: "instalment_overdue" in sent(settings, started), "operations told")
    assert sent(settings, started).count("instalment_reminder") == 3

    await order.signal(names.DELIVER, DeliverInput(summary="Live"))
    await order.signal(names.ACCEPT, AcceptInput())
    await pay(order, "1440.00", "TX-3")  # Handover paid, Design still not
    await ts_env.sleep(timedelta(days=31))  # past the support period
    waiting = await until(order, lambda o: o.status is OrderStatus.AWAITING_FINAL_PAYMENT, "held open")
    assert waiting.balance_due == Decimal("1920.00")
    assert statuses(waiting) == [
        ("Deposit", InstalmentStatus.PAID, Decimal("1440.00")),
        ("Design", InstalmentStatus.OVERDUE, Decimal("1440.00")),
        ("Handover", InstalmentStatus.OVERDUE, Decimal("0.00")),
    ], "the second payment went to the oldest open instalment, Design"
    reminded = sent(settings, started).count("instalment_reminder")
    await ts_env.sleep(timedelta(days=7, hours=1))
    await eventually(
        lambda: sent(settings, started).count("instalment_reminder") > reminded, "support is over: it keeps reminding"
    )
    await pay(order, "1920.00", "TX-4")
    await order.result()
    done = await view(order)
    assert done.status is OrderStatus.COMPLETED and done.balance_due == 0
    # Read raw: the time-skipping server keeps unset attributes as nulls the SDK's describe cannot decode.
    assert await raw_attribute(ts_env.client, order, sa.ORDER_PAYMENT_OVERDUE.name) == b"false"


async def test_operations_move_an_overdue_instalments_due_date(
    ts_env: WorkflowEnvironment, order: Handle, settings: Settings
) -> None:
    started = await approved(order, settings)
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "Design falls due")
    await ts_env.sleep(timedelta(days=15))
    overdue = await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OVERDUE, "overdue")

    moved_by = ExtendDeadlineInput(target="instalment", instalment="design", extend_by=timedelta(days=10))
    await order.signal(names.EXTEND_DEADLINE, moved_by)
    moved = await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "no longer overdue")
    old_due = overdue.instalments[1].due_at
    assert old_due is not None and moved.instalments[1].due_at == old_due + timedelta(days=10)
    assert "deadline changed" in [e.event for e in moved.timeline]
    await eventually(lambda: sent(settings, started).count("instalment_due") == 2, "the customer hears of it")

    for wrong, reason in [
        (
            ExtendDeadlineInput(target="instalment", instalment="Deposit", extend_by=timedelta(days=1)),
            "is due on approval",
        ),
        (
            ExtendDeadlineInput(target="instalment", instalment="Handover", extend_by=timedelta(days=1)),
            "not fallen due",
        ),
        (
            ExtendDeadlineInput(target="instalment", instalment="Nope", extend_by=timedelta(days=1)),
            "unknown instalment",
        ),
    ]:
        await order.signal(names.EXTEND_DEADLINE, wrong)
        await until(order, lambda o, r=reason: any(r in x.reason for x in o.rejected), f"refused: {reason}")


async def test_cancelled_through_temporal_while_the_last_instalments_are_owed_refunds_nothing(
    ts_env: WorkflowEnvironment, order: Handle, settings: Settings
) -> None:
    """The work was delivered and supported: as in support, an operator's cancellation settles by hand."""
    await approved(order, settings)
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.DELIVER, DeliverInput(summary="Live"))
    await order.signal(names.ACCEPT, AcceptInput())
    await until(order, lambda o: o.status is OrderStatus.IN_SUPPORT, "in support")
    await ts_env.sleep(timedelta(days=31))
    await until(order, lambda o: o.status is OrderStatus.AWAITING_FINAL_PAYMENT, "held open")
    await order.cancel()
    done = await until(order, lambda o: o.status is OrderStatus.CANCELLED, "cancelled")
    assert done.refunds == []
    assert "no automatic refund" in [e.event for e in done.timeline]


async def test_an_unpaid_deposit_cancels_the_order_as_an_unpaid_order_always_did(
    order: Handle, settings: Settings
) -> None:
    await approved(order, settings, payment_due=timedelta(days=5), payment_grace=timedelta(days=2))
    await order.result()
    done = await view(order)
    assert done.status is OrderStatus.CANCELLED
    assert done.cancellation is not None and done.cancellation.by == "system"
    assert "payment_overdue_cancelled" in sent(settings, done)


async def test_a_date_after_approval_falls_due_on_its_date(
    ts_env: WorkflowEnvironment, order: Handle, settings: Settings
) -> None:
    schedule = [DEPOSIT, Instalment(name="Month two", percent=Decimal(70), due="P30D")]
    await approved(order, settings, payment_schedule=schedule)
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await ts_env.sleep(timedelta(days=30, hours=1))
    later = await until(order, lambda o: o.instalments[1].fell_due_at is not None, "falls due after 30 days")
    assert later.balance_due == Decimal("3360.00")


# --------------------------------------------------------------------------
# The saved card (the Stripe double)
# --------------------------------------------------------------------------


def charge_keys(stripe_api: StripeDouble) -> list[str | None]:
    return [r.idempotency_key for r in stripe_api.requests_to("POST", "/v1/payment_intents")]


async def test_a_saved_card_pays_each_later_instalment_on_its_due_date_after_a_notice(
    ts_env: WorkflowEnvironment, order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    started = await approved(order, settings, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    working = await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "the deposit is charged")
    assert [p.amount for p in working.payments] == [Decimal("1440.00")]

    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "Design falls due")
    await eventually(lambda: "instalment_due" in sent(settings, started), "Design requested")
    assert len(charge_keys(stripe_api)) == 1, "not charged before its due date"
    await ts_env.sleep(timedelta(days=11, hours=1))
    await eventually(lambda: "instalment_charge_notice" in sent(settings, started), "told three days before")
    await ts_env.sleep(timedelta(days=3))
    paid = await until(order, lambda o: o.instalments[1].status is InstalmentStatus.PAID, "charged on the day")
    assert "instalment_reminder" not in sent(settings, started), "the card paid it: no reminder"

    await order.signal(names.DELIVER, DeliverInput(summary="Live"))
    await order.signal(names.ACCEPT, AcceptInput())
    await order.result()
    done = await view(order)
    assert done.status is OrderStatus.COMPLETED
    assert [p.amount for p in done.payments] == [Decimal("1440.00"), Decimal("1920.00"), Decimal("1440.00")]
    order_id = paid.order_id
    keys = charge_keys(stripe_api)
    assert keys[0] == f"order-{order_id}:charge:1"
    assert keys[1:] == [f"order-{order_id}:instalment:2:charge:2", f"order-{order_id}:instalment:3:charge:3"]
    later = stripe_api.requests_to("POST", "/v1/payment_intents")[1:]
    assert all(r.form["off_session"] == "true" and r.form["payment_method"] == "pm_card_visa" for r in later)
    assert [r.form["amount"] for r in later] == ["192000", "144000"]


async def test_a_declined_automatic_charge_falls_back_to_the_pay_link_and_reminders(
    ts_env: WorkflowEnvironment, order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    started = await approved(order, settings, "card", "bank_transfer")
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card("pm_card_visa_chargeDeclinedInsufficientFunds"))
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "Design falls due")
    await ts_env.sleep(timedelta(days=14, hours=1))
    await eventually(lambda: "instalment_charge_failed" in sent(settings, started), "the customer is told")
    assert "payment_error" in sent(settings, started), "operations are told"
    declined = await view(order)
    assert declined.instalments[1].status is InstalmentStatus.OVERDUE
    assert [a.status for a in declined.charge_attempts] == ["declined"]
    await ts_env.sleep(timedelta(days=7))
    await eventually(lambda: "instalment_overdue" in sent(settings, started), "reminded, then operations hear")
    assert sent(settings, started).count("instalment_reminder") == 1, "only the reminder after the due date"


async def test_a_card_given_after_work_started_pays_all_that_is_due_now(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    schedule = [
        DEPOSIT,
        Instalment(name="Design", percent=Decimal(40), due="milestone:Design"),
        Instalment(name="Licences", percent=Decimal(10), due="milestone:Design"),
        Instalment(name="Handover", percent=Decimal(20), due="acceptance"),
    ]
    started = await approved(order, settings, "card", "bank_transfer", payment_schedule=schedule)
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    await until(order, lambda o: o.balance_due == Decimal("2400.00"), "Design and Licences fall due")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())  # the pay page's "Pay by card"
    paid = await until(order, lambda o: o.balance_due == 0, "both paid by one charge")
    [charge] = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert charge.form["amount"] == "240000" and charge.form["off_session"] == "true"
    assert charge.idempotency_key == f"order-{started.order_id}:instalment:2:charge:1"
    assert [b.status for b in paid.instalments[1:3]] == [InstalmentStatus.PAID, InstalmentStatus.PAID]


async def test_cancelling_refunds_what_the_instalments_paid_less_the_fee(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await approved(order, settings, "card", cancellation_fee=Decimal("500.00"))
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "the deposit is charged")
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    await until(order, lambda o: o.instalments[1].status is InstalmentStatus.OPEN, "Design falls due")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card("pm_card_mastercard"))  # pays what is due now
    await until(order, lambda o: o.instalments[1].status is InstalmentStatus.PAID, "Design paid by card")

    await order.signal(names.CANCEL, CancelInput(reason="Budget cut", by="customer"))
    await order.result()
    done = await view(order)
    assert done.status is OrderStatus.CANCELLED
    assert done.amount_paid == Decimal("3360.00")
    [refund] = done.refunds
    assert (refund.amount, refund.method, refund.status) == (Decimal("2860.00"), PaymentMethod.CARD, "succeeded")
    refunded = {r.form["payment_intent"]: r.form["amount"] for r in stripe_api.requests_to("POST", "/v1/refunds")}
    assert sum(int(amount) for amount in refunded.values()) == 286000
    assert set(refunded) <= {payment.reference for payment in done.payments}, "card payments go back to their cards"


# --------------------------------------------------------------------------
# Each instalment's own hosted invoice
# --------------------------------------------------------------------------


def invoice_of(stripe_api: StripeDouble, description: str) -> dict[str, Any]:
    """The invoice whose one item is ``description`` (an instalment's line)."""
    items = [i for i in stripe_api.invoice_items.values() if i["description"] == description]
    assert len(items) == 1, [i["description"] for i in stripe_api.invoice_items.values()]
    return stripe_api.invoices[items[0]["invoice"]]


async def test_each_instalment_has_its_own_hosted_invoice_and_paying_it_counts(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    started = await approved(order, settings, "invoice", "bank_transfer")
    deposit = invoice_of(stripe_api, "Deposit (instalment 1 of 3)")
    assert deposit["amount_due"] == 144000
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    due = await until(order, lambda o: o.instalments[1].invoice_id is not None, "Design's invoice")
    design = invoice_of(stripe_api, "Design (instalment 2 of 3)")
    assert due.instalments[1].invoice_id == design["id"] and design["amount_due"] == 192000
    invoice_keys = [r.idempotency_key or "" for r in stripe_api.requests_to("POST", "/v1/invoices")]
    assert f"order-{started.order_id}:instalment:2:payment-request:invoice" in invoice_keys
    await eventually(lambda: "instalment_due" in sent(settings, started), "Design requested")
    [email] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == "instalment_due"]
    body = email.get_body(("plain",))
    assert body is not None and design["hosted_invoice_url"] in body.get_content()

    # Stripe's invoice.paid, as the webhook receiver records it.
    stripe_api.pay_invoice(design["id"])
    await order.signal(
        names.RECORD_PAYMENT,
        RecordPaymentInput(amount=Decimal("1920.00"), reference=design["id"], method=PaymentMethod.INVOICE),
    )
    paid = await until(order, lambda o: o.instalments[1].status is InstalmentStatus.PAID, "paid by its invoice")
    assert paid.held_payments == [] and paid.instalments[1].invoice_closed
    assert not [r for r in stripe_api.requests if r.path.endswith(f"{design['id']}/void")], "paid: not voided"


async def test_an_instalment_paid_another_way_has_its_invoice_voided(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    started = await approved(order, settings, "invoice", "bank_transfer")
    await pay(order, "1440.00", "TX-1")
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work starts")
    await order.signal(names.POST_UPDATE, PostUpdateInput(text="Designs", milestone="Design"))
    due = await until(order, lambda o: o.instalments[1].invoice_id is not None, "Design's invoice")
    await pay(order, "1920.00", due.instalments[1].reference)  # by bank transfer instead
    invoice_id = due.instalments[1].invoice_id
    assert invoice_id is not None
    await eventually(lambda: stripe_api.invoices[invoice_id]["status"] == "void", "Design's invoice voided")
    voids = [r.idempotency_key for r in stripe_api.requests if r.path.endswith("/void")]
    assert f"order-{started.order_id}:instalment:2:void-invoice" in voids
