"""The rules: which action is allowed in which stage (its ``stages`` in the
action registry), and with what checks (``CHECKS``).

``check`` raises ``ActionRejected`` naming the problem, or returns when the
action fits the order as it is. It only reads the state; the workflow applies
the action afterwards. An update's validator and a signal's handler run the
same check, so both refuse alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import facts, names
from workflows.action_registry import BY_MODEL, REGISTRY
from workflows.models import (
    MAX_DURATION,
    AcceptInput,
    Action,
    ApproveInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    OrderState,
    OrderStatus,
    PaymentFailedInput,
    PaymentMethod,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RequestChangesInput,
    RequestRevisionInput,
    UpdateCustomerInput,
)
from workflows.schedule import instalment_amounts, milestone_of

S = OrderStatus

# The payment methods that only Stripe can take.
NEEDS_STRIPE = frozenset({PaymentMethod.CARD, PaymentMethod.INVOICE})

# Until the work starts, the money is collected as one payment (or the instalments due on approval).
BEFORE_WORK = frozenset({S.DISCUSSING, S.AWAITING_APPROVAL, S.AWAITING_PAYMENT})
# While the work goes on a change order may be issued and answered; after acceptance no longer.
WORK = frozenset({S.IN_PROGRESS, S.AWAITING_ACCEPTANCE})
AFTER_ACCEPTANCE = frozenset({S.IN_SUPPORT, S.AWAITING_FINAL_PAYMENT})

# workflow.patched id: orders from before change orders refused a confirmation, an approval or a
# request for changes while the work went on; their histories replay those refusals.
CHANGE_ORDERS = "change-orders-while-the-work-goes-on"

# Which deadline may move in which status.
DEADLINE_STATUS: dict[str, OrderStatus] = {
    "payment_due": S.AWAITING_PAYMENT,
    "milestone": S.IN_PROGRESS,
    "review_period": S.AWAITING_ACCEPTANCE,
}


class ActionRejected(Exception):
    """An action that does not fit the order; the message says why."""

    def as_update_error(self) -> ApplicationError:
        """The refusal as an update's validator or handler raises it: the caller reads the reason."""
        return ApplicationError(str(self), type="ActionRejected", non_retryable=True)


def check(state: OrderState, action: str, request: Action, *, charging: bool) -> None:
    """Raise ActionRejected naming the problem, or return if the action fits.

    ``charging``: a card charge is in flight (the saga knows; the state does not).
    """
    status = state.order.status
    if request._decode_error:
        raise ActionRejected(f"invalid {action} payload: {request._decode_error}")
    spec = REGISTRY[action]
    if status not in spec.stages:
        raise ActionRejected(f"cannot {action.replace('_', ' ')} while the order is {status}")
    if spec.needs_policy and state.policy is None:
        # Only reachable when a burst of actions lands in the order's very first task.
        raise ActionRejected("the order is still starting up; send the action again in a moment")
    rule = CHECKS.get(action)
    if rule is not None:
        rule(state, request, charging)


# Each rule below receives the order, the request and whether a card charge is in flight.
Rule = Callable[[OrderState, Any, bool], None]


def _payment_requested(state: OrderState, request: PaymentFailedInput, charging: bool) -> None:
    if state.payment_due_at is None:
        raise ActionRejected("no payment has been requested yet, so no payment can have failed")


def _current_version(state: OrderState, request: ApproveInput | RequestChangesInput, charging: bool) -> None:
    current = facts.latest(state)
    # While the work goes on, only a change order waiting for its answer can be answered.
    if state.order.status in WORK and _change_orders_apply(state, request) and facts.change_waiting(state) is None:
        raise ActionRejected(
            f"there is no change order waiting for approval; version {state.order.approved_version} is in force"
        )
    if request.version != current.version:
        raise ActionRejected(
            f"version {request.version} is not the current confirmation; the current version is {current.version}"
        )
    shown = request.evidence.document_sha256 if request.evidence else None
    if shown and current.document is not None and shown != current.document.sha256:
        # The decision is bound to the bytes the customer saw: other bytes are another document.
        raise ActionRejected(
            f"the PDF you were shown (SHA-256 {shown[:12]}…) is not version {current.version}'s "
            f"({current.document.sha256[:12]}…); open the confirmation again and check it"
        )


