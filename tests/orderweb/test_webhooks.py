"""The Stripe webhook receiver: signatures, routing and answers, without a Temporal server.

The order side (signals really applied, once) is tested against real servers
in ``tests/workflows/test_stripe_payments.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from orderweb.webhooks import MAX_BODY_BYTES, WEBHOOK_PATH, Ignored, Routed, create_app, route_event
from tests.doubles.stripe_api import StripeDouble, serve, sign
from workflows import names
from workflows.models import PaymentEventInput, PaymentFailedInput, PaymentMethod, RecordPaymentInput

SECRET = "whsec_test_0123456789abcdef"


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


class RecordingHandle:
    def __init__(self, client: RecordingClient, workflow_id: str) -> None:
        self._client, self._workflow_id = client, workflow_id

    async def signal(self, name: str, payload: Any, rpc_timeout: Any = None) -> None:
        if self._client.fail_with is not None:
            raise self._client.fail_with
        self._client.signals.append((self._workflow_id, name, payload))


class RecordingClient:
    """Stands in for ``temporalio.client.Client``: records the signals it is asked to send."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, str, Any]] = []
        self.fail_with: Exception | None = None
        self.connects = 0

    def get_workflow_handle(self, workflow_id: str) -> RecordingHandle:
        return RecordingHandle(self, workflow_id)


@pytest.fixture
def temporal() -> RecordingClient:
    return RecordingClient()


async def post(client: RecordingClient, payload: bytes, signature: str | None) -> httpx.Response:
    async def factory() -> Any:
        client.connects += 1
        return client

    app = create_app(factory, SECRET)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        return await http.post(WEBHOOK_PATH, content=payload, headers=headers)


def intent(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "pi_3Abc",
        "object": "payment_intent",
        "amount": 480000,
        "amount_received": 480000,
        "currency": "eur",
        "metadata": {"order_id": "acme-42", "attempt": "1"},
        "status": "succeeded",
        "last_payment_error": None,
    }
    obj.update(overrides)
    return obj


def invoice(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "in_1Abc",
        "object": "invoice",
        "amount_due": 480000,
        "amount_paid": 480000,
        "currency": "eur",
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_abc",
        "metadata": {"order_id": "acme-42"},
        "number": "ACME-0001",
        "status": "paid",
    }
    obj.update(overrides)
    return obj


