"""The order's PDFs as the portal serves them (a confirmation version's, a payment's receipt): from
the worker's document store, and only while their bytes have the SHA-256 the order recorded
(activities/document_store.py).

The portal reads the store the worker writes (``open_document_store``: its bucket, else
its directory, which on several machines the two then share). A changed or missing file is never served: the
customer gets a plain page saying so, and the log says which (operations find it there).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from starlette.responses import Response

from activities.config import Settings
from activities.document_store import DocumentMissing, DocumentTampered, open_document_store
from workflows.models import DocumentRef

# The last part of a confirmation PDF's address: /orders/<id>/confirmation/<version>/confirmation.pdf
PDF_NAME: Final = "confirmation.pdf"

log = logging.getLogger("orders.portal")


async def pdf_response(settings: Settings, order_id: str, version: int, document: DocumentRef) -> Response | str:
    """The version's PDF, hash-checked; or, in words for the customer, why it is not served."""
    filename = f"order-{order_id}-confirmation-v{version}.pdf"
    return await serve_pdf(settings, order_id, document, filename, "confirmation")


async def serve_pdf(
    settings: Settings, order_id: str, document: DocumentRef, filename: str, what: str
) -> Response | str:
    """One of the order's PDFs (``what``: a confirmation, a receipt), read from the store only while
    its bytes have the SHA-256 the order recorded; or, in words for the customer, why not."""
    store = open_document_store(settings)
    try:
        data = await asyncio.to_thread(store.get, document.id, document.sha256)
    except DocumentTampered as error:
        log.error("%s PDF not served: %s", what, error, extra={"order_id": order_id})
        return (
            "This PDF no longer matches the copy your order recorded when it was issued, so it is not shown. "
            f"Please write to {settings.support_email}."
        )
    except DocumentMissing as error:
        log.error("%s PDF not served: %s", what, error, extra={"order_id": order_id})
        return f"This PDF cannot be found just now. Please try again later, or write to {settings.support_email}."
    headers = {"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "private, no-store"}
    return Response(data, media_type="application/pdf", headers=headers)
