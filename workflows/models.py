"""Every message that crosses the workflow boundary, one pydantic model each.

Models carry their own validation, so a bad payload is refused with pydantic's
own wording before it reaches a running order. Business rules that depend on
the order's state (the right status, the current version, a known milestone)
live in the workflow.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from workflows.money import ISO_4217_CURRENCIES, amount_problem

# --------------------------------------------------------------------------
# Shared field types
# --------------------------------------------------------------------------

EMAIL_PATTERN = r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}$"
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


JOINERS: Final = frozenset({"\u200c", "\u200d"})
"""Zero-width non-joiner and joiner: part of how Persian and Indic names are
spelled, so they pass between two letters; anywhere else they only hide."""


def _visible(value: str) -> str:
    """Refuse control characters (Cc: newlines, escapes) and invisible format
    characters (Cf: bidi overrides and isolates, zero-width spaces, BOM).

    Short texts end up in email headers (``To: "name" <address>``) and in
    one-line listings, where a U+202E reverses what a reader sees and a newline
    starts a new header.
    """
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if category not in ("Cc", "Cf"):
            continue
        if char in JOINERS and 0 < index < len(value) - 1 and _letter(value[index - 1]) and _letter(value[index + 1]):
            continue
        name = unicodedata.name(char, "control character")
        kind = "a control character" if category == "Cc" else "an invisible formatting character"
        raise ValueError(f"contains {kind} (U+{ord(char):04X} {name}); remove it")
    return value


def _letter(char: str) -> bool:
    return unicodedata.category(char)[0] in ("L", "M")


def _ascii_digits(value: Any) -> Any:
    """Python's ``Decimal`` reads any script's digits (Arabic-Indic ``"\\u0661\\u0660\\u0660"`` is 100); an
    amount a person cannot check at a glance is refused."""
    if isinstance(value, str) and not value.isascii():
        raise ValueError("write amounts with the digits 0-9, a '.' for decimals and no other characters")
    return value


CENTS = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    """``1e2`` is stored as ``100.00``, never ``1E+2``."""
    return value.quantize(CENTS)


def _plain(value: Decimal) -> Decimal:
    """A quantity without an exponent: ``2E+1`` is ``20``."""
    return value.quantize(Decimal(1)) if int(value.as_tuple().exponent) > 0 else value


def _iso_currency(value: str) -> str:
    if value not in ISO_4217_CURRENCIES:
        raise ValueError(f"{value} is not an ISO 4217 currency code")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
"""Free text that must say something: blank or whitespace-only is refused."""

ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_visible)
]
"""One line: names, subjects, references. No control or invisible characters."""
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254), AfterValidator(_visible)]
OrderId = Annotated[str, Field(pattern=ORDER_ID_PATTERN)]
Money = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(max_digits=14, decimal_places=2), AfterValidator(_two_places)
]
PositiveMoney = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(gt=0, max_digits=14, decimal_places=2), AfterValidator(_two_places)
]
NonNegativeMoney = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(ge=0, max_digits=14, decimal_places=2), AfterValidator(_two_places)
]
Quantity = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(gt=0, max_digits=10, decimal_places=3), AfterValidator(_plain)
]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", json_schema_extra={"enum": sorted(ISO_4217_CURRENCIES)}),
    AfterValidator(_iso_currency),
]
"""An active ISO 4217 code of real money (``workflows/money.py``)."""
Url = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]
MAX_DURATION = timedelta(days=3660)
Duration = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_DURATION)]
"""ISO 8601 on the wire, for example ``P14D`` or ``PT2H``; at most ten years."""
MAX_TOTAL = Decimal("999999999999.99")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------


class OrderStatus(StrEnum):
    DISCUSSING = "DISCUSSING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    IN_PROGRESS = "IN_PROGRESS"
    AWAITING_ACCEPTANCE = "AWAITING_ACCEPTANCE"
    IN_SUPPORT = "IN_SUPPORT"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.EXPIRED})


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    WEB_FORM = "web_form"
    OTHER = "other"


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    INVOICE = "invoice"


Author = Literal["staff", "customer"]


class ConfirmationState(StrEnum):
    ISSUED = "issued"
    CHANGES_REQUESTED = "changes_requested"
    SUPERSEDED = "superseded"
    APPROVED = "approved"
    EXPIRED = "expired"


# --------------------------------------------------------------------------
# Starting an order (seed 1.1)
# --------------------------------------------------------------------------


class Customer(Model):
    name: ShortText
    email: Email
    company: ShortText | None = None
    phone: ShortText | None = None
    customer_ref: OrderId | None = Field(
        default=None,
        description="Opaque customer id from the CRM; the only customer datum put in search attributes.",
    )


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


# --------------------------------------------------------------------------
# The order confirmation (seed 1.3)
# --------------------------------------------------------------------------


class LineItem(Model):
    description: ShortText
    quantity: Quantity = Decimal(1)
    unit_price: NonNegativeMoney

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))


class MilestoneTerm(Model):
    name: ShortText
    due: Duration = Field(description="Offset from the start of work, ISO 8601.")


class Terms(Model):
    """Every term of the deal. A duration left out takes the worker's default."""

    payment_methods: list[PaymentMethod] = Field(default_factory=lambda: [PaymentMethod.BANK_TRANSFER], min_length=1)
    payment_due: Duration | None = None
    payment_grace: Duration | None = None
    milestones: list[MilestoneTerm] = Field(default_factory=list, max_length=50)
    estimated_delivery: Duration | None = None
    review_period: Duration | None = None
    deemed_acceptance: bool = True
    support_period: Duration | None = None
    support_scope: ShortText = "Questions and defect fixes by email"
    confirmation_expiry: Duration | None = None
    reminder_interval: Duration | None = Field(
        default=None, description="How long after a confirmation is issued the customer is reminded."
    )
    update_interval: Duration | None = Field(
        default=None, description="Longest silence during the work before a digest goes out."
    )
    cancellation_fee: NonNegativeMoney = Decimal("0.00")
    other_terms: list[ShortText] = Field(default_factory=list, max_length=50)

    @field_validator("milestones")
    @classmethod
    def _milestone_names_differ(cls, milestones: list[MilestoneTerm]) -> list[MilestoneTerm]:
        # Updates name the milestone they complete: a second "Design" could never be completed.
        seen: dict[str, str] = {}
        for milestone in milestones:
            key = milestone.name.casefold()
            if key in seen:
                raise ValueError(f"two milestones are called {seen[key]!r}; give each milestone its own name")
            seen[key] = milestone.name
        return milestones


