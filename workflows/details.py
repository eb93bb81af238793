"""What operators and callers see of an order: search attributes, the Temporal
UI's current details, the timeline, the answers of the ``status`` and
``history_page`` queries, and the result of a finished order.

``Details`` writes what is published; the functions read the state. The next
deadline someone is held to (``obligation``) is worked out here, from the
state as it is now, so it is never stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from workflows import facts, instalments
from workflows import search as sa
from workflows.models import (
    Deadline,
    HistoryPage,
    HistoryPageInput,
    OrderResult,
    OrderState,
    OrderStatus,
    OrderView,
    TimelineEvent,
    TimelineKind,
)

S = OrderStatus

# workflow.patched id: orders recorded before it upserted every attribute on every change.
PUBLISH_ONCE_PER_TASK = "publish-changed-search-attributes-once-per-task"

# Bytes of each long list in a ``status`` answer and in what a new run carries;
# older entries are read page by page (``history_page``, ``orders status --all``).
LIST_BUDGET: dict[str, int] = {
    "timeline": 64_000,
    "notes": 32_000,
    "updates": 32_000,
    "support_requests": 48_000,
    "rejected": 16_000,
    "failed_emails": 16_000,
}
PAGE_BUDGET = 1_000_000

# What each open stage waits for, in the UI's current details.
WAITING_FOR: dict[OrderStatus, str] = {
    S.DISCUSSING: "staff to issue an order confirmation",
    S.AWAITING_APPROVAL: "the customer to approve confirmation v{version}",
    S.AWAITING_PAYMENT: "the customer to pay {currency} {balance_due}",
    S.IN_PROGRESS: "staff to post updates and deliver",
    S.AWAITING_ACCEPTANCE: "the customer to accept the delivery or ask for a revision",
    S.IN_SUPPORT: "support requests until the period ends",
    S.AWAITING_FINAL_PAYMENT: "the customer to pay {currency} {balance_due}; support has ended, and the order"
    " completes once every instalment is paid",
}


class Details:
    """Search attributes and the UI's current details, written in one place."""

    def __init__(self, state: OrderState) -> None:
        self._state = state
        # What the search attributes hold now (the starter may have set some), so
        # that an upsert sends only what changed; ``None`` until the patch is known.
        started_with = workflow.info().typed_search_attributes
        self._published: dict[str, Any] = {pair.key.name: pair.value for pair in started_with}
        self._publish_once: bool | None = None
        self._publish_due = False
        self._deadline_published = False

    def every_patch(self) -> None:
        """A continued run: it has every patch, this one included."""
        self._publish_once = True

    def publish(self) -> None:
        """A status change also moves the next deadline, so one workflow task may
        ask several times: the upsert goes once, when the process next waits
        (``upsert_changes``), with only the attributes that changed.
        """
        self.describe()
        if self._publish_once is None:
            self._publish_once = workflow.patched(PUBLISH_ONCE_PER_TASK)
        if self._publish_once:
            self._publish_due = True
        else:
            self._publish_every_attribute()

    def upsert_changes(self) -> None:
        """Called by the process just before it waits: one upsert for all that changed since."""
        if not self._publish_due:
            return
        self._publish_due = False
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in search_attributes(self._state).items():
            if self._published.get(key.name) == value:
                continue
            updates.append(key.value_set(value) if value is not None else key.value_unset())
            self._published[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)

    def _publish_every_attribute(self) -> None:
        """Before ``PUBLISH_ONCE_PER_TASK``: every attribute on every call, as older orders did."""
        order = self._state.order
        next_at = order.next_deadline.at if order.next_deadline and not order.status.is_final else None
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.ORDER_STATUS.value_set(order.status.value),
            sa.ORDER_REVISION.value_set(len(order.revisions)),
        ]
        if next_at:
            updates.append(sa.ORDER_NEXT_DEADLINE.value_set(next_at))
        elif self._deadline_published:
            updates.append(sa.ORDER_NEXT_DEADLINE.value_unset())
        self._deadline_published = next_at is not None
        if order.customer.customer_ref:
            updates.append(sa.ORDER_CUSTOMER_REF.value_set(order.customer.customer_ref))
        if order.total is not None and order.currency:
            updates += [sa.ORDER_TOTAL.value_set(float(order.total)), sa.ORDER_CURRENCY.value_set(order.currency)]
        if self._state.payment_due_at is not None:
            # Finds overdue payments: past the due date, the next deadline is already the cancellation.
            updates.append(sa.ORDER_PAYMENT_DUE.value_set(self._state.payment_due_at))
        workflow.upsert_search_attributes(updates)

    def describe(self) -> None:
        """Keep the Temporal UI's 'current details' true for operators."""
        order = self._state.order
        template = WAITING_FOR.get(order.status, "nothing: the order is closed")
        waiting = template.format(version=order.version, currency=order.currency, balance_due=order.balance_due)
        lines = [f"**{order.status}** — waiting for {waiting}"]
        deadline = obligation(self._state) if self._state.policy is not None else None
        if deadline is not None:
            lines.append(f"Deadline: {deadline.at:%Y-%m-%d %H:%M} UTC, {deadline.what}")
        upcoming = order.next_deadline  # the next timer, a reminder included
        if upcoming is not None:
            lines.append(f"Next: {upcoming.what} at {upcoming.at:%Y-%m-%d %H:%M} UTC")
        lines += instalments.in_words(self._state)
        workflow.set_current_details("\n\n".join(lines))


