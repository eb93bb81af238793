"""Calling the payment port (``PaymentRefs``: Stripe, or the bank-transfer fallback) from the order.

Every payment step, the saga's and the instalments' alike, takes the same timeouts, kept here
next to the one call that uses them, and reads a failed void the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import names

PAYMENT_TIMEOUT = timedelta(seconds=60)
# Payment activities heartbeat, so a worker that dies mid-call is noticed in
# seconds and the retry (with the same idempotency key) starts at once.
PAYMENT_HEARTBEAT = timedelta(seconds=10)
# Far inside Stripe's 24-hour idempotency window: a retry never charges or refunds twice.
PAYMENT_GIVE_UP = timedelta(hours=2)

P = TypeVar("P")
R = TypeVar("R")


async def payment_step(activity: Callable[[Any, P], Awaitable[R]], request: P, summary: str) -> R:
    """One call to the payment port, with the timeouts every payment step takes."""
    return await workflow.execute_activity_method(
        activity,
        request,
        start_to_close_timeout=PAYMENT_TIMEOUT,
        heartbeat_timeout=PAYMENT_HEARTBEAT,
        schedule_to_close_timeout=PAYMENT_GIVE_UP,
        summary=summary,
    )


def invoice_status(error: ActivityError) -> str | None:
    """The invoice's status when a void found it no longer open (paid, void, uncollectible)."""
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type != names.INVOICE_NOT_OPEN_ERROR or not cause.details:
        return None
    details = cause.details[0]
    return str(details.get("status")) if isinstance(details, dict) else None
