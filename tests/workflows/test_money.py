"""Money is never kept, doubled or stranded: the order's side of settling it.

A real worker, the real ``stripe.StripeClient`` and the Stripe double, on the
time-skipping server. Flows are driven by signals, as web backends and the
webhook receiver send them; the one timer that matters here (the payment
email's short wait for Stripe) is skipped with ``env.sleep``, never waited
out in wall-clock time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.doubles.stripe_api import StripeDouble
from tests.helpers import card, eventually, issue, kinds, outbox, until, view
from workflows import names
from workflows.models import (
    ApproveInput,
    CancelInput,
    ConfirmationDraft,
    LineItem,
    OrderStatus,
    PaymentEventInput,
    PaymentMethod,
    RecordPaymentInput,
)
from workflows.saga import INVOICE_WAIT

Handle = WorkflowHandle[Any, Any]


def bank(amount: str = "4800.00", **fields: Any) -> RecordPaymentInput:
    return RecordPaymentInput(amount=Decimal(amount), reference=fields.pop("reference", "TX-1"), **fields)


def logged(event: str) -> Any:
    return lambda o: any(e.event == event for e in o.timeline)


def body(settings: Settings, kind: str) -> str:
    [message] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == kind]
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# --------------------------------------------------------------------------
# Cancellation settles the money in flight
# --------------------------------------------------------------------------


async def test_cancel_during_a_slow_charge_refunds_what_was_really_taken(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card")
    held = stripe_api.hold_next("POST", "/v1/payment_intents")  # charged at Stripe, answer still on its way
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await asyncio.to_thread(held.wait_arrived)

    await order.signal(names.CANCEL, CancelInput(reason="Budget was cut", by="customer"))
    await until(order, lambda o: o.status is OrderStatus.CANCELLED, "cancelled")
    held.release()

    result = await until(order, lambda o: o.refunds, "refund recorded")
    [intent] = stripe_api.payment_intents.values()
    [stored] = stripe_api.refunds.values()
    assert stored["payment_intent"] == intent["id"] and stored["amount"] == 480000
    assert result.amount_paid == Decimal("4800.00") and result.refunds[0].status == "succeeded"
    await eventually(lambda: "cancelled" in kinds(settings.outbox_dir), "cancellation email")
    sent = kinds(settings.outbox_dir)
    assert "payment_received" not in sent, "no 'payment received' around a cancellation"
    assert "We have refunded EUR 4,800.00" in body(settings, "cancelled")


async def test_temporal_cancellation_runs_the_operator_cancellation(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card", cancellation_fee=Decimal("300.00"))
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "paid by card")

    await order.cancel()  # what the UI's Cancel button and `temporal workflow cancel` send

    with pytest.raises(WorkflowFailureError) as closed:
        await order.result()
    assert isinstance(closed.value.cause, CancelledError), "the run ends as cancelled in Temporal too"
    [stored] = stripe_api.refunds.values()
    assert stored["amount"] == 450000, "the same saga: paid less the cancellation fee"
    final = await view(order)
    assert final.status is OrderStatus.CANCELLED
    assert final.cancellation is not None and final.cancellation.by == "operator"
    assert "cancelled" in kinds(settings.outbox_dir)


# --------------------------------------------------------------------------
# Hosted invoices
# --------------------------------------------------------------------------


async def test_a_paid_invoice_then_cancel_is_refunded_less_the_fee(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "invoice", cancellation_fee=Decimal("800.00"))
    await order.signal(names.APPROVE, ApproveInput(version=1))
    view_ = await until(order, lambda o: o.payment_instructions and o.payment_instructions.invoice_id, "invoice")
    assert view_.payment_instructions is not None and view_.payment_instructions.invoice_id
    stripe_api.pay_invoice(view_.payment_instructions.invoice_id)  # paid, and the webhook is not here yet

    await order.signal(names.CANCEL, CancelInput(reason="Change of plans", by="customer"))

    result = await until(order, lambda o: o.refunds, "refund recorded")
    assert [p.method for p in result.payments] == [PaymentMethod.INVOICE]
    [stored] = stripe_api.refunds.values()
    assert stored["amount"] == 400000
    assert result.refunds[0].status == "succeeded" and result.refunds[0].amount == Decimal("4000.00")


async def test_an_invoice_left_open_after_a_card_payment_is_voided(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "invoice", "card")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.payment_instructions and o.payment_instructions.invoice_id, "invoice")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())

    await until(order, logged("invoice voided"), "invoice voided")
    [invoice] = stripe_api.invoices.values()
    assert invoice["status"] == "void"
    assert (await view(order)).status is OrderStatus.IN_PROGRESS


async def test_a_cancellation_that_races_the_invoice_still_voids_it(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    finalize = stripe_api.hold_next("POST", "/v1/invoices")  # the invoice is made, the answer is late
    await issue(order, "invoice")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await asyncio.to_thread(finalize.wait_arrived)

    await order.signal(names.CANCEL, CancelInput(reason="Found another supplier", by="customer"))
    await until(order, lambda o: o.status is OrderStatus.CANCELLED, "cancelled")
    finalize.release()

    await until(order, logged("invoice voided"), "the invoice Stripe was still making is voided")
    [invoice] = stripe_api.invoices.values()
    assert invoice["status"] == "void" and stripe_api.refunds == {}


async def test_a_refused_invoice_alerts_operations_and_the_customer_still_gets_bank_details(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    stripe_api.fail_next("POST", "/v1/invoices", status=400)
    await issue(order, "invoice", "bank_transfer")
    await order.signal(names.APPROVE, ApproveInput(version=1))

    await eventually(lambda: "payment_error" in kinds(settings.outbox_dir), "operations alerted")
    await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment email")
    text = body(settings, "payment_requested")
    assert "IBAN" in text and settings.bank_iban in text
    assert "hosted invoice" in body(settings, "payment_error")


async def test_a_stripe_outage_does_not_hold_back_the_payment_email(
    ts_env: WorkflowEnvironment, order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    stripe_api.fail_next("POST", "/v1/customers", status=503, times=10_000)
    await issue(order, "invoice", "bank_transfer")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.payment_instructions and o.payment_instructions.invoice_pending, "invoice pending")

    await ts_env.sleep(INVOICE_WAIT + timedelta(seconds=1))
    await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment email")
    text = body(settings, "payment_requested")
    assert settings.bank_iban in text and "link follows" in text

    # The customer pays by bank while Stripe is still down; the order moves on.
    await order.signal(names.RECORD_PAYMENT, bank())
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "work started without the invoice")

    stripe_api.clear_faults()
    await until(order, logged("invoice voided"), "the late invoice is voided")
    [invoice] = stripe_api.invoices.values()
    assert invoice["status"] == "void"
    assert "invoice_ready" not in kinds(settings.outbox_dir), "a paid order gets no invoice to pay"


async def test_a_late_invoice_follows_the_payment_email(
    ts_env: WorkflowEnvironment, order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    stripe_api.fail_next("POST", "/v1/customers", status=503, times=10_000)
    await issue(order, "invoice")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.payment_instructions and o.payment_instructions.invoice_pending, "invoice pending")
    await ts_env.sleep(INVOICE_WAIT + timedelta(seconds=1))
    await eventually(lambda: "payment_requested" in kinds(settings.outbox_dir), "payment email")

    stripe_api.clear_faults()
    await eventually(lambda: "invoice_ready" in kinds(settings.outbox_dir), "invoice link follows")
    [invoice] = stripe_api.invoices.values()
    assert invoice["hosted_invoice_url"] in body(settings, "invoice_ready")


# --------------------------------------------------------------------------
# Money the order cannot count is held, never dropped
# --------------------------------------------------------------------------


async def test_a_payment_in_another_currency_is_held(order: Handle, settings: Settings) -> None:
    await issue(order, "bank_transfer")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await order.signal(names.RECORD_PAYMENT, bank("100.00", currency="JPY", method="card", reference="pi_jpy"))

    result = await until(order, lambda o: o.held_payments, "payment held")
    [held] = result.held_payments
    assert (held.amount, held.currency, held.reference) == (Decimal("100.00"), "JPY", "pi_jpy")
    assert held.reason == "the payment is in JPY, but the order is in EUR"
    assert result.payments == [] and result.balance_due == Decimal("4800.00")
    await eventually(lambda: "payment_needs_review" in kinds(settings.outbox_dir), "operations told")
    assert "pi_jpy" in body(settings, "payment_needs_review")


async def test_a_payment_for_another_invoice_is_held(order: Handle, stripe_api: StripeDouble) -> None:
    await issue(order, "invoice")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.payment_instructions and o.payment_instructions.invoice_id, "invoice")

    await order.signal(names.RECORD_PAYMENT, bank(method="invoice", reference="in_someone_else"))

    result = await until(order, lambda o: o.held_payments, "payment held")
    assert result.held_payments[0].reason.startswith("invoice in_someone_else is not this order's invoice")
    assert result.status is OrderStatus.AWAITING_PAYMENT


async def test_a_payment_before_approval_is_visible_and_sent_to_operations(order: Handle, settings: Settings) -> None:
    await issue(order, "bank_transfer")
    await order.signal(names.RECORD_PAYMENT, bank("500.00", reference="TX-EARLY"))

    result = await until(order, lambda o: o.held_payments, "payment held")
    assert result.held_payments[0].reason == "it arrived before any order confirmation was approved"
    assert result.rejected == [], "money is never refused"
    await eventually(lambda: "payment_needs_review" in kinds(settings.outbox_dir), "operations told")


async def test_money_after_the_cancellation_settled_is_held_and_sent_to_operations(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "paid by card")
    refund = stripe_api.hold_next("POST", "/v1/refunds")  # keeps the workflow open while it settles
    await order.signal(names.CANCEL, CancelInput(reason="Budget was cut", by="customer"))
    await asyncio.to_thread(refund.wait_arrived)

    await order.signal(names.RECORD_PAYMENT, bank("4800.00", reference="TX-LATE"))
    result = await until(order, lambda o: o.held_payments, "late payment held")
    refund.release()

    assert result.held_payments[0].reason == "it arrived after the order was CANCELLED"
    await eventually(lambda: "payment_needs_review" in kinds(settings.outbox_dir), "operations told")
    assert "TX-LATE" in body(settings, "payment_needs_review")


async def test_a_refund_that_fails_later_alerts_operations(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "paid by card")
    refund = stripe_api.hold_next("POST", "/v1/refunds")  # keeps the order open while it settles
    await order.signal(names.CANCEL, CancelInput(reason="Budget was cut", by="customer"))
    await asyncio.to_thread(refund.wait_arrived)

    # Stripe's refund.failed for an earlier refund (the webhook receiver sends this).
    failed = PaymentEventInput(
        event="refund_failed", reference="re_earlier", amount=Decimal("120.00"), detail="lost_card"
    )
    await order.signal(names.PAYMENT_EVENT, failed)
    await until(order, logged("refund failed"), "refund failure recorded")
    refund.release()

    await eventually(lambda: "refund_needed" in kinds(settings.outbox_dir), "operations told")
    text = body(settings, "refund_needed")
    assert "lost_card" in text and "re_earlier" in text and "EUR 120.00" in text


# --------------------------------------------------------------------------
# Amounts a currency cannot carry are refused when issued
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "price", "problem"),
    [
        ("JPY", "499.50", "line_items.0.unit_price: JPY 499.50 cannot be charged: JPY amounts must be whole units"),
        ("KWD", "1.234", "unit_price\n  Decimal input should have no more than 2 decimal places"),
    ],
)
def test_amounts_the_currency_cannot_carry_are_refused_naming_the_field(
    currency: str, price: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ConfirmationDraft(currency=currency, line_items=[LineItem(description="Setup", unit_price=Decimal(price))])
    assert problem in str(caught.value)


def test_whole_yen_and_two_decimal_dinars_are_fine() -> None:
    ConfirmationDraft(currency="JPY", line_items=[LineItem(description="Setup", unit_price=Decimal("500"))])
    ConfirmationDraft(currency="KWD", line_items=[LineItem(description="Setup", unit_price=Decimal("12.34"))])


# --------------------------------------------------------------------------
# Paid twice: a card charge that lands after a bank transfer paid in full
# --------------------------------------------------------------------------


async def test_a_card_charge_after_a_bank_transfer_paid_in_full_is_refunded(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card", "bank_transfer", cancellation_fee=Decimal("300.00"))
    held = stripe_api.hold_next("POST", "/v1/payment_intents")  # the card is charged, the answer is late
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await asyncio.to_thread(held.wait_arrived)
    await order.signal(names.RECORD_PAYMENT, bank())  # meanwhile the bank transfer pays it in full
    await until(order, lambda o: o.status is OrderStatus.IN_PROGRESS, "paid by bank transfer")
    held.release()

    result = await until(order, lambda o: o.refunds and o.overpaid == 0, "the card payment refunded")
    [intent] = stripe_api.payment_intents.values()
    [stored] = stripe_api.refunds.values()
    assert stored["payment_intent"] == intent["id"] and stored["amount"] == 480000, "the overpaid part, no fee"
    keys = [r.idempotency_key for r in stripe_api.requests_to("POST", "/v1/refunds")]
    assert keys == [f"order-{result.order_id}:refund:overpaid:{intent['id']}"], "one key per order and payment"
    [refund] = result.refunds
    assert (refund.amount, refund.method, refund.status) == (Decimal("4800.00"), PaymentMethod.CARD, "succeeded")
    assert [p.method for p in result.payments] == [PaymentMethod.BANK_TRANSFER, PaymentMethod.CARD]
    assert result.amount_paid == Decimal("4800.00") and result.balance_due == 0
    await eventually(lambda: "overpayment_refunded" in kinds(settings.outbox_dir), "the customer told")
    assert "We have refunded EUR 4,800.00" in body(settings, "overpayment_refunded")
    sent = kinds(settings.outbox_dir)
    assert "overpayment_alert" not in sent and "refund_needed" not in sent, "nothing left for operations"

    # A later cancellation refunds what was really kept, less the fee, not the card payment again.
    await order.signal(names.CANCEL, CancelInput(reason="Budget was cut", by="customer"))
    result = await until(order, lambda o: len(o.refunds) == 2, "the cancellation settled")
    assert result.refunds[1].amount == Decimal("4500.00") and result.refunds[1].status == "manual"
    assert len(stripe_api.refunds) == 1, "the bank transfer is refunded by hand, the card is not refunded twice"


async def test_a_card_payment_that_pays_more_than_the_balance_refunds_only_the_difference(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card", "bank_transfer")
    held = stripe_api.hold_next("POST", "/v1/payment_intents")
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await asyncio.to_thread(held.wait_arrived)
    await order.signal(names.RECORD_PAYMENT, bank("1000.00"))  # part paid by transfer while the card is charged
    await until(order, lambda o: o.amount_paid == Decimal("1000.00"), "part paid")
    held.release()

    result = await until(order, lambda o: o.refunds and o.overpaid == 0, "the overpaid part refunded")
    [stored] = stripe_api.refunds.values()
    assert stored["amount"] == 100000
    assert result.amount_paid == Decimal("4800.00") and result.status is OrderStatus.IN_PROGRESS
