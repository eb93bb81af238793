"""Customers: ``POST /v1/customers``, ``GET /v1/customers/search``, ``DELETE /v1/customers/{id}``."""

from __future__ import annotations

import time
from typing import Any

from starter.stripe_double.objects import copied, found, metadata, new_id, search_result
from starter.stripe_double.recording import RecordedRequest
from starter.stripe_double.store import Store


def create_customer(store: Store, form: dict[str, str]) -> dict[str, Any]:
    customer: dict[str, Any] = {
        "id": new_id("cus"),
        "object": "customer",
        "created": int(time.time()),
        "email": form.get("email"),
        "name": form.get("name"),
        "livemode": False,
        "metadata": metadata(form),
    }
    store.customers[customer["id"]] = customer
    return copied(customer)


def search_customers(store: Store, request: RecordedRequest) -> dict[str, Any]:
    """Deleted customers are not found, as in Stripe."""
    live = {k: c for k, c in store.customers.items() if not c.get("deleted")}
    return search_result(live, request.query, request.path)


def delete_customer(store: Store, customer_id: str) -> dict[str, Any]:
    """Stripe keeps only the id of a deleted customer: its name, email and metadata are gone."""
    found(store.customers, customer_id, "customer")
    store.customers[customer_id] = {"id": customer_id, "object": "customer", "deleted": True}
    return copied(store.customers[customer_id])
