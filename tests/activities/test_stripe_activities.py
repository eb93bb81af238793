"""The payment activities driving the real ``stripe.StripeClient`` against the Stripe double."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.config import Settings
from activities.payments import PaymentActivities
from activities.stripe_payments import StripeGateway
from tests.doubles.stripe_api import TEST_API_KEY, StripeDouble, serve
from workflows.models import (
    ChargeRequest,
    ChargeResult,
    LineItem,
    Payment,
    PaymentInstructions,
    PaymentMethod,
    PaymentRequest,
    RefundRequest,
    RefundResult,
    VoidInvoiceRequest,
)

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


@pytest.fixture
def stripe_settings(tmp_path: Path, stripe_api: StripeDouble) -> Settings:
    return Settings.from_env(
        {
            "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"),
            "ORDERS_WEB_BASE_URL": "https://orders.example.com",
            "STRIPE_API_KEY": TEST_API_KEY,
            "STRIPE_API_BASE": stripe_api.url,
            "STRIPE_TIMEOUT": "5",
        }
    )


@pytest.fixture
def payments(stripe_settings: Settings) -> PaymentActivities:
    return PaymentActivities(stripe_settings, StripeGateway.from_settings(stripe_settings))


def payment_request(**overrides: Any) -> PaymentRequest:
    values: dict[str, Any] = {
        "order_id": "acme-42",
        "methods": [PaymentMethod.BANK_TRANSFER, PaymentMethod.INVOICE],
        "amount": Decimal("4800.00"),
        "currency": "EUR",
        "reference": "SO-ACME-42",
        "due_at": NOW,
        "idempotency_key": "order-acme-42:payment-request",
        "customer_name": "Jane Doe",
        "customer_email": "jane.doe@acme.example",
        "line_items": [
            LineItem(description="Design and templates", unit_price=Decimal("2400.00")),
            LineItem(description="Implementation (days)", quantity=Decimal("4.8"), unit_price=Decimal("500.00")),
        ],
        "days_until_due": 14,
    }
    values.update(overrides)
    return PaymentRequest(**values)


def charge_request(**overrides: Any) -> ChargeRequest:
    values: dict[str, Any] = {
        "order_id": "acme-42",
        "attempt": 1,
        "amount": Decimal("4800.00"),
        "currency": "EUR",
        "stripe_customer_id": "cus_Acme42",
        "payment_method_id": "pm_card_visa",
        "description": "Order acme-42",
        "idempotency_key": "order-acme-42:charge:1",
    }
    values.update(overrides)
    return ChargeRequest(**values)


async def request_payment(acts: PaymentActivities, request: PaymentRequest) -> PaymentInstructions:
    result: PaymentInstructions = await ActivityEnvironment().run(acts.request_payment, request)
    return result


async def charge(acts: PaymentActivities, request: ChargeRequest) -> ChargeResult:
    result: ChargeResult = await ActivityEnvironment().run(acts.charge_card, request)
    return result


async def refund(acts: PaymentActivities, request: RefundRequest) -> RefundResult:
    result: RefundResult = await ActivityEnvironment().run(acts.refund_payment, request)
    return result


async def charge_failure(acts: PaymentActivities, request: ChargeRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await charge(acts, request)
    return caught.value


# --------------------------------------------------------------------------
# Hosted invoices
# --------------------------------------------------------------------------


async def test_hosted_invoice_is_created_item_by_item_and_finalized(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    instructions = await request_payment(payments, payment_request())

    [invoice] = stripe_api.invoices.values()
    assert invoice["status"] == "open"
    assert instructions.invoice_id == invoice["id"]
    assert instructions.invoice_url == invoice["hosted_invoice_url"] and instructions.invoice_url
    assert instructions.invoice_pdf == invoice["invoice_pdf"] and instructions.invoice_pdf
    assert instructions.bank_transfer is not None and instructions.reference == "SO-ACME-42"
    assert invoice["amount_due"] == 480000 and invoice["currency"] == "eur"
    assert invoice["collection_method"] == "send_invoice" and invoice["days_until_due"] == 14
    assert invoice["metadata"] == {"order_id": "acme-42", "reference": "SO-ACME-42"}

    calls = [(r.path.replace(invoice["id"], "{id}"), r.idempotency_key) for r in stripe_api.requests]
    key = "order-acme-42:payment-request"
    assert calls == [
        ("/v1/customers", f"{key}:customer"),
        ("/v1/invoices", f"{key}:invoice"),
        ("/v1/invoiceitems", f"{key}:item:1"),
        ("/v1/invoiceitems", f"{key}:item:2"),
        ("/v1/invoices/{id}/finalize", f"{key}:finalize"),
    ]
    items = [r.form for r in stripe_api.requests_to("POST", "/v1/invoiceitems")]
    assert [(i["invoice"], i["amount"], i["currency"]) for i in items] == [
        (invoice["id"], "240000", "eur"),
        (invoice["id"], "240000", "eur"),
    ]
    assert items[1]["description"] == "Implementation (days) (4.8 x EUR 500.00)"
    [customer] = stripe_api.customers.values()
    assert customer["email"] == "jane.doe@acme.example" and customer["metadata"] == {"order_id": "acme-42"}
    assert {r.header("Stripe-Version") for r in stripe_api.requests} == {"2026-10-28.endive"}


async def test_a_retried_invoice_request_creates_nothing_twice(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.fail_next("POST", "/v1/invoices/", status=500)  # the finalize call

    with pytest.raises(ApplicationError) as caught:
        await request_payment(payments, payment_request())
    assert caught.value.type == "StripeServerError" and not caught.value.non_retryable
    retried = await request_payment(payments, payment_request())

    assert len(stripe_api.customers) == 1 and len(stripe_api.invoices) == 1 and len(stripe_api.invoice_items) == 2
    assert retried.invoice_url == next(iter(stripe_api.invoices.values()))["hosted_invoice_url"]
    replays = [r for r in stripe_api.requests if r.replayed]
    assert [r.path for r in replays] == ["/v1/customers", "/v1/invoices", "/v1/invoiceitems", "/v1/invoiceitems"]


async def test_known_stripe_customer_is_reused(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    await request_payment(payments, payment_request(stripe_customer_id="cus_Known1", line_items=[]))
    assert stripe_api.customers == {}
    [invoice] = stripe_api.invoices.values()
    assert invoice["customer"] == "cus_Known1" and invoice["amount_due"] == 480000


async def test_invoice_lines_are_balanced_to_the_amount_due(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    await request_payment(payments, payment_request(amount=Decimal("4000.00")))
    lines = [(r.form["description"], int(r.form["amount"])) for r in stripe_api.requests_to("POST", "/v1/invoiceitems")]
    assert lines[-1] == ("Already paid", -80000)
    assert next(iter(stripe_api.invoices.values()))["amount_due"] == 400000


async def test_a_refused_invoice_reaches_the_order_without_the_key(stripe_settings: Settings) -> None:
    # The order alerts operations on it; the customer still has the other methods.
    wrong_key = replace(stripe_settings, stripe_api_key="sk_test_not_the_right_one")
    acts = PaymentActivities(wrong_key, StripeGateway.from_settings(wrong_key))
    with pytest.raises(ApplicationError) as refused:
        await request_payment(acts, payment_request())
    assert refused.value.type == "StripeAuthentication" and refused.value.non_retryable
    assert "sk_test_not_the_right_one" not in str(refused.value)


async def test_without_stripe_invoice_terms_are_refused_plainly(settings: Settings) -> None:
    with pytest.raises(ApplicationError) as refused:
        await request_payment(PaymentActivities(settings), payment_request())
    assert refused.value.type == "StripeNotConfigured" and "STRIPE_API_KEY" in refused.value.message


# --------------------------------------------------------------------------
# Card charges
# --------------------------------------------------------------------------


async def test_card_charge_is_an_off_session_confirmed_payment_intent(
    payments: PaymentActivities, stripe_api: StripeDouble, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        result = await charge(payments, charge_request())

    [intent] = stripe_api.payment_intents.values()
    assert result == ChargeResult(status="succeeded", payment_intent_id=intent["id"], amount=Decimal("4800.00"))
    [call] = stripe_api.requests
    assert call.idempotency_key == "order-acme-42:charge:1"
    form = call.form
    assert form["amount"] == "480000" and form["currency"] == "eur"
    assert form["customer"] == "cus_Acme42" and form["payment_method"] == "pm_card_visa"
    assert form["off_session"] == "true" and form["confirm"] == "true"
    assert form["metadata[order_id]"] == "acme-42" and form["metadata[attempt]"] == "1"
    assert intent["id"] in caplog.text and TEST_API_KEY not in caplog.text


@pytest.mark.parametrize(("currency", "amount", "minor"), [("JPY", "50000", "50000"), ("KWD", "12.34", "12340")])
async def test_zero_and_three_decimal_currencies(
    payments: PaymentActivities, stripe_api: StripeDouble, currency: str, amount: str, minor: str
) -> None:
    result = await charge(payments, charge_request(currency=currency, amount=Decimal(amount)))
    assert result.status == "succeeded" and result.amount == Decimal(amount)
    assert stripe_api.requests[0].form["amount"] == minor
    assert stripe_api.requests[0].form["currency"] == currency.lower()


async def test_decline_is_returned_in_plain_words(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    result = await charge(payments, charge_request(payment_method_id="pm_card_visa_chargeDeclinedInsufficientFunds"))
    [intent] = stripe_api.payment_intents.values()
    assert result.status == "declined"
    assert result.payment_intent_id == intent["id"]
    assert result.decline_code == "insufficient_funds"
    assert result.message == "The card has insufficient funds."
    assert result.hosted_url is None


async def test_authentication_required_asks_the_customer_to_complete_payment(
    payments: PaymentActivities,
) -> None:
    result = await charge(payments, charge_request(payment_method_id="pm_card_authenticationRequired"))
    assert result.status == "requires_action"
    assert result.decline_code == "authentication_required"
    assert result.hosted_url == "https://orders.example.com/orders/acme-42/pay"


async def test_a_repeated_decline_is_replayed_not_charged_again(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    stripe_api.decline_next()
    first = await charge(payments, charge_request())
    again = await charge(payments, charge_request())
    assert first == again and first.status == "declined"
    assert len(stripe_api.payment_intents) == 1 and stripe_api.requests[1].replayed


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [(429, "StripeRateLimit"), (500, "StripeServerError"), (503, "StripeServerError"), (409, "StripeConflict")],
)
async def test_transient_failures_are_retryable_and_the_retry_charges_once(
    payments: PaymentActivities, stripe_api: StripeDouble, fault: int, error_type: str
) -> None:
    stripe_api.fail_next("POST", "/v1/payment_intents", status=fault)
    failure = await charge_failure(payments, charge_request())
    assert failure.type == error_type and not failure.non_retryable

    result = await charge(payments, charge_request())

    assert result.status == "succeeded"
    assert len(stripe_api.payment_intents) == 1
    charges = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in charges] == ["order-acme-42:charge:1"] * 2


async def test_lost_request_is_retried_with_the_same_key(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    stripe_api.drop_next("POST", "/v1/payment_intents")
    failure = await charge_failure(payments, charge_request())
    assert failure.type == "StripeConnection" and not failure.non_retryable
    assert stripe_api.payment_intents == {}  # lost before Stripe, and the customer's list says so

    result = await charge(payments, charge_request())

    assert result.status == "succeeded" and result.payment_intent_id in stripe_api.payment_intents
    charges = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in charges] == ["order-acme-42:charge:1"] * 2


async def test_a_key_reused_with_other_parameters_is_not_retried(
    payments: PaymentActivities, stripe_api: StripeDouble
) -> None:
    await charge(payments, charge_request())
    failure = await charge_failure(payments, charge_request(amount=Decimal("10.00")))
    assert failure.type == "StripeIdempotency" and failure.non_retryable


async def test_refused_request_and_bad_key_are_not_retried(
    stripe_settings: Settings, payments: PaymentActivities
) -> None:
    failure = await charge_failure(payments, charge_request(currency="JPY", amount=Decimal("10.50")))
    assert failure.type == "StripeInvalidAmount" and failure.non_retryable
    wrong = replace(stripe_settings, stripe_api_key="sk_test_wrong")
    failure = await charge_failure(PaymentActivities(wrong, StripeGateway.from_settings(wrong)), charge_request())
    assert failure.type == "StripeAuthentication" and failure.non_retryable
    assert "sk_test_wrong" not in failure.message


async def test_charge_without_stripe_is_not_configured(settings: Settings) -> None:
    failure = await charge_failure(PaymentActivities(settings), charge_request())
    assert failure.type == "StripeNotConfigured" and failure.non_retryable
    assert "STRIPE_API_KEY" in failure.message


# --------------------------------------------------------------------------
# Voids and refunds
# --------------------------------------------------------------------------


async def test_void_invoice(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    instructions = await request_payment(payments, payment_request())
    assert instructions.invoice_id is not None
    request = VoidInvoiceRequest(
        order_id="acme-42", invoice_id=instructions.invoice_id, idempotency_key="order-acme-42:void-invoice"
    )
    await ActivityEnvironment().run(payments.void_invoice, request)
    await ActivityEnvironment().run(payments.void_invoice, request)  # a retry replays
    assert stripe_api.invoices[instructions.invoice_id]["status"] == "void"
    voids = [r for r in stripe_api.requests if r.path.endswith("/void")]
    assert [r.status for r in voids] == [200, 200] and voids[1].replayed


def paid(method: PaymentMethod, reference: str, amount: str) -> Payment:
    return Payment(at=NOW, amount=Decimal(amount), method=method, reference=reference)


async def test_card_refund_against_the_payment_intent(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    charged = await charge(payments, charge_request())
    assert charged.payment_intent_id is not None
    request = RefundRequest(
        order_id="acme-42",
        amount=Decimal("4550.00"),
        currency="EUR",
        payments=[paid(PaymentMethod.CARD, charged.payment_intent_id, "4800.00")],
        idempotency_key="order-acme-42:refund",
    )

    result = await refund(payments, request)
    again = await refund(payments, request)

    [stored] = stripe_api.refunds.values()
    assert (
        result
        == again
        == RefundResult(
            amount=Decimal("4550.00"), method=PaymentMethod.CARD, status="succeeded", refund_id=stored["id"]
        )
    )
    assert stored["amount"] == 455000 and stored["payment_intent"] == charged.payment_intent_id
    assert [r.idempotency_key for r in stripe_api.requests_to("POST", "/v1/refunds")] == ["order-acme-42:refund"] * 2


async def test_invoice_refund_finds_the_payment_intent(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    instructions = await request_payment(payments, payment_request())
    assert instructions.invoice_id is not None
    stripe_api.pay_invoice(instructions.invoice_id)

    result = await refund(
        payments,
        RefundRequest(
            order_id="acme-42",
            amount=Decimal("4800.00"),
            currency="EUR",
            payments=[paid(PaymentMethod.INVOICE, instructions.invoice_id, "4800.00")],
            idempotency_key="order-acme-42:refund",
        ),
    )

    [listing] = stripe_api.requests_to("GET", "/v1/invoice_payments")
    assert listing.query == {"invoice": instructions.invoice_id}
    [stored] = stripe_api.refunds.values()
    assert result.status == "succeeded" and result.method is PaymentMethod.INVOICE
    assert stored["amount"] == 480000
    assert stripe_api.payment_intents[stored["payment_intent"]]["status"] == "succeeded"


async def test_bank_transfers_are_refunded_by_hand(payments: PaymentActivities, stripe_api: StripeDouble) -> None:
    charged = await charge(payments, charge_request(amount=Decimal("1000.00")))
    assert charged.payment_intent_id is not None
    mixed = [
        paid(PaymentMethod.BANK_TRANSFER, "SO-ACME-42", "3800.00"),
        paid(PaymentMethod.CARD, charged.payment_intent_id, "1000.00"),
    ]
    request = RefundRequest(
        order_id="acme-42", amount=Decimal("4550.00"), currency="EUR", payments=mixed, idempotency_key="k"
    )

    result = await refund(payments, request)

    assert result.status == "manual" and result.amount == Decimal("4550.00")
    assert stripe_api.refunds == {}


async def test_failed_refund_is_not_retried(payments: PaymentActivities) -> None:
    request = RefundRequest(
        order_id="acme-42",
        amount=Decimal("10.00"),
        currency="EUR",
        payments=[paid(PaymentMethod.CARD, "pi_doesnotexist", "10.00")],
        idempotency_key="order-acme-42:refund",
    )
    with pytest.raises(ApplicationError) as caught:
        await refund(payments, request)
    assert caught.value.type == "StripeInvalidRequest" and caught.value.non_retryable
