"""Rendering, the outbox backend and the send_email activity, without a Temporal server."""

from __future__ import annotations

import email
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.config import Settings
from activities.email import (
    EmailActivities,
    OutboxBackend,
    backend_from_settings,
    build_message,
    list_outbox,
    outbox_filename,
    read_outbox_message,
    render,
)
from activities.outgoing import OutgoingEmail
from tests.activities.email_samples import (
    CUSTOMER_EMAIL,
    ORDER_ID,
    SAMPLE_CONTEXTS,
    audience_for,
    sample_context,
    sample_request,
)
from workflows.models import Audience, EmailReceipt, EmailRequest, MessageKind

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Overrides the conftest fixture: distinct staff addresses and an https base URL.
    return Settings(
        outbox_dir=tmp_path / "outbox",
        web_base_url="https://orders.example.com",
        ops_email="ops@example.com",
        support_email="help@example.com",
        reply_to="replies@example.com",
    )


class LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs.extend(value or "" for name, value in attrs if name == "href")


def collect(html: str) -> LinkCollector:
    parser = LinkCollector()
    parser.feed(html)
    parser.close()
    return parser


async def run_activity(acts: EmailActivities, request: EmailRequest) -> EmailReceipt:
    result: EmailReceipt = await ActivityEnvironment().run(acts.send_email, request)
    return result


def outgoing(**overrides: Any) -> OutgoingEmail:
    message = OutgoingEmail(
        order_id=ORDER_ID,
        kind="payment_requested",
        message_key=f"{ORDER_ID}:email:3:payment_requested",
        to_email=CUSTOMER_EMAIL,
        to_name="Jane Doe",
        from_email="orders@example.com",
        from_name="Example IT Services",
        reply_to="replies@example.com",
        subject="Order acme-2026-042: payment of EUR 4,800.00 due",
        text="Please pay.\n",
        html="<p>Please pay.</p>\n",
    )
    return replace(message, **overrides)


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def test_samples_cover_every_kind() -> None:
    assert set(SAMPLE_CONTEXTS) == set(MessageKind)


@pytest.mark.parametrize("kind", list(MessageKind), ids=lambda kind: kind.value)
def test_every_kind_renders(kind: MessageKind, settings: Settings) -> None:
    rendered = render(kind, SAMPLE_CONTEXTS[kind], settings)

    assert rendered.subject.strip() and rendered.text.strip() and rendered.html.strip()
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    for part in (rendered.subject, rendered.text, rendered.html):
        assert ORDER_ID in part
    assert settings.company_name in rendered.text and settings.company_name in rendered.html

    parsed = collect(rendered.html)
    assert {"html", "body", "p"} <= set(parsed.tags)
    assert parsed.hrefs, "the footer at least links the support address"
    for href in parsed.hrefs:
        assert href.startswith(("https://", "http://", "mailto:")), href


CTA_LINKS = {
    MessageKind.CONFIRMATION_ISSUED: "/orders/acme-2026-042/confirmation/2",
    MessageKind.CONFIRMATION_REMINDER: "/orders/acme-2026-042/confirmation/2",
    MessageKind.PAYMENT_DECLINED: "/orders/acme-2026-042/pay",
    MessageKind.DELIVERED: "/orders/acme-2026-042/delivery/1",
    MessageKind.ACCEPTANCE_REMINDER: "/orders/acme-2026-042/delivery/1",
    MessageKind.SUPPORT_OPENED: "/orders/acme-2026-042/support",
}


@pytest.mark.parametrize("kind", list(CTA_LINKS), ids=lambda kind: kind.value)
def test_call_to_action_links_are_absolute(kind: MessageKind, settings: Settings) -> None:
    rendered = render(kind, SAMPLE_CONTEXTS[kind], settings)
    url = "https://orders.example.com" + CTA_LINKS[kind]
    assert url in collect(rendered.html).hrefs
    assert url in rendered.text


def test_staff_messages_carry_customer_contact_not_a_call_to_action(settings: Settings) -> None:
    for kind, context in SAMPLE_CONTEXTS.items():
        if audience_for(kind) == Audience.CUSTOMER:
            continue
        rendered = render(kind, context, settings)
        assert "Hello team," in rendered.text
        assert CUSTOMER_EMAIL in rendered.text
        assert "/orders/" not in rendered.text


def test_customer_text_is_escaped_in_html_and_verbatim_in_text(settings: Settings) -> None:
    name = f"Mallory {SCRIPT}"
    comments = f"Change this: {SCRIPT} & more"
    context = sample_context(MessageKind.CHANGES_RECEIVED)
    context["order"]["customer"]["name"] = name
    context["comments"] = comments

    rendered = render(MessageKind.CHANGES_RECEIVED, context, settings)

    assert "<script" not in rendered.html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "&amp; more" in rendered.html
    assert f"Hello {name}," in rendered.text
    assert comments in rendered.text