class ConfirmationDraft(Model):
    """What staff write: the order confirmation file of ``orders confirm``."""

    title: ShortText | None = None
    currency: Currency = "EUR"
    line_items: list[LineItem] = Field(min_length=1, max_length=100)
    terms: Terms = Field(default_factory=Terms)

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.line_items), Decimal("0.00"))

    def _uncarried_amounts(self) -> list[str]:
        """Amounts the currency cannot carry, refused when issued, not days later when the charge
        fails. A line's amount and the total are named only when no price explains them."""
        problems: list[str] = []
        for n, item in enumerate(self.line_items):
            for field, amount in (
                (f"line_items.{n}.unit_price", item.unit_price),
                (f"line_items.{n}.amount", item.amount),
            ):
                problem = amount_problem(amount, self.currency)
                if problem:
                    problems.append(f"{field}: {problem}")
                    break
        for field, amount in (("total", self.total), ("terms.cancellation_fee", self.terms.cancellation_fee)):
            problem = amount_problem(amount, self.currency)
            if problem and not (field == "total" and problems):
                problems.append(f"{field}: {problem}")
        return problems

    @model_validator(mode="after")
    def _amounts_fit(self) -> ConfirmationDraft:
        """Every problem with the amounts at once, each naming its field: a staff member
        fixing a file should not discover them one run at a time."""
        problems: list[str] = []
        if self.total > MAX_TOTAL:
            problems.append(f"the total {self.total} is larger than {MAX_TOTAL}")
        if self.terms.cancellation_fee > self.total:
            problems.append(
                f"terms.cancellation_fee: the cancellation fee {self.terms.cancellation_fee} is more than "
                f"the total {self.total}"
            )
        problems += self._uncarried_amounts()
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Confirmation(ConfirmationDraft):
    """One issued version of the order confirmation."""

    version: int
    issued_at: datetime
    issued_by: str | None = None
    amount_total: Money
    state: ConfirmationState = ConfirmationState.ISSUED
    comments: str | None = None
    comments_at: datetime | None = Field(default=None, description="When the customer asked for changes.")


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


