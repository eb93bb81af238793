"""The Stripe error table, minor units and configuration, without any server."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import stripe
from temporalio.exceptions import ApplicationError

from activities.config import ConfigError, Settings
from activities.stripe_errors import GENERIC_DECLINE, decline_message, map_stripe_error, stripe_failure
from activities.stripe_money import from_minor_units, to_minor_units
from activities.stripe_payments import StripeGateway
from workflows.models import ChargeResult

SECRET_KEY = "sk_test_51Hsecretvalue0123456789"
AUTHENTICATE = decline_message("authentication_required")

E = TypeVar("E", bound=stripe.StripeError)


def make(cls: type[E], *args: Any, **kwargs: Any) -> E:
    """The SDK's error constructors are untyped; build them through the typed base."""
    return cls(*args, **kwargs)


def card_error(code: str, decline_code: str | None, intent_id: str | None = "pi_123") -> stripe.CardError:
    body: dict[str, Any] = {"type": "card_error", "code": code, "message": "Your card was declined."}
    if decline_code:
        body["decline_code"] = decline_code
    if intent_id:
        body["payment_intent"] = {"id": intent_id, "object": "payment_intent", "status": "requires_payment_method"}
    return make(
        stripe.CardError,
        "Your card was declined.",
        None,
        code,
        http_status=402,
        json_body={"error": body},
        headers={"request-id": "req_1"},
    )


# (error, ApplicationError type, retryable)
FAILURES: list[tuple[stripe.StripeError, str, bool]] = [
    (make(stripe.InvalidRequestError, "No such customer: 'cus_x'", "customer", "resource_missing", http_status=400),
     "StripeInvalidRequest", False),
    (make(stripe.InvalidRequestError, "No such payment_intent", "intent", "resource_missing", http_status=404),
     "StripeInvalidRequest", False),
    (make(stripe.AuthenticationError, f"Invalid API Key provided: {SECRET_KEY}", http_status=401),
     "StripeAuthentication", False),
    (make(stripe.PermissionError, "The provided key does not have access", http_status=403), "StripePermission", False),
    (make(stripe.IdempotencyError, "Keys for idempotent requests can only be used with the same parameters",
                             http_status=400), "StripeIdempotency", False),
    (make(stripe.RateLimitError, "Too many requests", http_status=429), "StripeRateLimit", True),
    (make(stripe.APIConnectionError, "Connection aborted"), "StripeConnection", True),
    (make(stripe.APIError, "another request is using this object", http_status=409), "StripeConflict", True),
    (make(stripe.APIError, "An unknown error occurred", http_status=500), "StripeServerError", True),
    (make(stripe.APIError, "Bad gateway", http_status=502), "StripeServerError", True),
    (make(stripe.APIError, "Service unavailable", http_status=503), "StripeServerError", True),
    (make(stripe.APIError, "Invalid response object from API"), "StripeAPIError", True),
    (make(stripe.SignatureVerificationError, "bad signature", "t=1,v1=x"), "StripeError", False),
]  # fmt: skip


@pytest.mark.parametrize(("error", "error_type", "retryable"), FAILURES, ids=lambda v: getattr(v, "__name__", None))
def test_every_stripe_error_maps_to_a_typed_application_error(
    error: stripe.StripeError, error_type: str, retryable: bool
) -> None:
    mapped = map_stripe_error(error)
    assert isinstance(mapped, ApplicationError)
    assert mapped.type == error_type
    assert mapped.non_retryable is not retryable
    assert SECRET_KEY not in mapped.message and "sk_test" not in mapped.message


def test_error_message_names_status_code_and_request() -> None:
    error = make(
        stripe.InvalidRequestError,
        "No such customer: 'cus_x'",
        "customer",
        "resource_missing",
        http_status=400,
        headers={"request-id": "req_9"},
    )
    mapped = map_stripe_error(error)
    assert isinstance(mapped, ApplicationError)
    assert (
        mapped.message == "Stripe rejected the request: No such customer: 'cus_x' (HTTP 400, resource_missing, req_9)"
    )
    assert mapped.details == ({"http_status": 400, "code": "resource_missing", "request_id": "req_9"},)


