"""An in-process HTTP double of SendGrid's ``POST /v3/mail/send``.

A stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) in a daemon
thread. Point the real ``SendGridAPIClient`` at ``double.url`` (through
``SENDGRID_API_BASE`` / ``Settings.sendgrid_api_base``) and every request is
recorded: path, headers and the parsed JSON body.

Answers come from scripted queues of ``Reply`` objects: a queue per message
kind (the request's ``custom_args.kind``), then the shared queue, then the
default, ``202 Accepted`` with a fresh ``X-Message-Id``::

    with SendGridDouble(api_key="SG.test") as api:
        api.script(Reply.rate_limited(reset_in=1), kind="contact_ack")
        api.script(Reply.server_error())          # the next request of any kind
        ...
        [first, second] = api.requests_for(kind="contact_ack")

Like SendGrid, a request without the expected bearer key is answered 401.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAIL_SEND = "/v3/mail/send"

# --------------------------------------------------------------------------
# Scripted replies
# --------------------------------------------------------------------------


def _errors(message: str, field_name: str | None = None, help_url: str | None = None) -> bytes:
    return json.dumps({"errors": [{"message": message, "field": field_name, "help": help_url}]}).encode()


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``reset_in`` makes a 429's ``X-RateLimit-Reset`` at answer time: the first
    whole second at least ``reset_in`` seconds away. ``X-RateLimit-Reset`` has
    whole-second resolution; with ``aligned`` the answer waits for the start of
    a second, so the reset is (a whole) ``reset_in`` seconds away, less a few
    milliseconds.
    """

    status: int = 202
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False
    answer_lost: bool = False
    message_id: bool = True
    reset_in: float | None = None
    aligned: bool = False

    @classmethod
    def accepted(cls, *, delay: float = 0.0) -> Reply:
        return cls(202, delay=delay)

    @classmethod
    def sandbox(cls) -> Reply:
        """Sandbox mode: validated, not delivered: 200, no body, no message id."""
        return cls(200, message_id=False)

    @classmethod
    def slow(cls, seconds: float) -> Reply:
        """Hold the request ``seconds``, then accept it."""
        return cls(202, delay=seconds)

    @classmethod
    def bad_request(
        cls,
        message: str = "The from address does not match a verified Sender Identity. Mail cannot be sent until "
        "this error is resolved.",
        field_name: str | None = "from",
    ) -> Reply:
        help_url = "https://sendgrid.com/docs/for-developers/sending-email/sender-identity/"
        return cls(400, _errors(message, field_name, help_url), message_id=False)

    @classmethod
    def unauthorized(cls) -> Reply:
        return cls(401, _errors("The provided authorization grant is invalid, expired, or revoked"), message_id=False)

    @classmethod
    def forbidden(cls) -> Reply:
        return cls(403, _errors("access forbidden"), message_id=False)

    @classmethod
    def too_large(cls) -> Reply:
        return cls(413, _errors("The JSON payload you have included in your request is too large."), message_id=False)

    @classmethod
    def rate_limited(cls, reset_in: float = 1.0, limit: int = 600, *, aligned: bool = False) -> Reply:
        headers = (("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", "0"))
        return cls(429, _errors("too many requests"), headers, message_id=False, reset_in=reset_in, aligned=aligned)

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status, _errors("internal server error"), message_id=False)

    @classmethod
    def dropped(cls) -> Reply:
        """Read the request, then close the connection without an answer."""
        return cls(0, drop=True, message_id=False)

    @classmethod
    def lost(cls) -> Reply:
        """Accept the message (recorded as 202), then close the connection
        without an answer: the sender cannot know it went out."""
        return cls(202, drop=True, answer_lost=True)

    @classmethod
    def accepted_then_error(cls, status: int = 500) -> Reply:
        """Accept the message (it goes out, and is counted as accepted), then answer
        ``status``, as a proxy or SendGrid's edge can after the mail was queued: the
        sender reads a refusal for a message that was sent."""
        return cls(status, _errors("internal server error"), message_id=False, answer_lost=True)


CHAOS_FAULTS: tuple[str, ...] = ("500", "503", "429", "reset", "slow", "accepted-lost")
"""The faults ``SendGridDouble.chaos`` draws from, equally likely. ``accepted-lost``
accepts the message, then loses the answer, as ``accepted-500`` (a 500) or
``accepted-reset`` (a connection reset), half each: the message went out, and
the sender cannot tell, so only a duplicate can follow."""

# --------------------------------------------------------------------------
# Recorded requests
# --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    """``time.time()`` when the request arrived."""
    status: int | None = None
    """What it was answered: 0 for a dropped connection, None while held."""
    sent: bool = False
    """Accepted (the message went out) whatever the answer said: ``Reply.accepted_then_error``."""
    answered_at: float | None = None
    reply_headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), None)

    @property
    def custom_args(self) -> dict[str, str]:
        args = self.body.get("custom_args") if isinstance(self.body, dict) else None
        return args if isinstance(args, dict) else {}

    @property
    def kind(self) -> str | None:
        return self.custom_args.get("kind")

    @property
    def message_key(self) -> str | None:
        return self.custom_args.get("message_key")

    @property
    def to(self) -> list[str]:
        personalizations = self.body.get("personalizations", []) if isinstance(self.body, dict) else []
        return [to["email"] for p in personalizations for to in p.get("to", [])]

    @property
    def accepted(self) -> bool:
        """The message went out: answered 2xx, or accepted and then answered with an error or nothing."""
        return self.status in (200, 202) or self.sent


