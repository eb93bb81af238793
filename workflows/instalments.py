"""A payment schedule's instalments as the order bills them: planned on approval, paid in order.

Pure functions over the order's state (``OrderView.instalments``), read by the saga, the billing
steps, the search attributes and the emails alike, so that "what is due now" has one answer:

- ``plan`` turns the approved schedule into bills; the ones due on approval fall due at once.
- ``allocate`` applies what the customer paid to the bills in the schedule's order (money paid
  early counts towards the next instalment) and gives what has fallen due and is still unpaid,
  which is the order's ``balance_due``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from pydantic import TypeAdapter

from workflows import facts
from workflows.facts import ZERO, iso
from workflows.models import Confirmation, InstalmentBill, InstalmentStatus, LineItem, OrderState
from workflows.schedule import instalment_amounts, milestone_of

DEFAULT_REMINDERS: Final = (timedelta(days=-3), timedelta(0), timedelta(days=7))
"""When an instalment is reminded of, relative to its due date, when the terms say nothing."""

_AFTER_APPROVAL = TypeAdapter(timedelta)


def plan(state: OrderState, confirmation: Confirmation, now: datetime) -> list[InstalmentBill]:
    """The bills of an approved schedule (none without one). Those due on approval fall due now and
    carry the order's payment reference, which the payment email gives; each other has its own."""
    schedule = confirmation.terms.payment_schedule
    if schedule is None:
        return []
    amounts = instalment_amounts(confirmation.amount_total, confirmation.currency, schedule)
    base = facts.payment_reference(state)
    bills: list[InstalmentBill] = []
    for number, (instalment, amount) in enumerate(zip(schedule, amounts, strict=True), start=1):
        on_approval = instalment.due == "approval"
        bill = InstalmentBill(
            number=number,
            name=instalment.name,
            due=instalment.due,
            amount=amount,
            reference=base if on_approval else f"{base}-{number}",
            fell_due_at=now if on_approval else None,
        )
        if instalment.due.startswith("P"):
            bill.falls_due_at = now + _AFTER_APPROVAL.validate_python(instalment.due)
        bills.append(bill)
    return bills


def allocate(state: OrderState, paid: Decimal, now: datetime) -> Decimal:
    """Put ``paid`` towards the bills, the oldest that fell due first, then those still to come in the
    schedule's order, and set each one's status; what has fallen due and is unpaid."""
    left = paid
    due_now = ZERO
    for bill in sorted(state.order.instalments, key=_oldest_first):
        bill.paid = min(left, bill.amount)
        left -= bill.paid
        if bill.due == "approval":
            bill.due_at = state.payment_due_at  # follows an extension of the payment due date
        bill.status = _status(bill, now)
        if bill.fell_due_at is not None:
            due_now += bill.unpaid
    return due_now


def _oldest_first(bill: InstalmentBill) -> tuple[bool, datetime, int]:
    return bill.fell_due_at is None, bill.fell_due_at or datetime.max.replace(tzinfo=UTC), bill.number


def _status(bill: InstalmentBill, now: datetime) -> InstalmentStatus:
    if bill.unpaid <= ZERO:
        return InstalmentStatus.PAID
    if bill.fell_due_at is None:
        return InstalmentStatus.SCHEDULED
    if bill.due_at is not None and now >= bill.due_at:
        return InstalmentStatus.OVERDUE
    return InstalmentStatus.OPEN


# --------------------------------------------------------------------------
# A change order: the bills add up to its total
# --------------------------------------------------------------------------


def change_event(change: Confirmation) -> str:
    """What a change order's own instalments fall due on: its approval."""
    return f"change:v{change.version}"


def reprice(state: OrderState, change: Confirmation, previous: Confirmation) -> None:
    """The bills once change order ``change`` is approved, adding up to its total.

    With a schedule, the change lists the instalments that fell due unchanged (the rules check
    it) and its own for the rest. Without one, a higher total adds the difference as an instalment
    due on the change's approval; a lower one takes it off what is unpaid, the last instalment
    first, and then off what was paid, which the saga gives back.
    """
    bills = state.order.instalments or [_whole(state, previous)]
    base = facts.payment_reference(state)
    schedule = change.terms.payment_schedule
    if schedule is not None:
        kept = [bill for bill in bills if bill.fell_due_at is not None]
        amounts = instalment_amounts(change.amount_total, change.currency, schedule)
        for number, (instalment, amount) in enumerate(zip(schedule, amounts, strict=True), start=1):
            if number <= len(kept):
                continue
            due = change_event(change) if instalment.due == "approval" else instalment.due
            bill = InstalmentBill(
                number=number, name=instalment.name, due=due, amount=amount, reference=f"{base}-{number}"
            )
            if due.startswith("P"):
                bill.falls_due_at = facts.require(change.approved_at, "approval") + _AFTER_APPROVAL.validate_python(due)
            kept.append(bill)
        state.order.instalments = kept
        return
    difference = change.amount_total - sum((bill.amount for bill in bills), ZERO)
    if difference > ZERO:
        number = max(bill.number for bill in bills) + 1
        name = f"Change order v{change.version}"
        bills.append(
            InstalmentBill(
                number=number, name=name, due=change_event(change), amount=difference, reference=f"{base}-{number}"
            )
        )
    elif difference < ZERO:
        _take_off(bills, -difference)
    state.order.instalments = [bill for bill in bills if bill.amount > ZERO or bill.paid > ZERO]


