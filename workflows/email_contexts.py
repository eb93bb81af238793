"""What each email says: the context every template is given, from the order's state.

The workflow picks the message and when it goes; these functions work out what
it contains. They only read the state (and the workflow's clock, for "overdue").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows import facts, instalments
from workflows.facts import iso
from workflows.models import Confirmation, Delivery, InstalmentBill, OrderState, PaymentMethod
from workflows.schedule import schedule_rows

# How long the pay link in an instalment's email stays valid after its due date (or after a late reminder).
PAY_LINK_LIFETIME = timedelta(days=30)

# The terms whose effective value (the term, else the worker's default) a confirmation email shows.
EFFECTIVE_TERMS = ("payment_due", "payment_grace", "review_period", "support_period", "confirmation_expiry")


def order_context(state: OrderState) -> dict[str, Any]:
    """What every email carries about the order."""
    o = state.order
    return {
        "order_id": o.order_id,
        "customer": o.customer.model_dump(mode="json", exclude={"customer_ref"}),
        "status": o.status.value,
        "currency": o.currency,
        "total": str(o.total) if o.total is not None else None,
        "version": o.version,
        "payment_reference": o.payment_reference,
    }


def confirmation_data(confirmation: Confirmation) -> dict[str, Any]:
    """The confirmation as its emails show it: each line with its amount, and each
    instalment of a payment schedule (when there is one) with its amount."""
    data = confirmation.model_dump(mode="json")
    data["line_items"] = [
        {**item.model_dump(mode="json"), "amount": str(item.amount)} for item in confirmation.line_items
    ]
    schedule = confirmation.terms.payment_schedule
    if schedule is not None:
        data["terms"]["payment_schedule"] = schedule_rows(confirmation.amount_total, confirmation.currency, schedule)
    return data


def confirmation_context(state: OrderState, confirmation: Confirmation) -> dict[str, Any]:
    data = confirmation_data(confirmation)
    effective = {name: facts.iso_duration(facts.term(state, name, confirmation)) for name in EFFECTIVE_TERMS}
    return {
        "confirmation": data,
        "effective": effective,
        "expires_at": iso(facts.confirmation_expires_at(state, confirmation)),
    }


def payment_context(state: OrderState) -> dict[str, Any]:
    due = facts.require(state.payment_due_at, "payment due date")
    instructions = state.order.payment_instructions
    return {
        "amount_due": str(state.order.balance_due),
        "currency": state.order.currency,
        "due_at": iso(due),
        "cancel_at": iso(due + facts.term(state, "payment_grace")),
        "overdue": workflow.now() >= due,
        "methods": [m.value for m in facts.approved(state).terms.payment_methods],
        "instructions": instructions.model_dump(mode="json") if instructions else None,
        **schedule_context(state),
    }


def schedule_context(state: OrderState) -> dict[str, Any]:
    """The schedule's instalments as they stand, for an order with one (nothing otherwise)."""
    bills = state.order.instalments
    return {"instalments": [instalments.row(bill) for bill in bills]} if bills else {}


def instalment_context(state: OrderState, bill: InstalmentBill) -> dict[str, Any]:
    """An instalment that fell due after work started: what it is, how to pay it, and whether the
    saved card will be charged on its due date (``card_charge_at``)."""
    due = facts.require(bill.due_at, "instalment due date")
    methods = facts.approved(state).terms.payment_methods
    policy = facts.require(state.policy, "policy")
    now = workflow.now()
    card_saved = state.saved_card is not None and PaymentMethod.CARD in methods
    return {
        "instalment": instalments.row(bill),
        **schedule_context(state),
        "currency": state.order.currency,
        "amount_due": str(bill.unpaid),
        "due_at": iso(due),
        "overdue": now >= due,
        "methods": [m.value for m in methods],
        "instructions": {
            "reference": bill.reference,
            "bank_transfer": policy.bank_transfer if PaymentMethod.BANK_TRANSFER in methods else None,
            "invoice_url": bill.invoice_url,
        },
        "card_charge_at": iso(due) if card_saved else None,
        "pay_link_until": iso(max(due, now) + PAY_LINK_LIFETIME),
    }


def balance_dates(state: OrderState) -> dict[str, Any]:
    """When the rest of a part-paid order is due, and when it would be cancelled (the pay link's expiry)."""
    due = facts.require(state.payment_due_at, "payment due date")
    return {"due_at": iso(due), "cancel_at": iso(due + facts.term(state, "payment_grace"))}


def milestones_context(state: OrderState) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json", include={"name", "due_at", "completed_at"}) for m in state.order.milestones]


def delivery_context(state: OrderState, delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery": delivery.model_dump(mode="json"),
        "review_ends_at": iso(facts.review_ends_at(state, delivery)),
        "deemed_acceptance": facts.approved(state).terms.deemed_acceptance,
    }


def support_context(state: OrderState) -> dict[str, Any]:
    window = state.order.support
    return window.model_dump(mode="json") if window else {}