class SendGridDouble:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._shared: deque[Reply] = deque()
        self._by_kind: dict[str, deque[Reply]] = {}
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._chaos: tuple[float, random.Random, float] | None = None
        self.chaos_faults: list[str] = []
        """The name of every fault ``chaos`` injected."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="sendgrid-double", daemon=True
        )

    # Lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SendGridDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # releases held (slow) replies
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SendGridDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Scripting -------------------------------------------------------------

    def script(self, *replies: Reply, kind: str | None = None) -> None:
        """Queue ``replies`` for the next requests of ``kind``, or of any kind."""
        with self._lock:
            queue = self._shared if kind is None else self._by_kind.setdefault(kind, deque())
            queue.extend(replies)

    def chaos(self, rate: float, rng: random.Random, *, slow: float = 3.0) -> None:
        """Answer about ``rate`` of the unscripted requests with a fault drawn from
        ``CHAOS_FAULTS``: a 500 or 503, a 429 whose ``X-RateLimit-Reset`` is a
        second away, a connection reset, an acceptance held ``slow`` seconds,
        past the client's timeout (SendGrid sends it; the client never hears),
        or an acceptance answered with a 500 or a reset.
        ``rate=0`` stops."""
        with self._lock:
            self._chaos = (rate, rng, slow) if rate > 0 else None

    def _next_reply(self, kind: str | None) -> Reply:
        with self._lock:
            queue = self._by_kind.get(kind or "")
            if queue:
                return queue.popleft()
            if self._shared:
                return self._shared.popleft()
            if self._chaos is not None:
                rate, rng, slow = self._chaos
                if rng.random() < rate:
                    name = rng.choice(CHAOS_FAULTS)
                    if name == "accepted-lost":
                        name = rng.choice(("accepted-500", "accepted-reset"))
                    self.chaos_faults.append(name)
                    return {
                        "500": Reply.server_error(500),
                        "503": Reply.server_error(503),
                        "429": Reply.rate_limited(reset_in=1),
                        "reset": Reply.dropped(),
                        "slow": Reply.slow(slow),
                        "accepted-500": Reply.accepted_then_error(500),
                        "accepted-reset": Reply.lost(),
                    }[name]
            return Reply.accepted()

    # Inspection ------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, *, kind: str | None = None, message_key: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (kind is None or r.kind == kind) and (message_key is None or r.message_key == message_key)
        ]

    def kinds(self, *, accepted_only: bool = True) -> list[str]:
        return [r.kind or "" for r in self.requests if r.accepted or not accepted_only]

    def wait_for(self, check: Callable[[SendGridDouble], bool], timeout: float = 10.0) -> None:
        """Block until ``check(self)`` (for synchronous tests)."""
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the SendGrid double never saw it; requests: {self.summary()}")
            time.sleep(0.01)

    def summary(self) -> list[tuple[str | None, str | None, int | None]]:
        return [(r.kind, r.message_key, r.status) for r in self.requests]

    # Serving ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _new_message_id(self) -> str:
        return f"double-{next(self._ids):06d}"

    def _hold(self, seconds: float) -> None:
        self._closing.wait(seconds)


def _handler_for(double: SendGridDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sendgrid-double"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            request = RecordedRequest(
                method="POST",
                path=self.path,
                headers={key: value for key, value in self.headers.items()},
                body=body,
                received_at=time.time(),
            )
            double._record(request)
            if self.path != MAIL_SEND:
                self._answer(request, 404, _errors("not found"))
                return
            if double.api_key is not None and request.header("Authorization") != f"Bearer {double.api_key}":
                self._answer(request, 401, _errors("The provided authorization grant is invalid, expired, or revoked"))
                return
            reply = double._next_reply(request.kind)
            if reply.delay:
                double._hold(reply.delay)
            if reply.drop:
                request.status, request.answered_at = (202 if reply.answer_lost else 0), time.time()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            request.sent = reply.answer_lost  # accepted, then answered with an error
            headers = dict(reply.headers)
            if reply.message_id:
                headers["X-Message-Id"] = double._new_message_id()
            if reply.reset_in is not None:
                if reply.aligned:
                    now = time.time()
                    double._hold(math.floor(now) + 1.005 - now)
                    reset = math.floor(time.time()) + math.ceil(reply.reset_in)
                else:
                    reset = math.ceil(time.time() + reply.reset_in)
                headers["X-RateLimit-Reset"] = str(reset)
            self._answer(request, reply.status, reply.body, headers)

        def do_GET(self) -> None:
            request = RecordedRequest("GET", self.path, dict(self.headers.items()), None, time.time())
            double._record(request)
            self._answer(request, 404, _errors("not found"))

        def _answer(
            self, request: RecordedRequest, status: int, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            headers = headers or {}
            # Recorded before the answer leaves, so a client that has it sees it recorded.
            request.reply_headers = headers
            request.status, request.answered_at = status, time.time()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()

    return Handler


def serve() -> Iterator[SendGridDouble]:
    """Generator for a pytest fixture: ``yield from serve()``."""
    double = SendGridDouble(api_key=TEST_API_KEY).start()
    try:
        yield double
    finally:
        double.stop()


TEST_API_KEY = "SG.double-test-key.0123456789abcdefABCDEF"
"""Shaped like a real key, so the redaction of SendGrid-shaped keys is tested too."""
