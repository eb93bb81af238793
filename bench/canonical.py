"""The canonical order the benchmark drives on both sides: its start, and its 13 actions with the emails each causes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Final

from pydantic import BaseModel

from workflows import names
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    ConfirmationDraft,
    Customer,
    DeliverInput,
    IssueConfirmationInput,
    LineItem,
    MessageKind,
    MilestoneTerm,
    PostUpdateInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    StartOrderInput,
    SupportRequestInput,
    Terms,
)

K = MessageKind

# Short enough that the canonical order completes in seconds on the real-time dev server.
SUPPORT_PERIOD: Final = timedelta(seconds=5)


CUSTOMER: Final = Customer(name="Bench Customer", email="bench@example.com", company="Bench GmbH", customer_ref="c-1")


def start_input(order_id: str) -> StartOrderInput:
    return StartOrderInput(
        order_id=order_id, customer=CUSTOMER, channel="web_form", message="We need our website redesigned."
    )


def draft(price: str = "4800.00") -> ConfirmationDraft:
    return ConfirmationDraft(
        title="Website redesign",
        currency="EUR",
        line_items=[LineItem(description="Website redesign", quantity=Decimal(1), unit_price=Decimal(price))],
        terms=Terms(
            payment_methods=["bank_transfer"],
            payment_due=timedelta(days=14),
            milestones=[MilestoneTerm(name="Design", due=timedelta(days=10))],
            estimated_delivery=timedelta(days=30),
            review_period=timedelta(days=7),
            support_period=SUPPORT_PERIOD,
        ),
    )


@dataclass(frozen=True)
class Step:
    action: str
    request: BaseModel
    emails: tuple[MessageKind, ...]


CONFIRM: Final = Step(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()), (K.CONFIRMATION_ISSUED,))
APPROVE_V1: Final = Step(names.APPROVE, ApproveInput(version=1), (K.PAYMENT_REQUESTED,))
PAY: Final = Step(
    names.RECORD_PAYMENT,
    RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"),
    (K.PAYMENT_RECEIVED, K.WORK_COMMENCED),
)

CANONICAL: Final = (
    Step(names.ADD_NOTE, AddNoteInput(text="Customer prefers calls in the morning."), ()),
    CONFIRM,
    Step(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Please add a blog."), (K.CHANGES_RECEIVED,)),
    Step(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("5200.00")), (K.CONFIRMATION_ISSUED,)),
    Step(names.APPROVE, ApproveInput(version=2), (K.PAYMENT_REQUESTED,)),
    Step(
        names.RECORD_PAYMENT,
        RecordPaymentInput(amount=Decimal("5200.00"), reference="TX-1"),
        (K.PAYMENT_RECEIVED, K.WORK_COMMENCED),
    ),
    Step(names.POST_UPDATE, PostUpdateInput(text="Designs done"), (K.PROGRESS_UPDATE,)),
    Step(names.POST_UPDATE, PostUpdateInput(text="Build started"), (K.PROGRESS_UPDATE,)),
    Step(names.DELIVER, DeliverInput(summary="Live on staging"), (K.DELIVERED,)),
    Step(names.REQUEST_REVISION, RequestRevisionInput(comments="Fix the footer"), (K.REVISION_RECEIVED,)),
    Step(names.DELIVER, DeliverInput(summary="Footer fixed"), (K.DELIVERED,)),
    Step(names.ACCEPT, AcceptInput(), (K.ACCEPTED, K.SUPPORT_OPENED)),
    Step(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="SSO fails"), (K.SUPPORT_REQUEST_ACK,)),
)
"""After the start (contact): the 13 actions; then the support period ends by itself."""
