"""Stripe webhooks: Stripe tells an order it was paid (``orders webhooks``).

An ASGI app (Starlette, served by uvicorn) with one endpoint,
``POST /stripe/webhook``. It:

- verifies the ``Stripe-Signature`` header with the endpoint's secret
  (``STRIPE_WEBHOOK_SECRET``) and answers 400, with no side effect, to a bad or
  stale signature or a payload that is not an event, and 413 to a body over
  1 MB (``MAX_BODY_BYTES``), refused before it is read further;
- finds the order in the object's ``metadata.order_id`` (for invoices, the
  invoice's metadata), and sends its workflow one signal:

  ============================== ===================================================
  event                          signal
  ============================== ===================================================
  payment_intent.succeeded       ``record_payment`` (card, the PaymentIntent id,
                                 the amount and its currency)
  payment_intent.payment_failed  ``payment_failed`` (card, the reason in plain words)
  invoice.paid                   ``record_payment`` (method invoice, reference the
                                 invoice id, the amount and its currency)
  invoice.payment_failed         ``payment_failed`` (invoice, with the hosted link)
  invoice.voided                 ``payment_event`` (invoice_voided)
  charge.refunded                ``payment_event`` (charge_refunded)
  refund.failed, and             ``payment_event`` (refund_failed: the refund id,
  refund.updated /               its amount, Stripe's ``failure_reason``)
  charge.refund.updated with
  status ``failed``
  checkout.session.completed     ``provide_payment_method`` (a card saved through
  (``setup`` mode)               the portal's Checkout Session: the SetupIntent is
                                 retrieved for its payment method and customer)
  ============================== ===================================================

  Amounts are converted with the currency's minor-unit exponent (JPY 100 is
  100, KWD 1230 is 1.230), and the currency is sent upper-case: the order
  holds a payment in another currency, or for another invoice, instead of
  counting it. A money event with no currency, a currency that is no ISO
  code, or an amount no payment can have (not a whole number, negative, or
  12 digits and more of minor units) is refused with 400 and nothing sent:
  operations get a ``payment_needs_review`` email naming the event and why
  (once per event: Stripe retries a 400). No currency is ever guessed.

- answers 200 at once. Stripe delivers at least once and in any order: every
  signal carries ``request_id = "stripe:<event id>"``, so a repeated event is
  applied once, and the order ignores a payment it already recorded from the
  charge itself (same PaymentIntent id). A failed refund is reported under
  ``stripe:refund_failed:<refund id>`` instead, so the two or three events
  Stripe sends about one failure make one alert.

Money is never dropped in silence: when a payment or a failed refund is for
an order whose workflow has closed (completed, cancelled, expired,
terminated) or does not exist, operations get a ``payment_needs_review``
email (``ORDERS_OPS_EMAIL``, through the worker's email backend) naming the
order, the amount, the currency and Stripe's id, and Stripe gets its 200.

Any other event for an unknown order, or an event type this app does not
handle, gets a 200 and a log line, so that Stripe does not retry it for days.
Only a failure to reach Temporal (or to send that operations email) answers
503, so that Stripe retries later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import stripe
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.config import ConfigError, Settings
from activities.email import alert_operations
from activities.stripe_errors import decline_message
from activities.stripe_money import from_minor_units
from orderclient import tracing
from orderclient.connection import connect
from orderclient.money_alerts import alert_money_not_counted, is_money
from orderweb.bodies import CLIENT_GONE, read_capped
from workflows import names
from workflows.models import (
    ORDER_ID_PATTERN,
    Action,
    MessageKind,
    PaymentEventInput,
    PaymentFailedInput,
    PaymentMethod,
    ProvidePaymentMethodInput,
    RecordPaymentInput,
)
from workflows.money import exponent

WEBHOOK_PATH: Final = "/stripe/webhook"
MAX_BODY_BYTES: Final = 1024 * 1024
"""The largest body read (413 above it). Stripe's events are a few kilobytes;
the signature can only be checked once the whole body is in memory."""
SIGNAL_TIMEOUT: Final = timedelta(seconds=5)
"""How long one signal may take; well inside Stripe's wait for an answer."""

