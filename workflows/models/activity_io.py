"""What the workflow hands its activities and what they answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from workflows.models.certificate import CertificateRequest
from workflows.models.confirmation import DocumentRef, LineItem
from workflows.models.fields import Duration, Model, Money, PaymentMethod
from workflows.models.view import ChargeAttempt, Payment

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
    # A payment schedule's instalments that fall due after work starts (workflows/billing.py)
    INSTALMENT_DUE = "instalment_due"
    INSTALMENT_CHARGE_NOTICE = "instalment_charge_notice"
    INSTALMENT_REMINDER = "instalment_reminder"
    INSTALMENT_CHARGE_FAILED = "instalment_charge_failed"
    INSTALMENT_OVERDUE = "instalment_overdue"
    CHANGE_ORDER_APPROVED = "change_order_approved"
    EMAIL_FAILED = "email_failed"
    DOCUMENT_FAILED = "document_failed"
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
    certificate: CertificateRequest | None = Field(
        default=None,
        # Absent from every email but the one that closes an order whose facts changed since its
        # last evidence certificate (workflows/certificates.py), and from requests recorded before.
        exclude_if=lambda request: request is None,
        description="The order's last evidence certificate, for the email to render, store and attach.",
    )


class EmailReceipt(Model):
    message_key: str
    message_id: str | None = None
    backend: str
    document: DocumentRef | None = Field(
        default=None,
        # Absent from the receipts of histories recorded before, and of emails that carry no PDF.
        exclude_if=lambda document: document is None,
        description="The PDF the email carried, as stored: a confirmation's (confirmation_issued), a receipt.",
    )
    certificate: DocumentRef | None = Field(
        default=None,
        exclude_if=lambda document: document is None,
        description="The evidence certificate the email carried, as stored (the email that closed the order).",
    )


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

    def attempt(self, at: datetime, attempt: int) -> ChargeAttempt:
        """This answer as the order keeps it, among its charge attempts."""
        return ChargeAttempt(
            at=at,
            attempt=attempt,
            status=self.status,
            payment_intent_id=self.payment_intent_id,
            decline_code=self.decline_code,
            message=self.message,
        )


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
