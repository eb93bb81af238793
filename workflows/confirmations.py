"""The order confirmation's versions (seed 1.3) and, after approval, change orders.

Before approval, a version is issued, reminded of, and approved, sent back for changes or left
to expire, and the order's status follows it. After approval, a new version issued while the work
goes on is a change order (``Confirmation.change_of``): the status stays where the work is, the
approved version stays in force until the customer approves the change, and a declined or expired
change leaves everything as it was. On approval the contract total becomes the change's total
(``Billing.change_approved`` bills or gives back the difference) and its milestones replace the
ones still open.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from temporalio import workflow

from workflows import alarms, facts
from workflows import email_contexts as contexts
from workflows.alarms import Alarm
from workflows.billing import Billing
from workflows.continuation import Effects
from workflows.details import Details, log
from workflows.facts import ZERO, iso
from workflows.mail import Mail
from workflows.models import (
    Audience,
    Confirmation,
    ConfirmationState,
    Evidence,
    IssueConfirmationInput,
    MessageKind,
    Milestone,
    OrderState,
    OrderStatus,
    RequestChangesInput,
)
from workflows.models import TimelineKind as TL

S = OrderStatus

# While the work goes on, a new version is a change order.
WORK = frozenset({S.IN_PROGRESS, S.AWAITING_ACCEPTANCE})


class Confirmations:
    """Versions of the order confirmation: issued, answered, reminded of and expired."""

    def __init__(
        self,
        state: OrderState,
        effects: Effects,
        mail: Mail,
        published: Details,
        billing: Billing,
        set_status: Callable[[OrderStatus, str], None],
        start_work: Callable[[str], None],
    ) -> None:
        self._state = state
        self._effects = effects
        self._mail = mail
        self._details = published
        self._billing = billing
        self._set_status = set_status
        self._start_work = start_work

    @property
    def _latest(self) -> Confirmation:
        return facts.latest(self._state)

    def _log(self, kind: TL, /, **fields: object) -> None:
        log(self._state, kind, **fields)

    # ------------------------------------------------------------------
    # The customer's answers and staff's versions
    # ------------------------------------------------------------------

    def issue(self, request: IssueConfirmationInput) -> None:
        draft, order = request.confirmation, self._state.order
        for previous in order.confirmations:
            if previous.state is ConfirmationState.ISSUED:
                previous.state = ConfirmationState.SUPERSEDED
        approved = facts.approved_or_none(self._state)
        change_of = approved.version if approved is not None and order.status in WORK else None
        confirmation = Confirmation(
            **draft.model_dump(),
            version=len(order.confirmations) + 1,
            issued_at=workflow.now(),
            issued_by=request.issued_by,
            amount_total=draft.total,
            change_of=change_of,
        )
        order.confirmations.append(confirmation)
        order.version = confirmation.version
        if approved is not None and change_of is not None:
            confirmation.changes = differences(approved, confirmation)
            self._log(
                TL.CHANGE_ORDER_ISSUED,
                version=confirmation.version,
                currency=draft.currency,
                old=approved.amount_total,
                new=draft.total,
            )
            self._details.publish()  # its reminder and expiry join the stage's alarms
        else:
            self._set_status(
                S.AWAITING_APPROVAL, f"confirmation v{confirmation.version} issued, {draft.currency} {draft.total}"
            )
        self._effects.spawn(self._send(confirmation))

    def approve(self, evidence: Evidence | None) -> None:
        confirmation = self._latest
        confirmation.decision = recorded(self._state, evidence, confirmation.version)
        if confirmation.change_of is not None:
            self._approve_change(confirmation)
            return
        order = self._state.order
        confirmation.state = ConfirmationState.APPROVED
        confirmation.approved_at = workflow.now()
        order.approved_version = confirmation.version
        order.currency = confirmation.currency
        order.total = confirmation.amount_total
        order.payment_reference = facts.payment_reference(self._state)
        self._billing.plan(confirmation)
        self._billing.recompute()
        self._set_status(S.AWAITING_PAYMENT, f"confirmation v{confirmation.version} approved")
        if order.balance_due == ZERO:
            self._start_work("nothing to pay")

    def request_changes(self, request: RequestChangesInput) -> None:
        confirmation = self._latest
        confirmation.decision = recorded(self._state, request.evidence, confirmation.version)
        confirmation.state = ConfirmationState.CHANGES_REQUESTED
        confirmation.comments = request.comments
        confirmation.comments_at = workflow.now()
        self._mail.email(MessageKind.CHANGES_RECEIVED, version=confirmation.version, comments=request.comments)
        if confirmation.change_of is None:
            self._set_status(S.DISCUSSING, f"changes requested to v{confirmation.version}")
            return
        # A declined change order: the approved version stays in force, and the work goes on.
        self._log(TL.CHANGE_ORDER_DECLINED, version=confirmation.version, kept=self._state.order.approved_version)
        self._details.publish()

    def _approve_change(self, change: Confirmation) -> None:
        order = self._state.order
        previous = facts.approved(self._state)
        change.state = ConfirmationState.APPROVED
        change.approved_at = workflow.now()
        order.approved_version = change.version
        order.total = change.amount_total
        self._replan_milestones(previous, change)
        refund = self._billing.change_approved(change, previous)
        self._log(TL.CHANGE_ORDER_APPROVED, version=change.version, currency=order.currency, new=change.amount_total)
        self._mail.email(MessageKind.CHANGE_ORDER_APPROVED, **self._change_context(change, refund))
        self._details.publish()  # the total, and the alarms of what it bills

    def _replan_milestones(self, previous: Confirmation, change: Confirmation) -> None:
        """The change's milestones, counted from the start of the work: one done stays done, one
        whose time did not change keeps its date (an extension too), and one the change left out
        is dropped unless it was done."""
        order = self._state.order
        start = self._state.work_started_at or workflow.now()
        before = {term.name.casefold(): term.due for term in previous.terms.milestones}
        current = {m.name.casefold(): m for m in order.milestones}
        planned: list[Milestone] = []
        for term in change.terms.milestones:
            milestone = current.pop(term.name.casefold(), None)
            if milestone is None:
                planned.append(Milestone(name=term.name, due_at=start + term.due))
                continue
            if milestone.completed_at is None and before.get(term.name.casefold()) != term.due:
                milestone.due_at = start + term.due
                milestone.overdue_alerted = False
            planned.append(milestone)
        order.milestones = [*planned, *(m for m in current.values() if m.completed_at is not None)]

    def _change_context(self, change: Confirmation, refund: Decimal) -> dict[str, Any]:
        """The approved change order's email: what it changed (as its issue said) and what goes back."""
        estimated = change.terms.estimated_delivery
        start = self._state.work_started_at
        return {
            "change": {**self._change_of(change)["change"], "refund": str(refund) if refund > ZERO else None},
            "currency": self._state.order.currency,
            "milestones": contexts.milestones_context(self._state),
            "estimated_delivery_at": iso(start + estimated) if start and estimated else None,
            **contexts.schedule_context(self._state),
        }

    # ------------------------------------------------------------------
    # Reminders and expiry, before approval and of a change order
    # ------------------------------------------------------------------

    def approval_alarms(self) -> list[Alarm]:
        return alarms.approval_alarms(self._state, self._remind, self._expire)

    def change_alarms(self) -> list[Alarm]:
        """A change order waiting for its answer is reminded of, then expires (none otherwise)."""
        current = facts.change_waiting(self._state)
        if current is None:
            return []
        v = current.version
        return [
            Alarm(
                f"change-reminder:v{v}",
                current.issued_at + facts.term(self._state, "reminder_interval", current),
                f"change order v{v} reminder",
                self._remind,
            ),
            Alarm(
                f"change-expiry:v{v}",
                facts.confirmation_expires_at(self._state, current),
                f"change order v{v} expiry",
                self._expire,
            ),
        ]

    async def _remind(self) -> None:
        self._log(TL.CONFIRMATION_REMINDER, version=self._latest.version)
        self._mail.email(MessageKind.CONFIRMATION_REMINDER, **self._context(self._latest))

    async def _expire(self) -> None:
        confirmation = self._latest
        confirmation.state = ConfirmationState.EXPIRED
        self._mail.email(
            MessageKind.CONFIRMATION_EXPIRED, version=confirmation.version, **self._change_of(confirmation)
        )
        if confirmation.change_of is None:
            self._set_status(S.EXPIRED, f"confirmation v{confirmation.version} was not approved in time")
            return
        self._log(TL.CHANGE_ORDER_EXPIRED, version=confirmation.version, kept=self._state.order.approved_version)
        self._details.publish()

    async def _send(self, confirmation: Confirmation) -> None:
        await workflow.wait_condition(lambda: self._state.policy is not None)
        receipt = await self._mail.send(MessageKind.CONFIRMATION_ISSUED, Audience.CUSTOMER, self._context(confirmation))
        # The PDF the email carried (the email activity renders and stores it): its id, size and hash only.
        # Receipts of histories recorded before PDFs have none, so those orders read as they did.
        if receipt is not None and receipt.document is not None:
            confirmation.document = receipt.document

    def _context(self, confirmation: Confirmation) -> dict[str, Any]:
        return {**contexts.confirmation_context(self._state, confirmation), **self._change_of(confirmation)}

    def _change_of(self, confirmation: Confirmation) -> dict[str, Any]:
        """What a change order's emails add: the version in force and its total (nothing for others)."""
        if confirmation.change_of is None:
            return {}
        in_force = self._state.order.confirmations[confirmation.change_of - 1]
        return {
            "change": {
                "version": confirmation.version,
                "previous_version": in_force.version,
                "previous_total": str(in_force.amount_total),
                "total": str(confirmation.amount_total),
                **_difference(confirmation.amount_total - in_force.amount_total),
                "changes": confirmation.changes,
            }
        }


