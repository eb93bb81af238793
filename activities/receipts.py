"""A receipt for each payment the order counted, as a PDF: rendered in the payment email's activity.

The ``payment_received`` email carries the payment, what the order has been paid
to date and what is left, the schedule's instalments when there is one, and what
this payment paid of them (``paid_towards``) with the payment's number on the order
(``receipt_number``, workflows/receipts.py). The receipt is made from that same
data, stored write-once under ``<order id>/receipt-<number>.pdf`` and attached to
the email; the order keeps only its id, size and SHA-256 on the payment.
Rendering is deterministic: the PDF's date is the payment's time.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from activities.config import Settings
from activities.document_store import DocumentStore
from activities.email_format import as_utc, format_date, format_datetime_utc, format_label, format_money
from activities.pdf_page import IssuedPdf, Page, issue_pdf, strings
from workflows.models import EmailRequest


def receipt_document_id(order_id: str, number: int) -> str:
    """``ORD-1/receipt-2.pdf``: the order's second payment always names the same file."""
    return f"{order_id}/receipt-{number}.pdf"


def attachment_name(order_id: str, number: int) -> str:
    return f"order-{order_id}-receipt-{number}.pdf"


def receipt_pdf(request: EmailRequest, settings: Settings, store: DocumentStore) -> IssuedPdf:
    """The payment's receipt, rendered and stored unless an earlier attempt stored it, then read
    back hash-checked. Blocking (rendering, files): call it in a thread. Raises ``KeyError``
    for a payment email without a receipt number (one the workflow sent before receipts)."""
    number = int(request.context["receipt_number"])
    return issue_pdf(
        store,
        receipt_document_id(request.order_id, number),
        attachment_name(request.order_id, number),
        lambda: render_receipt(request.context, settings),
    )


def _header(page: Page, context: Mapping[str, Any], settings: Settings) -> None:
    order, payment = context["order"], context["payment"]
    page.letterhead(settings)
    page.text(f"Receipt {context['receipt_number']}", size=14, style="B", height=7)
    page.text(f"Order {order['order_id']} | Received {format_date(payment['at'])}")
    customer = order.get("customer") or {}
    page.party("Received from", (customer.get(part) for part in ("name", "company", "email")))


def _payment(page: Page, context: Mapping[str, Any], currency: str) -> None:
    payment = context["payment"]
    page.heading("Payment")
    page.text(f"Amount: {format_money(payment['amount'], currency)}", style="B")
    page.text(f"Method: {format_label(payment['method'])}")
    page.text(f"Reference: {payment['reference']}")
    page.text(f"Received: {format_datetime_utc(payment['at'])}")
    paid = context.get("paid_towards") or []
    if paid:
        count = len(context.get("instalments") or paid)
        page.heading("Paid towards")
        for row in paid:
            amount = format_money(row["amount"], currency)
            page.text(f"{row['name']} (instalment {row['number']} of {count}): {amount}")


def _balance(page: Page, context: Mapping[str, Any], currency: str) -> None:
    """What the order has been paid and what is left of its total (with a schedule, the
    ``balance_due`` of the email is only what has fallen due: the rest is still owed)."""
    paid = Decimal(str(context["amount_paid"]))
    total = context["order"].get("total")
    left = max(Decimal(str(total)) - paid, Decimal(0)) if total is not None else Decimal(str(context["balance_due"]))
    page.heading("Your order")
    if total is not None:
        page.text(f"Order total: {format_money(total, currency)}")
    page.text(f"Paid to date: {format_money(paid, currency)}")
    page.text(f"Balance still due: {format_money(left, currency)}", style="B")
    if total is not None and paid > Decimal(str(total)):
        page.text(f"Paid beyond the total: {format_money(paid - Decimal(str(total)), currency)} (we will be in touch)")
    due_now = Decimal(str(context["balance_due"]))
    if context.get("instalments") and Decimal(0) < due_now < left:
        page.text(f"Of which due now: {format_money(due_now, currency)}")


def render_receipt(context: Mapping[str, Any], settings: Settings) -> bytes:
    """The PDF of one payment's receipt from its email's context: the same context gives
    the same bytes. Raises ``KeyError`` or a formatter's error on a context that lacks what
    a payment email has."""
    currency = str(context["payment"].get("currency") or context["currency"])
    texts = [*strings(context), settings.company_name, settings.from_email, settings.support_email]
    page = Page(as_utc(context["payment"]["at"], "payment.at"), texts)
    _header(page, context, settings)
    _payment(page, context, currency)
    _balance(page, context, currency)
    page.heading("Thank you")
    page.text(f"Questions about this receipt: {settings.support_email}, quoting order {context['order']['order_id']}.")
    return page.bytes()
