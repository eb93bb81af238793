"""The evidence certificate's PDF (activities/certificates.py): what it states (every version
with its PDF's hash, every decision with its evidence, the payments), that the same request
renders the same bytes, and that it is stored write-once and refused once changed."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities, render_certificate
from activities.config import Settings
from activities.document_store import DocumentTampered, LocalDocumentStore
from workflows.models import (
    CertificateFacts,
    CertificateRequest,
    CertifiedDecision,
    CertifiedPayment,
    CertifiedVersion,
    PaymentMethod,
)

ISSUED = datetime(2026, 12, 5, 10, 2, 3, tzinfo=UTC)
SETTINGS = Settings(company_name="Example IT Services", support_email="help@example.com")
PDF_1, PDF_2 = "1" * 64, "2" * 64
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def _request(number: int = 1) -> CertificateRequest:
    facts = CertificateFacts(
        order_id="ORD-7",
        customer_name="Zoë Łukasiewicz 李雷",
        customer_email="zoe@example.com",
        customer_company="ACME GmbH",
        versions=[
            CertifiedVersion(
                number=1,
                issued_at=ISSUED - timedelta(days=3),
                currency="EUR",
                total=Decimal("4800.00"),
                state="changes_requested",
                document_sha256=PDF_1,
            ),
            CertifiedVersion(
                number=2,
                issued_at=ISSUED - timedelta(days=1),
                currency="EUR",
                total=Decimal("4500.00"),
                state="approved",
                document_sha256=PDF_2,
            ),
        ],
        decisions=[
            CertifiedDecision(
                what="changes requested",
                subject="version",
                number=1,
                at=ISSUED - timedelta(days=2),
                channel="cli",
                by="Dana Staff",
                email="zoe@example.com",
            ),
            CertifiedDecision(
                what="approved",
                subject="version",
                number=2,
                at=ISSUED - timedelta(hours=5),
                channel="portal",
                email="zoe@example.com",
                link_id="ab" * 16,
                client_ip="203.0.113.7",
                user_agent=FIREFOX,
                agreed_to_terms=True,
                document_sha256=PDF_2,
            ),
        ],
        payments=[
            CertifiedPayment(
                at=ISSUED - timedelta(hours=1),
                amount=Decimal("4500.00"),
                currency="EUR",
                method=PaymentMethod.BANK_TRANSFER,
                reference="TX-991",
            )
        ],
    )
    return CertificateRequest(number=number, issued_at=ISSUED, facts=facts)


def _text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_certificate_states_every_version_decision_and_payment() -> None:
    data = render_certificate(_request(), SETTINGS)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = " ".join(_text(data).split())
    for expected in (
        "Evidence certificate",
        "Order ORD-7 | Certificate 1 | Issued 2026-12-05 10:02:03 UTC",
        "Zoë Łukasiewicz",
        "zoe@example.com",
        # each version with its PDF's hash (a hash may wrap in its cell: checked without spaces below)
        "EUR 4,800.00",
        "EUR 4,500.00",
        # each decision with its evidence
        "Version 1: changes requested, 2026-12-03 10:02:03 UTC",
        "staff: Dana Staff",
        "Version 2: approved, 2026-12-05 05:02:03 UTC",
        "the customer, through the signed link in their email",
        "IP address: 203.0.113.7",
        "ab" * 16,
        "agree to its terms”: yes",
        # the payments
        "TX-991",
        "Bank transfer",
    ):
        assert expected in text, f"{expected!r} not in the certificate:\n{text}"
    assert FIREFOX.replace(" ", "") in text.replace(" ", "")
    assert text.replace(" ", "").count(PDF_2) == 2  # the version's, and the one the customer was shown
    assert PDF_1 in text.replace(" ", "")


def test_the_same_request_renders_the_same_bytes() -> None:
    assert render_certificate(_request(), SETTINGS) == render_certificate(_request(), SETTINGS)


async def test_the_activity_stores_it_once_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    activities = CertificateActivities(SETTINGS, store)
    env = ActivityEnvironment()
    document = await env.run(activities.issue_certificate, _request(2))
    assert document.id == "ORD-7/evidence-2.pdf"
    stored = (tmp_path / document.id).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == document.sha256 and len(stored) == document.size
    assert await env.run(activities.issue_certificate, _request(2)) == document  # a retry: the same file

    (tmp_path / document.id).write_bytes(stored + b"%% altered")
    with pytest.raises(DocumentTampered, match="refused"):
        store.get(document.id, document.sha256)
