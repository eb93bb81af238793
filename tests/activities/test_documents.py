"""The confirmation PDF (activities/documents.py) and the document store
(activities/document_store.py): what the PDF says, in any script; that a version
renders the same bytes each time; that the fonts ship with the package; and a
store that writes each document once and refuses a changed file."""

from __future__ import annotations

import hashlib
import io
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from temporalio.testing import ActivityEnvironment

from activities.config import Settings
from activities.document_store import (
    DocumentConflict,
    DocumentMissing,
    DocumentTampered,
    LocalDocumentStore,
    confirmation_document_id,
)
from activities.documents import confirmation_pdf, render_confirmation
from activities.email import EmailActivities, OutboxBackend, read_outbox_message
from activities.pdf_page import FONT_FILES, FONTS_DIR
from workflows.email_contexts import confirmation_data
from workflows.models import Audience, Confirmation, EmailReceipt, EmailRequest, MessageKind

ROOT = Path(__file__).resolve().parents[2]
ISSUED = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
SETTINGS = Settings(company_name="Example IT Services", support_email="help@example.com")


def _confirmation(version: int = 2, **terms: Any) -> Confirmation:
    return Confirmation.model_validate(
        {
            "title": "Network refresh",
            "currency": "EUR",
            "line_items": [
                {"description": "Site survey", "quantity": "2", "unit_price": "450.00"},
                {"description": "Firewall setup", "unit_price": "1200.50"},
            ],
            "terms": {
                "payment_methods": ["bank_transfer", "card"],
                "payment_due": "P14D",
                "milestones": [{"name": "Design", "due": "P10D"}],
                "estimated_delivery": "P30D",
                "cancellation_fee": "100.00",
                "other_terms": ["Hardware is billed separately."],
                **terms,
            },
            "version": version,
            "issued_at": ISSUED,
            "amount_total": "2100.50",
        }
    )


def _context(name: str = "Ada Lovelace", version: int = 2, **terms: Any) -> dict[str, Any]:
    """What the workflow puts in a confirmation email (workflows/email_contexts.py)."""
    return {
        "order": {
            "order_id": "ORD-2026-0042",
            "customer": {"name": name, "email": "ada@example.com", "company": "Analytical Ltd", "phone": None},
            "status": "AWAITING_APPROVAL",
            "currency": None,
            "total": None,
            "version": version,
            "payment_reference": None,
        },
        "confirmation": confirmation_data(_confirmation(version, **terms)),
        "effective": {
            "payment_due": "P14D",
            "payment_grace": "P7D",
            "review_period": "P7D",
            "support_period": "P30D",
            "confirmation_expiry": "P14D",
        },
        "expires_at": "2026-12-10T14:05:00Z",
    }


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_says_what_the_confirmation_says() -> None:
    text = _text(render_confirmation(_context(), SETTINGS))
    for expected in (
        "Example IT Services",
        "help@example.com",
        "ORD-2026-0042",
        "Version 2",
        "26 Nov 2026",
        "Valid until 10 Dec 2026",
        "Ada Lovelace",
        "Analytical Ltd",
        "Site survey",
        "EUR 450.00",
        "EUR 900.00",
        "Firewall setup",
        "EUR 1,200.50",
        "Total",
        "EUR 2,100.50",
        "bank transfer or card",
        "14 days",
        "7 days",
        "Design",
        "10 days",
        "30 days",
        "Cancellation fee: EUR 100.00",
        "Hardware is billed separately.",
    ):
        assert expected in text, f"{expected!r} not in the PDF's text:\n{text}"


@pytest.mark.parametrize("name", ["Zoë Łukasiewicz", "李雷", "Ñandú Øster, Ελένη Петрова"])
def test_names_in_any_script_print_as_written(name: str) -> None:
    # Helvetica's Latin-1 would print "?" for all but the first two letters of these.
    text = _text(render_confirmation(_context(name), SETTINGS))
    assert name in text, text
    assert "?" not in text
    # What follows a name drawn from the fallback font reads as written too (fpdf2 would keep its glyphs).
    assert f"{name}\nAnalytical Ltd\nada@example.com\nServices" in text, text


def test_a_payment_schedule_is_listed_with_its_amounts() -> None:
    schedule = [
        {"name": "Deposit", "percent": "30", "due": "approval"},
        {"name": "Handover", "percent": "70", "due": "milestone:Design"},
    ]
    text = _text(render_confirmation(_context(payment_schedule=schedule), SETTINGS))
    assert "Deposit, on approval: EUR 630.15 (30%)" in text
    assert "Handover" in text and "EUR 1,470.35 (70%)" in text


