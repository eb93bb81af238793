"""A receipt for each payment the order counts: what its email says about it, and where the
order keeps the PDF.

The ``payment_received`` email's activity renders the receipt (activities/receipts.py),
stores it and attaches it, like a confirmation's PDF: no activity of its own. The email
carries the payment's number on the order (``receipt_number``: the receipt's number,
stable, as payments are only ever appended) and what the payment paid of a schedule's
instalments (``paid_towards``); the order keeps the PDF's id, size and SHA-256 on the
payment once the email has gone. Waiting for the email adds no command: its activity
is scheduled exactly as before, so orders already running replay unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workflows.facts import ZERO
from workflows.mail import Mail
from workflows.models import Audience, MessageKind, OrderState


def paid_so_far(state: OrderState) -> dict[int, Decimal]:
    """What each instalment had been paid before a payment is put towards them."""
    return {bill.number: bill.paid for bill in state.order.instalments}


def receipt_context(state: OrderState, before: dict[int, Decimal]) -> dict[str, Any]:
    """The receipt's number (the newest payment's, 1-based) and what that payment paid of
    each instalment: what each has been paid now beyond what it had ``before``."""
    paid = [
        {"number": bill.number, "name": bill.name, "amount": str(bill.paid - before.get(bill.number, ZERO))}
        for bill in state.order.instalments
        if bill.paid > before.get(bill.number, ZERO)
    ]
    return {"receipt_number": len(state.order.payments), "paid_towards": paid}


async def send_with_receipt(mail: Mail, state: OrderState, context: dict[str, Any]) -> None:
    """Send the payment email; once it has gone, keep its receipt's reference on the payment.
    An email that failed, or went without its PDF (operations were told), leaves none."""
    receipt = await mail.send(MessageKind.PAYMENT_RECEIVED, Audience.CUSTOMER, context)
    if receipt is not None and receipt.document is not None:
        state.order.payments[int(context["receipt_number"]) - 1].receipt = receipt.document
