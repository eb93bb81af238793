"""Customers: ``POST /v1/customers``."""

from __future__ import annotations

import time
from typing import Any

from starter.stripe_double.objects import copied, metadata, new_id
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