def recorded(state: OrderState, sent: Evidence | None, number: int) -> Evidence:
    """A customer's decision's evidence as the order keeps it: what the sender said (a caller that
    said nothing is a back office), completed with the time, the address the order's links go to,
    and the version or delivery round decided on."""
    evidence = sent or Evidence()
    return evidence.model_copy(update={"at": workflow.now(), "email": state.order.customer.email, "version": number})


def _difference(amount: Decimal) -> dict[str, str]:
    """How far a change moves the total, as emails say it: ``{"difference": "500.00", "direction": "more"}``."""
    direction = "more" if amount > ZERO else "less" if amount < ZERO else "same"
    return {"difference": str(abs(amount)), "direction": direction}


def differences(before: Confirmation, after: Confirmation) -> list[str]:
    """What a change order changes, in words: the total, lines, milestones, schedule and delivery estimate."""
    found: list[str] = []
    if after.amount_total != before.amount_total:
        found.append(f"total {before.currency} {before.amount_total} -> {after.amount_total}")
    old_lines = {item.description: item.amount for item in before.line_items}
    new_lines = {item.description: item.amount for item in after.line_items}
    found += [f"line added: {d} ({after.currency} {a})" for d, a in new_lines.items() if d not in old_lines]
    found += [f"line removed: {d}" for d in old_lines if d not in new_lines]
    found += [
        f"line changed: {d} ({after.currency} {old_lines[d]} -> {a})"
        for d, a in new_lines.items()
        if d in old_lines and old_lines[d] != a
    ]
    old_milestones = {m.name: m.due for m in before.terms.milestones}
    new_milestones = {m.name: m.due for m in after.terms.milestones}
    found += [f"milestone added: {name}" for name in new_milestones if name not in old_milestones]
    found += [f"milestone removed: {name}" for name in old_milestones if name not in new_milestones]
    found += [
        f"milestone moved: {name}"
        for name, due in new_milestones.items()
        if name in old_milestones and old_milestones[name] != due
    ]
    if after.terms.payment_schedule != before.terms.payment_schedule and after.terms.payment_schedule is not None:
        found.append("payment schedule changed")
    if after.terms.estimated_delivery != before.terms.estimated_delivery:
        found.append("estimated delivery changed")
    return found
