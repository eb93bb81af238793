"""Record the event histories of the main order paths for replay tests.

    python -m tests.histories.record            # scenarios without a history yet
    python -m tests.histories.record NAME ...   # these, recorded again

Run it when the workflow gains a new path, and commit the JSON files. Never
re-record to make a failing replay pass: a replay failure means running
orders would break, and the change needs ``workflow.patched`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from ordersecurity.codec import SWITCH_ENV
from tests.doubles.stripe_api import TEST_API_KEY, StripeDouble, serve
from tests.helpers import draft, eventually, start_input, start_order, start_time_skipping, view
from worker import build_worker
from workflows import names
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    Certificate,
    CertifyInput,
    DeliverInput,
    ExtendDeadlineInput,
    Instalment,
    IssueConfirmationInput,
    OrderPolicy,
    OrderView,
    PaymentEventInput,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    SupportRequestInput,
)
from workflows.names import workflow_id
from workflows.order import ServiceOrderWorkflow

HERE = Path(__file__).parent
stripe_double = contextmanager(serve)
Scenario = Callable[[WorkflowEnvironment, WorkflowHandle[Any, Any], StripeDouble], Awaitable[None]]


async def completed_with_revision(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    await h.signal(names.ADD_NOTE, AddNoteInput(text="Needs SSO", author="customer"))
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Two instalments please"))
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("4500.00")))
    await h.signal(names.APPROVE, ApproveInput(version=2))
    await env.sleep(timedelta(days=12))  # the payment reminder before the due date
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("2000.00"), reference="TX-1"))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("2500.00"), reference="TX-2"))
    await env.sleep(timedelta(days=8))  # a digest, and the Design milestone alert
    await h.signal(names.POST_UPDATE, PostUpdateInput(text="Build done", milestone="Build"))
    await h.signal(names.DELIVER, DeliverInput(summary="Live", links=["https://example.com"]))
    await h.signal(names.REQUEST_REVISION, RequestRevisionInput(comments="Bigger logo"))
    await h.signal(names.DELIVER, DeliverInput(summary="Logo fixed"))
    await h.signal(names.ACCEPT, AcceptInput())
    await env.sleep(timedelta(days=1))
    await h.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="SSO fails"))


async def expired(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))


async def expired_issued_in_first_task(
    env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble
) -> None:
    """The confirmation came with the start (``FIRST_TASK_SIGNALS``): the first
    workflow task leaves DISCUSSING before the policy loads; then it expires."""


async def payment_overdue(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("100.00"), reference="TX-1"))


async def deemed_acceptance(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await h.signal(names.DELIVER, DeliverInput(summary="Done"))


async def card_declined_then_paid(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    confirmation = draft(payment_methods=["card", "invoice"])
    await h.signal(
        names.PROVIDE_PAYMENT_METHOD,
        ProvidePaymentMethodInput(
            stripe_customer_id="cus_Record1", payment_method_id="pm_card_visa_chargeDeclinedInsufficientFunds"
        ),
    )
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await _until(h, lambda v: len(v.charge_attempts) == 1)
    await h.signal(
        names.PROVIDE_PAYMENT_METHOD,
        ProvidePaymentMethodInput(stripe_customer_id="cus_Record1", payment_method_id="pm_card_visa"),
    )
    await _until(h, lambda v: v.status == "IN_PROGRESS")
    await h.signal(names.DELIVER, DeliverInput(summary="Done"))
    await h.signal(names.ACCEPT, AcceptInput())


async def deadline_extended(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await _until(h, lambda v: v.payment_instructions is not None)
    await h.signal(names.EXTEND_DEADLINE, ExtendDeadlineInput(target="payment_due", extend_by=timedelta(days=7)))
    await env.sleep(timedelta(days=15))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await h.signal(
        names.EXTEND_DEADLINE, ExtendDeadlineInput(target="milestone", milestone="Design", extend_by=timedelta(days=3))
    )
    await h.signal(names.DELIVER, DeliverInput(summary="Done"))
    await h.signal(names.EXTEND_DEADLINE, ExtendDeadlineInput(target="review_period", extend_by=timedelta(days=3)))
    await h.signal(names.ACCEPT, AcceptInput())


async def cancelled_while_discussing(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """Recorded after the publish-search-attributes-at-start patch: its marker is in here."""
    await h.signal(names.ADD_NOTE, AddNoteInput(text="Budget not approved yet", author="customer"))
    await h.signal(names.CANCEL, CancelInput(reason="Customer withdrew", by="customer"))


async def _until(h: WorkflowHandle[Any, Any], check: Callable[[OrderView], bool]) -> None:
    """Wait for the worker (an activity, a task), never for a timer."""

    async def reached() -> bool:
        return check(await view(h))

    await eventually(reached, "the order to get there")


async def cancelled_after_payment(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await h.signal(names.CANCEL, CancelInput(reason="Budget frozen", by="customer"))


CARD = ProvidePaymentMethodInput(stripe_customer_id="cus_Record1", payment_method_id="pm_card_visa")


async def cancelled_during_card_charge(
    env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble
) -> None:
    """The charge succeeds at Stripe while the cancellation waits for it, then is refunded."""
    held = api.hold_next("POST", "/v1/payment_intents")
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(payment_methods=["card"])))
    await h.signal(names.PROVIDE_PAYMENT_METHOD, CARD)
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await asyncio.to_thread(held.wait_arrived)
    await h.signal(names.CANCEL, CancelInput(reason="Budget frozen", by="customer"))
    await _until(h, lambda v: v.status == "CANCELLED")
    held.release()


async def card_overpayment_refunded(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """A card charge lands after a bank transfer paid in full: the card payment is refunded, then cancelled."""
    held = api.hold_next("POST", "/v1/payment_intents")
    draft_ = draft(payment_methods=["card", "bank_transfer"])
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft_))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.PROVIDE_PAYMENT_METHOD, CARD)
    await asyncio.to_thread(held.wait_arrived)
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=draft_.total, reference="TX-1"))
    await _until(h, lambda v: v.status == "IN_PROGRESS")
    held.release()
    await _until(h, lambda v: bool(v.refunds) and v.overpaid == 0)
    await h.signal(names.CANCEL, CancelInput(reason="Plans changed", by="customer"))
    await _until(h, lambda v: len(v.refunds) == 2)


async def held_payments(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """Money before approval and in the wrong currency is held; a refund fails later."""
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("500.00"), reference="TX-EARLY"))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(
        names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("100.00"), currency="JPY", reference="TX-JPY")
    )
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await h.signal(names.PAYMENT_EVENT, PaymentEventInput(event="refund_failed", reference="re_1", detail="lost_card"))
    await h.signal(names.CANCEL, CancelInput(reason="Budget frozen", by="customer"))


async def invoice_late_paid_then_cancelled(
    env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble
) -> None:
    """Stripe is down when payment is asked for: the email goes, the invoice follows, is paid, and refunded."""
    api.fail_next("POST", "/v1/customers", status=503, times=10_000)
    confirmation = draft(payment_methods=["invoice", "bank_transfer"], cancellation_fee=Decimal("800.00"))
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await _until(h, lambda v: v.payment_instructions is not None and v.payment_instructions.invoice_pending)
    await env.sleep(timedelta(seconds=31))
    api.clear_faults()
    await _until(h, lambda v: v.payment_instructions is not None and bool(v.payment_instructions.invoice_id))
    invoice = api.invoices[next(iter(api.invoices))]
    api.pay_invoice(invoice["id"])
    await h.signal(names.CANCEL, CancelInput(reason="Change of plans", by="customer"))


async def invoice_voided_after_card(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """Paid by card: the open hosted invoice is voided at once."""
    await h.signal(
        names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(payment_methods=["invoice", "card"]))
    )
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await _until(h, lambda v: v.payment_instructions is not None and bool(v.payment_instructions.invoice_id))
    await h.signal(names.PROVIDE_PAYMENT_METHOD, CARD)
    await _until(h, lambda v: any(e.event == "invoice voided" for e in v.timeline))
    await h.signal(names.CANCEL, CancelInput(reason="Wrong order", by="staff"))


async def cancelled_through_temporal(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """An operator presses Cancel in the Temporal UI after the order was paid."""
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await _until(h, lambda v: v.status == "IN_PROGRESS")
    await h.cancel()


async def continued_as_new(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """A busy support period: the order continues as new (recorded with a 300-event budget)."""
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await h.signal(names.DELIVER, DeliverInput(summary="Done"))
    await h.signal(names.ACCEPT, AcceptInput())
    for n in range(60):
        await h.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject=f"Ticket {n}", text="Help " + "x" * 2_000))
    await _until(h, lambda v: v.runs > 1 and v.older.get("support_requests", 0) + len(v.support_requests) == 60)


async def continued_with_waiting_signals(
    env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble
) -> None:
    """A stream of support requests until the order has continued as new: those that
    arrived while the first run handed over waited, and the second run applied them
    first (its start input's ``resume.waiting``)."""
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await h.signal(names.DELIVER, DeliverInput(summary="Done"))
    await h.signal(names.ACCEPT, AcceptInput())
    current = env.client.get_workflow_handle(h.id)  # whichever run is current
    first_run = (await current.describe()).run_id
    n = 0
    # No query until it has settled: on the time-skipping server a query that meets a
    # continue-as-new is lost and stops time skipping (tests/repro_query_races_continue_as_new.py).
    while (await current.describe()).run_id == first_run:
        burst = [SupportRequestInput(subject=f"Ticket {n + k}", text="Help " + "x" * 2_000) for k in range(3)]
        await asyncio.gather(*(h.signal(names.REQUEST_SUPPORT, r) for r in burst))
        n += 3
        await asyncio.sleep(0.02)
    print(f"{n} support requests sent")
    while True:
        raw = (await current.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            break
        await asyncio.sleep(0.2)


THIRTY_FORTY_THIRTY = [
    Instalment(name="Deposit", percent=Decimal(30), due="approval"),
    Instalment(name="Design", percent=Decimal(40), due="milestone:Design"),
    Instalment(name="Handover", percent=Decimal(30), due="acceptance"),
]


async def schedule_card_and_bank(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """A 30/40/30 schedule: the deposit charged to the card saved before approval, Design charged
    to it on its due date after the notice, Handover paid by bank transfer; then completed."""
    confirmation = draft(payment_methods=["card", "bank_transfer"], payment_schedule=THIRTY_FORTY_THIRTY)
    await h.signal(
        names.PROVIDE_PAYMENT_METHOD,
        ProvidePaymentMethodInput(stripe_customer_id="cus_Record1", payment_method_id="pm_card_visa"),
    )
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await _until(h, lambda v: v.status == "IN_PROGRESS")
    await h.signal(names.POST_UPDATE, PostUpdateInput(text="Designs signed off", milestone="Design"))
    await env.sleep(timedelta(days=15))  # the notice, then the charge on the due date
    await _until(h, lambda v: v.instalments[1].status == "paid")
    await h.signal(names.DELIVER, DeliverInput(summary="Live"))
    await h.signal(names.ACCEPT, AcceptInput())
    await _until(h, lambda v: v.instalments[2].fell_due_at is not None)
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-3"))


async def schedule_overdue_held_open(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """A 30/40/30 schedule paid by bank: Design goes unpaid (reminders, overdue, operations told),
    the order waits at the end of support, reminds again, and completes when it is paid."""
    confirmation = draft(payment_schedule=THIRTY_FORTY_THIRTY)
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-1"))
    await h.signal(names.POST_UPDATE, PostUpdateInput(text="Designs signed off", milestone="Design"))
    await env.sleep(timedelta(days=22))  # reminders before, on and after the due date
    await h.signal(names.DELIVER, DeliverInput(summary="Live"))
    await h.signal(names.ACCEPT, AcceptInput())
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-2"))
    await env.sleep(timedelta(days=40))  # support ends with money owed; a reminder a week later
    await _until(h, lambda v: v.status == "AWAITING_FINAL_PAYMENT")
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1920.00"), reference="TX-3"))


async def change_orders(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """Paid in full by card; a change order declined, one up (+500, paid by bank transfer), one down
    (-1000, refunded to the card); then delivered, accepted and completed."""
    await h.signal(
        names.PROVIDE_PAYMENT_METHOD,
        ProvidePaymentMethodInput(stripe_customer_id="cus_Record1", payment_method_id="pm_card_visa"),
    )
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(payment_methods=["card"])))
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await _until(h, lambda v: v.status == "IN_PROGRESS")
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("6000.00")))
    await h.signal(names.REQUEST_CHANGES, RequestChangesInput(version=2, comments="Too much"))
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("5300.00")))
    await h.signal(names.APPROVE, ApproveInput(version=3))
    await _until(h, lambda v: v.balance_due == Decimal("500.00"))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("500.00"), reference="TX-2"))
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("4300.00")))
    await h.signal(names.APPROVE, ApproveInput(version=4))
    await _until(h, lambda v: len(v.refunds) == 1)
    await h.signal(names.DELIVER, DeliverInput(summary="Live"))
    await h.signal(names.ACCEPT, AcceptInput())


