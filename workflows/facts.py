"""What the order's state says, read without changing it.

The current and the approved confirmation, a duration from the terms or the
worker's defaults, the deadlines they make, and the payments that still count.
Every other part of the workflow reads the order through these functions, so
a rule such as "a term left empty falls back to the worker's default" lives
in one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from workflows.models import Confirmation, ConfirmationState, Delivery, InstalmentBill, Milestone, OrderState, Payment

ZERO = Decimal("0.00")
T = TypeVar("T")

# Refund statuses whose money has left (or is leaving) the company.
GIVEN_BACK = ("succeeded", "pending")

# Terms spell one default differently from the worker's policy.
_POLICY_NAME = {"reminder_interval": "confirmation_reminder"}


class OrderInvariantError(Exception):
    """The workflow reached a state its own code rules out: a bug, not bad input."""


class NoApprovedConfirmation(OrderInvariantError):
    """A step that needs the approved confirmation ran before one was approved."""


class PolicyNotLoaded(OrderInvariantError):
    """A step that needs the worker's default durations ran before the order loaded them."""


class MissingState(OrderInvariantError):
    """A step ran without the part of the state its stage always has (a due date, a delivery)."""


def require(value: T | None, what: str) -> T:
    """``value``, or ``MissingState`` naming what was missing."""
    if value is None:
        raise MissingState(what)
    return value


def latest(state: OrderState) -> Confirmation:
    """The newest confirmation issued."""
    return state.order.confirmations[-1]


def change_waiting(state: OrderState) -> Confirmation | None:
    """The change order waiting for the customer's answer (the newest version, issued after an
    approval and not yet answered), or None."""
    newest = state.order.confirmations[-1] if state.order.confirmations else None
    if newest is None or newest.change_of is None or newest.state is not ConfirmationState.ISSUED:
        return None
    return newest


def approved_or_none(state: OrderState) -> Confirmation | None:
    v = state.order.approved_version
    return state.order.confirmations[v - 1] if v else None


def approved(state: OrderState) -> Confirmation:
    confirmation = approved_or_none(state)
    if confirmation is None:
        raise NoApprovedConfirmation("no approved confirmation")
    return confirmation


def policy_value(state: OrderState, name: str) -> timedelta:
    """One of the worker's default durations."""
    if state.policy is None:
        raise PolicyNotLoaded(name)
    value: timedelta = getattr(state.policy, name)
    return value


def term(state: OrderState, name: str, confirmation: Confirmation | None = None) -> timedelta:
    """A duration from the confirmation's terms, else the worker's default."""
    confirmation = confirmation or approved_or_none(state)
    if confirmation is None and state.order.confirmations:
        confirmation = latest(state)
    value: timedelta | None = getattr(confirmation.terms, name) if confirmation else None
    if value is not None:
        return value
    return policy_value(state, _POLICY_NAME.get(name, name))


def confirmation_expires_at(state: OrderState, confirmation: Confirmation) -> datetime:
    return confirmation.issued_at + term(state, "confirmation_expiry", confirmation)


def review_ends_at(state: OrderState, delivery: Delivery) -> datetime:
    return delivery.review_ends_at or delivery.at + term(state, "review_period")


def milestone(state: OrderState, name: str) -> Milestone | None:
    return next((m for m in state.order.milestones if m.name == name), None)


def instalment(state: OrderState, name: str) -> InstalmentBill | None:
    """A payment schedule's instalment by name (names differ, ignoring case)."""
    return next((b for b in state.order.instalments if b.name.casefold() == name.casefold()), None)


def payment_reference(state: OrderState) -> str:
    return f"SO-{state.order.order_id}".upper()


def key(state: OrderState, step: str) -> str:
    """Idempotency key derived from the order and its step, never random."""
    return f"order-{state.order.order_id}:{step}"


def kept_payments(state: OrderState) -> list[Payment]:
    """The payments, less what overpayment refunds gave back of each (those given back in full left out)."""
    order = state.order
    returned: dict[str, Decimal] = {}
    for r in order.refunds:
        if r.overpaid_by and r.status in GIVEN_BACK:
            returned[r.overpaid_by] = returned.get(r.overpaid_by, ZERO) + r.amount
    if not returned:
        return order.payments
    kept = [p.model_copy(update={"amount": p.amount - returned.get(p.reference, ZERO)}) for p in order.payments]
    return [p for p in kept if p.amount > ZERO]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def iso_duration(value: timedelta) -> str:
    """``P14D``, ``PT2H``, ``P1DT12H``: a term as the emails' context carries it.

    Not pydantic's ``TypeAdapter(timedelta).dump_python(mode="json")``, which agrees below a
    year but writes 400 days as ``P1Y35D`` (a year of 365 days, which ISO 8601 does not mean)
    and keeps fractions of a second; a one-year support period would reach SendGrid templates
    and emails' contexts spelled differently from today.
    """
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if seconds else "PT0S"