def log(state: OrderState, kind: TimelineKind, /, **fields: object) -> None:
    """Write an entry of ``kind`` with these facts on the order's timeline (its words follow from them)."""
    state.order.timeline.append(TimelineEvent.of(workflow.now(), kind, **fields))


def result(state: OrderState) -> OrderResult:
    """What a finished order returns: a few KB whatever its size; the whole order stays readable by query."""
    o = state.order
    return OrderResult(
        order_id=o.order_id,
        status=o.status,
        currency=o.currency,
        total=o.total,
        amount_paid=o.amount_paid,
        refunded=sum((r.amount for r in o.refunds if r.status in ("succeeded", "pending")), facts.ZERO),
        held_payments=len(o.held_payments),
        approved_version=o.approved_version,
        deliveries=len(o.deliveries),
        revisions=len(o.revisions),
        support_requests=state.held_from.get("support_requests", 0) + len(o.support_requests),
        cancellation=o.cancellation,
        completed_at=workflow.now(),
    )


def search_attributes(state: OrderState) -> dict[SearchAttributeKey[Any], Any]:
    """Every attribute's value now; ``None`` means not set. No personal data (see workflows/search.py)."""
    order = state.order
    priced = order.total is not None and order.currency
    upcoming = order.next_deadline if not order.status.is_final else None
    return {
        sa.ORDER_STATUS: order.status.value,
        sa.ORDER_REVISION: len(order.revisions),
        sa.ORDER_NEXT_DEADLINE: upcoming.at if upcoming else None,
        sa.ORDER_CUSTOMER_REF: order.customer.customer_ref,
        sa.ORDER_TOTAL: float(order.total) if priced and order.total is not None else None,
        sa.ORDER_CURRENCY: order.currency if priced else None,
        sa.ORDER_PAYMENT_DUE: instalments.next_due_at(state) if order.instalments else state.payment_due_at,
        # Only orders with a payment schedule carry it: one without never has an instalment overdue.
        sa.ORDER_PAYMENT_OVERDUE: instalments.any_overdue(state) if order.instalments else None,
    }


def newest_within(entries: list[Any], budget: int) -> list[Any]:
    """The newest entries whose JSON fits in ``budget`` bytes (always the newest one)."""
    size = 0
    count = 0
    for entry in reversed(entries):
        size += len(entry.model_dump_json())
        if count and size > budget:
            break
        count += 1
    return entries[len(entries) - count :]


def status_view(state: OrderState) -> OrderView:
    """The order, with the recent part of each long list: bounded however long it lived."""
    trimmed: dict[str, Any] = {}
    older: dict[str, int] = {}
    for kind, budget in LIST_BUDGET.items():
        entries = getattr(state.order, kind)
        trimmed[kind] = newest_within(entries, budget)
        left_out = state.held_from.get(kind, 0) + len(entries) - len(trimmed[kind])
        if left_out:
            older[kind] = left_out
    return state.order.model_copy(update={**trimmed, "older": older, **dates(state)})


