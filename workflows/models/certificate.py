"""The evidence certificate: one PDF that vouches for an order's versions, its customer's
decisions (with their evidence) and the payments received, and what the order keeps of it.

The workflow gathers the facts (``CertificateFacts``) from the order; an activity renders and
stores the PDF (activities/certificates.py); the order keeps each certificate's number, time,
document reference and a digest of the facts it certified (``Certificate``), so an unchanged
order answers with the certificate it has instead of making a new one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from workflows.models.confirmation import DocumentRef
from workflows.models.evidence import DecisionChannel, Sha256
from workflows.models.fields import Model, Money, PaymentMethod, ShortText

__all__ = [
    "Certificate",
    "CertificateFacts",
    "CertificateRequest",
    "CertifiedDecision",
    "CertifiedPayment",
    "CertifiedVersion",
    "CertifyInput",
    "DecisionKind",
]

DecisionKind = Literal["approved", "changes requested", "delivery accepted", "revision requested"]


class CertifiedVersion(Model):
    number: int
    issued_at: datetime
    currency: str
    total: Money
    state: str
    change_of: int | None = None
    document_sha256: Sha256 | None = Field(default=None, description="None: issued before the order kept PDFs.")


class CertifiedDecision(Model):
    what: DecisionKind
    subject: Literal["version", "delivery"]
    number: int = Field(description="The confirmation version or the delivery round decided on.")
    at: datetime | None
    channel: DecisionChannel
    by: str | None = None
    email: str | None = None
    link_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    agreed_to_terms: bool = False
    document_sha256: str | None = None


class CertifiedPayment(Model):
    at: datetime
    amount: Money
    currency: str | None
    method: PaymentMethod
    reference: str


class CertificateFacts(Model):
    """Everything a certificate states except when it was issued: the same facts always give
    the same digest, so an order that has not changed keeps its certificate."""

    order_id: str
    customer_name: str
    customer_email: str
    customer_company: str | None = None
    versions: list[CertifiedVersion]
    decisions: list[CertifiedDecision]
    payments: list[CertifiedPayment]


class CertificateRequest(Model):
    """What the certificate activity renders: the facts, the certificate's number and when the
    order issued it (the PDF's creation date, so a retry renders the same bytes)."""

    number: int
    issued_at: datetime
    facts: CertificateFacts


class Certificate(Model):
    """An evidence certificate the order issued: the PDF's reference and what it certified."""

    number: int
    issued_at: datetime
    document: DocumentRef
    facts_sha256: Sha256 = Field(description="SHA-256 of the certified facts (canonical JSON), not of the PDF.")
    requested_by: str | None = Field(
        default=None, description="Who asked: staff (by name), a customer's link (its digest), or the order closing."
    )


class CertifyInput(Model):
    """Who asks for the order's evidence certificate: staff (their name) or the customer (their link)."""

    by: ShortText | None = Field(default=None, description="The staff member who asks (orders evidence).")
    link_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The customer's signed link (a digest of its token), when the portal asks."
    )