def event(stripe_api: StripeDouble, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return stripe_api.event(event_type, obj, event_id="evt_1Abc")


def test_payment_intent_succeeded_records_a_card_payment(stripe_api: StripeDouble) -> None:
    routed = route_event(event(stripe_api, "payment_intent.succeeded", intent()))
    assert isinstance(routed, Routed)
    assert (routed.order_id, routed.signal) == ("acme-42", names.RECORD_PAYMENT)
    payload = routed.payload
    assert isinstance(payload, RecordPaymentInput)
    assert payload.amount == Decimal("4800.00") and payload.method is PaymentMethod.CARD
    assert payload.reference == "pi_3Abc" and payload.request_id == "stripe:evt_1Abc"
    assert payload.received_at is not None


def test_zero_decimal_amounts_are_whole_units(stripe_api: StripeDouble) -> None:
    routed = route_event(event(stripe_api, "payment_intent.succeeded", intent(currency="jpy", amount_received=50000)))
    assert isinstance(routed, Routed) and isinstance(routed.payload, RecordPaymentInput)
    assert routed.payload.amount == Decimal("50000.00")


@pytest.mark.parametrize(
    ("currency", "minor", "amount"),
    [("jpy", 100, "100"), ("eur", 100, "1.00"), ("kwd", 1230, "1.23"), ("usd", 480000, "4800.00")],
)
def test_payments_carry_their_currency_and_exact_amount(
    stripe_api: StripeDouble, currency: str, minor: int, amount: str
) -> None:
    for event_type, obj in (
        ("payment_intent.succeeded", intent(currency=currency, amount_received=minor)),
        ("invoice.paid", invoice(currency=currency, amount_paid=minor)),
    ):
        routed = route_event(event(stripe_api, event_type, obj))
        assert isinstance(routed, Routed) and isinstance(routed.payload, RecordPaymentInput)
        assert routed.payload.currency == currency.upper() and routed.payload.amount == Decimal(amount)


@pytest.mark.parametrize("event_type", ["refund.failed", "refund.updated", "charge.refund.updated"])
def test_a_failed_refund_is_a_refund_failed_event(stripe_api: StripeDouble, event_type: str) -> None:
    refund = {
        "id": "re_3Fail",
        "object": "refund",
        "amount": 455000,
        "currency": "eur",
        "status": "failed",
        "failure_reason": "lost_or_stolen_card",
        "payment_intent": "pi_3Abc",
        "metadata": {"order_id": "acme-42"},
    }
    routed = route_event(event(stripe_api, event_type, refund))
    assert isinstance(routed, Routed) and routed.signal == names.PAYMENT_EVENT
    payload = routed.payload
    assert isinstance(payload, PaymentEventInput)
    assert (payload.event, payload.reference, payload.amount) == ("refund_failed", "re_3Fail", Decimal("4550.00"))
    assert payload.detail == "lost_or_stolen_card"
    # refund.failed and refund.updated report one failure: one request id.
    assert payload.request_id == "stripe:refund_failed:re_3Fail"

    if event_type != "refund.failed":
        pending = route_event(event(stripe_api, event_type, {**refund, "status": "succeeded"}))
        assert isinstance(pending, Ignored) and "is succeeded" in pending.reason


def test_payment_failed_carries_the_reason_and_decline_code(stripe_api: StripeDouble) -> None:
    error = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    routed = route_event(event(stripe_api, "payment_intent.payment_failed", intent(last_payment_error=error)))
    assert isinstance(routed, Routed) and routed.signal == names.PAYMENT_FAILED
    payload = routed.payload
    assert isinstance(payload, PaymentFailedInput)
    assert payload.reason == "Your card has insufficient funds." and payload.decline_code == "insufficient_funds"
    assert payload.method is PaymentMethod.CARD and not payload.requires_action

    error = {"code": "authentication_required", "decline_code": "authentication_required", "message": "Needs 3DS."}
    routed = route_event(event(stripe_api, "payment_intent.payment_failed", intent(last_payment_error=error)))
    assert isinstance(routed, Routed) and isinstance(routed.payload, PaymentFailedInput)
    assert routed.payload.requires_action


def test_invoice_events(stripe_api: StripeDouble) -> None:
    paid = route_event(event(stripe_api, "invoice.paid", invoice()))
    assert isinstance(paid, Routed) and paid.signal == names.RECORD_PAYMENT
    assert isinstance(paid.payload, RecordPaymentInput)
    assert paid.payload.method is PaymentMethod.INVOICE and paid.payload.reference == "in_1Abc"
    assert paid.payload.currency == "EUR" and paid.payload.amount == Decimal("4800.00")

    failed = route_event(event(stripe_api, "invoice.payment_failed", invoice(status="open", amount_paid=0)))
    assert isinstance(failed, Routed) and isinstance(failed.payload, PaymentFailedInput)
    assert failed.payload.method is PaymentMethod.INVOICE
    assert failed.payload.hosted_url == "https://invoice.stripe.com/i/acct_1/test_abc"

    voided = route_event(event(stripe_api, "invoice.voided", invoice(status="void", amount_paid=0)))
    assert isinstance(voided, Routed) and voided.signal == names.PAYMENT_EVENT
    assert isinstance(voided.payload, PaymentEventInput) and voided.payload.event == "invoice_voided"


def test_charge_refunded_is_a_payment_event(stripe_api: StripeDouble) -> None:
    charge = {
        "id": "ch_1Abc",
        "object": "charge",
        "amount_refunded": 455000,
        "currency": "eur",
        "payment_intent": "pi_3Abc",
        "metadata": {"order_id": "acme-42"},
    }
    routed = route_event(event(stripe_api, "charge.refunded", charge))
    assert isinstance(routed, Routed) and isinstance(routed.payload, PaymentEventInput)
    assert routed.payload.event == "charge_refunded" and routed.payload.reference == "pi_3Abc"
    assert routed.payload.amount == Decimal("4550.00")


@pytest.mark.parametrize(
    ("event_type", "obj", "reason"),
    [
        ("customer.created", {"id": "cus_1", "object": "customer"}, "unhandled event type"),
        ("invoice.paid", invoice(metadata={}), "has no metadata.order_id"),
        ("payment_intent.succeeded", intent(metadata={"order_id": "../etc"}), "is not an order id"),
        ("invoice.paid", invoice(amount_paid=0), "without a payment"),
    ],
)
def test_events_that_need_no_signal(
    stripe_api: StripeDouble, event_type: str, obj: dict[str, Any], reason: str
) -> None:
    routed = route_event(event(stripe_api, event_type, obj))
    assert isinstance(routed, Ignored) and reason in routed.reason


# --------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------


async def test_signed_event_is_signalled(stripe_api: StripeDouble, temporal: RecordingClient) -> None:
    payload = json.dumps(event(stripe_api, "invoice.paid", invoice())).encode()
    response = await post(temporal, payload, sign(payload, SECRET))
    assert response.status_code == 200
    assert response.json() == {"received": True, "order_id": "acme-42", "signal": names.RECORD_PAYMENT}
    [(workflow_id, signal, sent)] = temporal.signals
    assert workflow_id == "order-acme-42" and signal == names.RECORD_PAYMENT
    assert isinstance(sent, RecordPaymentInput) and sent.request_id == "stripe:evt_1Abc"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "garbage",
        "t=1700000000,v1=0000",
        "wrong-secret",
        "stale",
    ],
)
async def test_bad_or_stale_signature_is_400_with_no_side_effect(
    stripe_api: StripeDouble, temporal: RecordingClient, signature: str | None
) -> None:
    payload = json.dumps(event(stripe_api, "invoice.paid", invoice())).encode()
    if signature == "wrong-secret":
        signature = sign(payload, "whsec_someone_else")
    elif signature == "stale":
        signature = sign(payload, SECRET, timestamp=int(time.time()) - 3600)
    response = await post(temporal, payload, signature)
    assert response.status_code == 400
    assert temporal.signals == [] and temporal.connects == 0