def _methods_offered(state: OrderState, request: IssueConfirmationInput, charging: bool) -> None:
    status = state.order.status
    if status in AFTER_ACCEPTANCE:
        raise ActionRejected(
            "a change order cannot be issued after the work was accepted; support requests stay what they are"
        )
    if status is S.AWAITING_PAYMENT:
        raise ActionRejected(
            f"confirmation v{state.order.approved_version} is approved and waits for its payment; a change order "
            "can be issued once the work has started"
        )
    check_methods_available(state, request.confirmation.terms.payment_methods)
    if status in WORK and _change_orders_apply(state, request):
        _check_change_order(state, request)


def _change_orders_apply(state: OrderState, request: Action) -> bool:
    """Orders that refused these actions while the work went on (before change orders
    existed) refuse them again when their history replays (``CHANGE_ORDERS``). An update's
    validator always takes the new rule: a refused update never reached a history."""
    if workflow.unsafe.is_read_only() or workflow.patched(CHANGE_ORDERS):
        return True
    action = BY_MODEL[type(request)].name
    raise ActionRejected(f"cannot {action.replace('_', ' ')} while the order is {state.order.status}")


def _check_change_order(state: OrderState, request: IssueConfirmationInput) -> None:
    """A change order keeps the order's currency, and its schedule keeps the instalments that
    have fallen due as they were and bills the rest on events still to come."""
    draft, approved = request.confirmation, facts.approved(state)
    if draft.currency != approved.currency:
        raise ActionRejected(
            f"currency: a change order keeps the order's currency {approved.currency}, not {draft.currency}"
        )
    schedule = draft.terms.payment_schedule
    if schedule is None:
        return
    bills = state.order.instalments
    if not bills:
        raise ActionRejected(
            "terms.payment_schedule: this order was paid as one payment; a change order to it bills the "
            "difference on its approval, so leave out terms.payment_schedule"
        )
    amounts = instalment_amounts(draft.total, draft.currency, schedule)
    fallen = [bill for bill in bills if bill.fell_due_at is not None]
    for n, bill in enumerate(fallen):
        if n >= len(schedule) or schedule[n].name != bill.name or amounts[n] != bill.amount:
            raise ActionRejected(
                f"terms.payment_schedule.{n}: instalment {bill.name!r} has fallen due already "
                f"({draft.currency} {bill.amount}); a change order's schedule lists it first, unchanged "
                "(give the instalments amounts, not percents)"
            )
    for n, instalment in enumerate(schedule[len(fallen) :], start=len(fallen)):
        if _has_happened(state, instalment.due):
            raise ActionRejected(
                f"terms.payment_schedule.{n}.due: instalment {instalment.name!r} is due on {instalment.due}, "
                "which has already happened; make it due on approval (of this change) or on an event to come"
            )


def _has_happened(state: OrderState, due: str) -> bool:
    name = milestone_of(due)
    if name is not None:
        milestone = next((m for m in state.order.milestones if m.name.casefold() == name.casefold()), None)
        return milestone is not None and milestone.completed_at is not None
    return due == "delivery" and bool(state.order.deliveries)


def _card_allowed(state: OrderState, request: ProvidePaymentMethodInput, charging: bool) -> None:
    if state.order.status not in BEFORE_WORK and not state.order.instalments:
        # The same words as before schedules existed: such an order has nothing left to charge.
        raise ActionRejected(f"cannot provide payment method while the order is {state.order.status}")
    check_methods_available(state, [PaymentMethod.CARD])
    confirmation = facts.approved_or_none(state) or (facts.latest(state) if state.order.confirmations else None)
    if confirmation is not None and PaymentMethod.CARD not in confirmation.terms.payment_methods:
        allowed = ", ".join(confirmation.terms.payment_methods)
        raise ActionRejected(f"the terms do not allow card payment; allowed methods: {allowed}")
    if charging:
        raise ActionRejected("a card charge is already in progress; wait for its outcome")


def _named_milestone_open(state: OrderState, request: PostUpdateInput, charging: bool) -> None:
    if request.milestone is not None:
        _check_open_milestone(state, request.milestone)


def _deadline_movable(state: OrderState, request: ExtendDeadlineInput, charging: bool) -> None:
    check_deadline_change(state, request)


def _changes_something(state: OrderState, request: UpdateCustomerInput, charging: bool) -> None:
    if not customer_changes(request):
        raise ActionRejected("update customer needs at least one field to change (null keeps a field as it is)")


def _current_round(state: OrderState, request: AcceptInput | RequestRevisionInput, charging: bool) -> None:
    if request.round is None:
        return
    current_round = state.order.deliveries[-1].round
    if request.round != current_round:
        raise ActionRejected(
            f"delivery round {request.round} is not the current delivery; the current round is {current_round}"
        )


