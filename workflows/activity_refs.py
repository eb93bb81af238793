"""The activities the order calls, by reference: their names, inputs and results.

The workflow calls ``workflow.execute_activity_method(EmailRefs.send_email, ...)``
so that mypy checks what it sends and what it gets back. The classes that do
the work (activities/, and ``PolicyActivities`` in worker.py) subclass these,
so mypy also checks that they keep the same signatures.

Why not import those classes into the workflow: they pull in Stripe, SendGrid,
Jinja and the settings, which workflow code never needs and the sandbox
should not carry. This module holds only names and models.

The names are the wire contract (workflows/names.py): histories recorded
before these references existed call the same names and still replay.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import names
from workflows.models import (
    CertificateRequest,
    ChargeRequest,
    ChargeResult,
    CloseSupportRequest,
    DocumentRef,
    EmailReceipt,
    EmailRequest,
    ErasedPart,
    EraseOrderInput,
    ErasureRecord,
    ForwardSupportRequest,
    OrderPolicy,
    PaymentInstructions,
    PaymentRequest,
    RefundRequest,
    RefundResult,
    SupportPeriodRequest,
    SupportTicket,
    VoidInvoiceRequest,
)


class ActivityNotImplemented(NotImplementedError):
    """A reference was called as if it did the work: the worker registers the subclass."""


class PolicyRefs:
    @activity.defn(name=names.LOAD_POLICY)
    async def load_order_policy(self) -> OrderPolicy:
        raise ActivityNotImplemented(names.LOAD_POLICY)


class EmailRefs:
    @activity.defn(name=names.SEND_EMAIL)
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        raise ActivityNotImplemented(names.SEND_EMAIL)


class PaymentRefs:
    @activity.defn(name=names.REQUEST_PAYMENT)
    async def request_payment(self, request: PaymentRequest) -> PaymentInstructions:
        raise ActivityNotImplemented(names.REQUEST_PAYMENT)

    @activity.defn(name=names.CHARGE_CARD)
    async def charge_card(self, request: ChargeRequest) -> ChargeResult:
        raise ActivityNotImplemented(names.CHARGE_CARD)

    @activity.defn(name=names.VOID_INVOICE)
    async def void_invoice(self, request: VoidInvoiceRequest) -> None:
        raise ActivityNotImplemented(names.VOID_INVOICE)

    @activity.defn(name=names.REFUND_PAYMENT)
    async def refund_payment(self, request: RefundRequest) -> RefundResult:
        raise ActivityNotImplemented(names.REFUND_PAYMENT)


class SupportRefs:
    @activity.defn(name=names.OPEN_SUPPORT)
    async def open_support_period(self, request: SupportPeriodRequest) -> SupportTicket:
        raise ActivityNotImplemented(names.OPEN_SUPPORT)

    @activity.defn(name=names.FORWARD_SUPPORT_REQUEST)
    async def forward_support_request(self, request: ForwardSupportRequest) -> None:
        raise ActivityNotImplemented(names.FORWARD_SUPPORT_REQUEST)

    @activity.defn(name=names.CLOSE_SUPPORT)
    async def close_support_period(self, request: CloseSupportRequest) -> None:
        raise ActivityNotImplemented(names.CLOSE_SUPPORT)


class CertificateRefs:
    @activity.defn(name=names.ISSUE_CERTIFICATE)
    async def issue_certificate(self, request: CertificateRequest) -> DocumentRef:
        raise ActivityNotImplemented(names.ISSUE_CERTIFICATE)


def reason(error: ActivityError) -> str:
    """What went wrong, in the activity's own words when it gave any."""
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or error)


class ErasureRefs:
    """``orders erase``'s steps; each takes the erasure request and is idempotent."""

    @activity.defn(name=names.CHECK_ERASABLE)
    async def check_erasable(self, request: EraseOrderInput) -> bool:
        """True when the order has a key of its own to destroy; ``ErasureRefused`` when it may not be erased."""
        raise ActivityNotImplemented(names.CHECK_ERASABLE)

    @activity.defn(name=names.CHECK_SEARCH_ATTRIBUTES)
    async def check_search_attributes(self, request: EraseOrderInput) -> ErasedPart:
        """What the order's search attributes hold; none is personal data, by design (workflows/search.py)."""
        raise ActivityNotImplemented(names.CHECK_SEARCH_ATTRIBUTES)

    @activity.defn(name=names.ERASE_ORDER_EMAILS)
    async def erase_order_emails(self, request: EraseOrderInput) -> list[ErasedPart]:
        raise ActivityNotImplemented(names.ERASE_ORDER_EMAILS)

    @activity.defn(name=names.ERASE_ORDER_DOCUMENTS)
    async def erase_order_documents(self, request: EraseOrderInput) -> ErasedPart:
        raise ActivityNotImplemented(names.ERASE_ORDER_DOCUMENTS)

    @activity.defn(name=names.REDACT_STRIPE_CUSTOMER)
    async def redact_stripe_customer(self, request: EraseOrderInput) -> ErasedPart:
        raise ActivityNotImplemented(names.REDACT_STRIPE_CUSTOMER)

    @activity.defn(name=names.DESTROY_ORDER_KEY)
    async def destroy_order_key(self, request: EraseOrderInput) -> ErasedPart:
        raise ActivityNotImplemented(names.DESTROY_ORDER_KEY)

    @activity.defn(name=names.RECORD_ERASURE)
    async def record_erasure(self, record: ErasureRecord) -> None:
        raise ActivityNotImplemented(names.RECORD_ERASURE)