def test_customer_text_is_escaped_in_every_kind(settings: Settings) -> None:
    for kind in MessageKind:
        customer = {"name": SCRIPT, "email": CUSTOMER_EMAIL, "company": SCRIPT, "phone": None}
        context = sample_context(kind, customer=customer)
        html = render(kind, context, settings).html
        assert "<script" not in html.lower(), kind


def test_optional_terms_fall_back_to_effective_defaults(settings: Settings) -> None:
    context = sample_context(MessageKind.CONFIRMATION_ISSUED)
    terms = context["confirmation"]["terms"]
    terms.update(payment_due=None, payment_grace=None, review_period=None, support_period=None)
    terms.update(estimated_delivery=None, milestones=[], other_terms=[], cancellation_fee="0.00")
    context["effective"].update(payment_due="P10D", payment_grace="P5D", review_period="PT48H", support_period="P90D")

    text = render(MessageKind.CONFIRMATION_ISSUED, context, settings).text

    assert "due within 10 days of approval" in text
    assert "unpaid 5 days after that" in text
    assert "you have 2 days to accept" in text
    assert "for 90 days after acceptance" in text
    assert "Cancellation fee" not in text and "Estimated delivery" not in text


def test_quiet_digest_says_work_continues(settings: Settings) -> None:
    context = sample_context(MessageKind.PROGRESS_DIGEST)
    context["recent_updates"] = []
    text = render(MessageKind.PROGRESS_DIGEST, context, settings).text
    assert "no news since 2 Dec 2026" in text


def test_overdue_payment_reminder_names_the_cancellation_date(settings: Settings) -> None:
    context = sample_context(MessageKind.PAYMENT_REMINDER)
    context["overdue"] = True
    rendered = render(MessageKind.PAYMENT_REMINDER, context, settings)
    assert "overdue" in rendered.subject
    assert "17 Dec 2026, 14:05 UTC" in rendered.text


def test_missing_context_key_is_a_template_error(settings: Settings) -> None:
    from jinja2 import TemplateError

    context = sample_context(MessageKind.PAYMENT_REQUESTED)
    del context["amount_due"]
    with pytest.raises(TemplateError, match="amount_due"):
        render(MessageKind.PAYMENT_REQUESTED, context, settings)


# --------------------------------------------------------------------------
# The outbox backend
# --------------------------------------------------------------------------


def test_outbox_filename_is_a_slug_of_the_message_key() -> None:
    assert outbox_filename("order-42:email:3:payment_requested") == "order-42_email_3_payment_requested.eml"
    assert outbox_filename("a/../b c") == "a_.._b_c.eml"


def test_outbox_writes_a_parseable_eml(tmp_path: Path) -> None:
    backend = OutboxBackend(tmp_path / "new" / "outbox")
    message = outgoing()

    message_id = backend.send(message)

    path = tmp_path / "new" / "outbox" / "acme-2026-042_email_3_payment_requested.eml"
    assert path.is_file()
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["X-Order-Id"] == ORDER_ID
    assert parsed["X-Message-Kind"] == "payment_requested"
    assert parsed["X-Message-Key"] == message.message_key
    assert parsed["Message-ID"] == message_id
    assert parsed["To"].addresses[0].addr_spec == CUSTOMER_EMAIL
    assert parsed["From"].addresses[0].display_name == "Example IT Services"
    assert parsed["Reply-To"] == "replies@example.com"
    assert parsed["Subject"] == message.subject
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "multipart/alternative"
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert text_part.get_content() == "Please pay.\n"
    assert html_part.get_content() == "<p>Please pay.</p>\n"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_outbox_send_is_idempotent_per_message_key(tmp_path: Path) -> None:
    backend = OutboxBackend(tmp_path)
    first = backend.send(outgoing())
    path = tmp_path / outbox_filename(outgoing().message_key)
    before = path.read_bytes()

    again = backend.send(outgoing(subject="A different subject", text="changed\n"))

    assert again == first
    assert path.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_message_id_is_deterministic(tmp_path: Path) -> None:
    first = OutboxBackend(tmp_path / "a").send(outgoing())
    second = OutboxBackend(tmp_path / "b").send(outgoing())
    other = OutboxBackend(tmp_path / "c").send(outgoing(message_key="other"))
    assert first == second != other
    assert first is not None and first.startswith("<") and first.endswith("@example.com>")