REFUND_EVENTS: Final = ("refund.failed", "refund.updated", "charge.refund.updated")
"""Events about one refund; only a refund whose status is ``failed`` needs the order."""

HANDLED_EVENTS: Final = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.voided",
    "charge.refunded",
    "checkout.session.completed",
    *REFUND_EVENTS,
)

log = logging.getLogger("orders.webhooks")

ClientFactory = Callable[[], Awaitable[Client]]


@dataclass(frozen=True)
class Routed:
    """The one signal an event becomes."""

    order_id: str
    signal: str
    payload: Action


@dataclass(frozen=True)
class SetupLookup:
    """A completed setup-mode Checkout Session: its SetupIntent names the card."""

    order_id: str
    setup_intent: str
    request_id: str


@dataclass(frozen=True)
class Refused:
    """A money event this receiver does not pass on, and why (answered 400; operations are told).

    An amount no payment can have, or no currency: guessing (EUR, or a
    number cut to fit) would count money that was never paid."""

    order_id: str
    reason: str
    amount: str
    currency: str
    method: str
    reference: str


@dataclass(frozen=True)
class Ignored:
    """An event that needs no signal, and why (for the log line)."""

    reason: str


def _text(value: Any, limit: int = 200) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


MAX_MINOR_UNITS: Final = 10**12
"""Stripe amounts have at most 8 digits of minor units (12 for a few currencies)."""
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def _money_problem(amount: Any, currency: Any) -> str | None:
    """Why an event's amount and currency cannot be a payment, or None."""
    if currency is None or currency == "":
        return "the event names no currency"
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        return f"{str(currency)[:40]!r} is not a currency code"
    if not isinstance(amount, int) or isinstance(amount, bool):
        return f"the amount {str(amount)[:40]!r} is not a whole number of minor units"
    if not 0 <= amount < MAX_MINOR_UNITS:
        return f"the amount {amount} (minor units) is not one Stripe can pay"
    return None


MONEY_FIELDS: Final = {
    "payment_intent.succeeded": "amount_received",
    "invoice.paid": "amount_paid",
    "charge.refunded": "amount_refunded",
    **dict.fromkeys(REFUND_EVENTS, "amount"),
}
"""The amount each money event carries, checked with its currency before anything is sent."""


def _refused(event_type: str, event_id: str, obj: dict[str, Any], order_id: str) -> Refused | None:
    """A money event whose amount or currency cannot be a payment, refused; None for any other event."""
    field = MONEY_FIELDS.get(event_type)
    if field is None or (event_type in REFUND_EVENTS and obj.get("status") != "failed"):
        return None  # not money (a refund that did not fail is ignored anyway)
    sent, currency = obj.get(field), obj.get("currency")
    problem = _money_problem(sent, currency)
    if problem is None:
        return None
    code = str(currency or "").upper()[:20]
    # For the email: a whole number in major units, however large; anything else as 0 (the reason quotes it).
    major = Decimal(_int(sent)).scaleb(-exponent(code))
    return Refused(
        order_id=order_id,
        reason=f"Stripe event {event_id} ({event_type}) was refused: {problem} ({field}: {str(sent)[:60]})",
        amount=str(major),
        currency=code or "(no currency)",
        method=PaymentMethod.INVOICE.value if event_type == "invoice.paid" else PaymentMethod.CARD.value,
        reference=str(obj.get("id", "")),
    )


@dataclass(frozen=True)
class OrderEvent:
    """An event for an order, with what every signal takes from it."""

    order_id: str
    request_id: str
    reference: str
    """The object's id."""
    currency: str
    """Upper-case, as the order holds it."""
    received_at: datetime | None
    obj: dict[str, Any]


