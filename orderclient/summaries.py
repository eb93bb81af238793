"""What operators see of an order without opening it: the Temporal UI's summary and details of a new
order (with the customer's address scrubbed), and the visibility query of ``list``."""

from __future__ import annotations

import re

from workflows import names, search
from workflows.models import Customer, OrderStatus, StartOrderInput

# --------------------------------------------------------------------------
# What operators see in the Temporal UI for a new order
# --------------------------------------------------------------------------

_EMAIL_LIKE = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def _scrub(text: str, customer: Customer) -> str:
    """Drop email addresses (and the customer's phone) from text shown to operators."""
    text = _EMAIL_LIKE.sub("[email]", text)
    if customer.phone:
        text = text.replace(customer.phone, "[phone]")
    return text


def _excerpt(text: str, limit: int) -> str:
    one_line = " ".join(text.split())
    if len(one_line) <= limit:
        return one_line
    cut = one_line[: limit - 1].rsplit(" ", 1)[0] or one_line[: limit - 1]
    return cut.rstrip(" ,.;:") + "…"


def order_summary(start: StartOrderInput) -> str:
    """The UI's one-line summary: ``Order 42 for ACME Ltd: We need our booking website…``.

    The company (or the name) and the first words of the request; never the
    email address.
    """
    who = start.customer.company or start.customer.name
    return f"Order {start.order_id} for {_excerpt(who, 40)}: {_excerpt(_scrub(start.message, start.customer), 80)}"


def order_details(start: StartOrderInput) -> str:
    """The UI's static details, in markdown: who, through which channel, and what they asked."""
    customer = start.customer
    who = customer.name + (f", {customer.company}" if customer.company else "")
    lines = [
        f"- **Customer:** {who}",
        f"- **Channel:** {start.channel.value.replace('_', ' ')}",
    ]
    if customer.customer_ref:
        lines.append(f"- **Customer ref:** {customer.customer_ref}")
    message = _excerpt(_scrub(start.message, customer), 500)
    return "\n".join(lines) + "\n\n**First message:**\n\n> " + message


# --------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------


def list_query(status: OrderStatus | str | None = None, *, overdue: bool = False) -> str:
    """The visibility query of ``list``; ``ValueError`` for an unknown status.

    ``overdue``: only orders with a payment schedule whose instalment is past its
    due date (``OrderPaymentOverdue``, which orders without a schedule never carry)."""
    query = f"WorkflowType = '{names.WORKFLOW_TYPE}'"
    if status is not None:
        try:
            value = OrderStatus(str(status).upper()).value
        except ValueError:
            known = ", ".join(s.value for s in OrderStatus)
            raise ValueError(f"unknown status {status!r}; one of {known}") from None
        query += f" AND {search.ORDER_STATUS.name} = '{value}'"
    if overdue:
        query += f" AND {search.ORDER_PAYMENT_OVERDUE.name} = true"
    return query


def _status_or_none(value: str | None) -> OrderStatus | None:
    try:
        return OrderStatus(value) if value else None
    except ValueError:
        return None
