"""Money for an order whose workflow has closed: no order can count it, so operations hear of it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.config import Settings
from workflows import names, search
from workflows.models import (
    MessageKind,
    PaymentEventInput,
    RecordPaymentInput,
    StartOrderInput,
)

NOT_COUNTED_ACTION: Final = "It was not counted. Refund it or agree a credit with the customer."
"""What operations are asked to do about money an order could not take."""
REFUND_FAILED_ACTION: Final = (
    "The customer has not got this money back. Refund it another way, or agree a credit with the customer."
)

log = logging.getLogger("orders.client")


# --------------------------------------------------------------------------
# Money for an order whose workflow has closed
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyAlert:
    """The ``payment_needs_review`` notice sent to operations about money no order counted."""

    order_id: str
    reason: str
    message_key: str


def is_money(payload: RecordPaymentInput | PaymentEventInput) -> bool:
    """A payment received, or a refund that failed: money someone must act on."""
    return isinstance(payload, RecordPaymentInput) or payload.event == "refund_failed"


async def _start_input(client: Client, handle: WorkflowHandle[Any, Any]) -> StartOrderInput | None:
    """The order's start input, from the first event of its history (needs no worker)."""
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        decoded = await client.data_converter.decode(payloads, [StartOrderInput])
        start = decoded[0] if decoded else None
        # The lenient converter marks an input that did not validate.
        if isinstance(start, StartOrderInput) and getattr(start, "_decode_error", None) is None:
            return start
        return None
    return None


async def _closed_order(client: Client, order_id: str) -> tuple[dict[str, Any], str | None, str]:
    """What the notice can say of an order no workflow runs for: its search
    attributes and customer if it existed, its currency, and why it counted nothing."""
    handle = client.get_workflow_handle(names.workflow_id(order_id))
    order: dict[str, Any] = {
        "order_id": order_id,
        "status": "unknown",
        "total": None,
        "customer": {"name": "(unknown)", "email": "(unknown)", "company": None, "phone": None},
    }
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return order, None, f"no order {order_id} exists"
    workflow_status = described.status.name if described.status else "CLOSED"
    attrs = described.typed_search_attributes
    order["status"] = attrs.get(search.ORDER_STATUS) or workflow_status
    total = attrs.get(search.ORDER_TOTAL)
    order["total"] = f"{total:.2f}" if total is not None else None
    try:
        start = await _start_input(client, handle)
    except (RPCError, ValueError, TypeError):  # the notice matters more than the customer's name
        start = None
    if start is not None:
        order["customer"] = start.customer.model_dump(mode="json")
    return order, attrs.get(search.ORDER_CURRENCY), f"the order's workflow has closed ({workflow_status})"


async def alert_money_not_counted(
    client: Client,
    settings: Settings,
    order_id: str,
    money: RecordPaymentInput | PaymentEventInput,
    *,
    message_key: str | None = None,
) -> MoneyAlert:
    """Tell operations about a payment (or a failed refund) that reached no running order.

    For the webhook receiver and ``OrderClient``: the order's workflow has
    closed (or never existed), so no workflow can hold the money or send the
    notice. Sends the ``payment_needs_review`` email to ``ORDERS_OPS_EMAIL``
    through the configured backend (``activities.email.alert_operations``),
    naming the order, the amount, the currency, the provider's id and why it
    was not counted. ``message_key`` defaults to one per (order, action,
    request id), so a retried call sends no second outbox file.
    """
    from activities.email import alert_operations

    order, currency, closed = await _closed_order(client, order_id)
    if isinstance(money, RecordPaymentInput):
        action, method, what = names.RECORD_PAYMENT, money.method.value, "payment"
        reason, todo = closed, NOT_COUNTED_ACTION
        at = money.received_at
        payment_currency = money.currency or currency
    else:
        action, method, what = names.PAYMENT_EVENT, "stripe refund", "failed refund"
        reason = f"a refund failed ({money.detail or 'no reason given'}) and {closed}"
        todo, at, payment_currency = REFUND_FAILED_ACTION, None, currency
    amount = money.amount if money.amount is not None else Decimal("0.00")
    payment_currency = payment_currency or currency or "EUR"
    context = {
        "order": order,
        "payment": {
            "amount": str(amount),
            "currency": payment_currency,
            "method": method,
            "reference": money.reference,
            "at": (at or datetime.now(UTC)).isoformat(),
        },
        "currency": currency or payment_currency,
        "reason": reason,
        "action": todo,
    }
    key = message_key or f"order-{order_id}:ops-alert:{action}:{money.request_id or money.reference}"
    await asyncio.to_thread(
        alert_operations, settings, order_id, MessageKind.PAYMENT_NEEDS_REVIEW, context, message_key=key
    )
    log.warning(
        "%s %s %s (%s) for order %s was not counted: %s; operations were told",
        what,
        payment_currency,
        amount,
        money.reference,
        order_id,
        reason,
    )
    return MoneyAlert(order_id=order_id, reason=reason, message_key=key)