async def certified_then_completed(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], api: StripeDouble) -> None:
    """An evidence certificate asked for after the approval and payment (the certify update), then
    the walk of completed_with_revision on: the order closes with a final certificate."""
    await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await _until(h, lambda v: bool(v.confirmations) and v.confirmations[-1].document is not None)
    await h.signal(names.APPROVE, ApproveInput(version=1))
    await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
    await _until(h, lambda v: v.status == "IN_PROGRESS")
    await h.execute_update(names.CERTIFY, CertifyInput(by="Dana Staff"), result_type=Certificate)
    await h.execute_update(names.CERTIFY, CertifyInput(by="Dana Staff"), result_type=Certificate)  # unchanged
    await h.signal(names.DELIVER, DeliverInput(summary="Live"))
    await h.signal(names.ACCEPT, AcceptInput())
    await env.sleep(timedelta(days=31))


# Worker defaults a scenario needs (the rest take the built-in policy).
POLICIES: dict[str, OrderPolicy] = {
    "continued_as_new": OrderPolicy(run_event_budget=300),
    "continued_with_waiting_signals": OrderPolicy(run_event_budget=300),
}

# Scenarios whose first signal is sent with the start, so that it lands in the first workflow task.
FIRST_TASK_SIGNALS: dict[str, tuple[str, Any]] = {
    "expired_issued_in_first_task": (names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft())),
}

