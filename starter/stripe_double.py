"""An in-process HTTP double of the Stripe v1 API endpoints the worker uses.

The tests use it (``tests/doubles/stripe_api.py`` imports it from here), and
``orders dev --stripe-test-double`` serves it so that anyone can walk the card
path without a Stripe account. It lives in an installed package for that.

stripe-mock is not obtainable here and localstripe ignores idempotency keys,
so this is a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) in
a daemon thread. Point the real ``stripe.StripeClient`` at ``double.url``
(``STRIPE_API_BASE`` / ``Settings.stripe_api_base``)::

    with StripeDouble() as api:
        api.fail_next("POST", "/v1/payment_intents", status=500)
        ...
        assert len(api.payment_intents) == 1

Endpoints: ``POST /v1/customers``, ``POST /v1/invoiceitems``,
``GET /v1/invoiceitems?invoice=``, ``POST /v1/invoices``,
``GET /v1/invoices?customer=``, ``POST /v1/invoices/{id}/finalize``,
``POST /v1/invoices/{id}/void``, ``GET /v1/invoices/{id}``,
``GET /v1/invoice_payments``, ``POST /v1/payment_intents``,
``GET /v1/payment_intents?customer=`` (newest first, read-your-writes),
``GET /v1/payment_intents/search?query=metadata['order_id']:'42'``,
``GET /v1/payment_intents/{id}``, ``POST /v1/refunds`` and
``GET /v1/refunds?payment_intent=``, ``POST /v1/checkout/sessions``,
``GET /v1/checkout/sessions/{id}`` and ``GET /v1/setup_intents/{id}``
(``complete_checkout`` plays the customer finishing a setup-mode session). With
``hosted_checkout=True`` (``orders dev``) a session's ``url`` is the double's own
checkout page, ``GET /c/pay/{id}``, where a person picks a test card; it completes
the session and posts the signed event to ``forward_events_to``'s address
(``starter/stripe_double_checkout.py``). Lists page with
``limit`` and ``starting_after``. Objects are shaped like the pinned API
version's (an invoice has no ``payment_intent``; its payments are
``invoice_payment`` objects).

Like Stripe, a request goes through these layers, in order:

1. **Recording**: method, path, query, headers and the parsed form body.
2. **Scripted faults in front of the API** (``fail_next``, ``drop_next``):
   a 429, 500 or 409 from the edge, or a dropped connection. Nothing ran, so
   nothing is saved for the idempotency key, as with Stripe's rate limiter.
3. **Authentication**: ``Authorization: Bearer <api_key>`` or 401.
4. **Idempotency** (POST with ``Idempotency-Key``, scoped to the API key): a
   key whose first request is still running is ``409 idempotency_key_in_use``;
   a key seen before replays the stored status and body with
   ``Idempotent-Replayed: true``, or answers ``400 idempotency_error`` when the
   method, path or parameters differ.
5. **The endpoint**, whose answer (success, 402 card error, 400) is stored
   for the key. Stripe stores a 500 too, once the endpoint has started:
   ``fail_next(..., saved=True)`` fails before the endpoint creates anything,
   ``fail_next(..., after=True)`` lets it create the object and still answers
   500. Either 500 is stored and replayed for the key, as Stripe does for 24 h.
6. **Scripted faults behind the API** (``hold_next``, ``drop_next(after=True)``):
   the work is done and stored, but the answer is held or lost on the way back.

Cards behave like Stripe's test payment methods: ``pm_card_visa`` succeeds,
``pm_card_visa_chargeDeclinedInsufficientFunds`` is declined,
``pm_card_authenticationRequired`` needs authentication, and so on
(``TEST_CARDS``); ``decline_next`` declines the next charge whatever the card,
and ``require_action_next`` leaves the next one ``requires_action`` with a
``use_stripe_sdk`` (3D Secure) or ``redirect_to_url`` next action.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starter.stripe_double_checkout import handle

TEST_API_KEY = "sk_test_double_0123456789"
API_VERSION = "2026-10-28.endive"

TEST_CARDS: dict[str, tuple[str, str, str] | None] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_visa_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_visa_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_visa_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
    "pm_card_visa_chargeDeclinedStolenCard": ("card_declined", "stolen_card", "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    "pm_card_chargeDeclinedProcessingError": (
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "pm_card_authenticationRequired": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
"""Payment method id to ``(code, decline_code, message)``, or ``None`` for a card that pays."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def error_body(
    error_type: str, message: str, *, code: str | None = None, param: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Stripe's error JSON: ``{"error": {"type": ..., "code": ..., "message": ...}}``."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    error.update(extra)
    return {"error": error}


