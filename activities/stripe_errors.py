"""What a Stripe error means for the order, decided in one place: ``map_stripe_error``.

=====================================================  ==========================================
error                                                  treatment
=====================================================  ==========================================
``CardError``                                          a business outcome: ``ChargeResult`` declined
                                                       or requires_action, with a plain-words reason
``InvalidRequestError`` ``invoice_not_open``           non-retryable ``StripeInvoiceNotOpen``; the
                                                       gateway adds the invoice's status
``InvalidRequestError`` ``AuthenticationError``        non-retryable ``ApplicationError``
``PermissionError`` ``IdempotencyError``               (StripeInvalidRequest, StripeAuthentication,
                                                       StripePermission, StripeIdempotency)
``RateLimitError``, 409                                retryable ``ApplicationError``: Temporal
                                                       retries with the same key
``APIConnectionError`` (timeout), 5xx                  an unknown outcome: the gateway first looks
                                                       for what the request may have made;
                                                       if nothing, retryable (StripeConnection,
                                                       StripeServerError)
=====================================================  ==========================================

The gateway (``activities/stripe_payments.py``) adds the invoice's status to
a void that finds the invoice no longer open, and looks for what a request
with an unknown outcome (``outcome_unknown``, ``replayed``) may have made.

A decline gets plain words for the customer (``decline_message``). Only Stripe
ids, statuses and codes reach the errors: never card data, never the API key.
"""

from __future__ import annotations

import re
from typing import Any, Final

import stripe
from temporalio.exceptions import ApplicationError

from workflows.models import ChargeResult

_SECRET = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_\S+|\bwhsec_\S+")


def _scrub(text: str | None) -> str:
    """Stripe masks keys in its messages; this makes sure, whatever the message."""
    return _SECRET.sub("[redacted]", text or "").strip()


DECLINE_MESSAGES: Final[dict[str, str]] = {
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "invalid_cvc": "The card's security code is incorrect.",
    "incorrect_number": "The card number is incorrect.",
    "invalid_number": "The card number is incorrect.",
    "invalid_expiry_month": "The card's expiry date is incorrect.",
    "invalid_expiry_year": "The card's expiry date is incorrect.",
    "card_velocity_exceeded": "The card has reached its spending limit.",
    "withdrawal_count_limit_exceeded": "The card has reached its spending limit.",
    "card_not_supported": "The card does not support this kind of payment.",
    "currency_not_supported": "The card does not support payments in this currency.",
    "processing_error": "The card could not be processed just now. Please try again.",
    "try_again_later": "The bank could not process the card just now. Please try again later.",
    "authentication_required": "Your bank needs you to confirm this payment before it can go through.",
}
"""Plain words for the customer. Codes that hint at fraud (lost, stolen,
fraudulent) deliberately get the generic message, as Stripe advises."""

GENERIC_DECLINE: Final = "The card was declined by the bank."


def decline_message(decline_code: str | None, code: str | None = None) -> str:
    for candidate in (decline_code, code):
        if candidate and candidate in DECLINE_MESSAGES:
            return DECLINE_MESSAGES[candidate]
    return GENERIC_DECLINE


def is_authentication(decline_code: str | None, code: str | None) -> bool:
    return "authentication_required" in (decline_code, code)


NON_RETRYABLE_TYPES: Final[tuple[tuple[type[stripe.StripeError], str, str], ...]] = (
    (stripe.IdempotencyError, "StripeIdempotency", "Stripe refused a reused idempotency key"),
    (stripe.InvalidRequestError, "StripeInvalidRequest", "Stripe rejected the request"),
    (stripe.AuthenticationError, "StripeAuthentication", "Stripe rejected the API key (check STRIPE_API_KEY)"),
    (stripe.PermissionError, "StripePermission", "The Stripe API key lacks permission for this request"),
)


def _describe(err: stripe.StripeError, what: str, with_message: bool = True) -> str:
    parts = [what]
    message = _scrub(err.user_message) if with_message else ""
    if message:
        parts.append(f": {message}")
    extras = [f"HTTP {err.http_status}" if err.http_status else "", err.code or "", err.request_id or ""]
    extras = [e for e in extras if e]
    if extras:
        parts.append(f" ({', '.join(extras)})")
    return "".join(parts)


