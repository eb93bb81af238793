"""Moving a running deadline (``extend_deadline``): the date that moves, and who hears of it.

Which deadline may move when, and to what, is a rule (``rules.current_deadline`` and
``rules.new_deadline``); this applies it. The stage's timer follows because the workflow
wakes its alarm loop afterwards (an updatable timer).
"""

from __future__ import annotations

from datetime import UTC

from temporalio import workflow

from workflows import email_contexts as contexts
from workflows import facts, rules
from workflows.details import log
from workflows.facts import iso
from workflows.mail import Mail
from workflows.models import ExtendDeadlineInput, MessageKind, OrderState
from workflows.models import TimelineKind as TL

# workflow.patched id: orders recorded before it moved the payment date without telling the customer.
NEW_DUE_DATE_EMAILED = "payment-due-extension-emailed-to-customer"


def move(state: OrderState, mail: Mail, request: ExtendDeadlineInput) -> None:
    """Set the new date where the deadline lives, tell the customer of a new payment date, and log it."""
    old, new = rules.current_deadline(state, request), rules.new_deadline(state, request)
    if request.target == "payment_due":
        state.payment_due_at = new
        if workflow.patched(NEW_DUE_DATE_EMAILED):
            # The customer is held to the new date, so they hear of it.
            mail.email(MessageKind.PAYMENT_DUE_CHANGED, **contexts.payment_context(state), previous_due_at=iso(old))
    elif request.target == "milestone":
        milestone = facts.require(facts.milestone(state, request.milestone or ""), "milestone")
        milestone.due_at = new
        milestone.overdue_alerted = False
    elif request.target == "instalment":
        # Its reminders start again from the new date, and it is no longer overdue (the saga recomputes).
        bill = facts.require(facts.instalment(state, request.instalment or ""), "instalment")
        bill.due_at = new
        bill.overdue_alerted = False
        mail.email(MessageKind.INSTALMENT_DUE, **contexts.instalment_context(state, bill), previous_due_at=iso(old))
    else:
        state.order.deliveries[-1].review_ends_at = new
    what = {"milestone": request.milestone, "instalment": f"instalment {request.instalment}"}.get(
        request.target, request.target.replace("_", " ")
    )
    log(state, TL.DEADLINE_CHANGED, what=what, old=old.astimezone(UTC), new=new.astimezone(UTC), reason=request.reason)