class StripeApiError(Exception):
    """Raised by an endpoint: answered as Stripe's error JSON with ``status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"].get("message"))
        self.status = status
        self.body = body


def _invalid(message: str, *, code: str | None = None, param: str | None = None, status: int = 400) -> StripeApiError:
    return StripeApiError(status, error_body("invalid_request_error", message, code=code, param=param))


# --------------------------------------------------------------------------
# Recording and scripting
# --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    received_at: float
    status: int | None = None
    """The answer's status; 0 when the connection was dropped, None while held."""
    replayed: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def idempotency_key(self) -> str | None:
        return self.header("Idempotency-Key")


@dataclass
class Hold:
    """A response held back until ``release()``: the work is done, the answer is in transit."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    request: RecordedRequest | None = None

    def release(self) -> None:
        self.released.set()

    def wait_arrived(self, timeout: float = 30.0) -> RecordedRequest:
        if not self.arrived.wait(timeout):
            raise AssertionError("the held request never arrived at the Stripe double")
        assert self.request is not None
        return self.request


@dataclass
class _Fault:
    method: str
    path: str
    kind: str  # "status", "saved", "after", "drop", "drop_after", "hold", "slow", "decline", "action"
    times: int
    status: int = 500
    body: dict[str, Any] | None = None
    hold: Hold | None = None
    decline: tuple[str, str, str] | None = None
    redirect_url: str | None = None
    skip: int = 0
    """Matching requests to let through before the fault applies."""
    delay: float = 0.0
    """``slow``: seconds the answer waits after the work is done."""

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and (path == self.path or path.startswith(self.path.rstrip("/") + "/"))


@dataclass
class _Saved:
    fingerprint: tuple[Any, ...]
    status: int
    body: dict[str, Any]


CHAOS_FAULTS: tuple[str, ...] = (
    "500",
    "503",
    "429",
    "500 after the work",
    "reset",
    "reset after the work",
    "slow",
)
"""The faults ``StripeDouble.chaos`` draws from, equally likely."""

_EDGE_ERRORS: dict[int, dict[str, Any]] = {
    429: error_body(
        "invalid_request_error",
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
    ),
    500: error_body("api_error", "An unknown error occurred"),
    503: error_body("api_error", "The Stripe API is temporarily unavailable"),
    409: error_body(
        "invalid_request_error",
        "This object cannot be accessed right now because another API request or Stripe process is currently "
        "accessing it. If you see this error intermittently, retry the request.",
        code="lock_timeout",
    ),
}


class StripeDouble:
    def __init__(self, api_key: str = TEST_API_KEY, *, hosted_checkout: bool = False) -> None:
        self.api_key = api_key
        self.hosted_checkout = hosted_checkout
        """Checkout Sessions' ``url`` is the double's own checkout page (starter/stripe_double_checkout.py),
        not checkout.stripe.com: for ``orders dev``, where a person walks the card path in a browser."""
        self.forward_target: tuple[str, str] | None = None
        """Where the checkout page posts its signed events, and the signing secret (``forward_events_to``)."""
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._saved: dict[tuple[str, str], _Saved] = {}
        self._in_progress: set[tuple[str, str]] = set()
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.invoice_items: dict[str, dict[str, Any]] = {}
        self.invoice_payments: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self._holds: list[Hold] = []
        self._invoice_numbers = 0
        self._chaos: tuple[float, random.Random, float] | None = None
        self.chaos_faults: list[tuple[str, str, str]] = []
        """``(method, path, fault)`` of every fault ``chaos`` injected."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="stripe-double", daemon=True
        )

    # Lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StripeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def forward_events_to(self, url: str, secret: str) -> None:
        """Post the events of the hosted checkout page to ``url``, signed with ``secret``
        (what ``stripe listen --forward-to`` does with real Stripe)."""
        self.forward_target = (url, secret)

    # Scripting -------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 500,
        *,
        times: int = 1,
        skip: int = 0,
        saved: bool = False,
        after: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        By default the error comes from in front of the API (429, 500, 503 or
        409): nothing runs and nothing is stored for the key. With ``saved``
        the endpoint started and failed before creating anything; with
        ``after`` it created the object and still failed. In both cases the
        error is stored for the idempotency key and every retry with that key
        gets it again (``Idempotent-Replayed: true``), as with Stripe.
        ``skip`` lets that many matching requests through first."""
        body = _EDGE_ERRORS.get(status, error_body("api_error", f"HTTP {status}"))
        kind = "after" if after else "saved" if saved else "status"
        self._script(_Fault(method, path, kind, times, status=status, body=body, skip=skip))

    def drop_next(self, method: str, path: str, *, after: bool = False, times: int = 1) -> None:
        """Close the connection without an answer: before the work (``after=False``,
        the request is lost) or after it (the work is done and stored, the answer lost)."""
        self._script(_Fault(method, path, "drop_after" if after else "drop", times))

    def hold_next(self, method: str, path: str) -> Hold:
        """Do the work, store it for the key, then hold the answer until ``hold.release()``."""
        hold = Hold()
        with self._lock:
            self._holds.append(hold)
        self._script(_Fault(method, path, "hold", 1, hold=hold))
        return hold

    def decline_next(
        self,
        code: str = "card_declined",
        decline_code: str = "generic_decline",
        message: str = "Your card was declined.",
        *,
        times: int = 1,
    ) -> None:
        """Decline the next PaymentIntent confirmation with a 402 card error, whatever the card."""
        self._script(_Fault("POST", "/v1/payment_intents", "decline", times, decline=(code, decline_code, message)))

    def clear_faults(self) -> None:
        """Stripe is back: forget every scripted fault that has not fired yet."""
        with self._lock:
            self._faults.clear()

    def require_action_next(self, redirect_url: str | None = None, *, times: int = 1) -> None:
        """Leave the next PaymentIntent confirmation ``requires_action`` (200, as Stripe
        answers when 3D Secure is needed): ``next_action`` is ``use_stripe_sdk`` unless a
        ``redirect_url`` is given, then ``redirect_to_url``."""
        self._script(_Fault("POST", "/v1/payment_intents", "action", times, redirect_url=redirect_url))

    def chaos(self, rate: float, rng: random.Random, *, slow: float = 3.0) -> None:
        """Fail about ``rate`` of all requests, each with a fault drawn from ``CHAOS_FAULTS``:
        a 500 or 503 from the edge, a 429, a 500 after the work was done (saved for
        the key), a connection reset before or after the work, or an answer held
        ``slow`` seconds (past the client's timeout) after the work. ``rate=0`` stops."""
        with self._lock:
            self._chaos = (rate, rng, slow) if rate > 0 else None

    def _draw_chaos(self, method: str, path: str) -> None:
        with self._lock:
            if self._chaos is None:
                return
            rate, rng, slow = self._chaos
            if rng.random() >= rate:
                return
            name = rng.choice(CHAOS_FAULTS)
            self.chaos_faults.append((method, path, name))
        kind, status = {
            "500": ("status", 500),
            "503": ("status", 503),
            "429": ("status", 429),
            "500 after the work": ("after", 500),
            "reset": ("drop", 0),
            "reset after the work": ("drop_after", 0),
            "slow": ("slow", 200),
        }[name]
        body = _EDGE_ERRORS.get(status)
        fault = _Fault(method, path, kind, 1, status=status, body=body, delay=slow)
        with self._lock:
            self._faults.insert(0, fault)

    def _script(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str, kinds: tuple[str, ...]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.times > 0 and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # Inspection ------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def wait_for(self, check: Callable[[StripeDouble], bool], timeout: float = 15.0) -> None:
        """Block until ``check(self)`` (for synchronous tests; async tests poll)."""
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the Stripe double never saw it; requests: {self.summary()}")
            time.sleep(0.01)

    def summary(self) -> list[tuple[str, str, str | None, int | None]]:
        return [(r.method, r.path, r.idempotency_key, r.status) for r in self.requests]

    # Acting as the customer and as Stripe ------------------------------------

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        """The customer pays the hosted invoice: its PaymentIntent succeeds, the invoice is paid."""
        with self._lock:
            invoice = self.invoices[invoice_id]
            if invoice["status"] != "open":
                raise AssertionError(f"invoice {invoice_id} is {invoice['status']}, not open")
            payment = next(p for p in self.invoice_payments.values() if p["invoice"] == invoice_id)
            intent = self.payment_intents[payment["payment"]["payment_intent"]]
            intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=new_id("ch"))
            now = int(time.time())
            payment.update(status="paid", amount_paid=intent["amount"])
            payment["status_transitions"]["paid_at"] = now
            invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, paid=True)
            invoice["status_transitions"]["paid_at"] = now
            return _copy(invoice)

    def event(self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """A webhook event as Stripe sends it (a snapshot of ``obj``)."""
        return {
            "id": event_id or new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": _copy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }

    # Serving ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str], _Fault | None]:
        """Layers 2 to 6 of the module docstring; answers (status, body, headers, fault behind)."""
        method, path = request.method, request.path
        self._draw_chaos(method, path)
        front = self._take_fault(method, path, ("status", "drop"))
        if front is not None:
            if front.kind == "drop":
                return 0, {}, {}, front
            assert front.body is not None
            return front.status, front.body, {}, None
        auth = request.header("Authorization") or ""
        if auth != f"Bearer {self.api_key}":
            shown = auth.removeprefix("Bearer ")[-4:]
            body = error_body("invalid_request_error", f"Invalid API Key provided: sk_test_****{shown}")
            return 401, body, {}, None
        key = request.idempotency_key if method == "POST" else None
        scope = (self.api_key, key) if key else None
        fingerprint = (method, path, tuple(sorted(request.form.items())))
        if scope is not None:
            with self._lock:
                saved = self._saved.get(scope)
                if saved is None and scope in self._in_progress:
                    body = error_body(
                        "idempotency_error",
                        "There is currently another in-progress request using this Idempotent Key (that probably "
                        "means you submitted twice, and the other request is still going through): "
                        f"{key}. Please try again later.",
                        code="idempotency_key_in_use",
                    )
                    return 409, body, {}, None
                if saved is None:
                    self._in_progress.add(scope)
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    body = error_body(
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                    )
                    return 400, body, {}, None
                request.replayed = True
                behind = self._take_fault(method, path, ("hold", "drop_after", "slow"))
                return saved.status, saved.body, {"Idempotent-Replayed": "true"}, behind
        try:
            inside = self._take_fault(method, path, ("saved", "after"))
            if inside is not None and inside.kind == "saved":
                assert inside.body is not None
                status, body = inside.status, inside.body
            else:
                try:
                    status, body = 200, self._route(request)
                except StripeApiError as error:
                    status, body = error.status, error.body
                if inside is not None:  # the work is done, and the answer is still a 500
                    assert inside.body is not None
                    status, body = inside.status, inside.body
            if scope is not None and status != 404:
                with self._lock:
                    self._saved[scope] = _Saved(fingerprint, status, body)
        finally:
            if scope is not None:
                with self._lock:
                    self._in_progress.discard(scope)
        behind = self._take_fault(method, path, ("hold", "drop_after", "slow"))
        return status, body, {}, behind

    def _route(self, request: RecordedRequest) -> dict[str, Any]:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        with self._lock:
            if method == "POST" and parts == ["v1", "customers"]:
                return self._create_customer(request.form)
            if method == "POST" and parts == ["v1", "invoices"]:
                return self._create_invoice(request.form)
            if method == "GET" and parts == ["v1", "invoices"]:
                return self._list(self.invoices, request, ("customer", "status"))
            if method == "POST" and parts == ["v1", "invoiceitems"]:
                return self._create_invoice_item(request.form)
            if method == "GET" and parts == ["v1", "invoiceitems"]:
                return self._list(self.invoice_items, request, ("customer", "invoice"))
            if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[3] == "finalize":
                return self._finalize_invoice(parts[2])
            if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[3] == "void":
                return self._void_invoice(parts[2])
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "invoices"]:
                return _copy(self._invoice(parts[2]))
            if method == "GET" and parts == ["v1", "invoice_payments"]:
                return self._list_invoice_payments(request.query)
            if method == "POST" and parts == ["v1", "payment_intents"]:
                return self._create_payment_intent(request)
            if method == "GET" and parts == ["v1", "payment_intents"]:
                return self._list(self.payment_intents, request, ("customer",))
            if method == "GET" and parts == ["v1", "payment_intents", "search"]:
                return self._search_payment_intents(request.query)
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
                return _copy(self._payment_intent(parts[2]))
            if method == "POST" and parts == ["v1", "refunds"]:
                return self._create_refund(request.form)
            if method == "GET" and parts == ["v1", "refunds"]:
                return self._list(self.refunds, request, ("payment_intent",))
            if method == "POST" and parts == ["v1", "checkout", "sessions"]:
                return self._create_checkout_session(request.form)
            if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
                return _public(self._found(self.checkout_sessions, parts[3], "checkout.session"))
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "setup_intents"]:
                return _copy(self._found(self.setup_intents, parts[2], "setup_intent"))
        raise _invalid(
            f"Unrecognized request URL ({method}: {request.path}). Please see https://stripe.com/docs", status=404
        )

    # Endpoints -------------------------------------------------------------

    def _list(
        self, objects: dict[str, dict[str, Any]], request: RecordedRequest, filters: tuple[str, ...]
    ) -> dict[str, Any]:
        """A Stripe list: newest first, filtered by equality, paged by ``limit`` and ``starting_after``."""
        query = request.query
        unknown = sorted(k for k in query if k not in (*filters, "limit", "starting_after"))
        if unknown:
            raise _invalid(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
        # Insertion order is creation order; reversed is newest first, as Stripe lists.
        data = [o for o in reversed(objects.values()) if all(o.get(k) == query[k] for k in filters if k in query)]
        if "starting_after" in query:
            ids = [o["id"] for o in data]
            if query["starting_after"] not in ids:
                raise _invalid(f"No such object: '{query['starting_after']}'", param="starting_after")
            data = data[ids.index(query["starting_after"]) + 1 :]
        limit = int(query.get("limit", "10"))
        return {
            "object": "list",
            "data": [_copy(o) for o in data[:limit]],
            "has_more": len(data) > limit,
            "url": request.path,
        }

    def _search_payment_intents(self, query: dict[str, str]) -> dict[str, Any]:
        """Stripe's search query language, the part the worker may use:
        ``metadata['key']:'value'``, ``customer:'cus_...'`` and ``status:'...'`` joined by ``AND``."""
        clauses = [c.strip() for c in _required(query, "query").split(" AND ")]
        wanted: list[tuple[tuple[str, ...], str]] = []
        for clause in clauses:
            match = _SEARCH_CLAUSE.fullmatch(clause)
            if match is None:
                raise _invalid(f"Invalid search query: {clause}", param="query")
            field_path = ("metadata", match["key"]) if match["key"] else (match["field"],)
            wanted.append((field_path, match["value"]))

        def value_at(obj: dict[str, Any], field_path: tuple[str, ...]) -> Any:
            value: Any = obj
            for name in field_path:
                value = value.get(name) if isinstance(value, dict) else None
            return value

        data = [
            _copy(pi) for pi in reversed(self.payment_intents.values()) if all(value_at(pi, f) == v for f, v in wanted)
        ]
        limit = int(query.get("limit", "10"))
        return {
            "object": "search_result",
            "data": data[:limit],
            "has_more": len(data) > limit,
            "next_page": None,
            "url": "/v1/payment_intents/search",
        }

    def _create_customer(self, form: dict[str, str]) -> dict[str, Any]:
        customer: dict[str, Any] = {
            "id": new_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": form.get("email"),
            "name": form.get("name"),
            "livemode": False,
            "metadata": _metadata(form),
        }
        self.customers[customer["id"]] = customer
        return _copy(customer)

    @staticmethod
    def _found(objects: dict[str, dict[str, Any]], object_id: str, kind: str) -> dict[str, Any]:
        found = objects.get(object_id)
        if found is None:
            raise _invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param="id", status=404)
        return found

    def _create_checkout_session(self, form: dict[str, str]) -> dict[str, Any]:
        mode = _required(form, "mode")
        if mode not in ("payment", "setup", "subscription"):
            raise _invalid("Invalid mode: must be one of payment, setup, or subscription", param="mode")
        success_url = _required(form, "success_url")
        types = [v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")]
        if mode == "setup" and not form.get("currency") and not types:
            raise _invalid(
                "currency is required in setup mode when payment_method_types is not passed.", param="currency"
            )
        customer = form.get("customer")
        if customer and customer not in self.customers:
            raise _invalid(f"No such customer: '{customer}'", code="resource_missing", param="customer")
        session_id = new_id("cs_test")
        prefix = "setup_intent_data[metadata]["
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "currency": form.get("currency"),
            "customer": customer,
            "client_reference_id": form.get("client_reference_id"),
            "payment_method_types": types or ["card"],
            "metadata": _metadata(form),
            "setup_intent": None,
            "success_url": success_url,
            "cancel_url": form.get("cancel_url"),
            "url": f"{self.url if self.hosted_checkout else 'https://checkout.stripe.com'}/c/pay/{session_id}",
            "livemode": False,
            "created": int(time.time()),
            # Not an API field: what the SetupIntent gets when the session completes.
            "_setup_intent_metadata": {k[len(prefix) : -1]: v for k, v in form.items() if k.startswith(prefix)},
        }
        self.checkout_sessions[session_id] = session
        return _public(session)

    def complete_checkout(self, session_id: str, payment_method: str | None = None) -> dict[str, Any]:
        """The customer finishes a setup-mode session: a succeeded SetupIntent; the session as its event carries it."""
        with self._lock:
            session = self.checkout_sessions[session_id]
            intent: dict[str, Any] = {
                "id": new_id("seti"),
                "object": "setup_intent",
                "status": "succeeded",
                "customer": session["customer"],
                "payment_method": payment_method or new_id("pm"),
                "payment_method_types": session["payment_method_types"],
                "usage": "off_session",
                "metadata": session["_setup_intent_metadata"],
                "livemode": False,
                "created": int(time.time()),
            }
            self.setup_intents[intent["id"]] = intent
            session.update(status="complete", setup_intent=intent["id"], url=None)
            return _public(session)

    def pay_checkout(self, session_id: str, payment_method: str) -> dict[str, Any]:
        """The customer pays on the double's checkout page: a Customer if the session has none, as Stripe makes
        one, then ``complete_checkout``."""
        with self._lock:
            session = self.checkout_sessions[session_id]
            if not session.get("customer"):
                session["customer"] = self._create_customer({})["id"]
        return self.complete_checkout(session_id, payment_method=payment_method)

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise _invalid(f"No such invoice: '{invoice_id}'", code="resource_missing", param="invoice", status=404)
        return invoice

    def _create_invoice(self, form: dict[str, str]) -> dict[str, Any]:
        customer = _required(form, "customer")
        collection = form.get("collection_method", "charge_automatically")
        if collection == "send_invoice" and "days_until_due" not in form and "due_date" not in form:
            raise _invalid("Missing required param: days_until_due.", code="parameter_missing", param="days_until_due")
        invoice_id = new_id("in")
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "auto_advance": form.get("auto_advance") == "true",
            "collection_method": collection,
            "created": int(time.time()),
            "currency": form.get("currency", "eur"),
            "customer": customer,
            "days_until_due": int(form["days_until_due"]) if "days_until_due" in form else None,
            "description": form.get("description"),
            "due_date": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "lines": {"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
            "livemode": False,
            "metadata": _metadata(form),
            "number": None,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
            "subtotal": 0,
            "total": 0,
        }
        self.invoices[invoice_id] = invoice
        return _copy(invoice)

    def _create_invoice_item(self, form: dict[str, str]) -> dict[str, Any]:
        customer = _required(form, "customer")
        amount = int(_required(form, "amount"))
        invoice_id = form.get("invoice")
        item: dict[str, Any] = {
            "id": new_id("ii"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": form.get("currency", "eur"),
            "customer": customer,
            "date": int(time.time()),
            "description": form.get("description"),
            "invoice": invoice_id,
            "livemode": False,
            "metadata": _metadata(form),
        }
        if invoice_id:
            invoice = self._invoice(invoice_id)
            if invoice["status"] != "draft":
                raise _invalid(
                    f"You can only add invoice items to draft invoices, and {invoice_id} is {invoice['status']}.",
                    code="invoice_not_editable",
                    param="invoice",
                )
            if invoice["customer"] != customer:
                raise _invalid("The invoice item's customer must match the invoice's.", param="customer")
            invoice["lines"]["data"].append(
                {
                    "id": new_id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": item["currency"],
                    "description": item["description"],
                }
            )
            total = sum(line["amount"] for line in invoice["lines"]["data"])
            invoice.update(subtotal=total, total=total, amount_due=max(total, 0), amount_remaining=max(total, 0))
        self.invoice_items[item["id"]] = item
        return _copy(item)

    def _finalize_invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self._invoice(invoice_id)
        if invoice["status"] != "draft":
            raise _invalid(
                f"This invoice is already finalized, you can't re-finalize a non-draft invoice ({invoice_id}).",
                code="invoice_unexpected_state",
            )
        now = int(time.time())
        self._invoice_numbers += 1
        token = uuid.uuid4().hex[:20]
        invoice.update(
            number=f"DOUBLE-{self._invoice_numbers:04d}",
            hosted_invoice_url=f"https://invoice.stripe.com/i/acct_double/test_{token}",
            invoice_pdf=f"https://pay.stripe.com/invoice/acct_double/test_{token}/pdf",
            due_date=now + 86_400 * (invoice["days_until_due"] or 0),
        )
        invoice["status_transitions"]["finalized_at"] = now
        if invoice["amount_due"] == 0:
            invoice["status"] = "paid"
            invoice["status_transitions"]["paid_at"] = now
            return _copy(invoice)
        invoice["status"] = "open"
        intent = self._new_payment_intent(
            amount=invoice["amount_due"],
            currency=invoice["currency"],
            customer=invoice["customer"],
            payment_method=None,
            metadata={},  # an invoice's PaymentIntent does not carry the invoice's metadata
            status="requires_payment_method",
            description=f"Payment for Invoice {invoice['number']}",
        )
        payment: dict[str, Any] = {
            "id": new_id("inpay"),
            "object": "invoice_payment",
            "amount_paid": None,
            "amount_requested": invoice["amount_due"],
            "created": now,
            "currency": invoice["currency"],
            "invoice": invoice_id,
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        }
        self.invoice_payments[payment["id"]] = payment
        return _copy(invoice)

    def _void_invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self._invoice(invoice_id)
        if invoice["status"] != "open":
            raise _invalid(
                f"You can only pass in open invoices. This invoice ({invoice_id}) is {invoice['status']}.",
                code="invoice_not_open",
            )
        now = int(time.time())
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = now
        for payment in self.invoice_payments.values():
            if payment["invoice"] == invoice_id and payment["status"] == "open":
                payment["status"] = "canceled"
                payment["status_transitions"]["canceled_at"] = now
                self.payment_intents[payment["payment"]["payment_intent"]]["status"] = "canceled"
        return _copy(invoice)

    def _list_invoice_payments(self, query: dict[str, str]) -> dict[str, Any]:
        invoice_id = query.get("invoice")
        status = query.get("status")
        data = [
            _copy(p)
            for p in self.invoice_payments.values()
            if (invoice_id is None or p["invoice"] == invoice_id) and (status is None or p["status"] == status)
        ]
        return {"object": "list", "data": data, "has_more": False, "url": "/v1/invoice_payments"}

    def _payment_intent(self, intent_id: str) -> dict[str, Any]:
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise _invalid(
                f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent", status=404
            )
        return intent

    def _new_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        payment_method: str | None,
        metadata: dict[str, str],
        status: str,
        description: str | None,
    ) -> dict[str, Any]:
        intent_id = new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "amount_refunded": 0,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{uuid.uuid4().hex[:16]}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": customer,
            "description": description,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "status": status,
        }
        self.payment_intents[intent_id] = intent
        return intent

    def _create_payment_intent(self, request: RecordedRequest) -> dict[str, Any]:
        form = request.form
        amount = int(_required(form, "amount"))
        currency = _required(form, "currency")
        if amount < 1:
            raise _invalid(
                "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param="amount"
            )
        payment_method = form.get("payment_method")
        confirm = form.get("confirm") == "true"
        intent = self._new_payment_intent(
            amount=amount,
            currency=currency,
            customer=form.get("customer"),
            payment_method=payment_method,
            metadata=_metadata(form),
            status="requires_confirmation" if payment_method else "requires_payment_method",
            description=form.get("description"),
        )
        if not confirm or not payment_method:
            return _copy(intent)
        action = self._take_fault("POST", "/v1/payment_intents", ("action",))
        if action is not None:
            next_action: dict[str, Any]
            if action.redirect_url:
                next_action = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {"url": action.redirect_url, "return_url": form.get("return_url")},
                }
            else:
                # What Stripe.js handles itself: the server gets no URL to send.
                next_action = {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {
                        "type": "three_d_secure_redirect",
                        "stripe_js": "https://hooks.stripe.com/3d_secure_2/hosted",
                    },
                }
            intent.update(status="requires_action", next_action=next_action)
            return _copy(intent)
        scripted = self._take_fault("POST", "/v1/payment_intents", ("decline",))
        outcome = scripted.decline if scripted is not None else TEST_CARDS.get(payment_method)
        charge_id = new_id("ch")
        intent["latest_charge"] = charge_id
        if outcome is None:
            intent.update(status="succeeded", amount_received=amount)
            return _copy(intent)
        code, decline_code, message = outcome
        error = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "charge": charge_id,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        }
        intent.update(status="requires_payment_method", last_payment_error=dict(error))
        raise StripeApiError(402, {"error": {**error, "payment_intent": _copy(intent)}})

    def _create_refund(self, form: dict[str, str]) -> dict[str, Any]:
        intent = self._payment_intent(_required(form, "payment_intent"))
        if intent["status"] != "succeeded":
            raise _invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        refundable = intent["amount_received"] - intent["amount_refunded"]
        if refundable <= 0:
            raise _invalid(
                f"Charge {intent['latest_charge']} has already been refunded.", code="charge_already_refunded"
            )
        amount = int(form.get("amount", refundable))
        if amount > refundable:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})",
                code="amount_too_large",
                param="amount",
            )
        intent["amount_refunded"] += amount
        refund: dict[str, Any] = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "metadata": _metadata(form),
            "payment_intent": intent["id"],
            "reason": form.get("reason"),
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return _copy(refund)


_SEARCH_CLAUSE = re.compile(
    r"(?:metadata\[['\"](?P<key>[^'\"]+)['\"]\]|(?P<field>customer|status)):['\"](?P<value>[^'\"]*)['\"]"
)


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(obj))
    return copied


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _copy(obj).items() if not k.startswith("_")}


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[") and k.endswith("]")}


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    return value


def _handler_for(double: StripeDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "stripe-double"

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
            if url.path.startswith("/c/pay/"):  # the hosted checkout page: a browser's, not the API
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
            double._record(request)
            status, body, headers, behind = double.handle(request)
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
            page = handle(double, method, path, form)
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

    return Handler


def serve() -> Iterator[StripeDouble]:
    """Generator for a pytest fixture: ``yield from serve()``."""
    double = StripeDouble().start()
    try:
        yield double
    finally:
        double.stop()
