"""The payment port: how an order asks for money and gives it back.

The workflow calls four activities, ``request_payment``, ``charge_card``,
``void_invoice`` and ``refund_payment``, and never learns which provider sits
behind them. Bank transfer is built in: the customer pays by reference and an
operator (or a web backend watching the bank feed) records the payment. When
``STRIPE_API_KEY`` is set, cards are charged and hosted invoices created
through Stripe (``activities/stripe_payments.py``); without it, bank transfer
keeps working as before. Orders then refuse card and invoice terms when staff
issue them (``OrderPolicy.stripe``), so a card charge that fails here as not
configured is only a safety net: an order started while the worker had a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from typing import TypeVar
from urllib.parse import quote

from temporalio import activity

from activities.config import Settings
from activities.stripe_errors import not_configured
from activities.stripe_payments import StripeGateway
from workflows.activity_refs import PaymentRefs
from workflows.models import (
    ChargeRequest,
    ChargeResult,
    PaymentInstructions,
    PaymentMethod,
    PaymentRequest,
    RefundRequest,
    RefundResult,
    VoidInvoiceRequest,
)
from workflows.names import CHARGE_CARD, REFUND_PAYMENT, REQUEST_PAYMENT, VOID_INVOICE

T = TypeVar("T")

HEARTBEAT_EVERY = 2.0
"""Seconds between heartbeats while a Stripe call is in flight. They cost
nothing unless the workflow sets a heartbeat timeout, and then a killed worker
is noticed after that timeout rather than after the start-to-close timeout."""


async def _heartbeating(call: Awaitable[T]) -> T:
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()


class PaymentActivities(PaymentRefs):
    def __init__(self, settings: Settings, gateway: StripeGateway | None = None) -> None:
        self._settings = settings
        self._gateway = gateway

    def _pay_url(self, order_id: str) -> str:
        """The order's payment page, where the customer completes or changes a payment."""
        return f"{self._settings.web_base_url.rstrip('/')}/orders/{quote(order_id, safe='')}/pay"

    @activity.defn(name=REQUEST_PAYMENT)
    async def request_payment(self, request: PaymentRequest) -> PaymentInstructions:
        """Prepare whatever each allowed method needs before the customer can pay."""
        instructions = PaymentInstructions(reference=request.reference)
        if PaymentMethod.BANK_TRANSFER in request.methods:
            instructions.bank_transfer = self._settings.bank_details
        if PaymentMethod.INVOICE in request.methods:
            await self._add_hosted_invoice(request, instructions)
        activity.logger.info(
            "payment requested",
            extra={
                "order_id": request.order_id,
                "methods": [m.value for m in request.methods],
                "invoice_id": instructions.invoice_id,
            },
        )
        return instructions

    async def _add_hosted_invoice(self, request: PaymentRequest, instructions: PaymentInstructions) -> None:
        if self._gateway is None:
            # The order tells operations; the customer still has the other methods.
            raise not_configured(f"create the hosted invoice for order {request.order_id}")
        # A refusal is non-retryable and reaches the order, which alerts operations;
        # anything else is retried by Temporal with the same keys.
        invoice = await _heartbeating(self._gateway.create_invoice(request))
        instructions.invoice_id = invoice.invoice_id
        instructions.invoice_url = invoice.url
        instructions.invoice_pdf = invoice.pdf

    @activity.defn(name=CHARGE_CARD)
    async def charge_card(self, request: ChargeRequest) -> ChargeResult:
        """Charge the saved card once per attempt. A decline is an answer, not a failure."""
        if self._gateway is None:
            raise not_configured(f"charge the card for order {request.order_id}")
        result = await _heartbeating(self._gateway.charge(request))
        if result.status == "requires_action" and result.hosted_url is None:
            result = result.model_copy(update={"hosted_url": self._pay_url(request.order_id)})
        activity.logger.info(
            "card charge attempt %s for order %s: %s (%s)",
            request.attempt,
            request.order_id,
            result.status,
            result.payment_intent_id or "no PaymentIntent",
            extra={
                "order_id": request.order_id,
                "attempt": request.attempt,
                "status": result.status,
                "payment_intent_id": result.payment_intent_id,
                "amount": str(request.amount),
                "currency": request.currency,
                "decline_code": result.decline_code,
            },
        )
        return result

    @activity.defn(name=VOID_INVOICE)
    async def void_invoice(self, request: VoidInvoiceRequest) -> None:
        """Void an unpaid hosted invoice, so that it can no longer be paid.

        An invoice that is no longer open (the customer paid it) raises a
        non-retryable ``StripeInvoiceNotOpen`` whose ``details[0]`` is
        ``{"invoice_id", "status", "amount_paid", "currency"}``: with status
        ``"paid"`` it is a payment, to count or refund. One already void is done."""
        if self._gateway is None:
            raise not_configured(f"void invoice {request.invoice_id}")
        status = await _heartbeating(self._gateway.void_invoice(request))
        activity.logger.info(
            "invoice %s voided",
            request.invoice_id,
            extra={"order_id": request.order_id, "invoice_id": request.invoice_id, "status": status},
        )

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, request: RefundRequest) -> RefundResult:
        """Give money back: through Stripe when the money came through Stripe,
        else (a bank transfer cannot be reversed by software) handed to
        operations as a manual task."""
        amount = max(request.amount, Decimal("0.00"))
        if self._gateway is not None and amount > 0:
            result = await _heartbeating(self._gateway.refund(request))
            if result is not None:
                activity.logger.info(
                    "refund %s through Stripe",
                    result.status,
                    extra={
                        "order_id": request.order_id,
                        "amount": str(result.amount),
                        "refund_id": result.refund_id,
                        "status": result.status,
                        "failed_amount": str(result.failed_amount),
                    },
                )
                return result
        method = request.payments[-1].method if request.payments else PaymentMethod.BANK_TRANSFER
        activity.logger.info(
            "refund handed to operations",
            extra={"order_id": request.order_id, "amount": str(amount)},
        )
        return RefundResult(amount=amount, method=method, status="manual")
