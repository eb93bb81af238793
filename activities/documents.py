"""The order confirmation as a PDF: rendered in the email activity, from its email's data.

The confirmation email (``confirmation_issued``) carries the whole version and
the order (``workflows.email_contexts.confirmation_context``); the PDF is made
from that same data, with the formatters the email and the portal use
(activities/email_format.py), so the three say the same thing. It is stored
write-once in the document store (activities/document_store.py) and attached
to the email; the order keeps only its id, size and SHA-256.

The page itself (fonts, tables) is activities/pdf_page.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activities.config import Settings
from activities.document_store import DocumentStore, confirmation_document_id
from activities.email_format import (
    as_utc,
    format_date,
    format_duration,
    format_instalment_due,
    format_label,
    format_money,
    format_number,
)
from activities.pdf_page import IssuedPdf, Page, issue_pdf, strings
from workflows.models import EmailRequest


def attachment_name(order_id: str, version: int) -> str:
    return f"order-{order_id}-confirmation-v{version}.pdf"


def confirmation_pdf(request: EmailRequest, settings: Settings, store: DocumentStore) -> IssuedPdf:
    """The version's PDF, rendered and stored unless an earlier attempt stored it, then read
    back hash-checked: the email attaches exactly the bytes the order will vouch for.
    Blocking (rendering, files): call it in a thread."""
    version = int(request.context["confirmation"]["version"])
    return issue_pdf(
        store,
        confirmation_document_id(request.order_id, version),
        attachment_name(request.order_id, version),
        lambda: render_confirmation(request.context, settings),
    )


def _header(page: Page, context: Mapping[str, Any], settings: Settings) -> None:
    c, order = context["confirmation"], context["order"]
    page.letterhead(settings)
    page.text(c.get("title") or "Order confirmation", size=14, style="B", height=7)
    page.text(f"Order {order['order_id']} | Version {c['version']} | Issued {format_date(c['issued_at'])}")
    if context.get("expires_at"):
        page.text(f"Valid until {format_date(context['expires_at'])}")
    change = context.get("change")
    if isinstance(change, Mapping):
        before, after = (format_money(change[key], c["currency"]) for key in ("previous_total", "total"))
        approved = change["previous_version"]
        page.text(f"Change order to approved version {approved}: the total goes from {before} to {after}.")
    customer = order.get("customer") or {}
    page.party("Customer", (customer.get(part) for part in ("name", "company", "email")))


def _line_items(page: Page, c: Mapping[str, Any]) -> None:
    currency = c["currency"]
    page.heading("Services")
    rows = [("Description", "Quantity", "Unit price", "Amount")]
    rows += [
        (
            str(item["description"]),
            format_number(item["quantity"]),
            format_money(item["unit_price"], currency),
            format_money(item["amount"], currency),
        )
        for item in c["line_items"]
    ]
    rows.append(("Total", "", "", format_money(c["amount_total"], currency)))
    page.table(rows, widths=(90, 20, 35, 35), align=("LEFT", "RIGHT", "RIGHT", "RIGHT"))


def _term(context: Mapping[str, Any], name: str) -> str:
    """A duration of the terms as the order applies it: the term, else the worker's default."""
    value = context["confirmation"]["terms"].get(name) or (context.get("effective") or {}).get(name)
    return format_duration(value) if value else "the usual time"


def _payment_terms(page: Page, context: Mapping[str, Any]) -> None:
    c = context["confirmation"]
    t = c["terms"]
    methods = " or ".join(format_label(m).lower() for m in t["payment_methods"])
    due, grace = _term(context, "payment_due"), _term(context, "payment_grace")
    page.heading("Payment")
    schedule = t.get("payment_schedule")
    if not schedule:
        page.text(f"By {methods}, due within {due} of approval. An order still unpaid {grace} after that is cancelled.")
        return
    page.text(f"By {methods}, in instalments, each due within {due} of the time it falls due:")
    for row in schedule:
        share = f" ({format_number(row['percent'])}%)" if row.get("percent") else ""
        when = format_instalment_due(row["due"])
        page.text(f"  - {row['name']}, {when}: {format_money(row['amount'], c['currency'])}{share}")
    page.text(f"An order whose instalments due on approval are still unpaid {grace} after that is cancelled.")


def _work_terms(page: Page, context: Mapping[str, Any]) -> None:
    c = context["confirmation"]
    t = c["terms"]
    page.heading("Work, delivery and support")
    milestones = t.get("milestones") or []
    if milestones:
        # Listed as the email lists them: "Milestone Design approved: ..." read as one phrase.
        page.text("Milestones, counted from the start of work:")
    for milestone in milestones:
        page.text(f"  - {milestone['name']}: within {format_duration(milestone['due'])}")
    if t.get("estimated_delivery"):
        page.text(f"Estimated delivery: within {format_duration(t['estimated_delivery'])} of the start of work.")
    deemed = " Without an answer by then, the delivery counts as accepted." if t.get("deemed_acceptance") else ""
    review = _term(context, "review_period")
    page.text(f"Review: after delivery you have {review} to accept it or ask for a revision.{deemed}")
    page.text(f"Support: {t.get('support_scope')}, for {_term(context, 'support_period')} after acceptance.")
    fee, others = float(t.get("cancellation_fee") or 0), t.get("other_terms") or []
    if fee > 0 or others:
        page.heading("Other terms")
    if fee > 0:
        page.text(f"Cancellation fee: {format_money(t['cancellation_fee'], c['currency'])}.")
    for term in others:
        page.text(f"- {term}")


def render_confirmation(context: Mapping[str, Any], settings: Settings) -> bytes:
    """The PDF of one confirmation version from its email's context: the same context
    gives the same bytes. Raises ``KeyError`` or a formatter's error on a context that
    lacks what a confirmation has."""
    texts = [*strings(context), settings.company_name, settings.from_email, settings.support_email]
    page = Page(as_utc(context["confirmation"]["issued_at"], "issued_at"), texts)
    _header(page, context, settings)
    _line_items(page, context["confirmation"])
    _payment_terms(page, context)
    _work_terms(page, context)
    return page.bytes()
