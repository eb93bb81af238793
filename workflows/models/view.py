"""The order as the ``status`` query shows it, its history pages and its final result."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from workflows.models.certificate import Certificate
from workflows.models.confirmation import Confirmation, Customer, DocumentRef
from workflows.models.evidence import Evidence
from workflows.models.fields import Author, Channel, Model, Money, OrderStatus, PaymentMethod
from workflows.models.timeline import TimelineEvent

# --------------------------------------------------------------------------
# The order as the ``status`` query shows it
# --------------------------------------------------------------------------


class Note(Model):
    at: datetime
    author: Author
    author_name: str | None = None
    text: str


class Payment(Model):
    at: datetime
    amount: Money
    method: PaymentMethod
    reference: str
    currency: str | None = None
    receipt: DocumentRef | None = Field(
        default=None,
        # Absent from payments counted before receipts, so their histories and payloads read as they did.
        exclude_if=lambda document: document is None,
        description="The receipt PDF its payment email carried, as stored (workflows/receipts.py).",
    )


class HeldPayment(Model):
    """Money the order received but could not count: before approval, after it
    closed, or in the wrong currency or for another invoice. Operations decide."""

    at: datetime
    amount: Money
    currency: str | None = None
    method: PaymentMethod
    reference: str
    reason: str
    status: Literal["needs_review", "refunded", "refund_failed"] = "needs_review"


class Refund(Model):
    at: datetime
    amount: Money
    method: PaymentMethod
    status: str
    refund_id: str | None = None
    failed_amount: Money = Decimal("0.00")
    overpaid_by: str | None = Field(
        default=None,
        description="The payment (its reference) whose overpaid part this refund gave back; it no longer counts.",
    )


class Milestone(Model):
    name: str
    due_at: datetime
    completed_at: datetime | None = None
    overdue_alerted: bool = False


class ProgressUpdate(Model):
    at: datetime
    text: str
    milestone: str | None = None


class Delivery(Model):
    at: datetime
    round: int
    summary: str
    links: list[str] = Field(default_factory=list)
    access_instructions: str | None = None
    review_ends_at: datetime | None = Field(
        default=None,
        description=(
            "When the customer's review of this delivery ends (the date the delivered email gives). The order"
            " stores it only when an operator moved it; the status query always fills it in."
        ),
    )
    decision: Evidence | None = Field(
        default=None,
        exclude_if=lambda evidence: evidence is None,
        description="Who accepted this delivery or asked for a revision, and how.",
    )


class Revision(Model):
    at: datetime
    round: int
    comments: str


class SupportWindow(Model):
    opened_at: datetime
    ends_at: datetime
    scope: str
    ticket: str | None = None
    closed_at: datetime | None = None


class SupportRequest(Model):
    at: datetime
    subject: str
    text: str


class Deadline(Model):
    """A date and what happens then, in words."""

    at: datetime
    what: str


class RejectedAction(Model):
    at: datetime
    action: str
    request_id: str | None = None
    reason: str
    via: Literal["signal", "update"] = "signal"


class FailedEmail(Model):
    at: datetime
    kind: str
    audience: str
    message_key: str
    error: str
    error_type: str | None = None


class ChargeAttempt(Model):
    at: datetime
    attempt: int
    status: str
    payment_intent_id: str | None = None
    decline_code: str | None = None
    message: str | None = None


CancelledBy = Literal["staff", "customer", "system", "operator"]
"""``operator``: a cancellation requested through Temporal (the UI's Cancel, ``temporal workflow cancel``)."""


class Cancellation(Model):
    at: datetime
    by: CancelledBy
    reason: str


class InstalmentStatus(StrEnum):
    SCHEDULED = "scheduled"  # its event has not happened yet
    OPEN = "open"  # fallen due, not yet paid in full, its due date not passed
    OVERDUE = "overdue"  # past its due date and not paid in full
    PAID = "paid"


class InstalmentBill(Model):
    """One instalment of the approved payment schedule, as it is billed and paid."""

    number: int = Field(description="Its place in the schedule, from 1.")
    name: str
    due: str = Field(description="What it falls due on: approval, milestone:<name>, delivery, acceptance or P30D.")
    amount: Money
    paid: Money = Field(default=Decimal("0.00"), description="What payments, applied oldest first, put towards it.")
    status: InstalmentStatus = InstalmentStatus.SCHEDULED
    reference: str = Field(description="The bank reference the customer quotes for it.")
    falls_due_at: datetime | None = Field(
        default=None, description="For a time after approval: the moment it falls due; otherwise its event decides."
    )
    fell_due_at: datetime | None = Field(default=None, description="When its event happened.")
    due_at: datetime | None = Field(default=None, description="The date to pay it by: its event plus payment_due.")
    invoice_id: str | None = Field(default=None, description="Its own hosted invoice, where invoices are offered.")
    invoice_url: str | None = None
    invoice_amount: Money | None = Field(default=None, description="What its hosted invoice asks for.")
    invoice_closed: bool = Field(default=False, description="Its hosted invoice was paid or voided.")
    overdue_alerted: bool = Field(default=False, description="Operations were told after its last reminder.")
    reminded_at: datetime | None = None

    @property
    def unpaid(self) -> Decimal:
        return self.amount - self.paid


class PaymentInstructions(Model):
    """What the customer needs in order to pay, per allowed method."""

    reference: str
    bank_transfer: dict[str, str] | None = None
    invoice_url: str | None = None
    invoice_pdf: str | None = None
    invoice_id: str | None = None
    invoice_amount: Money | None = Field(default=None, description="What the hosted invoice asks for.")
    invoice_pending: bool = Field(default=False, description="The invoice is still being created; its link follows.")


class OrderView(Model):
    order_id: str
    status: OrderStatus
    customer: Customer
    channel: Channel
    created_at: datetime
    first_message: str
    notes: list[Note] = Field(default_factory=list)
    confirmations: list[Confirmation] = Field(default_factory=list)
    version: int | None = Field(default=None, description="Latest issued confirmation version.")
    approved_version: int | None = None
    currency: str | None = None
    total: Money | None = None
    payment_reference: str | None = None
    payment_instructions: PaymentInstructions | None = None
    payment_method_on_file: str | None = Field(default=None, description="Stripe PaymentMethod id, never card data.")
    charge_attempts: list[ChargeAttempt] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list)
    amount_paid: Money = Decimal("0.00")
    balance_due: Money = Decimal("0.00")
    overpaid: Money = Decimal("0.00")
    instalments: list[InstalmentBill] = Field(
        default_factory=list,
        exclude_if=lambda bills: not bills,
        description=(
            "The approved payment schedule's instalments, when it has one; then balance_due is what has fallen due"
            " and is unpaid, and the rest of the total falls due with its events."
        ),
    )
    refunds: list[Refund] = Field(default_factory=list)
    held_payments: list[HeldPayment] = Field(
        default_factory=list, description="Money received but not counted towards the order; operations were told."
    )
    milestones: list[Milestone] = Field(default_factory=list)
    updates: list[ProgressUpdate] = Field(default_factory=list)
    deliveries: list[Delivery] = Field(default_factory=list)
    revisions: list[Revision] = Field(default_factory=list)
    support: SupportWindow | None = None
    support_requests: list[SupportRequest] = Field(default_factory=list)
    cancellation: Cancellation | None = None
    closed_at: datetime | None = Field(
        default=None, description="When the order closed (completed, cancelled or expired); none while it is open."
    )
    payment_due_at: datetime | None = Field(
        default=None, description="The payment due date the customer was given, including any extension."
    )
    payment_cancel_at: datetime | None = Field(
        default=None, description="When an order still unpaid is cancelled: the due date plus the grace period."
    )
    next_deadline: Deadline | None = Field(
        default=None,
        description=(
            "The next date someone is held to: approve a confirmation, pay, a milestone, the end of a review or of"
            " support. Recomputed whenever the order changes; none while it is staff's turn with no date."
        ),
    )
    next_alarm: Deadline | None = Field(
        default=None,
        description=(
            "Internal: the order's next timer (a reminder, a digest, a deadline), what OrderNextDeadline holds."
        ),
    )
    timeline: list[TimelineEvent] = Field(default_factory=list)
    rejected: list[RejectedAction] = Field(default_factory=list)
    failed_emails: list[FailedEmail] = Field(default_factory=list)
    older: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "How many earlier entries of each list this answer leaves out, to stay small however long the order"
            " has lived; read them with the history_page query (orders status ID --all)."
        ),
    )
    runs: int = Field(default=1, description="How many runs (continue-as-new) the order's workflow has had.")
    certificates: list[Certificate] = Field(
        default_factory=list,
        # Left out of the JSON until there is one, so older orders read exactly as before.
        exclude_if=lambda certificates: not certificates,
        description="The evidence certificates the order issued, oldest first (orders evidence ID).",
    )


