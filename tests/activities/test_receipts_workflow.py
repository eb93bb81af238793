"""Receipts under the production worker, on the time-skipping server.

Each payment the order counts gets a receipt: the payment email's activity renders
and stores it, attaches it, and answers its reference, which the order keeps on the
payment. Held money (not counted) gets none. No new activity, and the bytes are
never in the history.
"""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from activities.document_store import LocalDocumentStore
from tests.conftest import make_worker
from tests.helpers import draft, kinds, outbox, start_order, until
from workflows import names
from workflows.models import ApproveInput, Instalment, IssueConfirmationInput, OrderView, RecordPaymentInput

SCHEDULE = [
    Instalment(name="Deposit", percent=Decimal(30), due="approval"),
    Instalment(name="Handover", percent=Decimal(70), due="acceptance"),
]


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _receipt_emails(outbox_dir: Path, order_id: str) -> list[Any]:
    return [m for m in outbox(outbox_dir) if m["X-Message-Kind"] == "payment_received" and m["X-Order-Id"] == order_id]


def _recorded(count: int) -> Any:
    return lambda v: len(v.payments) == count and all(p.receipt is not None for p in v.payments)


async def test_each_counted_payment_records_the_receipt_its_email_carried(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        # Money before approval is held, not counted: no receipt.
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("50.00"), reference="TX-EARLY"))
        await handle.signal(names.APPROVE, ApproveInput(version=1))
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("2000.00"), reference="TX-1"))
        await until(handle, _recorded(1), "the first receipt recorded")
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("2800.00"), reference="TX-2"))
        order: OrderView = await until(handle, _recorded(2), "the second receipt recorded")

    assert [h.reference for h in order.held_payments] == ["TX-EARLY"]
    store = LocalDocumentStore(settings.documents_path)
    emails = _receipt_emails(settings.outbox_dir, order.order_id)
    assert len(emails) == 2
    by_name = {a.get_filename(): a.get_content() for m in emails for a in m.iter_attachments()}
    for number, (payment, balance) in enumerate(zip(order.payments, ("2,800.00", "0.00"), strict=True), start=1):
        document = payment.receipt
        assert document is not None
        assert document.id == f"{order.order_id}/receipt-{number}.pdf"
        attached = by_name[f"order-{order.order_id}-receipt-{number}.pdf"]
        assert hashlib.sha256(attached).hexdigest() == document.sha256 and len(attached) == document.size
        assert store.get(document.id, document.sha256) == attached
        text = _pdf_text(attached)
        for expected in (order.order_id, f"Receipt {number}", payment.reference, f"Balance still due: EUR {balance}"):
            assert expected in text, f"{expected!r} not in receipt {number}:\n{text}"
    assert "payment_needs_review" in kinds(settings.outbox_dir)
    assert not (settings.documents_path / order.order_id / "receipt-3.pdf").exists()

    history = await handle.fetch_history()
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert scheduled == {names.SEND_EMAIL}
    assert "JVBERi" not in history.to_json()


async def test_a_receipt_names_the_instalment_it_paid(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        confirmation = draft(payment_schedule=SCHEDULE)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation))
        await handle.signal(names.APPROVE, ApproveInput(version=1))
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-1"))
        order: OrderView = await until(handle, _recorded(1), "the deposit's receipt recorded")

    [payment] = order.payments
    assert payment.receipt is not None
    data = LocalDocumentStore(settings.documents_path).get(payment.receipt.id, payment.receipt.sha256)
    text = _pdf_text(data)
    for expected in ("Deposit (instalment 1 of 2): EUR 1,440.00", "Paid to date: EUR 1,440.00"):
        assert expected in text, f"{expected!r} not in the receipt:\n{text}"
    assert "Balance still due: EUR 3,360.00" in text, text