class RequestChangesInput(Action):
    version: Annotated[int, Field(ge=1)]
    comments: Text


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


class RequestRevisionInput(Action):
    comments: Text
    round: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="The delivery round this answers (from its link); another round is refused."
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

    target: Literal["payment_due", "milestone", "review_period"]
    milestone: ShortText | None = Field(default=None, description="Required when target is milestone.")
    new_due_at: datetime | None = Field(default=None, description="The new deadline (with a time zone).")
    extend_by: Duration | None = Field(default=None, description="Or: move the deadline by this much.")
    reason: ShortText = "changed by an operator"

    @model_validator(mode="after")
    def _one_way_to_say_when(self) -> ExtendDeadlineInput:
        if (self.new_due_at is None) == (self.extend_by is None):
            raise ValueError("give exactly one of new_due_at or extend_by")
        if self.target == "milestone" and not self.milestone:
            raise ValueError("milestone is required when target is milestone")
        if self.new_due_at is not None and self.new_due_at.tzinfo is None:
            raise ValueError("new_due_at needs a time zone, for example 2026-12-24T12:00:00Z")
        return self


class ActionResult(Model):
    """What every update answers."""

    order_id: str
    status: OrderStatus
    applied: bool = Field(description="False when the request id had already been applied.")
    message: str = ""


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


class TimelineEvent(Model):
    at: datetime
    event: str
    detail: str = ""


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
    fired: set[str] = Field(default_factory=set, description="Alarms that went off and must not again.")
    card: ProvidePaymentMethodInput | None = Field(default=None, description="The saved card, charged when due.")
    charge_seq: int = 0
    email_seq: int = 0
    reported_failures: set[str] = Field(default_factory=set, description="Refund failures operations heard of.")
    last_stripe_customer: str | None = None
    payment_requested_at: datetime | None = None
    payment_due_at: datetime | None = None
    last_update_at: datetime | None = None
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


# --------------------------------------------------------------------------
# Activity inputs and outputs
# --------------------------------------------------------------------------


class OrderPolicy(Model):
    """Default durations, read from the worker's configuration once per order."""

    confirmation_reminder: Duration = timedelta(days=3)
    confirmation_expiry: Duration = timedelta(days=14)
    payment_due: Duration = timedelta(days=14)
    payment_reminder_before: Duration = timedelta(days=3)
    payment_grace: Duration = timedelta(days=7)
    update_interval: Duration = timedelta(days=7)
    review_period: Duration = timedelta(days=7)
    acceptance_reminder_before: Duration = timedelta(days=2)
    support_period: Duration = timedelta(days=30)
    support_reminder_before: Duration = timedelta(days=7)
    bank_transfer: dict[str, str] | None = Field(
        default=None, description="The company's bank details, given to customers who may pay by bank transfer."
    )
    run_event_budget: Annotated[int, Field(ge=200, le=40_000)] = Field(
        default=8_000, description="History events after which an order continues as new (ORDERS_RUN_EVENT_BUDGET)."
    )
    # True in histories recorded before the field existed: they never refused for it.
    stripe: bool = Field(
        default=True,
        description="Whether the worker can take card and hosted-invoice payments (STRIPE_API_KEY was set)"
        " when the order started.",
    )
    plaintext_alerts: bool = Field(
        default=False,
        description="The worker encrypts: an order that receives a payload in clear text tells operations, once.",
    )


class Audience(StrEnum):
    CUSTOMER = "customer"
    OPERATIONS = "operations"
    SUPPORT = "support"