def test_non_ascii_names_and_subjects(tmp_path: Path) -> None:
    backend = OutboxBackend(tmp_path)
    backend.send(outgoing(to_name="Jörg Müller", subject="Bestätigung für Jörg", text="Grüße\n"))
    parsed = read_outbox_message(next(tmp_path.glob("*.eml")))
    assert parsed["To"].addresses[0].display_name == "Jörg Müller"
    assert parsed["Subject"] == "Bestätigung für Jörg"
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content() == "Grüße\n"


# --------------------------------------------------------------------------
# What a new user tripped over (issue 13)
# --------------------------------------------------------------------------

WORK_BEGINS = "We will let you know when work begins"


def _payment_received(settings: Settings, status: str, **context: Any) -> Any:
    return render(
        MessageKind.PAYMENT_RECEIVED,
        {**sample_context(MessageKind.PAYMENT_RECEIVED, status=status), **context},
        settings,
    )


def test_a_payment_after_the_balance_was_settled_says_it_was_more_than_due(settings: Settings) -> None:
    # The customer paid the EUR 4,800.00 total a second time, after work had started.
    payment = {"amount": "4800.00", "method": "bank_transfer", "reference": "SO-42", "at": "2026-11-24T10:00:00Z"}
    rendered = _payment_received(settings, "IN_PROGRESS", payment=payment, amount_paid="9600.00", balance_due="0.00")

    assert "more than was due" in rendered.subject
    for body in (rendered.text, rendered.html):
        assert "We have received your payment of EUR 4,800.00" in body
        assert "more than was due" in body
        assert "EUR 9,600.00" in body  # paid in total, next to the order total
        assert "operations team will be in touch" in body
        assert "refund" in body and "credit" in body
        assert WORK_BEGINS not in body
        assert "fully paid" not in body


def test_one_payment_above_the_total_is_an_overpayment_too(settings: Settings) -> None:
    payment = {"amount": "5000.00", "method": "card", "reference": "pi_1", "at": "2026-11-24T10:00:00Z"}
    rendered = _payment_received(settings, "AWAITING_PAYMENT", payment=payment, amount_paid="5000.00")
    assert "more than was due" in rendered.text
    assert WORK_BEGINS not in rendered.text and WORK_BEGINS not in rendered.html


@pytest.mark.parametrize("status", ["IN_PROGRESS", "AWAITING_ACCEPTANCE", "IN_SUPPORT"])
def test_a_payment_during_the_work_never_says_work_will_begin(settings: Settings, status: str) -> None:
    rendered = _payment_received(settings, status)  # settles the balance exactly
    for body in (rendered.text, rendered.html):
        assert "fully paid" in body
        assert WORK_BEGINS not in body
        assert "more than was due" not in body


def test_the_settling_payment_before_work_says_work_will_begin(settings: Settings) -> None:
    rendered = _payment_received(settings, "AWAITING_PAYMENT")
    assert WORK_BEGINS in rendered.text and WORK_BEGINS in rendered.html
    assert "more than was due" not in rendered.text


PAY_PAGE = "https://orders.example.com/orders/acme-2026-042/pay"
INVOICE = "https://billing.example.com/invoices/inv_123"
NO_INVOICE = {"invoice_url": None, "invoice_pdf": None}


@pytest.mark.parametrize(
    "kind", [MessageKind.PAYMENT_REQUESTED, MessageKind.PAYMENT_REMINDER, MessageKind.PAYMENT_DECLINED]
)
@pytest.mark.parametrize(
    ("methods", "instructions", "button"),
    [
        (["bank_transfer"], NO_INVOICE, None),
        (["bank_transfer", "invoice"], {}, ("Pay the invoice online", INVOICE)),
        (["card"], NO_INVOICE, ("Pay now", PAY_PAGE)),
        (["card", "bank_transfer", "invoice"], {}, ("Pay now", PAY_PAGE)),
    ],
    ids=["bank-transfer-only", "invoice", "card", "card-and-invoice"],
)
def test_payment_emails_show_a_button_only_when_there_is_something_to_click(
    settings: Settings,
    kind: MessageKind,
    methods: list[str],
    instructions: dict[str, Any],
    button: tuple[str, str] | None,
) -> None:
    context = sample_context(kind)
    context["methods"] = methods
    context["instructions"] = {**context["instructions"], **instructions}
    rendered = render(kind, context, settings)

    assert ("If the button does not work" in rendered.html) == (button is not None)
    if button is None:
        assert PAY_PAGE not in rendered.text and PAY_PAGE not in collect(rendered.html).hrefs
        assert "Pay now" not in rendered.text and "Pay now" not in rendered.html
        assert "IBAN" in rendered.text  # the bank details are still there
    else:
        label, url = button
        assert f"{label}:\n{url}" in rendered.text
        assert f">{label}</a>" in rendered.html and url in collect(rendered.html).hrefs