CHECKS: dict[str, Rule] = {
    names.PAYMENT_FAILED: _payment_requested,
    names.APPROVE: _current_version,
    names.REQUEST_CHANGES: _current_version,
    names.ISSUE_CONFIRMATION: _methods_offered,
    names.PROVIDE_PAYMENT_METHOD: _card_allowed,
    names.POST_UPDATE: _named_milestone_open,
    names.EXTEND_DEADLINE: _deadline_movable,
    names.UPDATE_CUSTOMER: _changes_something,
    names.ACCEPT: _current_round,
    names.REQUEST_REVISION: _current_round,
}
"""The checks an action needs beyond its stages (``action_registry``), by action name."""


def _check_open_milestone(state: OrderState, name: str | None) -> None:
    milestone = facts.milestone(state, name or "")
    if milestone is None:
        known = ", ".join(m.name for m in state.order.milestones) or "none"
        raise ActionRejected(f"unknown milestone {name!r}; known milestones: {known}")
    if milestone.completed_at is not None:
        raise ActionRejected(f"milestone {name!r} is already completed")


def check_methods_available(state: OrderState, methods: list[PaymentMethod]) -> None:
    """Never promise the customer a way to pay that the worker cannot take."""
    if state.policy is None or state.policy.stripe:
        return
    missing = " or ".join(repr(m.value) for m in methods if m in NEEDS_STRIPE)
    if missing:
        raise ActionRejected(
            f"the worker cannot take {missing} payments: STRIPE_API_KEY was not set on the worker"
            " when this order started. Offer 'bank_transfer' only, or set STRIPE_API_KEY on the worker"
            " (`orders dev --stripe-test-double` to try cards locally) and start a new order"
        )


def check_deadline_change(state: OrderState, request: ExtendDeadlineInput) -> None:
    status = state.order.status
    if request.target == "instalment":
        _check_open_instalment(state, request.instalment)
    elif status is not DEADLINE_STATUS[request.target]:
        raise ActionRejected(f"the {request.target.replace('_', ' ')} cannot change while the order is {status}")
    if request.target == "payment_due" and state.payment_due_at is None:
        raise ActionRejected("the payment request is still being prepared; try again in a moment")
    if request.target == "milestone":
        _check_open_milestone(state, request.milestone)
    new = new_deadline(state, request)
    if new <= workflow.now():
        raise ActionRejected("the new deadline must be in the future")
    if new - workflow.now() > MAX_DURATION:
        raise ActionRejected("the new deadline is more than ten years away")


def _check_open_instalment(state: OrderState, name: str | None) -> None:
    """An instalment's due date moves once it has fallen due after work started, until it is paid
    (one due on approval moves with the payment due date, ``payment_due``)."""
    bill = facts.instalment(state, name or "")
    if bill is None:
        known = ", ".join(b.name for b in state.order.instalments) or "none: the order has no payment schedule"
        raise ActionRejected(f"unknown instalment {name!r}; instalments: {known}")
    if bill.due == "approval":
        raise ActionRejected(f"instalment {bill.name!r} is due on approval: move payment_due instead")
    if bill.due_at is None:
        raise ActionRejected(f"instalment {bill.name!r} has not fallen due yet ({bill.due}); nothing to move")
    if bill.unpaid <= 0:
        raise ActionRejected(f"instalment {bill.name!r} is paid")


def current_deadline(state: OrderState, request: ExtendDeadlineInput) -> datetime:
    """The deadline an ``extend_deadline`` moves, as it stands."""
    if request.target == "instalment":
        bill = facts.require(facts.instalment(state, request.instalment or ""), "instalment")
        return facts.require(bill.due_at, "instalment due date")
    if request.target == "payment_due":
        return facts.require(state.payment_due_at, "payment due date")
    if request.target == "milestone":
        return facts.require(facts.milestone(state, request.milestone or ""), "milestone").due_at
    return facts.review_ends_at(state, state.order.deliveries[-1])


def new_deadline(state: OrderState, request: ExtendDeadlineInput) -> datetime:
    if request.new_due_at is not None:
        return request.new_due_at
    return current_deadline(state, request) + facts.require(request.extend_by, "extend_by or new_due_at")


def customer_changes(request: UpdateCustomerInput) -> dict[str, Any]:
    """The fields to change: one sent as null, or left out, keeps its value."""
    sent = request.model_dump(exclude_unset=True, exclude={"request_id"})
    return {name: value for name, value in sent.items() if value is not None}