def _failure(
    err: stripe.StripeError, error_type: str, what: str, *, retryable: bool, message: bool = True
) -> ApplicationError:
    details = {"http_status": err.http_status, "code": err.code, "request_id": err.request_id}
    return ApplicationError(
        _describe(err, what, with_message=message),
        details,
        type=error_type,
        non_retryable=not retryable,
    )


def card_error_result(err: stripe.CardError) -> ChargeResult:
    """A decline as the order sees it: no card data, only ids and codes."""
    body = err.json_body.get("error") if isinstance(err.json_body, dict) else None
    error: dict[str, Any] = body if isinstance(body, dict) else {}
    code = err.code or _text(error.get("code"))
    decline_code = _text(error.get("decline_code")) or code
    intent = error.get("payment_intent")
    intent_id = _text(intent.get("id")) if isinstance(intent, dict) else None
    requires_action = is_authentication(decline_code, code)
    return ChargeResult(
        status="requires_action" if requires_action else "declined",
        payment_intent_id=intent_id,
        decline_code=decline_code,
        message=decline_message(decline_code, code),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def map_stripe_error(err: stripe.StripeError) -> ChargeResult | ApplicationError:
    """The whole error table in one place. A ``ChargeResult`` is a business
    outcome to return; an ``ApplicationError`` is to raise."""
    if isinstance(err, stripe.CardError):
        return card_error_result(err)
    if isinstance(err, stripe.InvalidRequestError) and err.code == INVOICE_NOT_OPEN:
        # Paid, voided or uncollectible: the void's caller needs to tell which.
        return _failure(err, "StripeInvoiceNotOpen", "The invoice is no longer open", retryable=False)
    for error_class, error_type, what in NON_RETRYABLE_TYPES:
        if isinstance(err, error_class):
            # An authentication message may quote (a masked form of) the key: leave it out.
            return _failure(
                err, error_type, what, retryable=False, message=error_class is not stripe.AuthenticationError
            )
    if isinstance(err, stripe.RateLimitError):
        return _failure(err, "StripeRateLimit", "Stripe rate limit reached", retryable=True)
    if isinstance(err, stripe.APIConnectionError):
        return _failure(err, "StripeConnection", "Could not reach Stripe", retryable=True)
    status = err.http_status
    if status == 409:
        return _failure(err, "StripeConflict", "Stripe reported a conflicting request", retryable=True)
    if status is not None and status >= 500:
        return _failure(err, "StripeServerError", "Stripe had a server error", retryable=True)
    if isinstance(err, stripe.APIError):
        # An unreadable answer (not Stripe's error JSON): most likely a proxy or an outage.
        return _failure(err, "StripeAPIError", "Stripe gave an unexpected answer", retryable=True)
    return _failure(err, "StripeError", f"Stripe error {type(err).__name__}", retryable=False)


INVOICE_NOT_OPEN: Final = "invoice_not_open"

REPLAYED_HEADER: Final = "idempotent-replayed"
"""Stripe marks an answer it replays for an idempotency key with ``Idempotent-Replayed: true``."""


def outcome_unknown(err: stripe.StripeError) -> bool:
    """A 5xx or no answer at all: Stripe may have done the work, or not."""
    return isinstance(err, stripe.APIConnectionError) or (err.http_status or 0) >= 500


def replayed(err: stripe.StripeError) -> bool:
    """Stripe answered with the error it saved for this key: the key will give
    nothing else for 24 hours."""
    headers = err.headers or {}
    return any(name.lower() == REPLAYED_HEADER and value == "true" for name, value in headers.items())


def stripe_failure(err: stripe.StripeError) -> ApplicationError:
    """For calls where a card error is not a business outcome (invoices, refunds)."""
    mapped = map_stripe_error(err)
    if isinstance(mapped, ApplicationError):
        return mapped
    return _failure(err, "StripeCardError", "Stripe reported a card error", retryable=False)


def not_configured(what: str) -> ApplicationError:
    return ApplicationError(
        f"cannot {what}: Stripe is not configured (set STRIPE_API_KEY on the worker)",
        type="StripeNotConfigured",
        non_retryable=True,
    )