class MessageKind(StrEnum):
    CONTACT_ACK = "contact_ack"
    CONFIRMATION_ISSUED = "confirmation_issued"
    CONFIRMATION_REMINDER = "confirmation_reminder"
    CONFIRMATION_EXPIRED = "confirmation_expired"
    CHANGES_RECEIVED = "changes_received"
    PAYMENT_REQUESTED = "payment_requested"
    PAYMENT_REMINDER = "payment_reminder"
    PAYMENT_OVERDUE_CANCELLED = "payment_overdue_cancelled"
    PAYMENT_RECEIVED = "payment_received"
    PAYMENT_DUE_CHANGED = "payment_due_changed"
    OVERPAYMENT_ALERT = "overpayment_alert"
    PLAINTEXT_RECEIVED = "plaintext_received"
    OVERPAYMENT_REFUNDED = "overpayment_refunded"
    WORK_COMMENCED = "work_commenced"
    PROGRESS_UPDATE = "progress_update"
    PROGRESS_DIGEST = "progress_digest"
    MILESTONE_OVERDUE = "milestone_overdue"
    DELIVERED = "delivered"
    ACCEPTANCE_REMINDER = "acceptance_reminder"
    ACCEPTED = "accepted"
    DEEMED_ACCEPTED = "deemed_accepted"
    REVIEW_LAPSED = "review_lapsed"
    REVISION_RECEIVED = "revision_received"
    SUPPORT_OPENED = "support_opened"
    SUPPORT_TEAM_NOTICE = "support_team_notice"
    SUPPORT_REQUEST_FORWARDED = "support_request_forwarded"
    SUPPORT_REQUEST_ACK = "support_request_ack"
    SUPPORT_ENDING_SOON = "support_ending_soon"
    SUPPORT_CLOSED = "support_closed"
    CANCELLED = "cancelled"
    REFUND_NEEDED = "refund_needed"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_ERROR = "payment_error"
    PAYMENT_NEEDS_REVIEW = "payment_needs_review"
    INVOICE_READY = "invoice_ready"
    EMAIL_FAILED = "email_failed"
    INBOUND_EMAIL_REVIEW = "inbound_email_review"


class EmailRequest(Model):
    """One message to render and send. Carries data, never secrets."""

    order_id: str
    kind: MessageKind
    audience: Audience
    to_email: str | None = Field(default=None, description="Customer address; staff addresses come from configuration.")
    to_name: str | None = None
    message_key: str = Field(description="Stable per order and step, so a retried send is recognisable.")
    context: dict[str, Any] = Field(default_factory=dict)


class EmailReceipt(Model):
    message_key: str
    message_id: str | None = None
    backend: str


class PaymentRequest(Model):
    order_id: str
    methods: list[PaymentMethod]
    amount: Money
    currency: str
    reference: str
    due_at: datetime
    idempotency_key: str
    customer_name: str | None = None
    customer_email: str | None = None
    stripe_customer_id: str | None = None
    line_items: list[LineItem] = Field(default_factory=list)
    days_until_due: int = 14


class ChargeRequest(Model):
    """Charge a saved card off-session. Ids and amounts only: no card data."""

    order_id: str
    attempt: int
    amount: Money
    currency: str
    stripe_customer_id: str
    payment_method_id: str
    description: str
    idempotency_key: str


class ChargeResult(Model):
    status: Literal["succeeded", "declined", "requires_action", "processing"]
    payment_intent_id: str | None = None
    amount: Money | None = None
    decline_code: str | None = None
    message: str | None = Field(default=None, description="Plain-words reason, safe to show the customer.")
    hosted_url: str | None = Field(default=None, description="Where the customer can complete payment themselves.")


class VoidInvoiceRequest(Model):
    order_id: str
    invoice_id: str
    idempotency_key: str


class RefundRequest(Model):
    order_id: str
    amount: Money
    currency: str
    payments: list[Payment]
    idempotency_key: str


class RefundResult(Model):
    amount: Money = Field(description="What was really refunded (or is pending), not what was asked for.")
    method: PaymentMethod
    status: Literal["succeeded", "pending", "manual", "failed", "partial"]
    refund_id: str | None = None
    failed_amount: Money = Field(default=Decimal("0.00"), description="What could not be refunded.")
    message: str | None = Field(default=None, description="Why part or all of it failed.")


class SupportPeriodRequest(Model):
    order_id: str
    opened_at: datetime
    ends_at: datetime
    scope: str
    notice: EmailRequest = Field(description="The support team's notice, sent once the desk has a ticket.")


class SupportTicket(Model):
    ticket: str


class ForwardSupportRequest(Model):
    order_id: str
    ticket: str | None
    notice: EmailRequest


class CloseSupportRequest(Model):
    order_id: str
    ticket: str | None
    closed_at: datetime


StartOrderInput.model_rebuild()
