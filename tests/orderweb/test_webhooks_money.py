"""Money through the webhook receiver, against a real Temporal dev server.

What a signed event makes the receiver send is read back from the order's
event history; money for an order whose workflow has closed becomes an
operations email in the outbox, and Stripe still gets its 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from activities.email import read_outbox_message
from orderclient.client import OrderClient
from orderweb.webhooks import WEBHOOK_PATH, create_app
from tests.conftest import make_worker
from tests.doubles.stripe_api import StripeDouble, serve, sign
from tests.helpers import draft, eventually, start_input
from workflows import names
from workflows.models import (
    ApproveInput,
    CancelInput,
    IssueConfirmationInput,
    PaymentEventInput,
    RecordPaymentInput,
)

SECRET = "whsec_test_money_0123456789"
OPS = "ops-money@example.com"


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


@pytest.fixture
def ops_settings(settings: Settings) -> Settings:
    return replace(settings, ops_email=OPS)


async def post_event(client: Client, settings: Settings, event: dict[str, Any]) -> httpx.Response:
    async def factory() -> Client:
        return client

    app = create_app(factory, SECRET, settings=settings)
    payload = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, SECRET)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        return await http.post(WEBHOOK_PATH, content=payload, headers=headers)


async def signals_received(client: Client, handle: WorkflowHandle[Any, Any], model: type[Any]) -> list[Any]:
    """The payloads of the signals the server recorded in the order's history, decoded."""
    received = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            [payload] = await client.data_converter.decode(attrs.input.payloads, [model])
            received.append((attrs.signal_name, payload))
    return received


def payment_intent(order_id: str, **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "pi_3Jpy",
        "object": "payment_intent",
        "amount": 100,
        "amount_received": 100,
        "currency": "jpy",
        "metadata": {"order_id": order_id, "attempt": "1"},
        "status": "succeeded",
    }
    obj.update(overrides)
    return obj


async def test_a_jpy_payment_on_a_eur_order_is_sent_as_jpy(
    dev_env: WorkflowEnvironment, stripe_api: StripeDouble, ops_settings: Settings
) -> None:
    # No worker: the signal waits in the history, exactly as the receiver sent it.
    order = start_input()
    handle = await dev_env.client.start_workflow(
        names.WORKFLOW_TYPE, order, id=names.workflow_id(order.order_id), task_queue="nobody-polls-this"
    )
    try:
        event = stripe_api.event("payment_intent.succeeded", payment_intent(order.order_id))
        response = await post_event(dev_env.client, ops_settings, event)
        assert response.status_code == 200 and response.json()["signal"] == names.RECORD_PAYMENT
        [(signal, sent)] = await signals_received(dev_env.client, handle, RecordPaymentInput)
        assert signal == names.RECORD_PAYMENT
        # Yesterday this was EUR 100.00 (no currency: the order's own). Now the order sees JPY and holds it.
        assert (sent.amount, sent.currency, sent.reference) == (Decimal("100"), "JPY", "pi_3Jpy")

        invoice = {
            "id": "in_1Kwd",
            "object": "invoice",
            "amount_paid": 1230,
            "currency": "kwd",
            "metadata": {"order_id": order.order_id},
            "status": "paid",
        }
        response = await post_event(dev_env.client, ops_settings, stripe_api.event("invoice.paid", invoice))
        assert response.status_code == 200
        [_, (_, paid)] = await signals_received(dev_env.client, handle, RecordPaymentInput)
        assert (paid.amount, paid.currency, paid.method, paid.reference) == (
            Decimal("1.23"),
            "KWD",
            "invoice",
            "in_1Kwd",
        )
    finally:
        await handle.terminate("test over")


async def closed_order(dev_env: WorkflowEnvironment, settings: Settings, task_queue: str) -> str:
    """A EUR 4,800 order, approved, then cancelled by the customer: its workflow completes."""
    async with make_worker(dev_env.client, settings, task_queue):
        orders = OrderClient(dev_env.client, task_queue=task_queue, settings=settings)
        order_id = (await orders.start(start_input())).order_id
        await orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
        await orders.act(order_id, ApproveInput(version=1))
        await orders.act(order_id, CancelInput(reason="changed plans", by="customer"))
        handle = orders.handle(order_id)

        async def closed() -> bool:
            return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

        await eventually(closed, "the cancelled order's workflow completes")
    return order_id


def alerts(outbox: Path, order_id: str) -> list[str]:
    """The text of every payment_needs_review email about ``order_id``, addressed to operations."""
    texts = []
    for path in sorted(outbox.glob("*ops-alert*.eml")):
        message = read_outbox_message(path)
        if message["X-Order-Id"] == order_id and message["X-Message-Kind"] == "payment_needs_review":
            assert message["To"] == OPS
            body = message.get_body(("plain",))
            assert body is not None
            texts.append(f"Subject: {message['Subject']}\n{body.get_content()}")
    return texts