def test_list_outbox_sorts_by_date_then_name(tmp_path: Path) -> None:
    assert list_outbox(tmp_path / "missing") == []
    early = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    late = early + timedelta(hours=1)
    for key, date in (("c", late), ("a", late), ("b", early)):
        mail = build_message(outgoing(message_key=key, subject=f"Subject {key}"), f"<{key}@example.com>", date)
        (tmp_path / outbox_filename(key)).write_bytes(mail.as_bytes())
    (tmp_path / ".partial.eml").write_bytes(b"")

    entries = list_outbox(tmp_path)

    assert [e.path.name for e in entries] == ["b.eml", "a.eml", "c.eml"]
    assert [e.date for e in entries] == [early, late, late]
    assert entries[0].subject == "Subject b"
    assert all(e.order_id == ORDER_ID and e.kind == "payment_requested" for e in entries)
    assert all(CUSTOMER_EMAIL in e.to and "Jane Doe" in e.to for e in entries)
    message = read_outbox_message(entries[0].path)
    assert message["Message-ID"] == "<b@example.com>"


def test_backend_from_settings_is_the_outbox(settings: Settings) -> None:
    backend = backend_from_settings(settings)
    assert isinstance(backend, OutboxBackend)
    assert backend.name == "outbox"
    assert backend.directory == settings.outbox_dir


# --------------------------------------------------------------------------
# The send_email activity
# --------------------------------------------------------------------------


async def test_send_email_to_the_customer(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    acts = EmailActivities(settings, OutboxBackend(settings.outbox_dir))
    request = sample_request(MessageKind.PAYMENT_REQUESTED)

    with caplog.at_level(logging.INFO):
        receipt = await run_activity(acts, request)

    assert receipt.message_key == request.message_key
    assert receipt.backend == "outbox"
    assert receipt.message_id
    [entry] = list_outbox(settings.outbox_dir)
    assert CUSTOMER_EMAIL in entry.to and "Jane Doe" in entry.to
    assert entry.kind == "payment_requested"
    message = read_outbox_message(entry.path)
    assert message["Reply-To"] == settings.reply_to
    assert message["Message-ID"] == receipt.message_id
    assert ORDER_ID in caplog.text and request.message_key in caplog.text
    assert CUSTOMER_EMAIL not in caplog.text

    again = await run_activity(acts, request)
    assert again == receipt
    assert len(list_outbox(settings.outbox_dir)) == 1


@pytest.mark.parametrize(
    ("kind", "address"),
    [(MessageKind.REFUND_NEEDED, "ops@example.com"), (MessageKind.SUPPORT_TEAM_NOTICE, "help@example.com")],
)
async def test_send_email_to_staff_uses_configured_addresses(
    kind: MessageKind, address: str, settings: Settings
) -> None:
    acts = EmailActivities(settings, OutboxBackend(settings.outbox_dir))
    request = sample_request(kind).model_copy(update={"to_email": "ignored@customer.example"})

    await run_activity(acts, request)

    [entry] = list_outbox(settings.outbox_dir)
    assert entry.to == address


async def test_forwarded_support_request_replies_to_the_customer(settings: Settings) -> None:
    acts = EmailActivities(settings, OutboxBackend(settings.outbox_dir))
    await run_activity(acts, sample_request(MessageKind.SUPPORT_REQUEST_FORWARDED))
    [entry] = list_outbox(settings.outbox_dir)
    assert entry.to == settings.support_email
    assert read_outbox_message(entry.path)["Reply-To"] == CUSTOMER_EMAIL


async def test_send_email_without_customer_address_is_not_retried(settings: Settings) -> None:
    acts = EmailActivities(settings, OutboxBackend(settings.outbox_dir))
    request = sample_request(MessageKind.CONTACT_ACK).model_copy(update={"to_email": None})

    with pytest.raises(ApplicationError) as caught:
        await run_activity(acts, request)

    assert caught.value.type == "MissingRecipient"
    assert caught.value.non_retryable
    assert list_outbox(settings.outbox_dir) == []


async def test_template_error_is_not_retried(settings: Settings) -> None:
    acts = EmailActivities(settings, OutboxBackend(settings.outbox_dir))
    request = sample_request(MessageKind.DELIVERED)
    del request.context["review_ends_at"]

    with pytest.raises(ApplicationError) as caught:
        await run_activity(acts, request)

    assert caught.value.type == "TemplateError"
    assert caught.value.non_retryable
    assert "delivered" in caught.value.message and "review_ends_at" in caught.value.message
    assert list_outbox(settings.outbox_dir) == []
