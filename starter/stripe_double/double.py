"""``StripeDouble``: the server, the scripting and inspection API tests use, and the request's way
through the layers the package docstring lists."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

from starter.stripe_double.checkout import complete_checkout, pay_checkout
from starter.stripe_double.errors import StripeApiError, error_body
from starter.stripe_double.faults import EDGE_ERRORS, Fault, Faults, Hold
from starter.stripe_double.handler import Answer, handler_for
from starter.stripe_double.idempotency import Saved, SavedAnswers
from starter.stripe_double.invoices import pay_invoice
from starter.stripe_double.objects import API_VERSION, copied, new_id
from starter.stripe_double.recording import RecordedRequest
from starter.stripe_double.routes import route
from starter.stripe_double.store import Store

TEST_API_KEY = "sk_test_double_0123456789"

_BEHIND = ("hold", "drop_after", "slow")
"""The kinds of fault behind the API (layer 6)."""


class StripeDouble:
    def __init__(self, api_key: str = TEST_API_KEY, *, hosted_checkout: bool = False) -> None:
        self.api_key = api_key
        self.hosted_checkout = hosted_checkout
        """Checkout Sessions' ``url`` is the double's own checkout page (``checkout_page.py``),
        not checkout.stripe.com: for ``orders dev``, where a person walks the card path in a browser."""
        self.forward_target: tuple[str, str] | None = None
        """Where the checkout page posts its signed events, and the signing secret (``forward_events_to``)."""
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults = Faults()
        self._saved = SavedAnswers()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="stripe-double", daemon=True
        )
        self._store = Store(self._faults, self.url if hosted_checkout else "https://checkout.stripe.com")
        self.customers = self._store.customers
        self.invoices = self._store.invoices
        self.invoice_items = self._store.invoice_items
        self.invoice_payments = self._store.invoice_payments
        self.payment_intents = self._store.payment_intents
        self.refunds = self._store.refunds
        self.checkout_sessions = self._store.checkout_sessions
        self.setup_intents = self._store.setup_intents
        self.chaos_faults = self._faults.chaos_faults
        """``(method, path, fault)`` of every fault ``chaos`` injected."""

    # Lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._faults.release_holds()
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
        body = EDGE_ERRORS.get(status, error_body("api_error", f"HTTP {status}"))
        kind = "after" if after else "saved" if saved else "status"
        self._faults.script(Fault(method, path, kind, times, status=status, body=body, skip=skip))

    def drop_next(self, method: str, path: str, *, after: bool = False, times: int = 1) -> None:
        """Close the connection without an answer: before the work (``after=False``,
        the request is lost) or after it (the work is done and stored, the answer lost)."""
        self._faults.script(Fault(method, path, "drop_after" if after else "drop", times))

    def hold_next(self, method: str, path: str) -> Hold:
        """Do the work, store it for the key, then hold the answer until ``hold.release()``."""
        return self._faults.hold(method, path)

    def decline_next(
        self,
        code: str = "card_declined",
        decline_code: str = "generic_decline",
        message: str = "Your card was declined.",
        *,
        times: int = 1,
    ) -> None:
        """Decline the next PaymentIntent confirmation with a 402 card error, whatever the card."""
        decline = (code, decline_code, message)
        self._faults.script(Fault("POST", "/v1/payment_intents", "decline", times, decline=decline))

    def clear_faults(self) -> None:
        """Stripe is back: forget every scripted fault that has not fired yet."""
        self._faults.clear()

    def require_action_next(self, redirect_url: str | None = None, *, times: int = 1) -> None:
        """Leave the next PaymentIntent confirmation ``requires_action`` (200, as Stripe
        answers when 3D Secure is needed): ``next_action`` is ``use_stripe_sdk`` unless a
        ``redirect_url`` is given, then ``redirect_to_url``."""
        self._faults.script(Fault("POST", "/v1/payment_intents", "action", times, redirect_url=redirect_url))

    def chaos(self, rate: float, rng: random.Random, *, slow: float = 3.0) -> None:
        """Fail about ``rate`` of all requests, each with a fault drawn from ``CHAOS_FAULTS``:
        a 500 or 503 from the edge, a 429, a 500 after the work was done (saved for
        the key), a connection reset before or after the work, or an answer held
        ``slow`` seconds (past the client's timeout) after the work. ``rate=0`` stops."""
        self._faults.chaos(rate, rng, slow)

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
            return pay_invoice(self._store, invoice_id)

    def complete_checkout(self, session_id: str, payment_method: str | None = None) -> dict[str, Any]:
        """The customer finishes a setup-mode session: a succeeded SetupIntent; the session as its event carries it."""
        with self._lock:
            return complete_checkout(self._store, session_id, payment_method)

    def pay_checkout(self, session_id: str, payment_method: str) -> dict[str, Any]:
        """The customer pays on the double's checkout page: a Customer if the session has none, as Stripe makes
        one, then ``complete_checkout``."""
        with self._lock:
            return pay_checkout(self._store, session_id, payment_method)

    def event(self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """A webhook event as Stripe sends it (a snapshot of ``obj``)."""
        return {
            "id": event_id or new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": copied(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }

    # Serving ---------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        """Layer 1."""
        with self._lock:
            self._requests.append(request)

    def handle(self, request: RecordedRequest) -> Answer:
        """Layers 2 to 6 of the package docstring; answers (status, body, headers, fault behind)."""
        method, path = request.method, request.path
        self._faults.draw_chaos(method, path)
        front = self._faults.take(method, path, ("status", "drop"))
        if front is not None:
            if front.kind == "drop":
                return 0, {}, {}, front
            assert front.body is not None
            return front.status, front.body, {}, None
        key = request.idempotency_key if method == "POST" else None
        scope = (self.api_key, key) if key else None
        fingerprint = (method, path, tuple(sorted(request.form.items())))
        try:
            self._authenticate(request)
            saved = self._saved.begin(scope, fingerprint) if scope is not None else None
        except StripeApiError as refused:
            return refused.status, refused.body, {}, None
        if saved is not None:
            request.replayed = True
            return saved.status, saved.body, {"Idempotent-Replayed": "true"}, self._faults.take(method, path, _BEHIND)
        try:
            status, body = self._work(request)
            if scope is not None and status != 404:
                self._saved.save(scope, Saved(fingerprint, status, body))
        finally:
            if scope is not None:
                self._saved.end(scope)
        return status, body, {}, self._faults.take(method, path, _BEHIND)

    def _authenticate(self, request: RecordedRequest) -> None:
        """Layer 3: ``Authorization: Bearer <api_key>``, or 401."""
        auth = request.header("Authorization") or ""
        if auth != f"Bearer {self.api_key}":
            shown = auth.removeprefix("Bearer ")[-4:]
            raise StripeApiError(
                401, error_body("invalid_request_error", f"Invalid API Key provided: sk_test_****{shown}")
            )

    def _work(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        """Layer 5: the endpoint's answer, unless a fault inside it fails it before or after the work."""
        inside = self._faults.take(request.method, request.path, ("saved", "after"))
        if inside is not None and inside.kind == "saved":
            assert inside.body is not None
            return inside.status, inside.body
        try:
            with self._lock:
                status, body = 200, route(self._store, request)
        except StripeApiError as error:
            status, body = error.status, error.body
        if inside is not None:  # the work is done, and the answer is still a 500
            assert inside.body is not None
            return inside.status, inside.body
        return status, body


def serve() -> Iterator[StripeDouble]:
    """Generator for a pytest fixture: ``yield from serve()``."""
    double = StripeDouble().start()
    try:
        yield double
    finally:
        double.stop()
