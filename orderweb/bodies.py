"""Reading a request body with a size cap, for every endpoint that faces the network."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

log = logging.getLogger("orders.http")


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to pass ``limit`` bytes: from its
    Content-Length before reading anything, or while reading a body sent without
    one (chunked), so a huge body is never held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The exception handler for ``ClientDisconnect``: the client left (or was cut off as too
    slow, ``orderweb/serving.py``) while its body was read. Nobody is left to answer; not an error."""
    log.info("%s %s: the client left before sending the whole body", request.method, request.url.path)
    return Response(status_code=400)


CLIENT_GONE = {ClientDisconnect: client_gone}
"""For ``Starlette(exception_handlers=...)``."""