def history_page(state: OrderState, request: HistoryPageInput) -> HistoryPage:
    """Entries of one long list, oldest first, from ``start``; earlier runs hold the oldest."""
    entries = getattr(state.order, request.kind)
    held_from = state.held_from.get(request.kind, 0)
    begin = max(request.start, held_from)
    items: list[dict[str, Any]] = []
    size = 0
    for entry in entries[begin - held_from : begin - held_from + request.limit]:
        item = entry.model_dump(mode="json")
        size += len(entry.model_dump_json())
        if items and size > PAGE_BUDGET:
            break
        items.append(item)
    return HistoryPage(kind=request.kind, start=begin, items=items, total=held_from + len(entries), held_from=held_from)


def dates(state: OrderState) -> dict[str, Any]:
    """The dates the customer's emails give, worked out now, so they are never stale.

    The stored order keeps its next alarm in ``next_deadline``, as every
    carried run and recorded history has it; the answer calls it
    ``next_alarm`` and gives the real obligation as ``next_deadline``.
    """
    order = state.order
    if state.policy is None:
        return {"next_deadline": None, "next_alarm": order.next_deadline}
    due = state.payment_due_at
    grace_ends = due + facts.term(state, "payment_grace") if due and facts.approved_or_none(state) else None
    return {
        "closed_at": closed_at(state),
        "payment_due_at": due,
        "payment_cancel_at": grace_ends,
        "deliveries": [
            d.model_copy(update={"review_ends_at": facts.review_ends_at(state, d)}) for d in order.deliveries
        ],
        "next_deadline": obligation(state),
        "next_alarm": order.next_deadline,
    }


def closed_at(state: OrderState) -> datetime | None:
    o = state.order
    if o.status is S.COMPLETED and o.support is not None:
        return o.support.closed_at
    if o.status is S.CANCELLED and o.cancellation is not None:
        return o.cancellation.at
    if o.status is S.EXPIRED and o.confirmations:
        return facts.confirmation_expires_at(state, facts.latest(state))
    return None


def obligation(state: OrderState) -> Deadline | None:
    """The next date the customer or staff are held to, from the order as it is now.

    Reminders and digests are the order's own business and never appear here.
    """
    o, now, status = state.order, workflow.now(), state.order.status
    if status is S.AWAITING_APPROVAL and o.confirmations:
        current = facts.latest(state)
        expires = facts.confirmation_expires_at(state, current)
        return Deadline(at=expires, what=f"approve confirmation v{current.version}")
    if status is S.AWAITING_PAYMENT and state.payment_due_at is not None:
        if now < state.payment_due_at:
            return Deadline(at=state.payment_due_at, what="payment due")
        cancel_at = state.payment_due_at + facts.term(state, "payment_grace")
        return Deadline(at=cancel_at, what="payment overdue: the order is cancelled if still unpaid")
    if status is S.IN_PROGRESS:
        open_ = sorted((m for m in o.milestones if m.completed_at is None), key=lambda m: m.due_at)
        return Deadline(at=open_[0].due_at, what=f"milestone {open_[0].name!r} due") if open_ else None
    if status is S.AWAITING_ACCEPTANCE and o.deliveries:
        delivery = o.deliveries[-1]
        ends = facts.review_ends_at(state, delivery)
        if facts.approved(state).terms.deemed_acceptance:
            return Deadline(at=ends, what=f"review of delivery {delivery.round} ends (silence counts as acceptance)")
        # Without deemed acceptance the date passes and the review stays open, without a date.
        return Deadline(at=ends, what=f"review of delivery {delivery.round} ends") if now < ends else None
    if status is S.IN_SUPPORT and o.support is not None:
        return Deadline(at=o.support.ends_at, what="support period ends")
    due_at = instalments.next_due_at(state)
    if status is S.AWAITING_FINAL_PAYMENT and due_at is not None:
        return Deadline(at=due_at, what="the last instalments are paid")
    return None
