"""The customer's receipts in the portal: listed on the order's overview, each served as its PDF.

A receipt is the PDF the payment email carried (activities/receipts.py); the order
keeps its id, size and SHA-256 on the payment (``Payment.receipt``). Its address is
``/orders/{id}/receipts/{number}/receipt.pdf?token=...``, where the number is the
payment's on the order, and it opens with any link of the order, like the overview
that lists it (a receipt tells nothing the overview does not). It is served only
while the stored bytes have the recorded hash (orderweb/documents.py).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from ordersecurity.links import InvalidLink
from orderweb.documents import serve_pdf
from orderweb.site import Portal, int_param, verify_any
from workflows.models import OrderView

RECEIPT_NAME: Final = "receipt.pdf"
RECEIPT_PATH: Final = "/receipts/{number}/" + RECEIPT_NAME
"""The route under ``/orders/{order_id}``."""


def receipt_links(portal: Portal, view: OrderView, token: str) -> list[dict[str, Any]]:
    """Each receipt of the order, oldest first, with its date, amount and signed link (the
    overview's own token: the link that opened the page opens its receipts)."""
    return [
        {
            "number": number,
            "at": payment.at,
            "amount": payment.amount,
            "currency": payment.currency or view.currency,
            "url": portal.page_url(view.order_id, "receipts", number, RECEIPT_NAME, token=token),
        }
        for number, payment in enumerate(view.payments, start=1)
        if payment.receipt is not None
    ]


async def serve_receipt(portal: Portal, request: Request) -> Response:
    """The page of ``RECEIPT_PATH`` (``PortalPages.receipt_pdf`` hands it on): the receipt's PDF,
    or the page that says why not (a bad link, no such receipt, a changed file)."""
    order_id = request.path_params["order_id"]
    try:
        verify_any(portal, request.query_params.get("token", ""), order_id)
    except InvalidLink as error:
        return portal.link_refused(error)
    number = int_param(request, "number")
    view = await portal.load(order_id)
    if isinstance(view, Response):
        return view
    payment = view.payments[number - 1] if number is not None and number <= len(view.payments) else None
    if payment is None or payment.receipt is None:
        return portal.message("Not found", "This order has no receipt with this number.", 404)
    filename = f"order-{order_id}-receipt-{number}.pdf"
    served = await serve_pdf(portal.settings, order_id, payment.receipt, filename, "receipt")
    return portal.message("PDF not available", served, 500) if isinstance(served, str) else served
