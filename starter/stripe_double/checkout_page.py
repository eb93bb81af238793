"""The Stripe double's hosted checkout page, and the webhook it forwards (``orders dev --stripe-test-double``).

With real Stripe the portal's **Pay by card** sends the customer to
checkout.stripe.com, where they enter a card; Stripe then completes the
setup-mode Checkout Session (a SetupIntent with the card and the session's
Customer) and delivers ``checkout.session.completed`` to ``orders webhooks``.

The double plays both parts, and nothing else changes: the portal creates
the session through the same API call, and the event reaches the same webhook
code (``orderweb/webhooks.py``), signature checked, which reads the SetupIntent
back from the double and sends ``provide_payment_method`` to the order.

- ``GET /c/pay/{session}`` on the double's own 127.0.0.1 port: a plain page,
  marked TEST DOUBLE, where the customer picks one of Stripe's test cards
  (``CHECKOUT_CARDS``) instead of typing a number.
- ``POST /c/pay/{session}``: completes the session with that card, posts the
  signed event to the forwarding address (``StripeDouble.forward_events_to``:
  what ``stripe listen --forward-to`` does for a developer with real Stripe),
  then sends the browser to the session's ``success_url``.

The double saves every card, as Stripe's "decline after attaching" cards do:
a declining card is refused when the order charges it, so the customer
sees the order's own decline email and page, as with a real declined charge.
"""

from __future__ import annotations

import html
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Final, Protocol

import stripe


class CheckoutHost(Protocol):
    """What the page needs of the double that serves it (``starter.stripe_double.StripeDouble``)."""

    checkout_sessions: dict[str, dict[str, Any]]
    forward_target: tuple[str, str] | None

    def pay_checkout(self, session_id: str, payment_method: str) -> dict[str, Any]: ...

    def event(self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]: ...


CHECKOUT_PATH: Final = "/c/pay/"
FORWARD_ATTEMPTS: Final = 3
"""How often a forwarded event is posted before the double gives up (Stripe retries for days)."""
FORWARD_TIMEOUT: Final = 10.0

log = logging.getLogger("orders.stripe_double")


@dataclass(frozen=True)
class TestCard:
    payment_method: str
    number: str
    what: str


CHECKOUT_CARDS: Final = (
    TestCard("pm_card_visa", "4242 4242 4242 4242", "Visa: the payment succeeds"),
    TestCard("pm_card_mastercard", "5555 5555 5555 4444", "Mastercard: the payment succeeds"),
    TestCard("pm_card_visa_chargeDeclined", "4000 0000 0000 0002", "Visa: the payment is declined"),
    TestCard(
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "4000 0000 0000 9995",
        "Visa: declined for insufficient funds",
    ),
    TestCard(
        "pm_card_authenticationRequired",
        "4000 0027 6000 3184",
        "Visa: the bank asks for authentication (3-D Secure), so the payment is not taken",
    ),
)
"""The cards the page offers: Stripe's test payment methods and their test numbers."""


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes
    headers: dict[str, str]


def handle(double: CheckoutHost, method: str, path: str, form: dict[str, str]) -> Page:
    """The hosted checkout's answer to ``GET`` or ``POST /c/pay/{session}``."""
    session_id = path[len(CHECKOUT_PATH) :].strip("/")
    session = double.checkout_sessions.get(session_id)
    if session is None:
        return _message(404, "Checkout not found", "There is no checkout session at this address.")
    if session["status"] != "open":
        return _message(
            409, "Checkout already completed", "This checkout session is complete. Go back to the order's page."
        )
    if method == "GET":
        return _html(200, _checkout_page(session_id, session.get("cancel_url")))
    if method != "POST":
        return _message(405, "Not allowed", "Use the form on the checkout page.")
    chosen = form.get("payment_method", "")
    if chosen not in {card.payment_method for card in CHECKOUT_CARDS}:
        return _html(
            400, _checkout_page(session_id, session.get("cancel_url"), problem="Choose one of the test cards.")
        )
    completed = complete(double, session_id, chosen)
    return Page(303, b"", {"Location": str(completed["success_url"])})


