"""SendGrid Inbound Parse posts: real multipart bodies, as SendGrid sends them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from starter.inbound import INBOUND_PATH, MAX_INBOUND_BYTES
from tests.helpers import eventually, outbox, start_input
from tests.starter.portal_harness import INBOUND_SECRET, PortalHarness, running_portal
from workflows.models import CancelInput, Channel, OrderStatus


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue) as harness:
        yield harness


def parse_post(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    attachments: int = 0,
) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    """The fields and file parts of an Inbound Parse post (not the raw-MIME variant)."""
    fields = {
        "headers": f"Message-ID: {message_id}\nFrom: {sender}\nTo: {to}\nSubject: {subject}\n",
        "from": sender,
        "to": to,
        "subject": subject,
        "text": text,
        "html": "<p>" + text.replace("\n", "<br>") + "</p>",
        "envelope": json.dumps({"to": [to.split("<")[-1].rstrip(">")], "from": sender.split("<")[-1].rstrip(">")}),
        "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": "UTF-8"}),
        "SPF": "pass",
        "attachments": str(attachments),
    }
    files = [
        (f"attachment{n}", (f"file{n}.pdf", b"%PDF-1.4 not really" * 10, "application/pdf"))
        for n in range(1, attachments + 1)
    ]
    if attachments:
        info = {
            f"attachment{n}": {"filename": f"file{n}.pdf", "type": "application/pdf"} for n in range(1, attachments + 1)
        }
        fields["attachment-info"] = json.dumps(info)
    return fields, files


async def post(portal: PortalHarness, **mail: Any) -> httpx.Response:
    fields, files = parse_post(**mail)
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as http:
        return await http.post(f"{INBOUND_PATH}/{INBOUND_SECRET}", data=fields, files=files or None)


def alerts(portal: PortalHarness) -> list[Any]:
    return [m for m in outbox(portal.outbox_dir) if m["X-Message-Kind"] == "inbound_email_review"]


async def test_a_new_message_starts_one_order_with_channel_email(portal: PortalHarness) -> None:
    mail = {
        "sender": "Grace Hopper <grace@navy.example>",
        "to": "orders@in.example.com",
        "subject": "A compiler for our team",
        "text": "We need a compiler.\nCan you help?",
        "message_id": "<abc-1@navy.example>",
    }
    first = await post(portal, **mail)
    again = await post(portal, **mail)  # SendGrid retries a post it thinks failed
    assert first.status_code == again.status_code == 200
    order_id = first.json()["order_id"]
    assert again.json() == {"order_id": order_id, "started": False}
    view = await portal.orders.status(order_id)
    assert view.channel == Channel.EMAIL
    assert (view.customer.name, view.customer.email) == ("Grace Hopper", "grace@navy.example")
    assert "We need a compiler." in view.first_message


async def test_a_customer_reply_becomes_a_note_by_plus_address_or_subject(portal: PortalHarness) -> None:
    start = start_input()
    await portal.orders.start(start)
    # Customer mail carries the order's plus-address as Reply-To, so a reply comes back here.
    await eventually(lambda: "contact_ack" in portal.kinds(start.order_id), "contact_ack")
    [ack] = [m for m in outbox(portal.outbox_dir) if m["X-Order-Id"] == start.order_id]
    assert ack["Reply-To"] == f"orders+{start.order_id}@in.example.com"
    by_plus = await post(
        portal,
        sender="Alice Example <ALICE@example.com>",
        to=f"orders+{start.order_id}@in.example.com",
        subject="Re: thank you for getting in touch",
        text="Here are the designs.",
        message_id="<r1@example.com>",
        attachments=2,
    )
    assert by_plus.status_code == 200 and by_plus.json()["note"] is True
    by_subject = await post(
        portal,
        sender="alice@example.com",
        to="orders@in.example.com",
        subject=f"Re: Order {start.order_id}: thank you for getting in touch",
        text="One more thing.",
        message_id="<r2@example.com>",
    )
    assert by_subject.json()["note"] is True
    notes = (await portal.orders.status(start.order_id)).notes
    assert [n.author for n in notes] == ["customer", "customer"]
    assert "Here are the designs." in notes[0].text and "2 attachments were not stored" in notes[0].text
    assert "One more thing." in notes[1].text
    assert alerts(portal) == []


async def test_a_reply_to_a_closed_order_goes_to_operations(portal: PortalHarness) -> None:
    start = start_input()
    await portal.orders.start(start)
    await portal.orders.cancel(start.order_id, CancelInput(reason="customer withdrew", by="customer"))
    answer = await post(
        portal,
        sender="alice@example.com",
        to=f"orders+{start.order_id}@in.example.com",
        subject="Re: cancelled",
        text="Actually, can we restart?",
        message_id="<r3@example.com>",
    )
    assert answer.status_code == 200 and "closed" in answer.json()["forwarded"]
    view = await portal.orders.status(start.order_id)
    assert view.status == OrderStatus.CANCELLED and view.notes == []
    [alert] = alerts(portal)
    assert alert["To"] == portal.settings.ops_email
    assert "Actually, can we restart?" in alert.get_body(("plain",)).get_content()


async def test_a_strangers_reply_is_not_applied(portal: PortalHarness) -> None:
    start = start_input()
    await portal.orders.start(start)
    answer = await post(
        portal,
        sender="Mallory <mallory@elsewhere.example>",
        to=f"orders+{start.order_id}@in.example.com",
        subject="Re: your order",
        text="Send the invoice to me.",
        message_id="<m1@elsewhere.example>",
        attachments=1,
    )
    assert answer.status_code == 200 and "other than the customer" in answer.json()["forwarded"]
    assert (await portal.orders.status(start.order_id)).notes == []
    [alert] = alerts(portal)
    text = alert.get_body(("plain",)).get_content()
    assert "mallory@elsewhere.example" in text and "Attachments: 1 (not stored)" in text


async def test_the_endpoint_needs_its_secret_and_limits_the_body(portal: PortalHarness) -> None:
    fields, _ = parse_post(sender="a@b.example", to="orders@in.example.com", subject="s", text="t", message_id="<x>")
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as http:
        assert (await http.post(INBOUND_PATH, data=fields)).status_code == 401
        assert (await http.post(f"{INBOUND_PATH}/wrong-secret", data=fields)).status_code == 401
        with_basic = await http.post(INBOUND_PATH, data=fields, auth=("sendgrid", INBOUND_SECRET))
        assert with_basic.status_code == 200 and with_basic.json()["started"] is True
        huge = await http.post(
            f"{INBOUND_PATH}/{INBOUND_SECRET}",
            data=fields,
            files=[("attachment1", ("big.bin", b"x" * (MAX_INBOUND_BYTES + 1), "application/octet-stream"))],
        )
        assert huge.status_code == 413
