"""Card charges, hosted invoices, webhooks and refunds: a real worker, the real
``stripe.StripeClient`` and the Stripe double, on the time-skipping server.

Every flow here is driven by signals (as web backends and the webhook
receiver send them), so no test waits out a timer: time does not skip while
nothing awaits a workflow result.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderweb.webhooks import WEBHOOK_PATH, create_app
from tests.conftest import make_worker
from tests.doubles.stripe_api import StripeDouble, sign
from tests.helpers import STRIPE_CUSTOMER, card, eventually, issue, kinds, outbox, start_order, until, view
from tests.helpers import STRIPE_WEBHOOK_SECRET as WEBHOOK_SECRET
from workflows import names
from workflows.models import (
    ApproveInput,
    CancelInput,
    OrderStatus,
    OrderView,
    PaymentMethod,
)

Handle = WorkflowHandle[Any, Any]


async def approve(handle: Handle, outbox_dir: Path) -> None:
    await handle.signal(names.APPROVE, ApproveInput(version=1))
    await eventually(lambda: "payment_requested" in kinds(outbox_dir), "payment requested email")


def paid_in_full(order: OrderView) -> bool:
    return order.status is OrderStatus.IN_PROGRESS


def charges(stripe_api: StripeDouble) -> list[str | None]:
    return [r.idempotency_key for r in stripe_api.requests_to("POST", "/v1/payment_intents")]


def succeeded(stripe_api: StripeDouble) -> list[dict[str, Any]]:
    return [pi for pi in stripe_api.payment_intents.values() if pi["status"] == "succeeded"]


async def deliver(client: Client, payload: bytes, signature: str, settings: Settings | None = None) -> httpx.Response:
    """POST one webhook to the receiver, as Stripe does."""

    async def connected() -> Client:
        return client

    app = create_app(connected, WEBHOOK_SECRET, settings=settings or Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        return await http.post(
            WEBHOOK_PATH, content=payload, headers={"Stripe-Signature": signature, "Content-Type": "application/json"}
        )


async def signals_received(handle: Handle) -> int:
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


# --------------------------------------------------------------------------
# Card charges
# --------------------------------------------------------------------------


async def test_card_saved_before_approval_is_charged_at_approval(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    assert stripe_api.payment_intents == {}, "nothing is charged before approval"
    await order.signal(names.APPROVE, ApproveInput(version=1))

    result = await until(order, paid_in_full, "paid by card")

    [intent] = stripe_api.payment_intents.values()
    assert intent["amount"] == 480000 and intent["currency"] == "eur" and intent["status"] == "succeeded"
    assert intent["customer"] == STRIPE_CUSTOMER and intent["payment_method"] == "pm_card_visa"
    assert intent["metadata"] == {"order_id": result.order_id, "attempt": "1"}
    assert charges(stripe_api) == [f"order-{result.order_id}:charge:1"]
    [payment] = result.payments
    assert (payment.method, payment.reference, payment.amount) == (PaymentMethod.CARD, intent["id"], Decimal("4800.00"))
    assert [(a.attempt, a.status, a.payment_intent_id) for a in result.charge_attempts] == [
        (1, "succeeded", intent["id"])
    ]
    assert result.payment_method_on_file == "pm_card_visa"
    await eventually(lambda: "payment_received" in kinds(settings.outbox_dir), "payment confirmation")


async def test_card_saved_after_approval_is_charged_at_once(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card", "bank_transfer")
    await approve(order, settings.outbox_dir)
    assert stripe_api.payment_intents == {}

    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())

    result = await until(order, paid_in_full, "paid by card")
    assert len(succeeded(stripe_api)) == 1 and len(result.payments) == 1
    assert charges(stripe_api) == [f"order-{result.order_id}:charge:1"]


async def test_server_error_then_success_charges_once_with_one_key(order: Handle, stripe_api: StripeDouble) -> None:
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500)
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))

    result = await until(order, paid_in_full, "paid after a retried 500")

    key = f"order-{result.order_id}:charge:1"
    assert charges(stripe_api) == [key, key]
    assert [r.status for r in stripe_api.requests_to("POST", "/v1/payment_intents")] == [500, 200]
    assert len(stripe_api.payment_intents) == 1 and len(result.payments) == 1


async def test_saved_server_error_with_nothing_made_is_charged_once_under_a_new_key(
    order: Handle, stripe_api: StripeDouble
) -> None:
    """Stripe replays a saved 500 for its key for 24 hours: the retry must not wait out the 2-hour give-up."""
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500, saved=True)
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))

    result = await until(order, paid_in_full, "paid after a saved 500")

    key = f"order-{result.order_id}:charge:1"
    assert charges(stripe_api) == [key, key, f"{key}:2"]
    [intent] = stripe_api.payment_intents.values()
    assert intent["status"] == "succeeded" and intent["metadata"] == {"order_id": result.order_id, "attempt": "1"}
    [payment] = result.payments
    assert payment.reference == intent["id"] and result.amount_paid == Decimal("4800.00")


async def test_saved_server_error_after_the_charge_finds_the_payment_intent(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    stripe_api.fail_next("POST", "/v1/payment_intents", status=500, after=True)
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))

    result = await until(order, paid_in_full, "paid although Stripe answered 500")

    [intent] = stripe_api.payment_intents.values()
    assert charges(stripe_api) == [f"order-{result.order_id}:charge:1"], "charged once, found by listing"
    [payment] = result.payments
    assert payment.reference == intent["id"] and result.amount_paid == Decimal("4800.00")
    assert [(a.status, a.payment_intent_id) for a in result.charge_attempts] == [("succeeded", intent["id"])]
    await eventually(lambda: "payment_received" in kinds(settings.outbox_dir), "payment confirmation")


async def test_3d_secure_with_use_stripe_sdk_sends_the_authentication_email(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    stripe_api.require_action_next()  # next_action: use_stripe_sdk, as for a 3D Secure card
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))

    await eventually(lambda: "payment_declined" in kinds(settings.outbox_dir), "authentication email")
    result = await view(order)
    [intent] = stripe_api.payment_intents.values()
    assert result.status is OrderStatus.AWAITING_PAYMENT
    assert [(a.status, a.payment_intent_id) for a in result.charge_attempts] == [("requires_action", intent["id"])]
    [email] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == "payment_declined"]
    body = email.get_body(("plain",))
    assert body is not None and f"/orders/{result.order_id}/pay" in body.get_content()


async def test_decline_then_new_card_then_success(order: Handle, stripe_api: StripeDouble, settings: Settings) -> None:
    await issue(order, "card", "invoice")
    await approve(order, settings.outbox_dir)

    await order.signal(names.PROVIDE_PAYMENT_METHOD, card("pm_card_visa_chargeDeclinedInsufficientFunds"))
    declined = await until(order, lambda o: o.charge_attempts, "first attempt declined")
    assert declined.status is OrderStatus.AWAITING_PAYMENT
    [attempt] = declined.charge_attempts
    assert (attempt.status, attempt.decline_code) == ("declined", "insufficient_funds")
    await eventually(lambda: "payment_declined" in kinds(settings.outbox_dir), "decline email")

    await order.signal(names.PROVIDE_PAYMENT_METHOD, card("pm_card_mastercard"))
    result = await until(order, paid_in_full, "paid with the second card")

    oid = result.order_id
    assert charges(stripe_api) == [f"order-{oid}:charge:1", f"order-{oid}:charge:2"]
    assert [a.status for a in result.charge_attempts] == ["declined", "succeeded"]
    assert len(succeeded(stripe_api)) == 1 and result.amount_paid == Decimal("4800.00")
    [email] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == "payment_declined"]
    body = email.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "insufficient funds" in text
    invoice = next(iter(stripe_api.invoices.values()))
    assert invoice["hosted_invoice_url"] in text, "the terms allow invoices: the decline offers the hosted invoice"


async def test_authentication_required_asks_the_customer_to_complete_payment(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card("pm_card_authenticationRequired"))
    await order.signal(names.APPROVE, ApproveInput(version=1))

    await eventually(lambda: "payment_declined" in kinds(settings.outbox_dir), "decline email")
    result = await view(order)
    assert result.status is OrderStatus.AWAITING_PAYMENT
    assert [a.status for a in result.charge_attempts] == ["requires_action"]
    [email] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == "payment_declined"]
    body = email.get_body(("plain",))
    assert body is not None and f"/orders/{result.order_id}/pay" in body.get_content()


async def test_card_terms_sent_as_a_signal_to_a_worker_without_stripe_are_rejected(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """Without STRIPE_API_KEY the order never offers card: a signal is rejected, in words, and nothing is charged."""
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await eventually(lambda: "contact_ack" in kinds(settings.outbox_dir), "the order read the worker's settings")
        await issue(handle, "card", "bank_transfer")
        await handle.signal(names.PROVIDE_PAYMENT_METHOD, card())
        result = await until(handle, lambda o: len(o.rejected) == 2, "both rejected")
        assert all("STRIPE_API_KEY" in r.reason for r in result.rejected), result.rejected
        assert result.status is OrderStatus.DISCUSSING and not result.charge_attempts
        assert result.payment_method_on_file is None
        await handle.terminate("test over")


# --------------------------------------------------------------------------
# Hosted invoices and webhooks
# --------------------------------------------------------------------------


async def test_hosted_invoice_paid_through_the_webhook(
    ts_env: WorkflowEnvironment, order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "invoice", "bank_transfer")
    await approve(order, settings.outbox_dir)

    [invoice] = stripe_api.invoices.values()
    assert invoice["status"] == "open" and invoice["metadata"]["order_id"] == (await view(order)).order_id
    assert [i["invoice"] for i in stripe_api.invoice_items.values()] == [invoice["id"]]
    [email] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == "payment_requested"]
    body = email.get_body(("plain",))
    assert body is not None and invoice["hosted_invoice_url"] in body.get_content()
    assert invoice["invoice_pdf"] in body.get_content()
    instructions = (await view(order)).payment_instructions
    assert instructions is not None and instructions.invoice_id == invoice["id"]
    assert instructions.bank_transfer is not None

    paid = stripe_api.pay_invoice(invoice["id"])
    payload = json.dumps(stripe_api.event("invoice.paid", paid)).encode()
    signals_before = await signals_received(order)

    forged = await deliver(ts_env.client, payload, sign(payload, "whsec_not_ours"))
    assert forged.status_code == 400
    assert await signals_received(order) == signals_before, "a bad signature sends no signal"

    first = await deliver(ts_env.client, payload, sign(payload, WEBHOOK_SECRET))
    second = await deliver(ts_env.client, payload, sign(payload, WEBHOOK_SECRET))  # Stripe delivers again
    assert first.status_code == second.status_code == 200

    result = await until(order, paid_in_full, "paid by invoice")
    [payment] = result.payments
    assert (payment.method, payment.reference, payment.amount) == (
        PaymentMethod.INVOICE,
        invoice["id"],
        Decimal("4800.00"),
    )
    assert await signals_received(order) == signals_before + 2
    assert result.rejected == []


async def test_payment_intent_webhook_after_the_charge_is_not_counted_twice(
    ts_env: WorkflowEnvironment, order: Handle, stripe_api: StripeDouble
) -> None:
    await issue(order, "card")
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, paid_in_full, "paid by card")
    [intent] = stripe_api.payment_intents.values()

    payload = json.dumps(stripe_api.event("payment_intent.succeeded", intent)).encode()
    response = await deliver(ts_env.client, payload, sign(payload, WEBHOOK_SECRET))

    assert response.status_code == 200
    result = await until(
        order, lambda o: any(e.event == "duplicate payment notice ignored" for e in o.timeline), "duplicate ignored"
    )
    assert len(result.payments) == 1 and result.amount_paid == Decimal("4800.00") and result.overpaid == 0


async def test_webhook_for_an_unknown_order_is_acknowledged(
    ts_env: WorkflowEnvironment, stripe_api: StripeDouble, tmp_path: Path
) -> None:
    obj = {
        "id": "in_missing",
        "object": "invoice",
        "amount_paid": 100,
        "currency": "eur",
        "metadata": {"order_id": "nope-1"},
    }
    payload = json.dumps(stripe_api.event("invoice.paid", obj)).encode()
    settings = replace(Settings(), outbox_dir=tmp_path)
    response = await deliver(ts_env.client, payload, sign(payload, WEBHOOK_SECRET), settings)
    # Acknowledged, and the money is not dropped in silence: operations get an email.
    assert response.status_code == 200 and response.json()["not_counted"] == "no order nope-1 exists"
    assert kinds(tmp_path, "nope-1") == ["payment_needs_review"]


# --------------------------------------------------------------------------
# Cancellation: refunds and voids
# --------------------------------------------------------------------------


async def test_cancellation_after_card_payment_refunds_once(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "card", cancellation_fee=Decimal("250.00"))
    await order.signal(names.PROVIDE_PAYMENT_METHOD, card())
    await order.signal(names.APPROVE, ApproveInput(version=1))
    await until(order, paid_in_full, "paid by card")
    [intent] = stripe_api.payment_intents.values()

    await order.signal(names.CANCEL, CancelInput(reason="Budget was cut", by="customer"))

    result = await until(order, lambda o: o.refunds, "refund recorded")
    [stored] = stripe_api.refunds.values()
    assert stored["payment_intent"] == intent["id"] and stored["amount"] == 455000
    [refund] = result.refunds
    assert (refund.amount, refund.method, refund.status, refund.refund_id) == (
        Decimal("4550.00"),
        PaymentMethod.CARD,
        "succeeded",
        stored["id"],
    )
    assert [r.idempotency_key for r in stripe_api.requests_to("POST", "/v1/refunds")] == [
        f"order-{result.order_id}:refund"
    ]
    assert result.amount_paid == Decimal("4800.00"), "the record of what was paid stays"
    await eventually(lambda: "cancelled" in kinds(settings.outbox_dir), "cancellation email")
    assert "refund_needed" not in kinds(settings.outbox_dir)


async def test_cancelling_an_unpaid_order_voids_its_invoice(
    order: Handle, stripe_api: StripeDouble, settings: Settings
) -> None:
    await issue(order, "invoice")
    await approve(order, settings.outbox_dir)
    [invoice] = stripe_api.invoices.values()

    await order.signal(names.CANCEL, CancelInput(reason="Found another supplier", by="customer"))

    await until(order, lambda o: any(e.event == "invoice voided" for e in o.timeline), "invoice voided")
    assert stripe_api.invoices[invoice["id"]]["status"] == "void"
    [void] = [r for r in stripe_api.requests if r.path.endswith("/void")]
    assert void.idempotency_key == f"order-{(await view(order)).order_id}:void-invoice"
    assert stripe_api.refunds == {}