def route_event(event: dict[str, Any]) -> Routed | SetupLookup | Ignored | Refused:
    """Which order, which signal, which payload: a pure function of the event."""
    event_type = str(event.get("type", ""))
    event_id = str(event.get("id", ""))
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if event_type not in HANDLED_EVENTS:
        return Ignored(f"unhandled event type {event_type!r}")
    if not isinstance(obj, dict) or not event_id:
        return Ignored("the event carries no object")
    metadata = obj.get("metadata")
    order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
    if not isinstance(order_id, str) or not order_id:
        return Ignored(f"{obj.get('object', 'object')} {obj.get('id')} has no metadata.order_id")
    if not re.match(ORDER_ID_PATTERN, order_id):
        return Ignored(f"metadata.order_id {order_id!r} is not an order id")
    received_at = datetime.fromtimestamp(event["created"], UTC) if isinstance(event.get("created"), int) else None
    about = OrderEvent(
        order_id=order_id,
        request_id=f"stripe:{event_id}",
        reference=str(obj.get("id", "")),
        currency=str(obj.get("currency") or "").upper(),
        received_at=received_at,
        obj=obj,
    )
    if event_type == "checkout.session.completed":
        return _setup_lookup(about)
    refused = _refused(event_type, event_id, obj, order_id)
    if refused is not None:
        return refused
    try:
        return SIGNALS[event_type](about)
    except ValidationError as error:
        return Ignored(f"the event does not make a valid signal: {error.errors()[0].get('msg')}")


def _setup_lookup(about: OrderEvent) -> SetupLookup | Ignored:
    """checkout.session.completed: the SetupIntent of a setup-mode session names the saved card."""
    if about.obj.get("mode") != "setup":
        return Ignored(f"checkout session {about.reference} is in {about.obj.get('mode')} mode")
    setup_intent = about.obj.get("setup_intent")
    if not isinstance(setup_intent, str) or not setup_intent:
        return Ignored(f"checkout session {about.reference} has no SetupIntent")
    return SetupLookup(about.order_id, setup_intent, about.request_id)


def _received(about: OrderEvent, amount_field: str, method: PaymentMethod) -> Routed | None:
    """The money an event reports as received, for the order to count; None when it is nothing."""
    amount = from_minor_units(_int(about.obj.get(amount_field)), about.currency)
    if amount <= 0:
        return None
    payment = RecordPaymentInput(
        request_id=about.request_id,
        amount=amount,
        currency=about.currency,
        method=method,
        reference=about.reference,
        received_at=about.received_at,
    )
    return Routed(about.order_id, names.RECORD_PAYMENT, payment)


def _card_paid(about: OrderEvent) -> Routed | Ignored:
    paid = _received(about, "amount_received", PaymentMethod.CARD)
    return paid or Ignored(f"PaymentIntent {about.reference} received nothing")


def _card_failed(about: OrderEvent) -> Routed:
    error = about.obj.get("last_payment_error")
    error = error if isinstance(error, dict) else {}
    code, decline_code = _text(error.get("code")), _text(error.get("decline_code"))
    failed = PaymentFailedInput(
        request_id=about.request_id,
        method=PaymentMethod.CARD,
        reference=about.reference,
        reason=_text(error.get("message")) or decline_message(decline_code, code),
        decline_code=decline_code or code,
        requires_action="authentication_required" in (code, decline_code),
    )
    return Routed(about.order_id, names.PAYMENT_FAILED, failed)


def _invoice_paid(about: OrderEvent) -> Routed | Ignored:
    # The reference is the invoice id, which the order checks against the invoice it issued.
    paid = _received(about, "amount_paid", PaymentMethod.INVOICE)
    return paid or Ignored(f"invoice {about.reference} was settled without a payment")


def _invoice_failed(about: OrderEvent) -> Routed:
    hosted = _text(about.obj.get("hosted_invoice_url"), 2000)
    failed = PaymentFailedInput(
        request_id=about.request_id,
        method=PaymentMethod.INVOICE,
        reference=about.reference,
        reason="The payment of the invoice did not go through.",
        hosted_url=hosted if hosted and re.match(r"^https?://\S+$", hosted) else None,
    )
    return Routed(about.order_id, names.PAYMENT_FAILED, failed)


def _invoice_voided(about: OrderEvent) -> Routed:
    voided = PaymentEventInput(
        request_id=about.request_id,
        event="invoice_voided",
        reference=about.reference,
        detail=f"invoice {about.obj.get('number') or about.reference} voided in Stripe",
    )
    return Routed(about.order_id, names.PAYMENT_EVENT, voided)


