"""The HTTP side: reads a request, records it (layer 1), asks the double for the answer, and sends it,
holds it, delays it or drops the connection as the fault behind the API says (layer 6)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from starter.stripe_double.checkout_page import CHECKOUT_PATH, CheckoutHost, handle
from starter.stripe_double.faults import Fault
from starter.stripe_double.objects import API_VERSION
from starter.stripe_double.recording import RecordedRequest

Answer = tuple[int, dict[str, Any], dict[str, str], Fault | None]
"""Status (0: drop the connection), JSON body, extra headers, and the fault behind the API, if any."""


class Served(CheckoutHost, Protocol):
    """What the handler needs of the double (``StripeDouble``)."""

    def record(self, request: RecordedRequest) -> None: ...

    def handle(self, request: RecordedRequest) -> Answer: ...


def handler_for(double: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(StripeHandler):
        pass

    Handler.double = double
    return Handler


class StripeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-double"
    double: Served

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve("POST", self.rfile.read(length) if length else b"")

    def do_DELETE(self) -> None:
        self._serve("DELETE", b"")

    def _serve(self, method: str, raw: bytes) -> None:
        url = urlsplit(self.path)
        if url.path.startswith(CHECKOUT_PATH):  # the hosted checkout page: a browser's, not the API
            self._checkout_page(method, url.path, dict(parse_qsl(raw.decode("utf-8", "replace"))))
            return
        request = RecordedRequest(
            method=method,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            form=dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)),
            received_at=time.time(),
        )
        self.double.record(request)
        status, body, headers, behind = self.double.handle(request)
        if behind is not None and behind.kind == "hold" and behind.hold is not None:
            behind.hold.request = request
            behind.hold.arrived.set()
            behind.hold.released.wait(120)
        if behind is not None and behind.kind == "slow":
            time.sleep(behind.delay)  # the client has given up by now: the answer is lost
        if status == 0 or (behind is not None and behind.kind == "drop_after"):
            request.status = 0
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._answer(request, status, body, headers)

    def _checkout_page(self, method: str, path: str, form: dict[str, str]) -> None:
        page = handle(self.double, method, path, form)
        try:
            self.send_response(page.status)
            for name, value in page.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)
        except OSError:
            self.close_connection = True

    def _answer(self, request: RecordedRequest, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        request.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
            self.send_header("Stripe-Version", request.header("Stripe-Version") or API_VERSION)
            if request.idempotency_key:
                self.send_header("Idempotency-Key", request.idempotency_key)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            # The client went away (a killed worker): the answer is lost in transit.
            self.close_connection = True
