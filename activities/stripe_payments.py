"""Stripe behind the payment port: hosted invoices, card charges, voids, refunds.

``StripeGateway`` wraps the official synchronous ``stripe.StripeClient`` (v1
API, version pinned) and runs each call in a worker thread, so the worker's
event loop never blocks on the network. The SDK's own retries are off
(``max_network_retries=0``): Temporal's retry policy is the only one, and every
retry of an activity sends the same ``Idempotency-Key``, derived in the
workflow, so Stripe performs each operation once.

``map_stripe_error`` is the single place that decides what a Stripe error
means for the order:

=====================================================  ==========================================
error                                                  treatment
=====================================================  ==========================================
``CardError``                                          a business outcome: ``ChargeResult`` declined
                                                       or requires_action, with a plain-words reason
``InvalidRequestError`` ``AuthenticationError``        non-retryable ``ApplicationError``
``PermissionError`` ``IdempotencyError``               (StripeInvalidRequest, StripeAuthentication,
                                                       StripePermission, StripeIdempotency)
``RateLimitError`` ``APIConnectionError``, 409, 5xx    retryable ``ApplicationError``: Temporal
                                                       retries with the same key
=====================================================  ==========================================

Only Stripe ids, amounts, statuses and decline codes reach logs and workflow
history: never card data, never the API key.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import stripe
from stripe.params import (
    InvoiceCreateParams,
    InvoiceItemCreateParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
)
from temporalio.exceptions import ApplicationError

from activities.config import Settings
from workflows.models import (
    ChargeRequest,
    ChargeResult,
    Payment,
    PaymentMethod,
    PaymentRequest,
    RefundRequest,
    RefundResult,
    VoidInvoiceRequest,
)

STRIPE_API_VERSION: Final = "2026-10-28.endive"
DEFAULT_TIMEOUT: Final = 20.0

log = logging.getLogger("orders.stripe")

# --------------------------------------------------------------------------
# Money: decimal amounts to Stripe's minor units and back
# --------------------------------------------------------------------------

ZERO_DECIMAL_CURRENCIES: Final = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
"""Amounts are whole units: JPY 500 is ``500``."""

THREE_DECIMAL_CURRENCIES: Final = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
"""Amounts are thousandths, and Stripe wants the last digit 0: KWD 5.12 is ``5120``."""

WHOLE_UNIT_TWO_DECIMAL_CURRENCIES: Final = frozenset({"ISK"})
"""Two decimals on the wire, but only whole units are accepted: ISK 5 is ``500``."""


def _exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``to_minor_units(Decimal("48.00"), "EUR")`` is ``4800``; JPY 500 is ``500``.

    Raises a non-retryable ``ApplicationError`` (type ``StripeInvalidAmount``)
    for an amount the currency cannot carry, such as JPY 10.50.
    """
    code = currency.upper()
    scaled = amount * (Decimal(10) ** _exponent(code))
    whole_units_only = code in ZERO_DECIMAL_CURRENCIES or code in WHOLE_UNIT_TWO_DECIMAL_CURRENCIES
    if scaled != scaled.to_integral_value() or (whole_units_only and amount != amount.to_integral_value()):
        raise ApplicationError(
            f"{code} {amount} cannot be charged: {code} amounts must be whole units"
            if whole_units_only
            else f"{code} {amount} has more decimals than {code} allows",
            type="StripeInvalidAmount",
            non_retryable=True,
        )
    return int(scaled)


def from_minor_units(amount: int, currency: str) -> Decimal:
    """``from_minor_units(4800, "eur")`` is ``Decimal("48.00")``; JPY 500 is ``Decimal("500.00")``."""
    exponent = _exponent(currency)
    return (Decimal(amount) / (Decimal(10) ** exponent)).quantize(Decimal("0.01"))


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

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


def _is_authentication(decline_code: str | None, code: str | None) -> bool:
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
    requires_action = _is_authentication(decline_code, code)
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


# --------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HostedInvoice:
    invoice_id: str
    url: str | None
    pdf: str | None


@dataclass(frozen=True)
class _Allocation:
    payment: Payment
    amount: Decimal


