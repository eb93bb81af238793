"""Waiting in a stage: one timer at a time, for the earliest alarm that is due.

Each stage lists its alarms (a key, a moment, what to do then); ``AlarmLoop``
waits on a single timer for the earliest one not yet fired, and plans again
when the status changes or a deadline moves (``wake``). The builders below say
which alarms each stage has; what an alarm does is the workflow's (``fire``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow

from workflows import facts
from workflows.continuation import Handover
from workflows.details import Details
from workflows.models import Deadline, Milestone, OrderState, OrderStatus

S = OrderStatus
Fire = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Alarm:
    """Something due at a moment: a reminder, a deadline, a digest."""

    key: str
    at: datetime
    what: str
    fire: Fire


class AlarmLoop:
    """The updatable timer of every stage."""

    def __init__(self, state: OrderState, handover: Handover, published: Details) -> None:
        self._state = state
        self._handover = handover
        self._details = published
        self._wake = False

    def wake(self) -> None:
        """Plan again at once: the status changed, or a deadline moved earlier."""
        self._wake = True

    def _woken(self, statuses: set[OrderStatus]) -> bool:
        return self._wake or self._state.order.status not in statuses or self._handover.due()

    async def stay_while(self, statuses: set[OrderStatus], alarms: Callable[[], list[Alarm]]) -> None:
        """Wait in a stage until the status leaves it, firing alarms as they fall due.

        A deadline that moves later (a digest after a fresh update) needs
        nothing: the running timer is re-checked when it fires. A status
        change, or a deadline an operator moved, wakes the loop and the plan
        is made again at once.
        """
        while self._state.order.status in statuses:
            if self._handover.due():
                await self._handover.continue_as_new()
            pending = sorted((a for a in alarms() if a.key not in self._state.fired), key=lambda a: a.at)
            self._set_next(pending[0] if pending else None)
            self._wake = False
            self._details.upsert_changes()
            if not pending:
                await workflow.wait_condition(lambda: self._woken(statuses))
                continue
            alarm = pending[0]
            remaining = alarm.at - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: self._woken(statuses), timeout=remaining, timeout_summary=alarm.what
                    )
                    continue
                except TimeoutError:
                    pass
            if self._state.order.status not in statuses:
                break
            # The plan may have moved while the timer ran: fire only what is due now.
            due = next((a for a in alarms() if a.key == alarm.key and a.at <= workflow.now()), None)
            if due is not None:
                self._state.fired.add(due.key)
                await due.fire()
        self._set_next(None)

    def _set_next(self, alarm: Alarm | None) -> None:
        deadline = Deadline(at=alarm.at, what=alarm.what) if alarm else None
        if deadline == self._state.order.next_deadline:
            return
        self._state.order.next_deadline = deadline
        self._details.publish()


def approval_alarms(state: OrderState, remind: Fire, expire: Fire) -> list[Alarm]:
    if state.order.status is not S.AWAITING_APPROVAL:
        return []  # Staff's turn: nothing is due from the customer.
    current = facts.latest(state)
    v = current.version
    return [
        Alarm(
            f"confirmation-reminder:v{v}",
            current.issued_at + facts.term(state, "reminder_interval"),
            f"confirmation v{v} reminder",
            remind,
        ),
        Alarm(
            f"confirmation-expiry:v{v}",
            facts.confirmation_expires_at(state, current),
            f"confirmation v{v} expiry",
            expire,
        ),
    ]


def payment_alarms(state: OrderState, remind: Fire, overdue: Fire) -> list[Alarm]:
    due = facts.require(state.payment_due_at, "payment due date")
    requested = facts.require(state.payment_requested_at, "payment request date")
    before = due - facts.policy_value(state, "payment_reminder_before")
    alarms = [
        Alarm(f"payment-reminder:due:{due:%Y%m%dT%H%M%S}", due, "payment reminder at due date", remind),
        Alarm(
            f"payment-overdue:{due:%Y%m%dT%H%M%S}",
            due + facts.term(state, "payment_grace"),
            "payment overdue cancellation",
            overdue,
        ),
    ]
    if before > requested:
        alarms.append(
            Alarm(f"payment-reminder:before:{due:%Y%m%dT%H%M%S}", before, "payment reminder before due date", remind)
        )
    return alarms


def work_alarms(state: OrderState, overdue: Callable[[Milestone], Fire], digest: Fire) -> list[Alarm]:
    alarms = [
        Alarm(f"milestone-overdue:{m.name}:{m.due_at:%Y%m%dT%H%M%S}", m.due_at, f"milestone {m.name!r} due", overdue(m))
        for m in state.order.milestones
        if m.completed_at is None and not m.overdue_alerted
    ]
    last_update = facts.require(state.last_update_at, "last update date")
    alarms.append(
        Alarm(
            f"digest:{last_update.isoformat()}",
            last_update + facts.term(state, "update_interval"),
            "progress digest",
            digest,
        )
    )
    return alarms


def review_alarms(state: OrderState, remind: Fire, end: Fire) -> list[Alarm]:
    delivery = state.order.deliveries[-1]
    ends = facts.review_ends_at(state, delivery)
    reminder = ends - facts.policy_value(state, "acceptance_reminder_before")
    if reminder <= delivery.at:
        reminder = delivery.at + (ends - delivery.at) / 2
    r = delivery.round
    return [
        Alarm(f"acceptance-reminder:{r}", reminder, f"acceptance reminder, delivery {r}", remind),
        Alarm(f"review-end:{r}", ends, f"review period end, delivery {r}", end),
    ]


def support_alarms(state: OrderState, remind: Fire, close: Fire) -> list[Alarm]:
    window = facts.require(state.order.support, "support window")
    reminder = window.ends_at - facts.policy_value(state, "support_reminder_before")
    if reminder <= window.opened_at:
        reminder = window.opened_at + (window.ends_at - window.opened_at) / 2
    return [
        Alarm("support-reminder", reminder, "support ending reminder", remind),
        Alarm("support-end", window.ends_at, "support period end", close),
    ]
