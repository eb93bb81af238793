"""The evidence certificate of an order (workflows/certificates.py): the ``certify`` update on
the dev server, and the last certificate a closing order issues (time-skipping server).

An unchanged order answers with the certificate it has (no second activity, two requests at
once make one); a new decision makes the next one; the hash the order records is the hash of
the bytes stored; an order that is not yet confirmed is refused in words.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from activities.document_store import LocalDocumentStore
from tests.conftest import make_worker
from tests.helpers import draft, outbox, start_order, until, view, whole_order
from workflows import names
from workflows.certificate_facts import unchanged
from workflows.models import (
    AcceptInput,
    ApproveInput,
    CancelInput,
    Certificate,
    CertifyInput,
    DeliverInput,
    Evidence,
    IssueConfirmationInput,
    OrderStatus,
    RecordPaymentInput,
    RequestChangesInput,
)

BROWSER = "Mozilla/5.0 (Certificate test) Chrome/140"


async def certify(handle: WorkflowHandle[Any, Any], by: str = "Dana Staff") -> Certificate:
    result: Certificate = await handle.execute_update(names.CERTIFY, CertifyInput(by=by), result_type=Certificate)
    return result


async def _issued(handle: WorkflowHandle[Any, Any], version: int, price: str) -> str:
    """Issue a version and wait for its PDF; the PDF's hash."""
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(price)))
    order = await until(
        handle,
        lambda v: len(v.confirmations) == version and v.confirmations[-1].document is not None,
        f"v{version}'s PDF",
    )
    document = order.confirmations[-1].document
    assert document is not None
    return document.sha256


def _scheduled(history: Any, name: str) -> int:
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == name
    )


def _attached(settings: Settings, order_id: str, kind: str) -> dict[str, bytes]:
    """The PDFs attached to the order's ``kind`` emails, by file name."""
    return {
        str(a.get_filename()): a.get_content()
        for m in outbox(settings.outbox_dir)
        if m["X-Order-Id"] == order_id and m["X-Message-Kind"] == kind
        for a in m.iter_attachments()
    }


def _text(data: bytes) -> str:
    return " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


async def test_certify_issues_a_certificate_only_when_the_facts_change(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    store = LocalDocumentStore(settings.documents_path)
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await start_order(dev_env.client, task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as early:
            await certify(handle)
        assert "has no order confirmation yet" in str(early.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):  # not a CertifyInput: refused, and the order goes on
            await handle.execute_update(names.CERTIFY, {"by": ["not", "a", "name"]}, result_type=Certificate)

        first_pdf = await _issued(handle, 1, "4800.00")
        staff = Evidence(channel="cli", by="Dana Staff")
        await handle.signal(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Cheaper", evidence=staff))
        second_pdf = await _issued(handle, 2, "4500.00")
        portal = Evidence(
            channel="portal",
            link_id="c" * 32,
            client_ip="198.51.100.23",
            user_agent=BROWSER,
            agreed_to_terms=True,
            document_sha256=second_pdf,
        )
        await handle.execute_update(names.APPROVE, ApproveInput(version=2, evidence=portal))
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4500.00"), reference="TX-77"))
        await until(handle, lambda v: v.status is OrderStatus.IN_PROGRESS, "work started")

        first = await certify(handle)
        assert first.number == 1 and first.document.id.endswith("/evidence-1.pdf")
        data = store.get(first.document.id, first.document.sha256)
        assert hashlib.sha256(data).hexdigest() == first.document.sha256 and len(data) == first.document.size
        text = _text(data)
        compact = text.replace(" ", "")
        for expected in ("Version 1: changes requested", "staff: Dana Staff", "Version 2: approved"):
            assert expected in text, f"{expected!r} not in:\n{text}"
        for expected in ("198.51.100.23", BROWSER, first_pdf, second_pdf, "TX-77", "c" * 32):
            assert expected.replace(" ", "") in compact, f"{expected!r} not in:\n{text}"

        # The status answer states the same facts: a caller holding it sees the certificate is current.
        assert unchanged(await view(handle)) == first
        # Unchanged: the same certificate, however many ask at once, and no second activity.
        again = await asyncio.gather(certify(handle), certify(handle, "Someone Else"))
        assert list(again) == [first, first]
        assert _scheduled(await handle.fetch_history(), names.ISSUE_CERTIFICATE) == 1

        # A new decision: certificate 2, and the first one stays as it was.
        await handle.signal(names.DELIVER, DeliverInput(summary="Site is live"))
        await handle.execute_update(names.ACCEPT, AcceptInput(round=1, evidence=Evidence(channel="cli", by="Dana")))
        assert unchanged(await view(handle)) is None
        second = await certify(handle)
        assert second.number == 2 and second.document.sha256 != first.document.sha256
        assert "Delivery 1: delivery accepted" in _text(store.get(second.document.id, second.document.sha256))
        assert store.get(first.document.id, first.document.sha256) == data
        order = await until(handle, lambda v: len(v.certificates) == 2, "two certificates")
        assert order.certificates == [first, second]
        assert first.requested_by == "staff: Dana Staff"
        assert _scheduled(await handle.fetch_history(), names.ISSUE_CERTIFICATE) == 2


async def test_an_order_that_completes_has_a_final_certificate(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        order = await whole_order(handle, settings.outbox_dir)
    assert order.status is OrderStatus.COMPLETED
    [final] = order.certificates
    assert final.requested_by == "the order closing"
    data = LocalDocumentStore(settings.documents_path).get(final.document.id, final.document.sha256)
    text = _text(data)
    assert "Version 1: approved" in text and "Delivery 1: delivery accepted" in text and "TX-1" in text
    # It rides on the email that closed the order (support closed): no activity of its own.
    assert _scheduled(await handle.fetch_history(), names.ISSUE_CERTIFICATE) == 0
    assert _attached(settings, order.order_id, "support_closed") == {f"order-{order.order_id}-evidence-1.pdf": data}


async def test_a_cancelled_order_sends_its_last_certificate_with_the_cancellation(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await handle.signal(names.APPROVE, ApproveInput(version=1, evidence=Evidence(channel="cli", by="Dana")))
        await handle.signal(names.CANCEL, CancelInput(reason="The customer changed plans"))
        await handle.result()
        order = await until(handle, lambda v: len(v.certificates) == 1, "the last certificate")
    assert order.status is OrderStatus.CANCELLED
    [final] = order.certificates
    data = LocalDocumentStore(settings.documents_path).get(final.document.id, final.document.sha256)
    assert "Version 1: approved" in _text(data)
    assert _attached(settings, order.order_id, "cancelled") == {f"order-{order.order_id}-evidence-1.pdf": data}
    [email] = [
        m
        for m in outbox(settings.outbox_dir)
        if m["X-Order-Id"] == order.order_id and m["X-Message-Kind"] == "cancelled"
    ]
    body = email.get_body(("plain",))
    assert body is not None and "Attached is your order's evidence certificate (number 1)" in body.get_content()


async def test_an_order_that_closes_with_no_decision_issues_none(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await handle.result()  # the confirmation expires: nobody decided anything
        order = await until(handle, lambda v: v.status is OrderStatus.EXPIRED, "expired")
    assert order.certificates == []
    assert _scheduled(await handle.fetch_history(), names.ISSUE_CERTIFICATE) == 0
