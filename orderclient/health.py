"""The worker's health endpoint, for Kubernetes' probes (``ORDERS_HEALTH_ADDRESS``).

``GET /healthz`` (liveness) answers 200 unless the worker stopped on its own; it
answers 200 while the worker still waits for its server too, so that a slow
Temporal does not get the worker restarted in a loop. ``GET /readyz``
(readiness) answers 200 only while the worker is connected and polling. A tiny
HTTP/1.1 server on asyncio: a probe needs a status line, not a web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

HEALTH_ADDRESS_ENV: Final = "ORDERS_HEALTH_ADDRESS"
LIVE_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"

# A probe's request is one short head; anything slower or larger is not a probe.
REQUEST_TIMEOUT: Final = 5.0
MAX_HEAD: Final = 8 * 1024

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request", 503: "Service Unavailable"}


class Probe:
    """What the endpoint reports: set ``ready`` and ``live`` as the worker starts and stops."""

    def __init__(self) -> None:
        self.ready: Callable[[], bool] = lambda: False
        self.live: Callable[[], bool] = lambda: True


def _answer(method: str, path: str, ready: Callable[[], bool], live: Callable[[], bool]) -> int:
    if path not in (LIVE_PATH, READY_PATH):
        return 404
    if method not in ("GET", "HEAD"):
        return 405
    healthy = live() if path == LIVE_PATH else ready()
    return 200 if healthy else 503


async def serve(
    host: str, port: int, ready: Callable[[], bool], live: Callable[[], bool] = lambda: True
) -> asyncio.Server:
    """Start answering on ``host:port``; close the returned server to stop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            request_line = head[:MAX_HEAD].split(b"\r\n", 1)[0].decode("latin-1").split()
            code = 400 if len(request_line) != 3 else _answer(request_line[0], request_line[1], ready, live)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        body = f"{_REASONS[code].lower()}\n".encode()
        writer.write(
            f"HTTP/1.1 {code} {_REASONS[code]}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + (b"" if request_line[:1] == ["HEAD"] else body)
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_HEAD)


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``0.0.0.0:8088``, ``[::]:8088``) as a host and a port; ``ValueError`` otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)