def complete(double: CheckoutHost, session_id: str, payment_method: str) -> dict[str, object]:
    """Complete the session as Stripe does (a Customer if the session has none), then forward its event."""
    completed = double.pay_checkout(session_id, payment_method)
    forward(double, double.event("checkout.session.completed", completed))
    return completed


def forward(double: CheckoutHost, event: dict[str, object]) -> None:
    """Post ``event``, signed, to the forwarding address, as ``stripe listen`` does; logged if it never lands."""
    target = double.forward_target
    if target is None:
        return
    url, secret = target
    payload = json.dumps(event).encode()
    for attempt in range(1, FORWARD_ATTEMPTS + 1):
        request = urllib.request.Request(
            url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)},
        )
        try:
            with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT) as answer:
                log.info("stripe double: %s %s forwarded (%s)", event["type"], event["id"], answer.status)
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:  # refused for good: retrying changes nothing
                log.error("stripe double: %s %s refused by %s: HTTP %s", event["type"], event["id"], url, error.code)
                return
            problem = f"HTTP {error.code}"
        except OSError as error:
            problem = str(error)
        log.warning("stripe double: %s %s not delivered (try %d): %s", event["type"], event["id"], attempt, problem)
        time.sleep(0.5 * attempt)
    log.error("stripe double: %s %s was never delivered to %s", event["type"], event["id"], url)


STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f6; color: #1a1a1a; line-height: 1.5; }
main { max-width: 36rem; margin: 0 auto; padding: 1rem; }
.banner { background: #fff3cd; border: 2px solid #8a6d00; padding: .75rem 1rem; border-radius: 6px; }
fieldset { border: 1px solid #767676; border-radius: 6px; padding: .5rem 1rem; margin: 1rem 0; background: #fff; }
label { display: flex; gap: .6rem; align-items: flex-start; padding: .5rem 0; cursor: pointer; }
input[type=radio] { margin-top: .3rem; width: 1.2rem; height: 1.2rem; flex: none; }
.number { font-family: ui-monospace, monospace; font-weight: 600; }
code { overflow-wrap: anywhere; }
button { font: inherit; font-weight: 600; background: #0b57d0; color: #fff; border: 0; border-radius: 6px;
  padding: .7rem 1.4rem; cursor: pointer; }
button:focus, a:focus, input:focus { outline: 3px solid #1a1a1a; outline-offset: 2px; }
a { color: #0b4fb3; }
.problem { color: #a00000; font-weight: 600; }
"""


def _document(title: str, content: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{content}</main></body></html>"
    ).encode()


def _checkout_page(session_id: str, cancel_url: object, *, problem: str | None = None) -> bytes:
    cards = "\n".join(
        f'<label><input type="radio" name="payment_method" value="{card.payment_method}"'
        f"{' checked' if index == 0 else ''}>"
        f'<span><span class="number">{card.number}</span> {html.escape(card.what)}'
        f"<br><code>{card.payment_method}</code></span></label>"
        for index, card in enumerate(CHECKOUT_CARDS)
    )
    cancel = (
        f'<p><a href="{html.escape(cancel_url)}" id="cancel">Cancel and go back</a></p>'
        if isinstance(cancel_url, str) and cancel_url
        else ""
    )
    content = f"""
<p class="banner" id="test-double" role="note"><strong>TEST DOUBLE</strong>: this is not Stripe. It is the local
Stripe test double of <code>orders dev --stripe-test-double</code>. No real card is charged and no money moves.</p>
<h1>Save a test card</h1>
{f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""}
<form method="post" action="{CHECKOUT_PATH}{html.escape(session_id)}">
<fieldset><legend>Choose one of Stripe's test cards</legend>
{cards}
</fieldset>
<p><button type="submit" id="save-card">Save card</button></p>
</form>
{cancel}"""
    return _document("Test checkout (Stripe test double)", content)


def _html(status: int, body: bytes) -> Page:
    return Page(status, body, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


def _message(status: int, title: str, text: str) -> Page:
    content = (
        '<p class="banner" role="note"><strong>TEST DOUBLE</strong>: this is not Stripe.</p>'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    )
    return _html(status, _document(title, content))


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    header: str = stripe.WebhookSignature.generate_signature_header(payload.decode("utf-8"), secret, timestamp)
    return header