def test_secrets_in_any_message_are_scrubbed() -> None:
    error = make(stripe.InvalidRequestError, f"odd: {SECRET_KEY} and whsec_abc123", None, http_status=400)
    mapped = map_stripe_error(error)
    assert isinstance(mapped, ApplicationError)
    assert "sk_test" not in mapped.message and "whsec_" not in mapped.message
    assert "[redacted]" in mapped.message


@pytest.mark.parametrize(
    ("code", "decline_code", "status", "message"),
    [
        ("card_declined", "insufficient_funds", "declined", "The card has insufficient funds."),
        ("card_declined", "generic_decline", "declined", GENERIC_DECLINE),
        ("card_declined", "stolen_card", "declined", GENERIC_DECLINE),
        ("expired_card", None, "declined", "The card has expired."),
        ("authentication_required", "authentication_required", "requires_action", AUTHENTICATE),
        ("card_declined", "authentication_required", "requires_action", AUTHENTICATE),
    ],
)  # fmt: skip
def test_card_errors_are_business_outcomes(code: str, decline_code: str | None, status: str, message: str) -> None:
    outcome = map_stripe_error(card_error(code, decline_code))
    assert isinstance(outcome, ChargeResult)
    assert outcome.status == status
    assert outcome.payment_intent_id == "pi_123"
    assert outcome.decline_code == (decline_code or code)
    assert outcome.message == message


def test_card_error_without_a_payment_intent() -> None:
    outcome = map_stripe_error(card_error("card_declined", None, intent_id=None))
    assert isinstance(outcome, ChargeResult)
    assert (
        outcome.status == "declined" and outcome.payment_intent_id is None and outcome.decline_code == "card_declined"
    )


def test_card_error_outside_a_charge_is_a_non_retryable_failure() -> None:
    failure = stripe_failure(card_error("card_declined", "generic_decline"))
    assert failure.type == "StripeCardError" and failure.non_retryable


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("4800.00", "EUR", 480000),
        ("0.50", "usd", 50),
        ("5000", "JPY", 5000),
        ("5000.00", "jpy", 5000),
        ("1200", "KRW", 1200),
        ("5.12", "KWD", 5120),
        ("12.00", "ISK", 1200),
    ],
)
def test_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount).quantize(Decimal("0.01"))


@pytest.mark.parametrize(("amount", "currency"), [("10.50", "JPY"), ("12.50", "ISK"), ("0.001", "EUR")])
def test_amounts_a_currency_cannot_carry_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        to_minor_units(Decimal(amount), currency)
    assert caught.value.type == "StripeInvalidAmount" and caught.value.non_retryable


def test_stripe_settings_from_env_keep_secrets_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "STRIPE_API_KEY": SECRET_KEY,
            "STRIPE_API_BASE": "http://127.0.0.1:12111/",
            "STRIPE_WEBHOOK_SECRET": "whsec_topsecret",
            "STRIPE_TIMEOUT": "7.5",
        }
    )
    assert settings.stripe_api_key == SECRET_KEY
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_timeout == 7.5
    assert SECRET_KEY not in repr(settings) and "whsec_topsecret" not in repr(settings)
    gateway = StripeGateway.from_settings(settings)
    assert gateway is not None and SECRET_KEY not in repr(gateway)


def test_stripe_is_off_without_a_key() -> None:
    settings = Settings.from_env({})
    assert settings.stripe_api_key is None and settings.stripe_api_base is None and settings.stripe_timeout == 20.0
    assert StripeGateway.from_settings(replace(settings)) is None


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"STRIPE_API_BASE": "api.stripe.com"}, "STRIPE_API_BASE"),
        ({"STRIPE_TIMEOUT": "soon"}, "STRIPE_TIMEOUT"),
        ({"STRIPE_TIMEOUT": "0"}, "STRIPE_TIMEOUT"),
        ({"STRIPE_TIMEOUT": "90"}, "STRIPE_TIMEOUT"),
    ],
)
def test_bad_stripe_settings_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)