SCENARIOS: dict[str, Scenario] = {
    "completed_with_revision": completed_with_revision,
    "expired": expired,
    "payment_overdue": payment_overdue,
    "deemed_acceptance": deemed_acceptance,
    "cancelled_after_payment": cancelled_after_payment,
    "card_declined_then_paid": card_declined_then_paid,
    "deadline_extended": deadline_extended,
    "cancelled_while_discussing": cancelled_while_discussing,
    "cancelled_during_card_charge": cancelled_during_card_charge,
    "held_payments": held_payments,
    "invoice_late_paid_then_cancelled": invoice_late_paid_then_cancelled,
    "invoice_voided_after_card": invoice_voided_after_card,
    "cancelled_through_temporal": cancelled_through_temporal,
    "card_overpayment_refunded": card_overpayment_refunded,
    # The same walk as completed_with_revision, after search attributes went once
    # per task and the support desk beside the customer's emails.
    "completed_lean": completed_with_revision,
    "continued_as_new": continued_as_new,
    "continued_with_waiting_signals": continued_with_waiting_signals,
    # The same walk as deadline_extended, after a new payment due date is emailed to the customer.
    "deadline_extended_emailed": deadline_extended,
    # A signal in the first task: one upsert after the policy loads (FIRST_UPSERT_AFTER_POLICY).
    "expired_issued_in_first_task": expired_issued_in_first_task,
    # Payment schedules (issue 20).
    "schedule_card_and_bank": schedule_card_and_bank,
    "schedule_overdue_held_open": schedule_overdue_held_open,
    "change_orders": change_orders,
    # The same walk as completed_with_revision, once each confirmation email carries its version's PDF
    # and the order keeps the PDF's id, size and SHA-256 from the email's receipt (issue 21).
    "completed_with_pdf": completed_with_revision,
    # The same walk again, once each payment email carries its receipt PDF and the order keeps the
    # receipt's id, size and SHA-256 on the payment (issue 21): a part payment, then the rest.
    "completed_with_receipts": completed_with_revision,
    # The same walk once a closing order issues its final evidence certificate (issue 21).
    "completed_with_certificate": completed_with_revision,
    # An evidence certificate through the certify update, then a final one as the order completes.
    "certified_then_completed": certified_then_completed,
}