def _refund_failed(about: OrderEvent) -> Routed | Ignored:
    """refund.failed, refund.updated, charge.refund.updated: only a failed refund needs the order."""
    status = about.obj.get("status")
    if status != "failed":
        return Ignored(f"refund {about.reference} is {status}")
    failed_refund = PaymentEventInput(
        # One id per refund: refund.failed and refund.updated report the same failure.
        request_id=f"stripe:refund_failed:{about.reference}",
        event="refund_failed",
        reference=about.reference,
        amount=from_minor_units(_int(about.obj.get("amount")), about.currency),
        detail=_text(about.obj.get("failure_reason")) or "unknown",
    )
    return Routed(about.order_id, names.PAYMENT_EVENT, failed_refund)


def _charge_refunded(about: OrderEvent) -> Routed:
    # The charge carries its PaymentIntent's metadata.
    intent = about.obj.get("payment_intent")
    refunded = PaymentEventInput(
        request_id=about.request_id,
        event="charge_refunded",
        reference=intent if isinstance(intent, str) and intent else about.reference,
        amount=from_minor_units(_int(about.obj.get("amount_refunded")), about.currency),
        detail=f"charge {about.reference} refunded",
    )
    return Routed(about.order_id, names.PAYMENT_EVENT, refunded)


SIGNALS: Final[dict[str, Callable[[OrderEvent], Routed | Ignored]]] = {
    "payment_intent.succeeded": _card_paid,
    "payment_intent.payment_failed": _card_failed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "invoice.voided": _invoice_voided,
    "charge.refunded": _charge_refunded,
    **dict.fromkeys(REFUND_EVENTS, _refund_failed),
}
"""The signal each event type (but checkout.session.completed, which needs Stripe first) becomes."""


def saved_card(stripe_client: stripe.StripeClient, lookup: SetupLookup) -> Routed | Ignored:
    """The ``provide_payment_method`` a completed setup-mode session means (blocking: an API call)."""
    intent = stripe_client.v1.setup_intents.retrieve(lookup.setup_intent)
    if intent.status != "succeeded":
        return Ignored(f"SetupIntent {intent.id} is {intent.status}")
    method, customer = intent.payment_method, intent.customer
    method_id = method if isinstance(method, str) else getattr(method, "id", None)
    customer_id = customer if isinstance(customer, str) else getattr(customer, "id", None)
    try:
        card = ProvidePaymentMethodInput(
            request_id=lookup.request_id, stripe_customer_id=customer_id or "", payment_method_id=method_id or ""
        )
    except ValidationError as error:
        return Ignored(f"SetupIntent {intent.id} names no saved card: {error.errors()[0].get('msg')}")
    return Routed(lookup.order_id, names.PROVIDE_PAYMENT_METHOD, card)


def alert_refused_money(settings: Settings, refused: Refused, event_id: str) -> None:
    """The ``payment_needs_review`` email about a refused event (blocking: run it in a thread)."""
    context = {
        "order": {
            "order_id": refused.order_id,
            "status": "not changed",
            "total": None,
            "customer": {"name": "(unknown)", "email": "(unknown)", "company": None, "phone": None},
        },
        "payment": {
            "amount": refused.amount,
            "currency": refused.currency,
            "method": refused.method,
            "reference": f"{refused.reference}, Stripe event {event_id}",
            "at": datetime.now(UTC).isoformat(),
        },
        "currency": refused.currency,
        "reason": refused.reason,
        "action": (
            "Nothing was recorded on the order. Look the payment up in the Stripe dashboard and, if it is real,"
            " record it yourself (record_payment) with its amount and currency."
        ),
    }
    alert_operations(
        settings,
        refused.order_id,
        MessageKind.PAYMENT_NEEDS_REVIEW,
        context,
        message_key=f"order-{refused.order_id}:ops-alert:stripe-refused:{event_id}",
    )


