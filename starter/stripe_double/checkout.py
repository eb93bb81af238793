"""Checkout Sessions and the SetupIntents they complete with: ``POST /v1/checkout/sessions``,
``GET /v1/checkout/sessions/{id}``, ``GET /v1/setup_intents/{id}``, and the customer finishing a session."""

from __future__ import annotations

import time
from typing import Any

from starter.stripe_double.customers import create_customer
from starter.stripe_double.errors import invalid
from starter.stripe_double.objects import metadata, new_id, public, required
from starter.stripe_double.store import Store

_SETUP_METADATA = "setup_intent_data[metadata]["


def create_checkout_session(store: Store, form: dict[str, str]) -> dict[str, Any]:
    mode = required(form, "mode")
    if mode not in ("payment", "setup", "subscription"):
        raise invalid("Invalid mode: must be one of payment, setup, or subscription", param="mode")
    success_url = required(form, "success_url")
    types = [v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")]
    if mode == "setup" and not form.get("currency") and not types:
        raise invalid("currency is required in setup mode when payment_method_types is not passed.", param="currency")
    customer = form.get("customer")
    if customer and customer not in store.customers:
        raise invalid(f"No such customer: '{customer}'", code="resource_missing", param="customer")
    session_id = new_id("cs_test")
    session: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "mode": mode,
        "status": "open",
        "currency": form.get("currency"),
        "customer": customer,
        "client_reference_id": form.get("client_reference_id"),
        "payment_method_types": types or ["card"],
        "metadata": metadata(form),
        "setup_intent": None,
        "success_url": success_url,
        "cancel_url": form.get("cancel_url"),
        "url": f"{store.checkout_url}/c/pay/{session_id}",
        "livemode": False,
        "created": int(time.time()),
        # Not an API field: what the SetupIntent gets when the session completes.
        "_setup_intent_metadata": {
            k[len(_SETUP_METADATA) : -1]: v for k, v in form.items() if k.startswith(_SETUP_METADATA)
        },
    }
    store.checkout_sessions[session_id] = session
    return public(session)


def complete_checkout(store: Store, session_id: str, payment_method: str | None) -> dict[str, Any]:
    """The customer finishes a setup-mode session: a succeeded SetupIntent; the session as its event carries it."""
    session = store.checkout_sessions[session_id]
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
    store.setup_intents[intent["id"]] = intent
    session.update(status="complete", setup_intent=intent["id"], url=None)
    return public(session)


def pay_checkout(store: Store, session_id: str, payment_method: str) -> dict[str, Any]:
    """The customer pays on the double's checkout page: a Customer if the session has none, as Stripe makes
    one, then ``complete_checkout``."""
    session = store.checkout_sessions[session_id]
    if not session.get("customer"):
        session["customer"] = create_customer(store, {})["id"]
    return complete_checkout(store, session_id, payment_method)