def _whole(state: OrderState, previous: Confirmation) -> InstalmentBill:
    """An order paid as one payment, as an instalment: the first change order gives it a schedule."""
    return InstalmentBill(
        number=1,
        name=f"Order confirmation v{previous.version}",
        due="approval",
        amount=previous.amount_total,
        paid=min(state.order.amount_paid, previous.amount_total),
        reference=facts.payment_reference(state),
        fell_due_at=previous.approved_at or state.payment_requested_at,
    )


def _take_off(bills: list[InstalmentBill], amount: Decimal) -> None:
    """Lower the bills by ``amount``: what is unpaid first, the last instalment first; then what was paid."""
    for unpaid_only in (True, False):
        for bill in reversed(bills):
            cut = min(amount, bill.unpaid if unpaid_only else bill.amount)
            bill.amount -= cut
            amount -= cut
        if amount <= ZERO:
            return


def falling_due_on(state: OrderState, event: str) -> Iterator[InstalmentBill]:
    """The bills not yet due that ``event`` (``delivery``, ``acceptance``, ``milestone:Design``) makes due."""
    wanted = milestone_of(event)
    for bill in state.order.instalments:
        if bill.fell_due_at is not None:
            continue
        if bill.due == event or (wanted is not None and (milestone_of(bill.due) or "").casefold() == wanted.casefold()):
            yield bill


def later(state: OrderState) -> list[InstalmentBill]:
    """The bills billed on their own, after the work started: all but those due on approval."""
    return [bill for bill in state.order.instalments if bill.due != "approval"]


def owing(state: OrderState) -> bool:
    """Some of the total is still unpaid, whether or not it has fallen due."""
    return any(bill.unpaid > ZERO for bill in state.order.instalments)


def any_overdue(state: OrderState) -> bool:
    return any(bill.status is InstalmentStatus.OVERDUE for bill in state.order.instalments)


def next_due_at(state: OrderState) -> datetime | None:
    """The earliest due date of an instalment that has fallen due and is unpaid."""
    dates = [b.due_at for b in state.order.instalments if b.due_at is not None and b.fell_due_at and b.unpaid > ZERO]
    return min(dates, default=None)


def in_words(state: OrderState) -> list[str]:
    """What the Temporal UI's current details add for a payment schedule and a change order: the
    next instalment, how many are overdue, and a change order waiting for its answer."""
    lines: list[str] = []
    order = state.order
    upcoming = next((b for b in sorted(order.instalments, key=_oldest_first) if b.unpaid > ZERO), None)
    if upcoming is not None:
        when = f"due {upcoming.due_at:%Y-%m-%d}" if upcoming.due_at else f"falls due on {upcoming.due}"
        words = f"Next instalment: {upcoming.name}, {order.currency} {upcoming.unpaid} {when} ({upcoming.status.value})"
        lines.append(words)
    overdue = [b.name for b in order.instalments if b.status is InstalmentStatus.OVERDUE]
    if overdue:
        lines.append(f"Overdue: {', '.join(overdue)}")
    change = facts.change_waiting(state)
    if change is not None:
        lines.append(f"Change order v{change.version} waits for the customer's approval")
    return lines


def reminders(state: OrderState) -> tuple[timedelta, ...]:
    offsets = facts.approved(state).terms.payment_reminders
    return tuple(sorted(offsets)) if offsets else DEFAULT_REMINDERS


def invoice_items(state: OrderState, approved: Confirmation) -> list[LineItem]:
    """What the order's hosted invoice lists: the confirmation's lines, or with a payment schedule
    the instalments it asks for (those fallen due), not every line."""
    bills = state.order.instalments
    return invoice_lines(state, bills) if bills else approved.line_items


def invoice_lines(state: OrderState, bills: list[InstalmentBill]) -> list[LineItem]:
    """What a hosted invoice for these instalments lists: one line for what is unpaid of each that fell due."""
    count = len(state.order.instalments)
    return [
        LineItem(description=f"{bill.name} (instalment {bill.number} of {count})", unit_price=bill.unpaid)
        for bill in bills
        if bill.fell_due_at is not None and bill.unpaid > ZERO
    ]


def row(bill: InstalmentBill) -> dict[str, Any]:
    """An instalment as emails show it."""
    return {
        "number": bill.number,
        "name": bill.name,
        "due": bill.due,
        "amount": str(bill.amount),
        "paid": str(bill.paid),
        "unpaid": str(bill.unpaid),
        "status": bill.status.value,
        "due_at": iso(bill.due_at),
        "reference": bill.reference,
        "invoice_url": bill.invoice_url,
    }