class WebhookReceiver:
    """The receiver's state and its handler methods; ``routes`` maps the address to them."""

    def __init__(
        self,
        client_factory: ClientFactory,
        secret: str,
        *,
        tolerance: int = stripe.Webhook.DEFAULT_TOLERANCE,
        settings: Settings | None = None,
        stripe_client: stripe.StripeClient | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook signing secret (whsec_...) is required")
        self.secret = secret
        self.tolerance = tolerance
        self.alert_settings = settings or Settings.from_env()
        self.stripe_client = stripe_client
        self._client_factory = client_factory
        self._client: Client | None = None
        self._connecting = asyncio.Lock()

    async def temporal(self) -> Client:
        async with self._connecting:
            if self._client is None:
                self._client = await self._client_factory()
            return self._client

    async def stripe_webhook(self, request: Request) -> JSONResponse:
        """``POST /stripe/webhook``: check the event, route it, and send its order the one signal."""
        event = await self.read_event(request)
        if isinstance(event, JSONResponse):
            return event
        event_id, event_type = event.get("id"), event.get("type")
        routed = route_event(event)
        if isinstance(routed, Refused):
            return await self.refuse(routed, event_id)
        if isinstance(routed, SetupLookup):
            looked_up = await self.look_up_card(routed, event_id, event_type)
            if isinstance(looked_up, JSONResponse):
                return looked_up
            routed = looked_up
        if isinstance(routed, Ignored):
            log.info("stripe event %s (%s) ignored: %s", event_id, event_type, routed.reason)
            return JSONResponse({"received": True, "ignored": routed.reason})
        return await self.send(routed, event_id, event_type)

    async def read_event(self, request: Request) -> dict[str, Any] | JSONResponse:
        """The signed event object, or the answer that refuses it (413, or 400 with no side effect)."""
        payload = await read_capped(request, MAX_BODY_BYTES)
        if payload is None:
            log.warning("webhook refused: the body is larger than %d bytes", MAX_BODY_BYTES)
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            # Only the signature is checked here: ``construct_event`` would also
            # build a ``stripe.Event``, and crashes on a signed body that is JSON
            # but not an object.
            text = payload.decode("utf-8")
            signature = request.headers.get("stripe-signature")
            stripe.WebhookSignature.verify_header(text, signature, self.secret, self.tolerance)
            event = json.loads(text)
        except stripe.SignatureVerificationError as error:
            log.warning("webhook refused: %s", error.user_message)
            return JSONResponse({"error": "invalid signature"}, status_code=400)
        except ValueError:  # not UTF-8, not JSON
            log.warning("webhook refused: the payload is not a JSON event")
            return JSONResponse({"error": "invalid payload"}, status_code=400)
        if not isinstance(event, dict):
            log.warning("webhook refused: the payload is JSON but not an event object")
            return JSONResponse({"error": "invalid payload"}, status_code=400)
        return event

    async def look_up_card(
        self, lookup: SetupLookup, event_id: Any, event_type: Any
    ) -> Routed | Ignored | JSONResponse:
        """The saved card's signal, read from Stripe; 503 when Stripe cannot be read (Stripe retries)."""
        if self.stripe_client is None:
            log.error("stripe event %s (%s): a saved card needs STRIPE_API_KEY to be read", event_id, event_type)
            return JSONResponse({"error": "not configured"}, status_code=503)
        try:
            return await asyncio.to_thread(saved_card, self.stripe_client, lookup)
        except stripe.StripeError as error:
            log.error("stripe event %s (%s): the SetupIntent could not be read: %s", event_id, event_type, error)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)

    async def send(self, routed: Routed, event_id: Any, event_type: Any) -> JSONResponse:
        """Signal the order; money for no running order is reported, a Temporal failure answers 503."""
        try:
            client = await self.temporal()
            handle = client.get_workflow_handle(names.workflow_id(routed.order_id))
            await handle.signal(routed.signal, routed.payload, rpc_timeout=SIGNAL_TIMEOUT)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                money = routed.payload
                if isinstance(money, RecordPaymentInput | PaymentEventInput) and is_money(money):
                    return await self.report_money(client, money, routed.order_id, event_id, event_type)
                log.info("stripe event %s (%s) ignored: no running order %s", event_id, event_type, routed.order_id)
                return JSONResponse({"received": True, "ignored": f"no running order {routed.order_id}"})
            log.error(
                "stripe event %s (%s) not delivered to order %s: %s", event_id, event_type, routed.order_id, error
            )
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        except Exception as error:  # connecting failed: Stripe retries later
            log.error("stripe event %s (%s) not delivered: %s", event_id, event_type, error)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        log.info("stripe event %s (%s) sent to order %s as %s", event_id, event_type, routed.order_id, routed.signal)
        return JSONResponse({"received": True, "order_id": routed.order_id, "signal": routed.signal})

    async def report_money(
        self,
        client: Client,
        money: RecordPaymentInput | PaymentEventInput,
        order_id: str,
        event_id: Any,
        event_type: Any,
    ) -> JSONResponse:
        """No running order can take this money: tell operations, then answer Stripe 200."""
        try:
            # One email per request id: a redelivered event (or the second report of one refund failure) sends none.
            alert = await alert_money_not_counted(client, self.alert_settings, order_id, money)
        except Exception as error:  # the email did not go out: let Stripe deliver the event again
            log.error(
                "stripe event %s (%s) for order %s: operations could not be told: %s",
                event_id,
                event_type,
                order_id,
                error,
            )
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        log.warning("stripe event %s (%s) for order %s not counted: %s", event_id, event_type, order_id, alert.reason)
        return JSONResponse({"received": True, "order_id": order_id, "not_counted": alert.reason, "alerted": True})

    async def refuse(self, refused: Refused, event_id: Any) -> JSONResponse:
        """400 for Stripe, and operations are told once per event (Stripe retries a 400)."""
        try:
            await asyncio.to_thread(alert_refused_money, self.alert_settings, refused, str(event_id))
        except Exception as error:  # not told: let Stripe deliver the event again
            log.error("stripe event %s refused, and operations could not be told: %s", event_id, error)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        log.warning("%s; operations were told", refused.reason)
        return JSONResponse({"error": f"refused: {refused.reason}", "alerted": True}, status_code=400)


