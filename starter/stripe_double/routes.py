"""Layer 5: which endpoint answers a request, one line per route (``*`` is an object's id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starter.stripe_double.checkout import create_checkout_session
from starter.stripe_double.customers import create_customer, delete_customer, search_customers
from starter.stripe_double.errors import invalid
from starter.stripe_double.invoices import (
    create_invoice,
    create_invoice_item,
    finalize_invoice,
    invoice,
    list_invoice_payments,
    void_invoice,
)
from starter.stripe_double.objects import copied, found, list_page, public, search_result
from starter.stripe_double.payment_intents import (
    create_payment_intent,
    create_refund,
    payment_intent,
)
from starter.stripe_double.recording import RecordedRequest
from starter.stripe_double.store import Store

Endpoint = Callable[[Store, RecordedRequest, list[str]], dict[str, Any]]
"""Answers a request, given the ids its path holds in place of ``*``."""

ROUTES: tuple[tuple[str, str, Endpoint], ...] = (
    ("POST", "/v1/customers", lambda s, r, ids: create_customer(s, r.form)),
    ("GET", "/v1/customers/search", lambda s, r, ids: search_customers(s, r)),
    ("GET", "/v1/customers/*", lambda s, r, ids: copied(found(s.customers, ids[0], "customer"))),
    ("DELETE", "/v1/customers/*", lambda s, r, ids: delete_customer(s, ids[0])),
    ("POST", "/v1/invoices", lambda s, r, ids: create_invoice(s, r.form)),
    ("GET", "/v1/invoices", lambda s, r, ids: list_page(s.invoices, r, ("customer", "status"))),
    ("POST", "/v1/invoiceitems", lambda s, r, ids: create_invoice_item(s, r.form)),
    ("GET", "/v1/invoiceitems", lambda s, r, ids: list_page(s.invoice_items, r, ("customer", "invoice"))),
    ("POST", "/v1/invoices/*/finalize", lambda s, r, ids: finalize_invoice(s, ids[0])),
    ("POST", "/v1/invoices/*/void", lambda s, r, ids: void_invoice(s, ids[0])),
    ("GET", "/v1/invoices/*", lambda s, r, ids: copied(invoice(s, ids[0]))),
    ("GET", "/v1/invoice_payments", lambda s, r, ids: list_invoice_payments(s, r.query)),
    ("POST", "/v1/payment_intents", lambda s, r, ids: create_payment_intent(s, r)),
    ("GET", "/v1/payment_intents", lambda s, r, ids: list_page(s.payment_intents, r, ("customer",))),
    ("GET", "/v1/payment_intents/search", lambda s, r, ids: search_result(s.payment_intents, r.query, r.path)),
    ("GET", "/v1/payment_intents/*", lambda s, r, ids: copied(payment_intent(s, ids[0]))),
    ("POST", "/v1/refunds", lambda s, r, ids: create_refund(s, r.form)),
    ("GET", "/v1/refunds", lambda s, r, ids: list_page(s.refunds, r, ("payment_intent",))),
    ("POST", "/v1/checkout/sessions", lambda s, r, ids: create_checkout_session(s, r.form)),
    (
        "GET",
        "/v1/checkout/sessions/*",
        lambda s, r, ids: public(found(s.checkout_sessions, ids[0], "checkout.session")),
    ),
    ("GET", "/v1/setup_intents/*", lambda s, r, ids: copied(found(s.setup_intents, ids[0], "setup_intent"))),
)
"""In order: the first route whose method and path match answers (``search`` before ``*``)."""


def route(store: Store, request: RecordedRequest) -> dict[str, Any]:
    """The answer of the endpoint for ``request``, or a 404 as Stripe gives for a URL it does not know."""
    parts = [p for p in request.path.split("/") if p]
    for method, pattern, endpoint in ROUTES:
        wanted = [p for p in pattern.split("/") if p]
        if method != request.method or len(wanted) != len(parts):
            continue
        if all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
            return endpoint(store, request, [p for w, p in zip(wanted, parts, strict=True) if w == "*"])
    raise invalid(
        f"Unrecognized request URL ({request.method}: {request.path}). Please see https://stripe.com/docs", status=404
    )
