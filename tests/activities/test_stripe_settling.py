"""Stripe's unknown outcomes and partial answers, against the Stripe double.

Stripe saves the first answer to an idempotency key once the endpoint has
started, 500s included, and replays it for 24 hours. These tests make the
double do the same and check that the gateway finds what a 500 may have made
before it tries again under a new key: never two charges, never a 2-hour stall.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import PaymentActivities
from tests.activities.test_stripe_activities import (
    charge,
    charge_failure,
    charge_request,
    paid,
    payment_request,
    payments,
    refund,
    request_payment,
    stripe_api,
    stripe_settings,
)
from tests.doubles.stripe_api import StripeDouble
from workflows.models import PaymentMethod, RefundRequest, VoidInvoiceRequest

__all__ = ["payments", "stripe_api", "stripe_settings"]  # fixtures, shared with the other Stripe tests

KEY = "order-acme-42:charge:1"


def charge_calls(stripe_api: StripeDouble) -> list[tuple[str | None, int | None, bool]]:
    return [(r.idempotency_key, r.status, r.replayed) for r in stripe_api.requests_to("POST", "/v1/payment_intents")]


# --------------------------------------------------------------------------
# Saved 500s on a card charge
# --------------------------------------------------------------------------


async def test_a_saved_500_after_the_payment_intent_was_made_finds_it(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500, after=True)

    result = await charge(payments, charge_request())

    [intent] = stripe_api.payment_intents.values()
    assert intent["status"] == "succeeded"
    assert result.status == "succeeded" and result.payment_intent_id == intent["id"]
    assert result.amount == Decimal("4800.00")
    assert charge_calls(stripe_api) == [(KEY, 500, False)], "found by listing, not charged again"
    [listing] = stripe_api.requests_to("GET", "/v1/payment_intents")
    assert listing.query["customer"] == "cus_Acme42"


async def test_a_saved_500_with_nothing_made_is_retried_under_a_new_key(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500, saved=True)

    failure = await charge_failure(payments, charge_request())
    assert failure.type == "StripeServerError" and not failure.non_retryable
    assert stripe_api.payment_intents == {}
    result = await charge(payments, charge_request())  # Temporal's retry of the activity

    [intent] = stripe_api.payment_intents.values()
    assert result.status == "succeeded" and result.payment_intent_id == intent["id"]
    assert intent["metadata"] == {"order_id": "acme-42", "attempt": "1"}
    assert charge_calls(stripe_api) == [(KEY, 500, False), (KEY, 500, True), (f"{KEY}:2", 200, False)]


async def test_several_saved_500s_walk_to_the_first_fresh_key(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500, saved=True, times=2)

    assert (await charge_failure(payments, charge_request())).type == "StripeServerError"
    assert (await charge_failure(payments, charge_request())).type == "StripeServerError"
    result = await charge(payments, charge_request())

    assert result.status == "succeeded" and len(stripe_api.payment_intents) == 1
    keys = [key for key, _, _ in charge_calls(stripe_api)]
    assert keys == [KEY, KEY, f"{KEY}:2", KEY, f"{KEY}:2", f"{KEY}:3"]


async def test_an_answer_lost_in_transit_is_found_without_a_second_charge(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.drop_next("POST", "/v1/payment_intents", after=True)

    result = await charge(payments, charge_request())

    [intent] = stripe_api.payment_intents.values()
    assert result.status == "succeeded" and result.payment_intent_id == intent["id"]
    assert len(stripe_api.requests_to("POST", "/v1/payment_intents")) == 1


async def test_an_edge_500_keeps_the_key(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    """A 500 from in front of the API is not saved: the same key works next time."""
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500)
    await charge_failure(payments, charge_request())
    result = await charge(payments, charge_request())
    assert result.status == "succeeded" and len(stripe_api.payment_intents) == 1
    assert [key for key, _, _ in charge_calls(stripe_api)] == [KEY, KEY]


async def test_another_attempts_payment_intent_is_not_taken_for_this_one(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.decline_next()
    declined = await charge(payments, charge_request())
    assert declined.status == "declined"
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500, saved=True)
    second = charge_request(attempt=2, idempotency_key="order-acme-42:charge:2")

    await charge_failure(payments, second)
    result = await charge(payments, second)

    assert result.status == "succeeded" and result.payment_intent_id != declined.payment_intent_id
    assert len(stripe_api.payment_intents) == 2


# --------------------------------------------------------------------------
# Saved 500s while the hosted invoice is made
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "after"),
    [
        ("/v1/customers", False),
        ("/v1/invoices", True),
        ("/v1/invoiceitems", True),
        ("/v1/invoiceitems", False),
        ("/v1/invoices/", True),  # finalize
        ("/v1/invoices/", False),
    ],
)
async def test_a_saved_500_does_not_stall_the_hosted_invoice(
    payments: PaymentActivities, stripe_api: StripeDouble, path: str, after: bool
) -> None:
    stripe_api.fail_next("POST", path, status=500, saved=not after, after=after)

    try:
        instructions = await request_payment(payments, payment_request())
    except ApplicationError as failure:
        assert failure.type == "StripeServerError" and not failure.non_retryable
        instructions = await request_payment(payments, payment_request())

    [invoice] = stripe_api.invoices.values()
    assert instructions.invoice_id == invoice["id"] and invoice["status"] == "open"
    assert invoice["amount_due"] == 480000, "no invoice line twice"
    assert len(stripe_api.invoice_items) == 2


# --------------------------------------------------------------------------
# 3D Secure
# --------------------------------------------------------------------------


async def test_requires_action_with_use_stripe_sdk_asks_the_customer_to_authenticate(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.require_action_next()

    result = await charge(payments, charge_request())

    [intent] = stripe_api.payment_intents.values()
    assert intent["next_action"]["type"] == "use_stripe_sdk"
    assert result.status == "requires_action" and result.payment_intent_id == intent["id"]
    assert result.decline_code == "authentication_required"
    assert result.hosted_url == "https://orders.example.com/orders/acme-42/pay", "the order's own payment page"


async def test_requires_action_with_a_redirect_passes_the_bank_url_on(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.require_action_next("https://hooks.stripe.com/redirect/authenticate/src_1")

    result = await charge(payments, charge_request())

    assert result.status == "requires_action"
    assert result.hosted_url == "https://hooks.stripe.com/redirect/authenticate/src_1"


# --------------------------------------------------------------------------
# Refunds over several payments
# --------------------------------------------------------------------------


async def two_card_payments(payments: PaymentActivities) -> tuple[str, str]:
    first = await charge(payments, charge_request(amount=Decimal("3000.00")))
    second = await charge(
        payments, charge_request(attempt=2, amount=Decimal("1800.00"), idempotency_key="order-acme-42:charge:2")
    )
    assert first.payment_intent_id is not None and second.payment_intent_id is not None
    return first.payment_intent_id, second.payment_intent_id


def refund_of_both(first: str, second: str, amount: str = "4550.00") -> RefundRequest:
    return RefundRequest(
        order_id="acme-42",
        amount=Decimal(amount),
        currency="EUR",
        payments=[paid(PaymentMethod.CARD, first, "3000.00"), paid(PaymentMethod.CARD, second, "1800.00")],
        idempotency_key="order-acme-42:refund",
    )


async def test_a_refund_that_fails_part_way_reports_what_was_refunded(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    first, second = await two_card_payments(payments)
    # Someone refunded the older payment in the Dashboard: Stripe refuses a second refund of it.
    stripe_api.payment_intents[first]["amount_refunded"] = 300000

    result = await refund(payments, refund_of_both(first, second))

    [made] = stripe_api.refunds.values()
    assert made["payment_intent"] == second and made["amount"] == 180000, "newest payment first"
    assert result.status == "partial"
    assert result.amount == Decimal("1800.00") and result.failed_amount == Decimal("2750.00")
    assert result.refund_id == made["id"] and result.method is PaymentMethod.CARD
    assert result.message is not None and "already been refunded" in result.message


async def test_a_refund_whose_first_part_fails_still_fails(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    first, second = await two_card_payments(payments)
    stripe_api.payment_intents[second]["amount_refunded"] = 180000

    with pytest.raises(ApplicationError) as caught:
        await refund(payments, refund_of_both(first, second))

    assert caught.value.type == "StripeInvalidRequest" and caught.value.non_retryable
    assert stripe_api.refunds == {}


async def test_a_retryable_error_part_way_is_retried_and_refunds_once(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    first, second = await two_card_payments(payments)
    stripe_api.fail_next("POST", "/v1/refunds", status=500, skip=1)  # the second refund: the first is made

    with pytest.raises(ApplicationError) as caught:
        await refund(payments, refund_of_both(first, second))
    assert caught.value.type == "StripeServerError" and not caught.value.non_retryable
    assert len(stripe_api.refunds) == 1
    result = await refund(payments, refund_of_both(first, second))  # Temporal's retry

    assert result.status == "succeeded" and result.amount == Decimal("4550.00") and result.failed_amount == 0
    amounts = sorted((r["payment_intent"], r["amount"]) for r in stripe_api.refunds.values())
    assert amounts == sorted([(second, 180000), (first, 275000)])
    keys = [(r.idempotency_key, r.replayed) for r in stripe_api.requests_to("POST", "/v1/refunds")]
    key = "order-acme-42:refund"
    assert keys == [(f"{key}:1", False), (f"{key}:2", False), (f"{key}:1", True), (f"{key}:2", False)]


async def test_a_saved_500_on_a_refund_after_it_was_made_is_not_refunded_twice(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    first, second = await two_card_payments(payments)
    stripe_api.fail_next("POST", "/v1/refunds", status=500, after=True)

    result = await refund(payments, refund_of_both(first, second))

    assert result.status == "succeeded" and result.amount == Decimal("4550.00")
    assert len(stripe_api.refunds) == 2
    assert stripe_api.payment_intents[second]["amount_refunded"] == 180000


# --------------------------------------------------------------------------
# Paid hosted invoices: refund, and no void
# --------------------------------------------------------------------------


async def open_invoice(payments: PaymentActivities) -> str:
    instructions = await request_payment(payments, payment_request())
    assert instructions.invoice_id is not None
    return instructions.invoice_id


async def test_a_paid_invoice_is_refunded_through_its_payment_intent_less_the_fee(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    invoice_id = await open_invoice(payments)
    stripe_api.pay_invoice(invoice_id)
    request = RefundRequest(
        order_id="acme-42",
        amount=Decimal("4550.00"),  # 4,800 paid, less a 250 cancellation fee
        currency="EUR",
        payments=[paid(PaymentMethod.INVOICE, invoice_id, "4800.00")],
        idempotency_key="order-acme-42:refund",
    )

    result = await refund(payments, request)

    [made] = stripe_api.refunds.values()
    [invoice_payment] = stripe_api.invoice_payments.values()
    assert made["payment_intent"] == invoice_payment["payment"]["payment_intent"]
    assert made["amount"] == 455000 and made["metadata"]["payment_reference"] == invoice_id
    assert result.status == "succeeded" and result.amount == Decimal("4550.00")
    assert result.method is PaymentMethod.INVOICE and result.refund_id == made["id"]


async def void(payments: PaymentActivities, invoice_id: str) -> Any:
    request = VoidInvoiceRequest(order_id="acme-42", invoice_id=invoice_id, idempotency_key="order-acme-42:void")
    return await ActivityEnvironment().run(payments.void_invoice, request)


async def test_voiding_a_paid_invoice_says_it_was_paid(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    invoice_id = await open_invoice(payments)
    stripe_api.pay_invoice(invoice_id)

    with pytest.raises(ApplicationError) as caught:
        await void(payments, invoice_id)

    failure = caught.value
    assert failure.type == "StripeInvoiceNotOpen" and failure.non_retryable
    assert failure.details[0] == {
        "invoice_id": invoice_id,
        "status": "paid",
        "amount_paid": "4800.00",
        "currency": "EUR",
    }
    assert stripe_api.invoices[invoice_id]["status"] == "paid"


async def test_voiding_an_invoice_voided_before_is_done(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    invoice_id = await open_invoice(payments)
    await void(payments, invoice_id)
    other = VoidInvoiceRequest(order_id="acme-42", invoice_id=invoice_id, idempotency_key="order-acme-42:void:again")
    await ActivityEnvironment().run(payments.void_invoice, other)  # a new key: Stripe says invoice_not_open
    assert stripe_api.invoices[invoice_id]["status"] == "void"


async def test_a_saved_500_on_void_finds_the_invoice_voided(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    invoice_id = await open_invoice(payments)
    stripe_api.fail_next("POST", f"/v1/invoices/{invoice_id}/void", status=500, after=True)
    await void(payments, invoice_id)
    assert stripe_api.invoices[invoice_id]["status"] == "void"