async def test_a_signed_payload_that_is_not_json_is_400(temporal: RecordingClient) -> None:
    payload = b"not json"
    response = await post(temporal, payload, sign(payload, SECRET))
    assert response.status_code == 400 and temporal.signals == []


async def test_unhandled_events_and_unknown_orders_are_acknowledged(
    stripe_api: StripeDouble, temporal: RecordingClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orders.webhooks")
    payload = json.dumps(event(stripe_api, "customer.created", {"id": "cus_1", "object": "customer"})).encode()
    response = await post(temporal, payload, sign(payload, SECRET))
    assert response.status_code == 200 and "unhandled" in response.json()["ignored"]

    # An event that is not money: nothing to hand over. (Money for a closed or
    # unknown order alerts operations: tests/orderweb/test_webhooks_money.py.)
    temporal.fail_with = RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
    payload = json.dumps(event(stripe_api, "invoice.voided", invoice(status="void"))).encode()
    response = await post(temporal, payload, sign(payload, SECRET))
    assert response.status_code == 200 and response.json()["ignored"] == "no running order acme-42"
    assert "evt_1Abc" in caplog.text and SECRET not in caplog.text


async def test_temporal_unavailable_is_503_so_stripe_retries(
    stripe_api: StripeDouble, temporal: RecordingClient
) -> None:
    temporal.fail_with = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    payload = json.dumps(event(stripe_api, "invoice.paid", invoice())).encode()
    response = await post(temporal, payload, sign(payload, SECRET))
    assert response.status_code == 503


def test_a_secret_is_required() -> None:
    async def factory() -> Any:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="secret"):
        create_app(factory, "")


@pytest.mark.parametrize("body", [b"[]", b'["evt_1"]', b"null", b"42", b'"evt_1"', b"true"])
async def test_a_signed_json_body_that_is_not_an_object_is_400(temporal: RecordingClient, body: bytes) -> None:
    response = await post(temporal, body, sign(body, SECRET))
    assert response.status_code == 400 and response.json() == {"error": "invalid payload"}
    assert temporal.signals == [] and temporal.connects == 0


async def test_a_body_over_the_cap_is_413_by_its_content_length(temporal: RecordingClient) -> None:
    body = b'{"id": "evt_1", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await post(temporal, body, sign(body, SECRET))
    assert response.status_code == 413 and response.json() == {"error": "payload too large"}
    assert temporal.signals == [] and temporal.connects == 0


async def test_a_chunked_body_is_cut_off_at_the_cap(temporal: RecordingClient) -> None:
    """No Content-Length: the receiver stops reading once the cap is passed."""
    chunk = b"x" * 64 * 1024
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 20 * MAX_BODY_BYTES:
            sent += len(chunk)
            yield chunk

    async def factory() -> Any:
        return temporal

    app = create_app(factory, SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        response = await http.post(WEBHOOK_PATH, content=endless(), headers={"Stripe-Signature": "t=1,v1=0"})
    assert response.status_code == 413
    assert sent < 2 * MAX_BODY_BYTES, f"read {sent} bytes before refusing"
    assert temporal.signals == []


async def test_a_body_just_under_the_cap_is_still_read(stripe_api: StripeDouble, temporal: RecordingClient) -> None:
    payload = event(stripe_api, "invoice.paid", invoice())
    payload["pad"] = "x" * (MAX_BODY_BYTES - len(json.dumps(payload)) - 20)
    body = json.dumps(payload).encode()
    assert len(body) <= MAX_BODY_BYTES
    response = await post(temporal, body, sign(body, SECRET))
    assert response.status_code == 200 and len(temporal.signals) == 1
