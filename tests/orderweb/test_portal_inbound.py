"""SendGrid Inbound Parse posts: real multipart bodies, as SendGrid sends them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from orderweb.inbound import INBOUND_PATH, MAX_INBOUND_BYTES, MAX_INBOUND_POST, authenticate, parse_mail
from tests.helpers import eventually, outbox, start_input
from tests.orderweb.portal_harness import INBOUND_SECRET, PortalHarness, running_portal
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
    spf: str = "pass",
    dkim: str = "none",
    envelope_from: str | None = None,
) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    """The fields and file parts of an Inbound Parse post (not the raw-MIME variant).

    By default the sender's own server sent it (``SPF`` passes for the envelope
    sender, which is the ``From`` address); ``spf``, ``dkim`` (SendGrid's
    ``{@domain : result}`` form) and ``envelope_from`` say otherwise."""
    envelope_sender = envelope_from if envelope_from is not None else sender.split("<")[-1].rstrip(">")
    fields = {
        "headers": f"Message-ID: {message_id}\nFrom: {sender}\nTo: {to}\nSubject: {subject}\n",
        "from": sender,
        "to": to,
        "subject": subject,
        "text": text,
        "html": "<p>" + text.replace("\n", "<br>") + "</p>",
        "envelope": json.dumps({"to": [to.split("<")[-1].rstrip(">")], "from": envelope_sender}),
        "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": "UTF-8"}),
        "SPF": spf,
        "dkim": dkim,
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


def multipart(
    fields: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]] | None = None
) -> list[tuple[str, tuple[str | None, Any, str | None]]]:
    """Every field as a part of a multipart/form-data body, as SendGrid posts them
    (httpx would url-encode fields posted without a file)."""
    parts: list[tuple[str, tuple[str | None, Any, str | None]]] = [
        (name, (None, value, None)) for name, value in fields.items()
    ]
    return parts + list(files or [])


async def post(portal: PortalHarness, **mail: Any) -> httpx.Response:
    fields, files = parse_post(**mail)
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as http:
        return await http.post(f"{INBOUND_PATH}/{INBOUND_SECRET}", files=multipart(fields, files))


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
    await portal.orders.act(start.order_id, CancelInput(reason="customer withdrew", by="customer"))
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
        assert (await http.post(INBOUND_PATH, files=multipart(fields))).status_code == 401
        assert (await http.post(f"{INBOUND_PATH}/wrong-secret", files=multipart(fields))).status_code == 401
        with_basic = await http.post(INBOUND_PATH, files=multipart(fields), auth=("sendgrid", INBOUND_SECRET))
        assert with_basic.status_code == 200 and with_basic.json()["started"] is True
        beyond = await http.post(
            f"{INBOUND_PATH}/{INBOUND_SECRET}",
            content=b"x" * (MAX_INBOUND_POST + 1),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert beyond.status_code == 413  # more than SendGrid ever posts: not a mail
        not_a_form = await http.post(f"{INBOUND_PATH}/{INBOUND_SECRET}", data=fields)  # url-encoded
        assert not_a_form.status_code == 400


async def test_mail_too_big_to_apply_is_reported_to_operations(portal: PortalHarness) -> None:
    """Too many attachments or fields, or too many bytes: nothing applied, operations told, SendGrid gets 200."""
    start = start_input()
    await portal.orders.start(start)
    reply_to = f"orders+{start.order_id}@in.example.com"
    many_files, _ = parse_post(
        sender="alice@example.com", to=reply_to, subject="All the scans", text="Here.", message_id="<f@example.com>"
    )
    files = [(f"attachment{n}", (f"scan{n}.png", b"png", "image/png")) for n in range(1, 102)]
    many_fields, _ = parse_post(
        sender="bob@example.org", to="orders@in.example.com", subject="Odd form", text="Hi.", message_id="<o@x>"
    )
    many_fields |= {f"x-extra-{n}": "1" for n in range(200)}
    big, _ = parse_post(
        sender="carol@example.net", to="orders@in.example.com", subject="Video", text="Film.", message_id="<v@x>"
    )
    big_file = [("attachment1", ("film.mp4", b"x" * MAX_INBOUND_BYTES, "video/mp4"))]
    async with httpx.AsyncClient(base_url=portal.url, timeout=60) as http:
        url = f"{INBOUND_PATH}/{INBOUND_SECRET}"
        answers = [
            await http.post(url, files=multipart(many_files, files)),
            await http.post(url, files=multipart(many_fields)),
            await http.post(url, files=multipart(big, big_file)),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert "101 attachments (at most 100)" in answers[0].json()["forwarded"]
    assert "too many form fields" in answers[1].json()["forwarded"]
    assert "larger than 10 MB" in answers[2].json()["forwarded"]
    assert (await portal.orders.status(start.order_id)).notes == []
    acks = [m["X-Order-Id"] for m in outbox(portal.outbox_dir) if m["X-Message-Kind"] == "contact_ack"]
    assert acks == [start.order_id]  # no order was started from the mail
    texts = [m.get_body(("plain",)).get_content() for m in alerts(portal)]
    assert len(texts) == 3
    assert "alice@example.com" in texts[0] and "All the scans" in texts[0] and "Size:" in texts[0]
    assert "bob@example.org" in texts[1] and "Odd form" in texts[1]
    assert "carol@example.net" in texts[2] and "Video" in texts[2] and "10.0 MB" in texts[2]


async def test_a_forged_from_never_becomes_a_customer_note(portal: PortalHarness) -> None:
    start = start_input()
    await portal.orders.start(start)
    reply_to = f"orders+{start.order_id}@in.example.com"
    forged = [
        # Mallory's server passes SPF for mallory's own domain, not for the customer's.
        ("forged", {"envelope_from": "bounce@mallory.example"}),
        ("softfail", {"spf": "softfail"}),
        ("no-auth", {"spf": "none", "dkim": "none"}),
        ("dkim-other", {"spf": "fail", "dkim": "{@mallory.example : pass}"}),
        ("dkim-fail", {"spf": "neutral", "dkim": "{@example.com : fail}"}),
    ]
    for name, auth in forged:
        answer = await post(
            portal,
            sender="Alice Example <alice@example.com>",
            to=reply_to,
            subject="Re: your order",
            text=f"Please send the refund to my new account ({name}).",
            message_id=f"<{name}@mallory.example>",
            **auth,
        )
        assert answer.status_code == 200, name
        assert "could not be verified" in answer.json()["forwarded"], (name, answer.json())
    assert (await portal.orders.status(start.order_id)).notes == []
    reviewed = alerts(portal)
    assert len(reviewed) == len(forged)
    text = reviewed[0].get_body(("plain",)).get_content()
    assert "could not be verified" in text and "mallory.example" in text

    # Signed by the customer's domain (DKIM), the reply is the customer's, whatever SPF says.
    signed = await post(
        portal,
        sender="Alice Example <alice@example.com>",
        to=reply_to,
        subject="Re: your order",
        text="Signed and sent through a forwarder.",
        message_id="<signed@example.com>",
        spf="softfail",
        envelope_from="srs0=forwarder@lists.example.net",
        dkim="{@lists.example.net : pass, @example.com : pass}",
    )
    assert signed.json()["note"] is True
    [note] = (await portal.orders.status(start.order_id)).notes
    assert "Signed and sent through a forwarder." in note.text


async def test_an_unverified_new_message_starts_no_order_and_is_not_acknowledged(portal: PortalHarness) -> None:
    answer = await post(
        portal,
        sender="Victim <victim@third-party.example>",
        to="orders@in.example.com",
        subject="Please call me",
        text="Spam that would make you mail a stranger.",
        message_id="<spoof-1@botnet.example>",
        spf="fail",
        envelope_from="victim@third-party.example",
    )
    assert answer.status_code == 200
    assert answer.json()["order_id"] is None and "could not be verified" in answer.json()["forwarded"]
    assert [m["X-Message-Kind"] for m in outbox(portal.outbox_dir)] == ["inbound_email_review"]
    [alert] = alerts(portal)
    assert alert["To"] == portal.settings.ops_email
    assert "SPF fail" in alert.get_body(("plain",)).get_content()


@pytest.fixture
async def limited_portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue, contact_limit=2) as harness:
        yield harness


async def test_new_messages_are_rate_limited_per_sender_and_per_domain(limited_portal: PortalHarness) -> None:
    portal = limited_portal

    async def new_message(sender: str, n: int) -> httpx.Response:
        return await post(
            portal,
            sender=sender,
            to="orders@in.example.com",
            subject=f"Request {n}",
            text="Hello.",
            message_id=f"<n{n}-{sender}>",
        )

    answers = [await new_message("busy@big.example", n) for n in range(3)]
    assert [a.json().get("started") for a in answers] == [True, True, None]
    assert "too many new messages from busy@big.example" in answers[2].json()["forwarded"]
    assert answers[2].json()["order_id"] is None
    # The same message again (SendGrid retrying it) is not counted twice ...
    assert (await new_message("busy@big.example", 0)).json() == answers[0].json() | {"started": False}
    # ... and other senders of the domain share the domain's larger allowance.
    others = [await new_message(f"person{n}@big.example", n) for n in range(8)]
    started = [a for a in others if a.json().get("started")]
    limited = [a for a in others if "forwarded" in a.json()]
    assert len(started) == 6 and len(limited) == 2  # the domain's 8 = 2 (busy) + 6
    assert "too many new messages from big.example" in limited[0].json()["forwarded"]
    assert (await new_message("someone@small.example", 1)).json()["started"] is True
    assert len(alerts(portal)) == 3


@pytest.mark.parametrize(
    ("fields", "verified", "how"),
    [
        ({"SPF": "pass"}, True, "SPF pass for example.com"),
        ({"SPF": "pass", "envelope": '{"from": "bounce@mail.example.com"}'}, True, "SPF pass for mail.example.com"),
        ({"SPF": "pass", "envelope": '{"from": "x@example.com.evil.test"}'}, False, "not example.com's domain"),
        ({"SPF": "softfail"}, False, "SPF softfail for example.com"),
        ({"SPF": "pass", "envelope": "not json"}, False, "an unknown envelope sender"),
        ({"dkim": "{@example.com : pass}"}, True, "DKIM pass for example.com"),
        ({"dkim": '{"@example.com": "pass"}'}, True, "DKIM pass for example.com"),
        ({"dkim": "{@notexample.com : pass, @example.com : fail}"}, False, "fail for example.com"),
        ({"dkim": "none"}, False, "DKIM: none"),
        ({}, False, "SPF none"),
    ],
)
def test_the_sender_is_verified_from_sendgrids_spf_and_dkim_fields(
    fields: dict[str, str], verified: bool, how: str
) -> None:
    post = {"from": "Alice <alice@example.com>", "envelope": '{"from": "alice@example.com"}', **fields}
    ok, said = authenticate(parse_mail(post, 0))
    assert ok is verified and how in said, said