def routes(receiver: WebhookReceiver) -> list[BaseRoute]:
    """The receiver's addresses: one line per route, naming its handler."""
    return [
        Route(WEBHOOK_PATH, receiver.stripe_webhook, methods=["POST"]),
    ]


def create_app(
    client_factory: ClientFactory,
    secret: str,
    *,
    tolerance: int = stripe.Webhook.DEFAULT_TOLERANCE,
    settings: Settings | None = None,
    stripe_client: stripe.StripeClient | None = None,
) -> Starlette:
    """The webhook receiver. ``client_factory`` is awaited once, on the first event.

    ``settings`` (default ``Settings.from_env()``) choose the email backend and
    the operations address for money that reaches no running order.
    ``stripe_client`` retrieves the SetupIntent of a completed Checkout Session.
    """
    receiver = WebhookReceiver(
        client_factory, secret, tolerance=tolerance, settings=settings, stripe_client=stripe_client
    )
    return Starlette(routes=routes(receiver), exception_handlers=CLIENT_GONE)


class MissingWebhookSecret(Exception):
    """``STRIPE_WEBHOOK_SECRET`` is not set: a configuration (usage) error, not a crash."""


def webhook_secret() -> str:
    """The endpoint's signing secret from ``STRIPE_WEBHOOK_SECRET``, or ``MissingWebhookSecret``."""
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "").strip()
    if not secret:
        raise MissingWebhookSecret(
            "STRIPE_WEBHOOK_SECRET is not set: copy the endpoint's signing secret (whsec_...)"
            " from Stripe's Dashboard, or from `stripe listen`"
        )
    return secret


def serve(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the receiver until Ctrl-C (``orders webhooks``). Reads ``STRIPE_WEBHOOK_SECRET``
    and Temporal's environment configuration; raises ``MissingWebhookSecret`` before
    listening when the secret is not set."""
    from orderweb.serving import run

    secret = webhook_secret()
    tracing.configure("orders-webhooks")  # OTEL_*: off when unset (orderclient/tracing.py)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    from ordersecurity.codec import require_encryption
    from orderweb.portal import build_stripe_client

    require_encryption()  # refuse to start rather than write customers' data in clear text
    app = create_app(lambda: connect(), secret, settings=settings, stripe_client=build_stripe_client(settings))
    run(app, host, port, settings.http)
