"""Actions: each one is a signal and an update of the same name, and takes one of these models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, model_validator

from workflows.models.confirmation import ConfirmationDraft
from workflows.models.evidence import Evidence
from workflows.models.fields import (
    Author,
    Currency,
    Duration,
    Email,
    Model,
    Money,
    OrderStatus,
    PaymentMethod,
    PositiveMoney,
    ShortText,
    Text,
    Url,
)

# --------------------------------------------------------------------------
# Actions: each one is a signal and an update of the same name
# --------------------------------------------------------------------------


class Action(Model):
    request_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="Caller-chosen id; an action repeated with the same id is applied once.",
    )
    # Set by the data converter when the payload did not validate, so that the
    # workflow can record the rejection instead of the SDK dropping a signal.
    _decode_error: str | None = PrivateAttr(default=None)
    _arrived_plain: bool = PrivateAttr(default=False)
    """Sent in clear text, not encrypted (``workflows.converter``): operations hear of it once."""


class AddNoteInput(Action):
    text: Text
    author: Author = "staff"
    author_name: ShortText | None = None


class UpdateCustomerInput(Action):
    name: ShortText | None = None
    email: Email | None = None
    company: ShortText | None = None
    phone: ShortText | None = None


class IssueConfirmationInput(Action):
    confirmation: ConfirmationDraft
    issued_by: ShortText | None = None


class ApproveInput(Action):
    version: Annotated[int, Field(ge=1)]
    evidence: Evidence | None = Field(
        default=None,
        exclude_if=lambda evidence: evidence is None,
        description="Who decided and how (the portal, the CLI or a back office says); the order completes it.",
    )


class RequestChangesInput(Action):
    version: Annotated[int, Field(ge=1)]
    comments: Text
    evidence: Evidence | None = Field(
        default=None,
        exclude_if=lambda evidence: evidence is None,
        description="Who decided and how (the portal, the CLI or a back office says); the order completes it.",
    )


class RecordPaymentInput(Action):
    amount: PositiveMoney
    currency: Currency | None = Field(
        default=None, description="The payment's currency; left out, the order's own. Another currency is held."
    )
    method: PaymentMethod = PaymentMethod.BANK_TRANSFER
    reference: ShortText = Field(description="Bank reference, Stripe PaymentIntent id, or, for an invoice, its id.")
    received_at: datetime | None = None


class PostUpdateInput(Action):
    text: Text
    milestone: ShortText | None = Field(default=None, description="Name of the milestone this update completes.")


class DeliverInput(Action):
    summary: Text
    links: list[Url] = Field(default_factory=list, max_length=20)
    access_instructions: Text | None = None


class AcceptInput(Action):
    comments: str | None = None
    round: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="The delivery round this answers (from its link); another round is refused."
    )
    evidence: Evidence | None = Field(
        default=None,
        exclude_if=lambda evidence: evidence is None,
        description="Who decided and how (the portal, the CLI or a back office says); the order completes it.",
    )


class RequestRevisionInput(Action):
    comments: Text
    round: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="The delivery round this answers (from its link); another round is refused."
    )
    evidence: Evidence | None = Field(
        default=None,
        exclude_if=lambda evidence: evidence is None,
        description="Who decided and how (the portal, the CLI or a back office says); the order completes it.",
    )


class SupportRequestInput(Action):
    subject: ShortText
    text: Text


class CancelInput(Action):
    reason: Text
    by: Author = "staff"


class ProvidePaymentMethodInput(Action):
    """A card the customer saved with Stripe (Elements or Checkout)."""

    stripe_customer_id: Annotated[str, Field(pattern=r"^cus_[A-Za-z0-9]+$")]
    payment_method_id: Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]+$")]


class PaymentFailedInput(Action):
    """A payment attempt failed outside the workflow (a Stripe webhook)."""

    method: PaymentMethod
    reference: ShortText
    reason: ShortText
    decline_code: str | None = None
    requires_action: bool = False
    hosted_url: Url | None = None


class PaymentEventInput(Action):
    """Something the payment provider reports that needs no decision: recorded in the timeline."""

    event: Literal["invoice_voided", "charge_refunded", "refund_failed"]
    reference: ShortText
    amount: Money | None = None
    detail: str = ""


class ExtendDeadlineInput(Action):
    """Operators move a running deadline; the waiting timer follows."""

    target: Literal["payment_due", "milestone", "review_period", "instalment"]
    milestone: ShortText | None = Field(default=None, description="Required when target is milestone.")
    instalment: ShortText | None = Field(
        default=None, description="Required when target is instalment: the name of a payment schedule's instalment."
    )
    new_due_at: datetime | None = Field(default=None, description="The new deadline (with a time zone).")
    extend_by: Duration | None = Field(default=None, description="Or: move the deadline by this much.")
    reason: ShortText = "changed by an operator"

    @model_validator(mode="after")
    def _one_way_to_say_when(self) -> ExtendDeadlineInput:
        if (self.new_due_at is None) == (self.extend_by is None):
            raise ValueError("give exactly one of new_due_at or extend_by")
        if self.target == "milestone" and not self.milestone:
            raise ValueError("milestone is required when target is milestone")
        if self.target == "instalment" and not self.instalment:
            raise ValueError("instalment is required when target is instalment")
        if self.new_due_at is not None and self.new_due_at.tzinfo is None:
            raise ValueError("new_due_at needs a time zone, for example 2026-12-24T12:00:00Z")
        return self


class ActionResult(Model):
    """What every update answers."""

    order_id: str
    status: OrderStatus
    applied: bool = Field(description="False when the request id had already been applied.")
    message: str = ""