def test_the_same_version_renders_the_same_bytes() -> None:
    first = render_confirmation(_context(), SETTINGS)
    assert first == render_confirmation(_context(), SETTINGS)
    assert first != render_confirmation(_context(version=3), SETTINGS)
    # The creation date is the version's issue time, not the clock's.
    metadata = PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None and metadata.creation_date == ISSUED


def test_the_fonts_ship_with_the_package_and_their_licences() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "fonts/*" in setup["package-data"]["activities"]
    assert FONTS_DIR == ROOT / "activities" / "fonts"
    for file in FONT_FILES.values():
        assert (FONTS_DIR / file).stat().st_size > 100_000, file
    assert "Bitstream Vera" in (FONTS_DIR / "LICENSE-DejaVu.txt").read_text()
    assert "Apache License" in (FONTS_DIR / "LICENSE-Apache-2.0.txt").read_text()


def _request(context: dict[str, Any]) -> EmailRequest:
    return EmailRequest(
        order_id="ORD-2026-0042",
        kind=MessageKind.CONFIRMATION_ISSUED,
        audience=Audience.CUSTOMER,
        to_email="ada@example.com",
        message_key="ORD-2026-0042:email:3:confirmation_issued",
        context=context,
    )


def test_a_confirmation_pdf_is_stored_once_and_attached_as_stored(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    made = confirmation_pdf(_request(_context()), SETTINGS, store)
    assert made.document.id == "ORD-2026-0042/confirmation-v2.pdf"
    data = made.attachment.data
    assert made.document.sha256 == hashlib.sha256(data).hexdigest() and made.document.size == len(data)
    assert made.attachment.filename == "order-ORD-2026-0042-confirmation-v2.pdf"
    assert made.attachment.content_type == "application/pdf"
    assert store.get(made.document.id, made.document.sha256) == data

    # A retry after the worker changed (another company name renders other bytes) gets the stored file:
    # it may already be in the customer's inbox.
    again = confirmation_pdf(_request(_context()), Settings(company_name="Renamed Ltd"), store)
    assert again == made


def test_the_document_id_comes_from_the_order_and_version() -> None:
    assert confirmation_document_id("ORD-1", 3) == "ORD-1/confirmation-v3.pdf"


def test_stored_documents_come_back_hash_checked(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    stored = store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    assert stored.id == "ORD-1/confirmation-v1.pdf"
    assert stored.size == 8
    assert stored.sha256 == hashlib.sha256(b"%PDF-one").hexdigest()
    assert store.get(stored.id) == b"%PDF-one"
    assert store.get(stored.id, expected_sha256=stored.sha256) == b"%PDF-one"
    assert (tmp_path / "ORD-1" / "confirmation-v1.pdf.sha256").read_text() == stored.sha256


def test_a_document_is_written_once(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    first = store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    assert store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one") == first
    # Other bytes under the same id: the stored document stands.
    assert store.put("ORD-1/confirmation-v1.pdf", b"%PDF-two") == first
    assert store.get(first.id) == b"%PDF-one"


def test_a_file_left_without_its_hash_is_completed_by_the_next_attempt(tmp_path: Path) -> None:
    # A worker that died between writing the file and its hash: the retry finishes the job.
    (tmp_path / "ORD-1").mkdir()
    (tmp_path / "ORD-1" / "confirmation-v1.pdf").write_bytes(b"%PDF-one")
    store = LocalDocumentStore(tmp_path)
    with pytest.raises(DocumentMissing):
        store.get("ORD-1/confirmation-v1.pdf")
    stored = store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    assert store.get(stored.id, expected_sha256=stored.sha256) == b"%PDF-one"
    # Other bytes that no hash vouches for are never adopted, nor replaced.
    (tmp_path / "ORD-2").mkdir()
    (tmp_path / "ORD-2" / "confirmation-v1.pdf").write_bytes(b"%PDF-stray")
    with pytest.raises(DocumentConflict, match=r"ORD-2/confirmation-v1\.pdf .* never replaced"):
        store.put("ORD-2/confirmation-v1.pdf", b"%PDF-one")


def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    stored = store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    (tmp_path / "ORD-1" / "confirmation-v1.pdf").write_bytes(b"%PDF-evil")
    with pytest.raises(DocumentTampered, match=r"ORD-1/confirmation-v1\.pdf has SHA-256 .*: refused"):
        store.get(stored.id)
    with pytest.raises(DocumentTampered):
        store.get(stored.id, expected_sha256=stored.sha256)
    with pytest.raises(DocumentTampered):
        store.put(stored.id, b"%PDF-one")  # nor is it vouched for again


def test_a_hash_other_than_the_order_records_is_refused(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    stored = store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    with pytest.raises(DocumentTampered, match="0000"):
        store.get(stored.id, expected_sha256="0" * 64)


def test_unknown_and_malformed_ids_are_named(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    with pytest.raises(DocumentMissing, match=r"ORD-9/confirmation-v1\.pdf is not in the document store"):
        store.get("ORD-9/confirmation-v1.pdf")
    for bad in ("../etc/passwd", "ORD-1/../../x.pdf", "/abs/x.pdf", "ORD-1/.hidden", "ORD-1"):
        with pytest.raises(ValueError, match="not a document id"):
            store.get(bad)
    with pytest.raises(ValueError, match="not a document id"):
        store.put("../x.pdf", b"x")


def test_the_store_directory_is_configured(tmp_path: Path) -> None:
    assert Settings.from_env({}).documents_path == Path(".orders/documents")
    assert Settings.from_env({"ORDERS_OUTBOX_DIR": str(tmp_path / "mail")}).documents_path == tmp_path / "documents"
    assert Settings.from_env({"ORDERS_DOCUMENTS_DIR": str(tmp_path)}).documents_path == tmp_path


def _email(tmp_path: Path) -> tuple[EmailActivities, Path]:
    outbox_dir = tmp_path / "outbox"
    settings = replace(SETTINGS, outbox_dir=outbox_dir)
    return EmailActivities(settings, OutboxBackend(outbox_dir), LocalDocumentStore(settings.documents_path)), outbox_dir


def _sent(outbox_dir: Path, kind: str) -> list[EmailMessage]:
    return [m for m in map(read_outbox_message, sorted(outbox_dir.glob("*.eml"))) if m["X-Message-Kind"] == kind]


async def test_the_email_activity_attaches_the_pdf_and_its_receipt_names_it(tmp_path: Path) -> None:
    email, outbox_dir = _email(tmp_path)
    receipt: EmailReceipt = await ActivityEnvironment().run(email.send_email, _request(_context()))
    assert receipt.document is not None
    assert (tmp_path / "documents" / receipt.document.id).is_file()  # documents beside the outbox
    [mail] = _sent(outbox_dir, "confirmation_issued")
    [attachment] = mail.iter_attachments()
    assert hashlib.sha256(attachment.get_content()).hexdigest() == receipt.document.sha256
    # A retried activity stores nothing new, sends nothing new, and answers the same.
    assert await ActivityEnvironment().run(email.send_email, _request(_context())) == receipt
    assert len(list(outbox_dir.glob("*.eml"))) == 1
    # Other emails carry no file and name none.
    other = _request(_context()).model_copy(update={"kind": MessageKind.CONFIRMATION_REMINDER, "message_key": "k:2"})
    assert (await ActivityEnvironment().run(email.send_email, other)).document is None


async def test_a_changed_stored_pdf_is_never_sent_and_operations_are_told(tmp_path: Path) -> None:
    email, outbox_dir = _email(tmp_path)
    stored = tmp_path / "documents" / "ORD-2026-0042" / "confirmation-v2.pdf"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"%PDF-evil")
    stored.with_name(stored.name + ".sha256").write_text(hashlib.sha256(b"%PDF-good").hexdigest())

    receipt: EmailReceipt = await ActivityEnvironment().run(email.send_email, _request(_context()))

    assert receipt.document is None and receipt.message_id
    [mail] = _sent(outbox_dir, "confirmation_issued")
    assert list(mail.iter_attachments()) == []
    [alert] = _sent(outbox_dir, "document_failed")
    assert str(alert["To"]) == SETTINGS.ops_email
    assert "PDF problem on order ORD-2026-0042: confirmation version 2" in str(alert["Subject"])
    body = alert.get_body(("plain",))
    assert body is not None and "DocumentTampered" in body.get_content()
    assert stored.read_bytes() == b"%PDF-evil"  # left for operations to look at, never replaced
