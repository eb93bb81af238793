"""The confirmation PDF under the production worker, on the time-skipping server.

The email activity renders and stores the PDF when it sends a confirmation,
attaches it, and answers its reference; the order keeps that reference on the
version. No other activity and no other command: the history holds the same
events as before, plus the reference in the email's result, and never the bytes.
A PDF that cannot be made lets the email go without it and tells operations.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from activities.document_store import LocalDocumentStore
from tests.conftest import make_worker
from tests.doubles.sendgrid_api import TEST_API_KEY, SendGridDouble
from tests.helpers import draft, eventually, kinds, new_order_id, outbox, start_input, view
from workflows import names
from workflows.models import (
    Customer,
    DocumentRef,
    IssueConfirmationInput,
    OrderView,
    RequestChangesInput,
)
from workflows.order import ServiceOrderWorkflow

NAME = "Zoë Łukasiewicz 李雷"


async def _start(client: Client, task_queue: str, order_id: str | None = None) -> WorkflowHandle[Any, Any]:
    start = start_input(order_id or new_order_id())
    start = start.model_copy(update={"customer": Customer(name=NAME, email="zoe@example.com")})
    return await client.start_workflow(
        ServiceOrderWorkflow.run, start, id=names.workflow_id(start.order_id), task_queue=task_queue
    )


async def _confirmed(handle: WorkflowHandle[Any, Any], version: int, sent: Any) -> OrderView:
    """Issue a version and wait until the order has recorded its email as sent."""
    await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(f"{4800 + version}.00")))
    await eventually(sent, f"confirmation v{version} sent")

    async def recorded() -> bool:
        order = await view(handle)
        emails = [e for e in order.timeline if e.event == "email sent" and "confirmation_issued" in e.detail]
        return len(emails) == version

    await eventually(recorded, f"the order records confirmation v{version}'s email")
    return await view(handle)


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _attachments(outbox_dir: Path, kind: str) -> list[Any]:
    return [list(m.iter_attachments()) for m in outbox(outbox_dir) if m["X-Message-Kind"] == kind]


async def test_each_confirmation_email_carries_the_pdf_its_version_records(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await _start(ts_env.client, task_queue)

        def sent(count: int) -> Callable[[], bool]:
            return lambda: kinds(settings.outbox_dir).count("confirmation_issued") == count

        first = await _confirmed(handle, 1, sent(1))
        await handle.signal(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Cheaper please"))
        order = await _confirmed(handle, 2, sent(2))

    store = LocalDocumentStore(settings.documents_path)
    documents = [c.document for c in order.confirmations]
    assert all(isinstance(d, DocumentRef) for d in documents)
    assert [d.id for d in documents if d] == [f"{order.order_id}/confirmation-v{n}.pdf" for n in (1, 2)]
    assert first.confirmations[0].document == documents[0]  # a new version never touches an old one's
    for version, (document, attachments) in enumerate(
        zip(documents, _attachments(settings.outbox_dir, "confirmation_issued"), strict=True), start=1
    ):
        assert document is not None
        [attachment] = attachments
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"order-{order.order_id}-confirmation-v{version}.pdf"
        attached = attachment.get_content()
        assert hashlib.sha256(attached).hexdigest() == document.sha256 and len(attached) == document.size
        assert store.get(document.id, document.sha256) == attached
        text = _pdf_text(attached)
        for expected in (order.order_id, f"Version {version}", "Website redesign", f"EUR 4,80{version}.00", NAME):
            assert expected in text, f"{expected!r} not in v{version}'s PDF:\n{text}"
    # Only the confirmation carries a file.
    assert _attachments(settings.outbox_dir, "contact_ack") == [[]]

    await _check_history(handle, documents[1])


async def _check_history(handle: WorkflowHandle[Any, Any], document: DocumentRef | None) -> None:
    """No new activity: every activity is one there was before; the bytes are never in the
    history, and the email's result that names the PDF is small."""
    assert document is not None
    history = await handle.fetch_history()
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert scheduled == {names.SEND_EMAIL}  # the policy is a local activity, as before
    assert b"%PDF" not in history.to_json().encode() and "JVBERi" not in history.to_json()
    results = [
        e.activity_task_completed_event_attributes.result.payloads[0].data
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
    ]
    naming = [r for r in results if document.sha256.encode() in r]
    assert len(naming) == 1 and len(naming[0]) < 400


async def test_sendgrid_attaches_the_pdf_base64(
    ts_env: WorkflowEnvironment, settings: Settings, sendgrid_api: SendGridDouble, task_queue: str
) -> None:
    sg = replace(settings, email_backend="sendgrid", sendgrid_api_key=TEST_API_KEY, sendgrid_api_base=sendgrid_api.url)
    async with make_worker(ts_env.client, sg, task_queue):
        handle = await _start(ts_env.client, task_queue)
        accepted = lambda: any(r.accepted for r in sendgrid_api.requests_for(kind="confirmation_issued"))  # noqa: E731
        order = await _confirmed(handle, 1, accepted)
    document = order.confirmations[0].document
    assert document is not None
    [request] = sendgrid_api.requests_for(kind="confirmation_issued")
    [attachment] = request.body["attachments"]
    assert attachment["type"] == "application/pdf"
    assert attachment["disposition"] == "attachment"
    assert attachment["filename"] == f"order-{order.order_id}-confirmation-v1.pdf"
    assert hashlib.sha256(base64.b64decode(attachment["content"])).hexdigest() == document.sha256
    [ack] = sendgrid_api.requests_for(kind="contact_ack")
    assert "attachments" not in ack.body


async def test_a_pdf_that_cannot_be_made_holds_nothing_up(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str, tmp_path: Path
) -> None:
    # The document store's directory is a file: nothing can be stored there.
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    broken = replace(settings, documents_dir=blocked)
    async with make_worker(ts_env.client, broken, task_queue):
        handle = await _start(ts_env.client, task_queue)
        order = await _confirmed(handle, 1, lambda: "document_failed" in kinds(settings.outbox_dir))

    assert order.confirmations[0].document is None
    assert order.status.value == "AWAITING_APPROVAL"
    assert _attachments(settings.outbox_dir, "confirmation_issued") == [[]]
    [alert] = [m for m in outbox(settings.outbox_dir) if m["X-Message-Kind"] == "document_failed"]
    assert str(alert["To"]) == settings.ops_email
    body = alert.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"confirmation version 1 for order {order.order_id}" in text and "not-a-directory" in text
    assert order.failed_emails == []
