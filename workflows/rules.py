"""The rules: which action is allowed in which stage, and with what checks.

``check`` raises ``ActionRejected`` naming the problem, or returns when the
action fits the order as it is. It only reads the state; the workflow applies
the action afterwards. An update's validator and a signal's handler run the
same check, so both refuse alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

from workflows import facts, names
from workflows.models import (
    MAX_DURATION,
    AcceptInput,
    Action,
    ApproveInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    OrderState,
    OrderStatus,
    PaymentMethod,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RequestChangesInput,
    RequestRevisionInput,
    UpdateCustomerInput,
)

S = OrderStatus

# Which statuses each action may arrive in.
ALLOWED: dict[str, frozenset[OrderStatus]] = {
    names.ADD_NOTE: frozenset(s for s in S if not s.is_final),
    names.UPDATE_CUSTOMER: frozenset(s for s in S if not s.is_final),
    names.ISSUE_CONFIRMATION: frozenset({S.DISCUSSING, S.AWAITING_APPROVAL}),
    names.APPROVE: frozenset({S.AWAITING_APPROVAL}),
    names.REQUEST_CHANGES: frozenset({S.AWAITING_APPROVAL}),
    # Money is never refused, whatever the status: what cannot be counted
    # (before approval, after the order closed) is held and sent to operations.
    names.RECORD_PAYMENT: frozenset(S),
    names.POST_UPDATE: frozenset({S.IN_PROGRESS}),
    names.DELIVER: frozenset({S.IN_PROGRESS}),
    names.ACCEPT: frozenset({S.AWAITING_ACCEPTANCE}),
    names.REQUEST_REVISION: frozenset({S.AWAITING_ACCEPTANCE}),
    names.REQUEST_SUPPORT: frozenset({S.IN_SUPPORT}),
    names.CANCEL: frozenset({S.DISCUSSING, S.AWAITING_APPROVAL, S.AWAITING_PAYMENT, S.IN_PROGRESS}),
    # A card may be saved before approval; it is charged once payment is due.
    names.PROVIDE_PAYMENT_METHOD: frozenset({S.DISCUSSING, S.AWAITING_APPROVAL, S.AWAITING_PAYMENT}),
    names.PAYMENT_FAILED: frozenset({S.AWAITING_PAYMENT}),
    # Voids and refunds are reported after a cancellation, while it settles, and
    # a refund can fail days after the order closed.
    names.PAYMENT_EVENT: frozenset(S),
    names.EXTEND_DEADLINE: frozenset({S.AWAITING_PAYMENT, S.IN_PROGRESS, S.AWAITING_ACCEPTANCE}),
}

# Actions whose effects need the worker's default durations, which the order
# loads in its first task.
NEEDS_POLICY = frozenset({names.DELIVER, names.ACCEPT, names.EXTEND_DEADLINE})

# The payment methods that only Stripe can take.
NEEDS_STRIPE = frozenset({PaymentMethod.CARD, PaymentMethod.INVOICE})

# Which deadline may move in which status.
DEADLINE_STATUS: dict[str, OrderStatus] = {
    "payment_due": S.AWAITING_PAYMENT,
    "milestone": S.IN_PROGRESS,
    "review_period": S.AWAITING_ACCEPTANCE,
}


class ActionRejected(Exception):
    """An action that does not fit the order; the message says why."""


def check(state: OrderState, action: str, request: Action, *, charging: bool) -> None:
    """Raise ActionRejected naming the problem, or return if the action fits.

    ``charging``: a card charge is in flight (the saga knows; the state does not).
    """
    status = state.order.status
    if request._decode_error:
        raise ActionRejected(f"invalid {action} payload: {request._decode_error}")
    if status not in ALLOWED[action]:
        raise ActionRejected(f"cannot {action.replace('_', ' ')} while the order is {status}")
    if action in NEEDS_POLICY and state.policy is None:
        # Only reachable when a burst of actions lands in the order's very first task.
        raise ActionRejected("the order is still starting up; send the action again in a moment")
    if action == names.PAYMENT_FAILED and state.payment_due_at is None:
        raise ActionRejected("no payment has been requested yet, so no payment can have failed")
    if isinstance(request, (ApproveInput, RequestChangesInput)):
        current = facts.latest(state).version
        if request.version != current:
            raise ActionRejected(
                f"version {request.version} is not the current confirmation; the current version is {current}"
            )
    if isinstance(request, IssueConfirmationInput):
        check_methods_available(state, request.confirmation.terms.payment_methods)
    if isinstance(request, ProvidePaymentMethodInput):
        _check_card(state, charging)
    if isinstance(request, PostUpdateInput) and request.milestone is not None:
        _check_open_milestone(state, request.milestone)
    if isinstance(request, ExtendDeadlineInput):
        check_deadline_change(state, request)
    if isinstance(request, UpdateCustomerInput) and not customer_changes(request):
        raise ActionRejected("update customer needs at least one field to change (null keeps a field as it is)")
    if isinstance(request, (AcceptInput, RequestRevisionInput)) and request.round is not None:
        current_round = state.order.deliveries[-1].round
        if request.round != current_round:
            raise ActionRejected(
                f"delivery round {request.round} is not the current delivery; the current round is {current_round}"
            )


def _check_card(state: OrderState, charging: bool) -> None:
    check_methods_available(state, [PaymentMethod.CARD])
    confirmation = facts.approved_or_none(state) or (facts.latest(state) if state.order.confirmations else None)
    if confirmation is not None and PaymentMethod.CARD not in confirmation.terms.payment_methods:
        allowed = ", ".join(confirmation.terms.payment_methods)
        raise ActionRejected(f"the terms do not allow card payment; allowed methods: {allowed}")
    if charging:
        raise ActionRejected("a card charge is already in progress; wait for its outcome")


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
    if status is not DEADLINE_STATUS[request.target]:
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


def current_deadline(state: OrderState, request: ExtendDeadlineInput) -> datetime:
    """The deadline an ``extend_deadline`` moves, as it stands."""
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
