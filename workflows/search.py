"""Search attributes: what operators filter orders by in the Temporal UI.

No personal data goes here: visibility stores are indexed and widely readable,
so the customer appears only as the opaque ``customer_ref`` from the CRM.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
ORDER_NEXT_DEADLINE = SearchAttributeKey.for_datetime("OrderNextDeadline")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
ORDER_CURRENCY = SearchAttributeKey.for_keyword("OrderCurrency")
ORDER_REVISION = SearchAttributeKey.for_int("OrderRevision")
ORDER_CUSTOMER_REF = SearchAttributeKey.for_keyword("OrderCustomerRef")
ORDER_PAYMENT_DUE = SearchAttributeKey.for_datetime("OrderPaymentDue")
ORDER_PAYMENT_OVERDUE = SearchAttributeKey.for_bool("OrderPaymentOverdue")
"""Set on an order with a payment schedule while an instalment is past its due date (``orders list --overdue``)."""

ALL_KEYS = (
    ORDER_STATUS,
    ORDER_NEXT_DEADLINE,
    ORDER_TOTAL,
    ORDER_CURRENCY,
    ORDER_REVISION,
    ORDER_CUSTOMER_REF,
    ORDER_PAYMENT_DUE,
    ORDER_PAYMENT_OVERDUE,
)

# The ``--search-attribute Name=Type`` spelling of the temporal CLI.
_CLI_TYPES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "DOUBLE": "Double", "INT": "Int", "BOOL": "Bool"}


def dev_server_args() -> list[str]:
    """Arguments that register every attribute on ``temporal server start-dev``."""
    args: list[str] = []
    for key in ALL_KEYS:
        kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
        args += ["--search-attribute", f"{key.name}={_CLI_TYPES[kind]}"]
    return args


def initial(status: str, customer_ref: str | None) -> TypedSearchAttributes:
    """What a new order publishes, given at the start where it costs nothing, so
    that its first workflow task has nothing to upsert."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(ORDER_STATUS, status),
        SearchAttributePair(ORDER_REVISION, 0),
    ]
    if customer_ref:
        pairs.append(SearchAttributePair(ORDER_CUSTOMER_REF, customer_ref))
    return TypedSearchAttributes(pairs)
