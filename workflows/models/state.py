"""How an order starts and what carries it on: ``StartOrderInput``, everything that
decides its future (``OrderState``) and what crosses continue-as-new."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, PrivateAttr, field_serializer, model_validator
from pydantic.json_schema import SkipJsonSchema

from workflows.models.actions import ActionResult, ProvidePaymentMethodInput
from workflows.models.activity_io import OrderPolicy
from workflows.models.confirmation import Customer
from workflows.models.fields import Channel, Model, OrderId, Text
from workflows.models.view import OrderView


class WaitingAction(Model):
    """A signal that arrived while the order was handing over to its next run."""

    action: str
    request: dict[str, Any]


class InvoicePhase(StrEnum):
    """Where the order's hosted invoice stands."""

    NONE = "none"  # no hosted invoice (bank transfer or card only, or Stripe failed to create it)
    PREPARING = "preparing"  # Stripe is creating it; the payment email waits briefly for it
    FOLLOWING = "following"  # still being created, and the payment email went without it: its link follows
    OPEN = "open"  # the customer can pay it
    CLOSED = "closed"  # paid or voided: nobody can pay it again


class SagaPhase(StrEnum):
    """Where the order's money stands."""

    COLLECTING = "collecting"  # money that arrives counts towards the order
    SETTLING = "settling"  # cancelled: waiting for what Stripe is still doing, voiding the invoice
    SETTLED = "settled"  # the cancellation's refund is worked out; money that arrives now is refunded on its own


def _invoice_id(order: Any) -> str | None:
    """The hosted invoice's id in an order, given as a model or as its JSON."""
    if isinstance(order, OrderView):
        return order.payment_instructions.invoice_id if order.payment_instructions else None
    if isinstance(order, dict):
        invoice_id = (order.get("payment_instructions") or {}).get("invoice_id")
        return str(invoice_id) if invoice_id is not None else None
    return None


class OrderState(Model):
    """Everything that decides an order's future, in one place.

    The workflow keeps it and changes it; continue-as-new carries it whole
    (``Continuation``), and the next run resumes from it. What a run knows only
    for itself (effects in flight, what the search attributes hold now) stays
    on the workflow.
    """

    order: OrderView
    policy: OrderPolicy | None = Field(default=None, description="The worker's default durations, loaded once.")
    applied: dict[str, ActionResult] = Field(
        default_factory=dict, description="Answers to request ids already applied, the most recent ones."
    )
    applied_by: dict[str, str] = Field(
        default_factory=dict, description="The update id that applied each request id an update applied."
    )
    fired: set[str] = Field(default_factory=set, description="Alarms that went off and must not again.")
    card: ProvidePaymentMethodInput | None = Field(default=None, description="The saved card, charged when due.")
    saved_card: ProvidePaymentMethodInput | None = Field(
        default=None,
        exclude_if=lambda card: card is None,
        description="The customer's latest card, kept to charge a payment schedule's later instalments on their dates.",
    )
    charge_seq: int = 0
    email_seq: int = 0
    reported_failures: set[str] = Field(default_factory=set, description="Refund failures operations heard of.")
    last_stripe_customer: str | None = None
    payment_requested_at: datetime | None = None
    payment_due_at: datetime | None = None
    last_update_at: datetime | None = None
    work_started_at: datetime | None = Field(
        default=None, exclude_if=lambda at: at is None, description="When the work started: milestones count from it."
    )
    invoice: InvoicePhase = Field(default=InvoicePhase.NONE, description="Where the hosted invoice stands.")
    saga: SagaPhase = Field(default=SagaPhase.COLLECTING, description="Where the order's money stands.")
    support_started: bool = False
    held_from: dict[str, int] = Field(default_factory=dict, description="Entries of each list left in earlier runs.")
    waiting: list[WaitingAction] = Field(
        default_factory=list, description="Signals that arrived during the handover: the next run applies them first."
    )
    plaintext_alerted: bool = Field(
        default=False, description="Operations were told that the order received payloads in clear text."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_the_old_flags(cls, data: Any) -> Any:
        # Runs carried before the phases existed had three flags instead
        # (invoice_closed, settled, invoice_follows); they still resume. The
        # third only mattered while an invoice was being created, which never
        # crosses a continue-as-new (the run drains first).
        if not isinstance(data, dict) or not data.keys() & {"invoice_closed", "settled", "invoice_follows"}:
            return data
        data = dict(data)
        closed, settled = data.pop("invoice_closed", False), data.pop("settled", False)
        data.pop("invoice_follows", None)
        if "invoice" not in data:
            has_invoice = _invoice_id(data.get("order")) is not None
            data["invoice"] = InvoicePhase.CLOSED if closed else InvoicePhase.OPEN if has_invoice else InvoicePhase.NONE
        data.setdefault("saga", SagaPhase.SETTLED if settled else SagaPhase.COLLECTING)
        return data

    @field_serializer("fired", "reported_failures")
    def _sorted(self, values: set[str]) -> list[str]:
        # Sorted, so that the same state always makes the same payload.
        return sorted(values)


class Continuation(Model):
    """What a run hands to its next run: the order's state, whole."""

    state: OrderState

    @model_validator(mode="before")
    @classmethod
    def _from_the_old_shape(cls, data: Any) -> Any:
        # Runs that continued as new before OrderState existed carried its
        # fields at the top level ({"order": ..., "applied": ...}); they still resume.
        if isinstance(data, dict) and "state" not in data and "order" in data:
            return {"state": data}
        return data


class StartOrderInput(Model):
    """The workflow's input: first contact from a customer."""

    order_id: OrderId
    customer: Customer
    channel: Channel = Channel.WEB_FORM
    message: Text
    # Set only by the order itself when its history grows long and it continues
    # as new; callers never send it, so it is left out of the JSON Schema.
    resume: SkipJsonSchema[Continuation | None] = None
    _decode_error: str | None = PrivateAttr(default=None)
    _arrived_plain: bool = PrivateAttr(default=False)
    """Sent in clear text, not encrypted (``workflows.converter``): operations hear of it once."""