def refund_plan(payments: list[Payment], amount: Decimal) -> list[_Allocation] | None:
    """Which Stripe payments a refund of ``amount`` comes from, newest first.

    ``None`` when Stripe payments alone cannot cover it (bank transfers are
    refunded by hand, so the whole refund goes to operations as one task).
    """
    remaining = amount
    plan: list[_Allocation] = []
    for payment in reversed(payments):
        if remaining <= 0:
            break
        if payment.method is PaymentMethod.BANK_TRANSFER:
            continue
        share = min(remaining, payment.amount)
        plan.append(_Allocation(payment, share))
        remaining -= share
    if remaining > 0 or not plan:
        return None
    return plan


RefundStatus = Literal["succeeded", "pending", "failed"]


def _refund_status(statuses: list[str]) -> RefundStatus:
    if all(s == "succeeded" for s in statuses):
        return "succeeded"
    if any(s in ("failed", "canceled") for s in statuses):
        return "failed"
    return "pending"


class StripeGateway:
    """The Stripe calls the payment activities make. Each public method is a
    coroutine that runs the blocking SDK call in a thread."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: stripe.StripeClient | None = None,
    ) -> None:
        self._client = client or stripe.StripeClient(
            api_key,
            base_addresses={"api": (api_base or stripe.DEFAULT_API_BASE).rstrip("/")},
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def __repr__(self) -> str:
        return "StripeGateway()"  # never the key

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway | None:
        """The gateway when ``STRIPE_API_KEY`` is set, else ``None``."""
        if not settings.stripe_api_key:
            return None
        return cls(settings.stripe_api_key, api_base=settings.stripe_api_base, timeout=settings.stripe_timeout)

    # -- public, awaitable ---------------------------------------------

    async def create_invoice(self, request: PaymentRequest) -> HostedInvoice:
        return await asyncio.to_thread(self._create_invoice, request)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        return await asyncio.to_thread(self._charge, request)

    async def void_invoice(self, request: VoidInvoiceRequest) -> str:
        return await asyncio.to_thread(self._void_invoice, request)

    async def refund(self, request: RefundRequest) -> RefundResult | None:
        return await asyncio.to_thread(self._refund, request)

    # -- blocking ------------------------------------------------------

    def _create_invoice(self, request: PaymentRequest) -> HostedInvoice:
        """Customer (once), invoice, one item per line, finalize: each call with its own stable key."""
        key = request.idempotency_key
        currency = request.currency.lower()
        metadata = {"order_id": request.order_id, "reference": request.reference}
        try:
            customer = request.stripe_customer_id
            if not customer:
                created = self._client.v1.customers.create(
                    {
                        "name": request.customer_name or request.order_id,
                        **({"email": request.customer_email} if request.customer_email else {}),
                        "metadata": {"order_id": request.order_id},
                    },
                    {"idempotency_key": f"{key}:customer"},
                )
                customer = created.id
            invoice_params: InvoiceCreateParams = {
                "customer": customer,
                "collection_method": "send_invoice",
                "days_until_due": max(1, request.days_until_due),
                "currency": currency,
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
                "description": f"Order {request.order_id}, payment reference {request.reference}",
                "metadata": metadata,
            }
            invoice = self._client.v1.invoices.create(invoice_params, {"idempotency_key": f"{key}:invoice"})
            for number, (description, amount) in enumerate(self._invoice_lines(request), start=1):
                item: InvoiceItemCreateParams = {
                    "customer": customer,
                    "invoice": invoice.id,
                    "currency": currency,
                    "amount": amount,
                    "description": description,
                    "metadata": {"order_id": request.order_id},
                }
                self._client.v1.invoice_items.create(item, {"idempotency_key": f"{key}:item:{number}"})
            final = self._client.v1.invoices.finalize_invoice(
                invoice.id, {"auto_advance": False}, {"idempotency_key": f"{key}:finalize"}
            )
        except stripe.StripeError as err:
            raise stripe_failure(err) from None
        log.info(
            "invoice %s finalized for order %s (%s %s)",
            final.id,
            request.order_id,
            request.currency,
            request.amount,
            extra={"order_id": request.order_id, "invoice_id": final.id, "customer_id": customer},
        )
        return HostedInvoice(invoice_id=final.id, url=final.hosted_invoice_url, pdf=final.invoice_pdf)

    @staticmethod
    def _invoice_lines(request: PaymentRequest) -> list[tuple[str, int]]:
        """One line per confirmation line, in minor units, balanced to the amount due."""
        lines: list[tuple[str, int]] = []
        for item in request.line_items:
            description = item.description
            if item.quantity != 1:
                quantity = f"{item.quantity.normalize():f}"
                description = f"{description} ({quantity} x {request.currency} {item.unit_price})"
            lines.append((description, to_minor_units(item.amount, request.currency)))
        due = to_minor_units(request.amount, request.currency)
        if not lines:
            return [(f"Order {request.order_id}", due)]
        difference = due - sum(amount for _, amount in lines)
        if difference:
            lines.append(("Already paid" if difference < 0 else "Adjustment", difference))
        return lines

    def _charge(self, request: ChargeRequest) -> ChargeResult:
        params: PaymentIntentCreateParams = {
            "amount": to_minor_units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "customer": request.stripe_customer_id,
            "payment_method": request.payment_method_id,
            "off_session": True,
            "confirm": True,
            # A saved card is charged without the customer present: no redirects.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": request.description,
            "metadata": {"order_id": request.order_id, "attempt": str(request.attempt)},
        }
        try:
            intent = self._client.v1.payment_intents.create(params, {"idempotency_key": request.idempotency_key})
        except stripe.StripeError as err:
            outcome = map_stripe_error(err)
            if isinstance(outcome, ApplicationError):
                raise outcome from None
            return outcome
        return self._charge_result(intent)

    @staticmethod
    def _charge_result(intent: stripe.PaymentIntent) -> ChargeResult:
        status = intent.status
        if status == "succeeded":
            return ChargeResult(
                status="succeeded",
                payment_intent_id=intent.id,
                amount=from_minor_units(intent.amount_received or intent.amount, intent.currency),
            )
        if status == "requires_action":
            next_action = intent.next_action
            redirect = next_action.redirect_to_url if next_action is not None else None
            return ChargeResult(
                status="requires_action",
                payment_intent_id=intent.id,
                decline_code="authentication_required",
                message=DECLINE_MESSAGES["authentication_required"],
                hosted_url=redirect.url if redirect is not None else None,
            )
        if status in ("requires_payment_method", "canceled"):
            error = intent.last_payment_error
            code = error.code if error is not None else None
            decline_code = (error.decline_code if error is not None else None) or code
            return ChargeResult(
                status="requires_action" if _is_authentication(decline_code, code) else "declined",
                payment_intent_id=intent.id,
                decline_code=decline_code,
                message=decline_message(decline_code, code),
            )
        # processing, or a state Stripe settles later: the webhook reports the outcome.
        return ChargeResult(status="processing", payment_intent_id=intent.id)

    def _void_invoice(self, request: VoidInvoiceRequest) -> str:
        try:
            invoice = self._client.v1.invoices.void_invoice(
                request.invoice_id, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as err:
            raise stripe_failure(err) from None
        return str(invoice.status)

    def _refund(self, request: RefundRequest) -> RefundResult | None:
        """Refund through Stripe, or ``None`` when the refund must be made by hand."""
        plan = refund_plan(request.payments, request.amount)
        if plan is None:
            return None
        ids: list[str] = []
        statuses: list[str] = []
        try:
            for number, share in enumerate(plan, start=1):
                intent = self._payment_intent_of(share.payment)
                params: RefundCreateParams = {
                    "payment_intent": intent,
                    "amount": to_minor_units(share.amount, request.currency),
                    "reason": "requested_by_customer",
                    "metadata": {"order_id": request.order_id, "payment_reference": share.payment.reference},
                }
                # One refund keeps the workflow's key as it is; several get stable sub-keys.
                key = request.idempotency_key if len(plan) == 1 else f"{request.idempotency_key}:{number}"
                refund = self._client.v1.refunds.create(params, {"idempotency_key": key})
                ids.append(refund.id)
                statuses.append(str(refund.status))
        except stripe.StripeError as err:
            raise stripe_failure(err) from None
        return RefundResult(
            amount=request.amount,
            method=plan[0].payment.method,
            status=_refund_status(statuses),
            refund_id=",".join(ids),
        )

    def _payment_intent_of(self, payment: Payment) -> str:
        """A card payment's reference is its PaymentIntent; an invoice's is found through its payments."""
        if payment.method is PaymentMethod.CARD:
            return payment.reference
        listing = self._client.v1.invoice_payments.list({"invoice": payment.reference})
        for item in listing.data:
            paid = item.payment
            if item.status == "paid" and paid.type == "payment_intent" and paid.payment_intent:
                intent = paid.payment_intent
                return intent if isinstance(intent, str) else intent.id
        raise ApplicationError(
            f"invoice {payment.reference} has no paid PaymentIntent to refund",
            type="StripePaymentNotFound",
            non_retryable=True,
        )
