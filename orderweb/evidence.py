"""The order's evidence certificate in the portal: ``/orders/{id}/evidence?token=``.

Any signed link of the order opens it (the approval email links here; the overview's and the
confirmation page's links work too), like the overview: the certificate says only what the
customer did and paid. For an open order the portal asks the order for it on the customer's
behalf (the ``certify`` update, with a digest of the link, never the link): the order makes a
new one only when something changed since its latest. A closed order takes no update, so the
portal serves the certificate it issued last. Either way the PDF is served only while its bytes
have the SHA-256 the order recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from activities.document_store import DocumentMissing, DocumentTampered, open_document_store
from activities.email_format import format_datetime_utc
from orderclient.client import ActionRejected, NoWorkerAvailable, OrderClosed, OrderError
from ordersecurity.links import EVIDENCE, InvalidLink
from orderweb.site import Portal, verify_any
from workflows.certificate_facts import unchanged
from workflows.models import Certificate, CertifyInput, Confirmation, ConfirmationState, OrderView

log = logging.getLogger("orders.portal")


HOW: Final[dict[str, str]] = {
    "portal": "through this page",
    "cli": "by our staff on your behalf",
    "client": "on your behalf",
    "operator": "by our staff",
}
"""How a decision reached the order, in the customer's words (``Evidence.channel``)."""


def decision_context(portal: Portal, order_id: str, confirmation: Confirmation, token: str) -> dict[str, Any]:
    """The confirmation page's line about the customer's recorded decision on the version shown,
    and the link to the evidence certificate; nothing for a version nobody decided on."""
    d = confirmation.decision
    if d is None:
        return {"decision": None}
    what = "Approved" if confirmation.state is ConfirmationState.APPROVED else "Changes requested"
    when = f" on {format_datetime_utc(d.at)}" if d.at else ""
    text = f"{what}{when} {HOW[d.channel]}"
    if d.agreed_to_terms:
        text += "; you agreed to the terms of the PDF"
        text += f" (SHA-256 {d.document_sha256[:12]}…)" if d.document_sha256 else ""
    return {"decision": text + ".", "evidence_url": portal.page_url(order_id, EVIDENCE, token=token)}


def link_id(token: str) -> str:
    """The link as the order records it: a digest of its token (as a decision's evidence has it)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class EvidencePages(Portal):
    """The portal's evidence certificate page; ``PortalPages`` (orderweb/portal.py) inherits it."""

    async def evidence_pdf(self, request: Request) -> Response:
        """``GET /orders/{id}/evidence?token=``: the order's evidence certificate (PDF)."""
        return await _evidence_pdf(self, request)


async def _evidence_pdf(portal: Portal, request: Request) -> Response:
    order_id = request.path_params["order_id"]
    token = request.query_params.get("token", "")
    try:
        verify_any(portal, token, order_id)
    except InvalidLink as error:
        return portal.link_refused(error)
    view = await portal.load(order_id)
    if isinstance(view, Response):
        return view
    found = await _certificate(portal, view, token)
    if isinstance(found, Response):
        return found
    return await _served(portal, order_id, found)


async def _certificate(portal: Portal, view: OrderView, token: str) -> Certificate | Response:
    """The current certificate: the order's latest while nothing changed since, else asked of an
    open order; the last one of a closed order."""
    current = unchanged(view)
    if current is not None:
        return current
    if view.closed_at is None and view.confirmations:
        try:
            return await (await portal.orders()).certify(view.order_id, CertifyInput(link_id=link_id(token)))
        except OrderClosed:
            reloaded = await portal.load(view.order_id)  # it closed a moment ago: its last one
            if isinstance(reloaded, Response):
                return reloaded
            view = reloaded
        except ActionRejected as error:
            return portal.message("No certificate yet", f"{error.reason[:1].upper()}{error.reason[1:]}.", 409)
        except (NoWorkerAvailable, OrderError) as error:
            return portal.unavailable(error)
    if view.certificates:
        return view.certificates[-1]
    return portal.message(
        "No certificate yet",
        "There is no evidence certificate for this order: it lists the order confirmation, your decisions and your"
        " payments, and this order has none to list.",
        404,
    )


async def _served(portal: Portal, order_id: str, certificate: Certificate) -> Response:
    """The certificate's PDF, hash-checked; or a plain page saying why it is not shown."""
    store = open_document_store(portal.settings)
    document = certificate.document
    try:
        data = await asyncio.to_thread(store.get, document.id, document.sha256)
    except DocumentTampered as error:
        log.error("evidence certificate not served: %s", error, extra={"order_id": order_id})
        text = "This PDF no longer matches the copy your order recorded when it was issued, so it is not shown."
        return portal.message("PDF not available", f"{text} Please write to {portal.settings.support_email}.", 500)
    except DocumentMissing as error:
        log.error("evidence certificate not served: %s", error, extra={"order_id": order_id})
        text = (
            f"This PDF cannot be found just now. Please try again later, or write to {portal.settings.support_email}."
        )
        return portal.message("PDF not available", text, 500)
    filename = f"order-{order_id}-evidence-{certificate.number}.pdf"
    headers = {"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "private, no-store"}
    return Response(data, media_type="application/pdf", headers=headers)