HistoryKind = Literal["timeline", "notes", "updates", "support_requests", "rejected", "failed_emails"]
HISTORY_KINDS: tuple[HistoryKind, ...] = (
    "timeline",
    "notes",
    "updates",
    "support_requests",
    "rejected",
    "failed_emails",
)


class HistoryPageInput(Model):
    """Ask an order for part of one of its long lists, oldest first."""

    kind: HistoryKind
    start: Annotated[int, Field(ge=0)] = Field(default=0, description="Position of the first entry, from 0.")
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class HistoryPage(Model):
    kind: HistoryKind
    start: int = Field(description="Position of the first entry returned.")
    items: list[dict[str, Any]]
    total: int = Field(description="Entries of this kind over the order's whole life.")
    held_from: int = Field(description="This run holds entries from this position on; older ones are in earlier runs.")


class OrderResult(Model):
    """What a finished order's workflow returns: a compact summary. The whole
    order stays readable through the ``status`` query."""

    order_id: str
    status: OrderStatus
    currency: str | None = None
    total: Money | None = None
    amount_paid: Money = Decimal("0.00")
    refunded: Money = Decimal("0.00")
    held_payments: int = 0
    approved_version: int | None = None
    deliveries: int = 0
    revisions: int = 0
    support_requests: int = 0
    cancellation: Cancellation | None = None
    completed_at: datetime