async def test_money_for_a_closed_order_alerts_operations_and_answers_200(
    dev_env: WorkflowEnvironment, stripe_api: StripeDouble, ops_settings: Settings, task_queue: str
) -> None:
    order_id = await closed_order(dev_env, ops_settings, task_queue)
    assert alerts(ops_settings.outbox_dir, order_id) == []

    intent = payment_intent(order_id, id="pi_3Late", amount=480000, amount_received=480000, currency="eur")
    event = stripe_api.event("payment_intent.succeeded", intent)
    response = await post_event(dev_env.client, ops_settings, event)
    assert response.status_code == 200
    assert "the order's workflow has closed (COMPLETED)" in response.json()["not_counted"]
    [alert] = alerts(ops_settings.outbox_dir, order_id)
    assert f"order {order_id}" in alert and "EUR 4,800.00" in alert and "pi_3Late" in alert
    assert "the order's workflow has closed (COMPLETED)" in alert and "Refund it" in alert
    assert "Alice Example" in alert  # the customer, from the order's start in its history

    # Stripe delivers the event again: still 200, and no second email.
    assert (await post_event(dev_env.client, ops_settings, event)).status_code == 200
    assert len(alerts(ops_settings.outbox_dir, order_id)) == 1

    # A refund that fails after the order closed is money too.
    refund = {
        "id": "re_3Fail",
        "object": "refund",
        "amount": 455000,
        "currency": "eur",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"order_id": order_id},
    }
    for event_type in ("refund.failed", "refund.updated"):
        response = await post_event(dev_env.client, ops_settings, stripe_api.event(event_type, refund))
        assert response.status_code == 200 and response.json()["alerted"] is True
    refund_alerts = [a for a in alerts(ops_settings.outbox_dir, order_id) if "re_3Fail" in a]
    assert len(refund_alerts) == 1  # two events, one failure, one email
    assert "expired_or_canceled_card" in refund_alerts[0] and "EUR 4,550.00" in refund_alerts[0]


async def test_money_for_an_unknown_order_alerts_operations(
    dev_env: WorkflowEnvironment, stripe_api: StripeDouble, ops_settings: Settings
) -> None:
    intent = payment_intent("never-started-42", id="pi_3Lost", currency="eur", amount_received=9900)
    response = await post_event(dev_env.client, ops_settings, stripe_api.event("payment_intent.succeeded", intent))
    assert response.status_code == 200
    [alert] = alerts(ops_settings.outbox_dir, "never-started-42")
    assert "EUR 99.00" in alert and "pi_3Lost" in alert and "no order never-started-42 exists" in alert


async def test_record_payment_to_a_closed_order_alerts_then_raises(
    dev_env: WorkflowEnvironment, ops_settings: Settings, task_queue: str
) -> None:
    from orderclient.client import OrderClosed

    order_id = await closed_order(dev_env, ops_settings, task_queue)
    orders = OrderClient(dev_env.client, task_queue=task_queue, settings=ops_settings)
    late = RecordPaymentInput(amount=Decimal("4800.00"), reference="BANK-TX-77", request_id="bank-feed-77")
    with pytest.raises(OrderClosed) as caught:
        await orders.act(order_id, late)
    assert caught.value.alert is not None
    with pytest.raises(OrderClosed):
        await orders.send_signal(order_id, names.RECORD_PAYMENT, late)  # the same request: the same email
    [alert] = alerts(ops_settings.outbox_dir, order_id)
    assert "EUR 4,800.00" in alert and "BANK-TX-77" in alert and "bank transfer" in alert

    # Actions that are not money are refused as before, with no email.
    with pytest.raises(OrderClosed) as other:
        await orders.update(order_id, names.ADD_NOTE, {"text": "too late"})
    assert other.value.alert is None
    assert len(alerts(ops_settings.outbox_dir, order_id)) == 1


def test_payment_events_are_money() -> None:
    from orderclient.money_alerts import is_money

    assert is_money(PaymentEventInput(event="refund_failed", reference="re_1"))
    assert not is_money(PaymentEventInput(event="invoice_voided", reference="in_1"))


async def test_an_impossible_amount_or_a_missing_currency_is_refused_and_reported(
    dev_env: WorkflowEnvironment, stripe_api: StripeDouble, ops_settings: Settings
) -> None:
    """400 (nothing sent to the order) and a payment_needs_review email naming the event and why."""
    order = start_input()
    handle = await dev_env.client.start_workflow(
        names.WORKFLOW_TYPE, order, id=names.workflow_id(order.order_id), task_queue="nobody-polls-this"
    )
    try:
        cases = {
            "evt_huge": ("payment_intent.succeeded", payment_intent(order.order_id, amount_received=10**30)),
            "evt_nocur": ("payment_intent.succeeded", payment_intent(order.order_id, currency=None)),
            "evt_badcur": ("invoice.paid", {**payment_intent(order.order_id, currency="euro"), "amount_paid": 100}),
            "evt_negative": ("charge.refunded", {**payment_intent(order.order_id), "amount_refunded": -5}),
            "evt_text": ("payment_intent.succeeded", payment_intent(order.order_id, amount_received="100")),
        }
        for event_id, (event_type, obj) in cases.items():
            response = await post_event(
                dev_env.client, ops_settings, stripe_api.event(event_type, obj, event_id=event_id)
            )
            assert response.status_code == 400, (event_id, response.text)
            assert "refused" in response.json()["error"], event_id
        assert await signals_received(dev_env.client, handle, RecordPaymentInput) == []
        texts = alerts(ops_settings.outbox_dir, order.order_id)
        assert len(texts) == len(cases)
        by_event = {event_id: next(t for t in texts if event_id in t) for event_id in cases}
        assert "1000000000000000000000000000000" in by_event["evt_huge"]  # the amount as sent, in the reason
        assert "JPY 1,000,000,000,000,000,000,000,000,000,000 " in by_event["evt_huge"]  # and in yen, no decimals
        assert "no currency" in by_event["evt_nocur"]
        assert "'euro' is not a currency code" in by_event["evt_badcur"]
        assert "-5" in by_event["evt_negative"]
        assert "'100'" in by_event["evt_text"]

        # Stripe retries a 400: still 400, and no second email.
        again = stripe_api.event(*cases["evt_huge"], event_id="evt_huge")
        assert (await post_event(dev_env.client, ops_settings, again)).status_code == 400
        assert len(alerts(ops_settings.outbox_dir, order.order_id)) == len(cases)
    finally:
        await handle.terminate("test over")
