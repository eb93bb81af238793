"""PaymentIntents and their refunds: ``POST /v1/payment_intents``, ``GET /v1/payment_intents/{id}``,
``GET /v1/payment_intents/search``, ``POST /v1/refunds``; and the test cards that decide a charge."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starter.stripe_double.errors import StripeApiError, invalid
from starter.stripe_double.faults import Fault
from starter.stripe_double.objects import copied, metadata, new_id, required
from starter.stripe_double.recording import RecordedRequest
from starter.stripe_double.store import Store

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


def payment_intent(store: Store, intent_id: str) -> dict[str, Any]:
    intent = store.payment_intents.get(intent_id)
    if intent is None:
        raise invalid(f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent", status=404)
    return intent


def new_payment_intent(
    store: Store,
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
    store.payment_intents[intent_id] = intent
    return intent


def create_payment_intent(store: Store, request: RecordedRequest) -> dict[str, Any]:
    """Create, and with ``confirm=true`` and a card charge at once: it needs action, pays, or is declined (402)."""
    form = request.form
    amount = int(required(form, "amount"))
    currency = required(form, "currency")
    if amount < 1:
        raise invalid(
            "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param="amount"
        )
    payment_method = form.get("payment_method")
    intent = new_payment_intent(
        store,
        amount=amount,
        currency=currency,
        customer=form.get("customer"),
        payment_method=payment_method,
        metadata=metadata(form),
        status="requires_confirmation" if payment_method else "requires_payment_method",
        description=form.get("description"),
    )
    if form.get("confirm") != "true" or not payment_method:
        return copied(intent)
    action = store.faults.take("POST", "/v1/payment_intents", ("action",))
    if action is not None:
        intent.update(status="requires_action", next_action=_next_action(action, form.get("return_url")))
        return copied(intent)
    scripted = store.faults.take("POST", "/v1/payment_intents", ("decline",))
    outcome = scripted.decline if scripted is not None else TEST_CARDS.get(payment_method)
    charge_id = new_id("ch")
    intent["latest_charge"] = charge_id
    if outcome is None:
        intent.update(status="succeeded", amount_received=amount)
        return copied(intent)
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
    raise StripeApiError(402, {"error": {**error, "payment_intent": copied(intent)}})


def _next_action(action: Fault, return_url: str | None) -> dict[str, Any]:
    """What ``require_action_next`` asks the customer to do: a redirect, or 3D Secure through Stripe.js."""
    if action.redirect_url:
        return {"type": "redirect_to_url", "redirect_to_url": {"url": action.redirect_url, "return_url": return_url}}
    # What Stripe.js handles itself: the server gets no URL to send.
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "stripe_js": "https://hooks.stripe.com/3d_secure_2/hosted",
        },
    }


def create_refund(store: Store, form: dict[str, str]) -> dict[str, Any]:
    intent = payment_intent(store, required(form, "payment_intent"))
    if intent["status"] != "succeeded":
        raise invalid(
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            code="charge_not_refundable",
            param="payment_intent",
        )
    refundable = intent["amount_received"] - intent["amount_refunded"]
    if refundable <= 0:
        raise invalid(f"Charge {intent['latest_charge']} has already been refunded.", code="charge_already_refunded")
    amount = int(form.get("amount", refundable))
    if amount > refundable:
        raise invalid(
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
        "metadata": metadata(form),
        "payment_intent": intent["id"],
        "reason": form.get("reason"),
        "status": "succeeded",
    }
    store.refunds[refund["id"]] = refund
    return copied(refund)
