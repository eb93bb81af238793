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
(``checkout_page.py``). Lists page with
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

Where each part lives in this package:

- ``double.py``: ``StripeDouble``, the server and the way of a request through
  the layers; ``handler.py``: the HTTP side (layers 1 and 6 on the wire);
  ``recording.py``: layer 1; ``faults.py``: layers 2 and 6 and the card
  scripts; ``idempotency.py``: layer 4; ``routes.py``: layer 5's table of
  endpoints.
- The endpoints, by resource: ``customers.py``; ``invoices.py`` (invoices,
  invoice items, invoice payments); ``payment_intents.py`` (PaymentIntents,
  refunds, ``TEST_CARDS``); ``checkout.py`` (Checkout Sessions, SetupIntents);
  ``checkout_page.py``, the hosted checkout page.
- ``store.py`` holds the objects; ``objects.py`` and ``errors.py`` what every
  endpoint uses to build them and to refuse.
"""

from starter.stripe_double.checkout_page import sign
from starter.stripe_double.double import TEST_API_KEY, StripeDouble, serve
from starter.stripe_double.errors import StripeApiError, error_body
from starter.stripe_double.faults import CHAOS_FAULTS, Hold
from starter.stripe_double.objects import API_VERSION, new_id
from starter.stripe_double.payment_intents import TEST_CARDS
from starter.stripe_double.recording import RecordedRequest

__all__ = [
    "API_VERSION",
    "CHAOS_FAULTS",
    "TEST_API_KEY",
    "TEST_CARDS",
    "Hold",
    "RecordedRequest",
    "StripeApiError",
    "StripeDouble",
    "error_body",
    "new_id",
    "serve",
    "sign",
]