async def start(env: WorkflowEnvironment, task_queue: str, name: str) -> WorkflowHandle[Any, Any]:
    order_id = name.replace("_", "-")
    if name not in FIRST_TASK_SIGNALS:
        return await start_order(env.client, task_queue, order_id=order_id)
    signal, arg = FIRST_TASK_SIGNALS[name]
    inp = start_input(order_id)
    return await env.client.start_workflow(
        ServiceOrderWorkflow.run,
        inp,
        id=workflow_id(order_id),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[arg],
    )


async def record(name: str, scenario: Scenario, out: Path) -> None:
    env = await start_time_skipping()
    try:
        with tempfile.TemporaryDirectory() as tmp, stripe_double() as stripe_api:
            settings = replace(
                Settings(),
                outbox_dir=Path(tmp),
                documents_dir=Path(tmp) / "documents",
                stripe_api_key=TEST_API_KEY,
                stripe_api_base=stripe_api.url,
                policy=POLICIES.get(name, OrderPolicy()),
            )
            task_queue = f"record-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, settings, task_queue=task_queue):
                handle = await start(env, task_queue, name)
                await scenario(env, handle, stripe_api)
                with contextlib.suppress(WorkflowFailureError):  # a run cancelled through Temporal
                    await handle.result()
                history = await handle.fetch_history()
                first = await env.client.get_workflow_handle(
                    handle.id, run_id=handle.first_execution_run_id
                ).fetch_history()
        (out / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")
        if first.run_id != history.run_id:
            # A continued order: its first run (ending in continue-as-new) replays too.
            (out / f"{name}_first_run.json").write_text(first.to_json())
            print(f"recorded {name}_first_run: {len(first.events)} events")
    finally:
        await env.shutdown()


async def main(wanted: list[str]) -> None:
    """Record the named scenarios, or every scenario that has no history yet.

    Existing histories were recorded by older code on purpose: that is what
    running orders look like. Replace one only knowingly, by naming it.
    """
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    names_ = wanted or [n for n in SCENARIOS if not (HERE / f"{n}.json").exists()]
    for name in names_:
        await record(name, SCENARIOS[name], HERE)
    if not names_:
        print("every scenario has a history; name one to record it again")


if __name__ == "__main__":
    # Committed histories are readable JSON: recorded without a key, switched off explicitly.
    os.environ.setdefault(SWITCH_ENV, "off")
    asyncio.run(main(sys.argv[1:]))
