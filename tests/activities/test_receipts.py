"""The receipt PDF (activities/receipts.py): what it says about the payment and the order,
that the same payment renders the same bytes, that a retry stores nothing new, and
that the payment email carries it (and tells operations when it cannot)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from temporalio.testing import ActivityEnvironment

from activities.config import Settings
from activities.document_store import LocalDocumentStore
from activities.email import EmailActivities, OutboxBackend, read_outbox_message
from activities.receipts import receipt_document_id, receipt_pdf, render_receipt
from workflows.models import Audience, EmailReceipt, EmailRequest, MessageKind

SETTINGS = Settings(company_name="Example IT Services", support_email="help@example.com")
PAID_AT = "2026-11-27T09:30:00Z"


def _row(number: int, name: str, due: str, amount: str, status: str, due_at: str | None) -> dict[str, Any]:
    """An instalment as the workflow's emails carry it (workflows/instalments.py ``row``)."""
    paid = amount if status == "paid" else "0.00"
    unpaid = "0.00" if status == "paid" else amount
    return {
        "number": number,
        "name": name,
        "due": due,
        "amount": amount,
        "paid": paid,
        "unpaid": unpaid,
        "status": status,
        "due_at": due_at,
        "reference": f"SO-0042-{number}",
        "invoice_url": None,
    }


def _context(number: int = 2, **changes: Any) -> dict[str, Any]:
    """What the workflow puts in a payment_received email (workflows/saga.py, workflows/receipts.py)."""
    context: dict[str, Any] = {
        "order": {
            "order_id": "ORD-2026-0042",
            "customer": {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "company": "Analytical Ltd",
                "phone": None,
            },
            "status": "IN_PROGRESS",
            "currency": "EUR",
            "total": "4800.00",
            "version": 1,
            "payment_reference": "SO-0042",
        },
        "payment": {"at": PAID_AT, "amount": "1920.00", "method": "bank_transfer", "reference": "TX-77"},
        "amount_paid": "3360.00",
        "balance_due": "0.00",
        "currency": "EUR",
        "instalments": [
            _row(1, "Deposit", "approval", "1440.00", "paid", "2026-11-10T09:00:00Z"),
            _row(2, "Design", "milestone:Design", "1920.00", "paid", "2026-11-30T09:00:00Z"),
            _row(3, "Handover", "acceptance", "1440.00", "scheduled", None),
        ],
        "receipt_number": number,
        "paid_towards": [{"number": 2, "name": "Design", "amount": "1920.00"}],
    }
    context.update(changes)
    return context


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_receipt_says_what_was_paid_and_what_is_left() -> None:
    text = _text(render_receipt(_context(), SETTINGS))
    for expected in (
        "Example IT Services",
        "help@example.com",
        "Receipt 2",
        "ORD-2026-0042",
        "27 Nov 2026",
        "Ada Lovelace",
        "Analytical Ltd",
        "EUR 1,920.00",
        "Bank transfer",
        "TX-77",
        "Design",
        "instalment 2 of 3",
        "Paid to date: EUR 3,360.00",
        "Balance still due: EUR 1,440.00",
        "Order total: EUR 4,800.00",
    ):
        assert expected in text, f"{expected!r} not in the receipt's text:\n{text}"


def test_a_receipt_without_a_schedule_names_no_instalment() -> None:
    context = _context(1, instalments=None, paid_towards=[], amount_paid="4800.00")
    context["payment"] |= {"amount": "4800.00", "method": "card", "reference": "pi_123"}
    text = _text(render_receipt(context, SETTINGS))
    assert "Receipt 1" in text and "Card" in text and "pi_123" in text
    assert "Balance still due: EUR 0.00" in text
    assert "instalment" not in text.lower()


def test_the_same_payment_renders_the_same_bytes() -> None:
    first = render_receipt(_context(), SETTINGS)
    assert first == render_receipt(_context(), SETTINGS)
    assert first != render_receipt(_context(3), SETTINGS)
    metadata = PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None and metadata.creation_date == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def _request(context: dict[str, Any]) -> EmailRequest:
    return EmailRequest(
        order_id="ORD-2026-0042",
        kind=MessageKind.PAYMENT_RECEIVED,
        audience=Audience.CUSTOMER,
        to_email="ada@example.com",
        message_key="ORD-2026-0042:email:9:payment_received",
        context=context,
    )


def test_a_receipt_is_stored_once_under_the_payments_number(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    made = receipt_pdf(_request(_context()), SETTINGS, store)
    assert made.document.id == receipt_document_id("ORD-2026-0042", 2) == "ORD-2026-0042/receipt-2.pdf"
    data = made.attachment.data
    assert made.document.sha256 == hashlib.sha256(data).hexdigest() and made.document.size == len(data)
    assert made.attachment.filename == "order-ORD-2026-0042-receipt-2.pdf"
    assert store.get(made.document.id, made.document.sha256) == data
    # A retry (even by a worker that would render other bytes) stores nothing new.
    files = sorted(p.name for p in (tmp_path / "ORD-2026-0042").iterdir())
    assert receipt_pdf(_request(_context()), Settings(company_name="Renamed Ltd"), store) == made
    assert sorted(p.name for p in (tmp_path / "ORD-2026-0042").iterdir()) == files


def _email(tmp_path: Path) -> tuple[EmailActivities, Path]:
    outbox_dir = tmp_path / "outbox"
    settings = replace(SETTINGS, outbox_dir=outbox_dir)
    return EmailActivities(settings, OutboxBackend(outbox_dir), LocalDocumentStore(settings.documents_path)), outbox_dir


def _sent(outbox_dir: Path, kind: str) -> list[EmailMessage]:
    return [m for m in map(read_outbox_message, sorted(outbox_dir.glob("*.eml"))) if m["X-Message-Kind"] == kind]


async def test_the_payment_email_attaches_the_receipt_and_names_it(tmp_path: Path) -> None:
    email, outbox_dir = _email(tmp_path)
    receipt: EmailReceipt = await ActivityEnvironment().run(email.send_email, _request(_context()))
    assert receipt.document is not None and receipt.document.id == "ORD-2026-0042/receipt-2.pdf"
    [mail] = _sent(outbox_dir, "payment_received")
    [attachment] = mail.iter_attachments()
    assert attachment.get_filename() == "order-ORD-2026-0042-receipt-2.pdf"
    assert hashlib.sha256(attachment.get_content()).hexdigest() == receipt.document.sha256
    body = mail.get_body(("plain",))
    assert body is not None and "Receipt 2 for this payment is attached" in body.get_content()
    assert await ActivityEnvironment().run(email.send_email, _request(_context())) == receipt


async def test_a_receipt_that_cannot_be_made_tells_operations_which(tmp_path: Path) -> None:
    email, outbox_dir = _email(tmp_path)
    stored = tmp_path / "documents" / "ORD-2026-0042" / "receipt-2.pdf"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"%PDF-evil")
    stored.with_name(stored.name + ".sha256").write_text(hashlib.sha256(b"%PDF-good").hexdigest())

    receipt: EmailReceipt = await ActivityEnvironment().run(email.send_email, _request(_context()))

    assert receipt.document is None
    [mail] = _sent(outbox_dir, "payment_received")
    assert list(mail.iter_attachments()) == []
    [alert] = _sent(outbox_dir, "document_failed")
    assert "PDF problem on order ORD-2026-0042: receipt 2" in str(alert["Subject"])
    body = alert.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "receipt 2 for order ORD-2026-0042" in text and "DocumentTampered" in text
    assert "The payment confirmation email went to the customer without it" in text
