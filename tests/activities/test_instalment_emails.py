"""The emails of a payment schedule: each later instalment's request, notice, reminder, failed
charge and overdue alert, and the deposit's payment emails naming the instalment(s) due now.

Rendered with the real renderer, text and HTML; the contexts are ``email_samples``' (shaped as
``workflows/email_contexts.instalment_context`` and ``payment_context`` make them).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from jinja2.exceptions import FilterArgumentError

from activities.config import Settings
from activities.email import INTERNAL_KINDS, RenderedEmail, render
from activities.email_format import due_now, format_instalment_event
from ordersecurity.links import AUTHENTICATE, verify_link
from tests.activities.email_samples import (
    CUSTOMER_EMAIL,
    ORDER_ID,
    SAMPLE_VARIANTS,
    audience_for,
    sample_context,
)
from tests.activities.test_email import collect
from workflows.models import Audience, MessageKind

SECRET = "test-link-secret-0123456789"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PAY_PAGE = f"https://orders.example.com/orders/{ORDER_ID}/pay"
STRIPE_3DS = "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3Q&publishable_key=pk"

CUSTOMER_KINDS = (
    MessageKind.INSTALMENT_DUE,
    MessageKind.INSTALMENT_CHARGE_NOTICE,
    MessageKind.INSTALMENT_REMINDER,
    MessageKind.INSTALMENT_CHARGE_FAILED,
)


@pytest.fixture
def settings() -> Settings:
    return Settings(web_base_url="https://orders.example.com", ops_email="ops@example.com")


def _render(kind: MessageKind, settings: Settings, **changes: Any) -> RenderedEmail:
    return render(kind, {**sample_context(kind), **changes}, settings)


def _variant(case: str, settings: Settings) -> RenderedEmail:
    kind, context = SAMPLE_VARIANTS[case]
    return render(kind, context, settings)


def _both(rendered: RenderedEmail) -> tuple[str, str]:
    return rendered.text, rendered.html


def _token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


# --------------------------------------------------------------------------
# The kinds
# --------------------------------------------------------------------------


def test_the_instalment_kinds_and_who_reads_them() -> None:
    assert [kind.value for kind in CUSTOMER_KINDS] == [
        "instalment_due",
        "instalment_charge_notice",
        "instalment_reminder",
        "instalment_charge_failed",
    ]
    assert MessageKind.INSTALMENT_OVERDUE.value == "instalment_overdue"
    assert MessageKind.INSTALMENT_OVERDUE in INTERNAL_KINDS
    assert audience_for(MessageKind.INSTALMENT_OVERDUE) is Audience.OPERATIONS
    for kind in CUSTOMER_KINDS:
        assert kind not in INTERNAL_KINDS and audience_for(kind) is Audience.CUSTOMER
    # Declared right after INVOICE_READY, in the order the brief gives.
    members = list(MessageKind)
    start = members.index(MessageKind.INVOICE_READY) + 1
    assert members[start : start + 5] == [*CUSTOMER_KINDS, MessageKind.INSTALMENT_OVERDUE]


@pytest.mark.parametrize(
    ("due", "words"),
    [
        ("milestone:Design", "The milestone Design is completed"),
        ("delivery", "The work is delivered"),
        ("acceptance", "The work is accepted"),
        ("P30D", "The agreed date has come (30 days after approval)"),
        ("approval", "The order is approved"),
        ("change:v3", "You approved change order 3"),
    ],
)
def test_what_an_instalment_fell_due_on_in_words(due: str, words: str) -> None:
    assert format_instalment_event(due) == words


def test_an_unknown_event_is_refused_by_name() -> None:
    with pytest.raises(FilterArgumentError, match="instalment_event: 'tomorrow'"):
        format_instalment_event("tomorrow")


def test_what_is_due_now_is_what_fell_due_and_is_unpaid() -> None:
    rows = [
        {"number": 1, "due": "approval", "status": "open"},
        {"number": 2, "due": "approval", "status": "paid"},
        {"number": 3, "due": "P1D", "status": "overdue"},  # a date after approval that passed before work began
        {"number": 4, "due": "milestone:Design", "status": "scheduled"},
        {"number": 5, "due": "approval", "status": "scheduled"},  # planned, not yet allocated
    ]
    assert [row["number"] for row in due_now(rows)] == [1, 3, 5]
    for bad in ("Deposit", [{"number": 1}]):
        with pytest.raises(FilterArgumentError, match=r"due_now: .* is not a list of instalments"):
            due_now(bad)


# --------------------------------------------------------------------------
# instalment_due
# --------------------------------------------------------------------------


def test_the_request_names_the_instalment_its_event_and_how_to_pay(settings: Settings) -> None:
    rendered = _render(MessageKind.INSTALMENT_DUE, settings)
    assert rendered.subject == f"Order {ORDER_ID}, instalment Design (2 of 3): EUR 1,920.00 due by 16 Dec 2026"
    text, html = _both(rendered)
    assert "The milestone Design approved is completed, so instalment 2 of 3, Design, is now due." in text
    assert "Please pay EUR 1,920.00 by 16 Dec 2026, 16:45 UTC." in text
    assert "<strong>EUR 1,920.00</strong>" in html
    assert "You can pay by card, bank transfer or invoice." in text
    # Its own reference and invoice, not the order's.
    assert "Payment reference: ORD-ACME-2026-042-2" in text
    assert "Reference:    ORD-ACME-2026-042-2" in text
    assert "Invoice: https://billing.example.com/invoices/inv_456" in text
    assert "https://billing.example.com/invoices/inv_456" in collect(html).hrefs
    # Card is a method: the pay page's button.
    assert f"Pay now:\n{PAY_PAGE}" in text
    assert ">Pay now</a>" in html and PAY_PAGE in collect(html).hrefs
    assert "automatically" not in text  # no saved card


@pytest.mark.parametrize(
    ("due", "words"),
    [
        ("delivery", "The work is delivered, so instalment 2 of 3, Design, is now due."),
        ("acceptance", "The work is accepted, so instalment 2 of 3, Design, is now due."),
        ("P30D", "The agreed date has come (30 days after approval), so instalment 2 of 3, Design, is now due."),
    ],
)
def test_the_request_says_what_it_fell_due_on(settings: Settings, due: str, words: str) -> None:
    context = sample_context(MessageKind.INSTALMENT_DUE)
    context["instalment"]["due"] = due
    text, html = _both(render(MessageKind.INSTALMENT_DUE, context, settings))
    assert words in text
    assert words in html


def test_without_card_there_is_no_pay_now_button(settings: Settings) -> None:
    context = sample_context(MessageKind.INSTALMENT_DUE)
    context["methods"] = ["bank_transfer"]
    context["instructions"]["invoice_url"] = None
    text, html = _both(render(MessageKind.INSTALMENT_DUE, context, settings))
    assert "Pay now" not in text and "Pay now" not in html
    assert "/pay" not in text
    assert "IBAN" in text and "You can pay by bank transfer." in text


def test_a_saved_card_is_charged_on_the_due_date_and_nothing_needs_doing(settings: Settings) -> None:
    text, html = _both(_variant("instalment_due.saved_card", settings))
    sentence = "We will charge EUR 1,920.00 to your saved card automatically on 16 Dec 2026: you need not do anything."
    assert sentence in text
    assert "automatically on <strong>16 Dec 2026</strong>" in html
    assert "To pay another way instead, please pay before then." in text
    assert f"Pay another way:\n{PAY_PAGE}" in text and ">Pay another way</a>" in html
    assert "Pay now" not in text


@pytest.mark.parametrize("kind", [*CUSTOMER_KINDS, MessageKind.INSTALMENT_OVERDUE], ids=lambda kind: kind.value)
def test_every_instalment_email_shows_the_whole_schedule(settings: Settings, kind: MessageKind) -> None:
    text, html = _both(_render(kind, settings))
    assert "Payment schedule" in text
    # The charge fails on the due date, and operations hear of it later: both find the instalment overdue.
    late = kind in (MessageKind.INSTALMENT_OVERDUE, MessageKind.INSTALMENT_CHARGE_FAILED)
    design = "overdue since 16 Dec 2026" if late else "due by 16 Dec 2026"
    for line in (
        "- Deposit (1 of 3): EUR 1,440.00, paid",
        f"- Design (2 of 3): EUR 1,920.00, {design}",
        "- Handover (3 of 3): EUR 1,440.00, due on acceptance",
    ):
        assert line in text, text
    assert '<th scope="col"' in html
    for cell in ("Deposit", "Design", "Handover", "EUR 1,440.00", "EUR 1,920.00", "Paid", "Due on acceptance"):
        assert cell in html


def test_the_schedule_shows_part_payments_and_overdue_instalments(settings: Settings) -> None:
    context = sample_context(MessageKind.INSTALMENT_REMINDER)
    row = context["instalments"][1]
    row.update(paid="1000.00", unpaid="920.00", status="overdue")
    text, html = _both(render(MessageKind.INSTALMENT_REMINDER, context, settings))
    assert "- Design (2 of 3): EUR 1,920.00, overdue since 16 Dec 2026, EUR 1,000.00 paid" in text
    assert "Overdue since 16 Dec 2026" in html and "EUR 1,000.00 paid" in html


# --------------------------------------------------------------------------
# instalment_charge_notice
# --------------------------------------------------------------------------


def test_the_advance_notice_names_the_date_the_amount_and_other_ways(settings: Settings) -> None:
    rendered = _render(MessageKind.INSTALMENT_CHARGE_NOTICE, settings)
    assert rendered.subject == f"Order {ORDER_ID}: we will charge EUR 1,920.00 to your card on 16 Dec 2026"
    text, html = _both(rendered)
    assert "On 16 Dec 2026 we will charge EUR 1,920.00 to your saved card for instalment Design (2 of 3)." in text
    assert "To pay another way, please pay before 16 Dec 2026" in text
    assert "Payment reference: ORD-ACME-2026-042-2" in text
    assert "On <strong>16 Dec 2026</strong> we will charge <strong>EUR 1,920.00</strong>" in html
    assert f"Pay another way:\n{PAY_PAGE}" in text and "Pay now" not in text


# --------------------------------------------------------------------------
# instalment_reminder
# --------------------------------------------------------------------------


def test_a_reminder_before_the_due_date_is_friendly(settings: Settings) -> None:
    rendered = _render(MessageKind.INSTALMENT_REMINDER, settings)
    assert (
        rendered.subject == f"Order {ORDER_ID}: reminder, instalment Design (2 of 3), EUR 1,920.00 due by 16 Dec 2026"
    )
    text, _ = _both(rendered)
    assert "A friendly reminder: instalment Design (2 of 3), EUR 1,920.00, is due by 16 Dec 2026, 16:45 UTC." in text
    assert "was due" not in text
    assert f"Pay now:\n{PAY_PAGE}" in text


def test_a_late_reminder_is_firmer(settings: Settings) -> None:
    rendered = _variant("instalment_reminder.overdue", settings)
    assert rendered.subject == f"Order {ORDER_ID}: instalment Design (2 of 3) overdue, EUR 1,920.00"
    text, html = _both(rendered)
    assert (
        "We have not yet received instalment Design (2 of 3), EUR 1,920.00, which was due on 16 Dec 2026, 16:45 UTC."
        in text
    )
    assert "Please pay it as soon as possible: we cannot complete your order while it is unpaid." in text
    assert "friendly" not in text
    assert "was due on <strong>16 Dec 2026, 16:45 UTC</strong>" in html
    # A late reminder does not threaten cancellation: a later instalment never cancels the order.
    assert "cancel" not in text.lower()


# --------------------------------------------------------------------------
# instalment_charge_failed
# --------------------------------------------------------------------------


def test_a_declined_automatic_charge_falls_back_to_the_pay_link(settings: Settings) -> None:
    rendered = _render(MessageKind.INSTALMENT_CHARGE_FAILED, settings)
    assert rendered.subject == f"Order {ORDER_ID}: the charge for instalment Design (2 of 3) did not go through"
    text, html = _both(rendered)
    assert "We tried to charge EUR 1,920.00 to your saved card for instalment Design (2 of 3)" in text
    assert "> Your card has insufficient funds." in text
    assert "Your card has insufficient funds." in html
    assert f"Pay now:\n{PAY_PAGE}" in text and PAY_PAGE in collect(html).hrefs
    assert "Payment reference: ORD-ACME-2026-042-2" in text
    assert "Nothing has been charged for this attempt." in text


def test_a_charge_the_bank_must_confirm_links_to_the_confirmation(settings: Settings) -> None:
    text, html = _both(_variant("instalment_charge_failed.requires_action", settings))
    assert "Your bank asks you to confirm this payment." in text
    assert f"Confirm the payment:\n{STRIPE_3DS}" in text  # no link secret: Stripe's address as it is
    assert "Confirm the payment</a>" in html
    assert "Pay now" not in text


def test_the_reason_is_escaped_in_html(settings: Settings) -> None:
    rendered = _render(MessageKind.INSTALMENT_CHARGE_FAILED, settings, reason="<script>alert(1)</script>")
    assert "<script" not in rendered.html.lower()
    assert "> <script>alert(1)</script>" in rendered.text


# --------------------------------------------------------------------------
# instalment_overdue (operations)
# --------------------------------------------------------------------------


def test_operations_are_told_what_is_overdue_and_what_to_do(settings: Settings) -> None:
    rendered = _render(MessageKind.INSTALMENT_OVERDUE, settings)
    assert rendered.subject == f"Instalment overdue on order {ORDER_ID}: Design (2 of 3), EUR 1,920.00 unpaid"
    text, html = _both(rendered)
    assert "Hello team," in text and CUSTOMER_EMAIL in text
    assert (
        "Instalment Design (2 of 3) on order acme-2026-042 was due on 16 Dec 2026, 16:45 UTC. "
        "EUR 1,920.00 of it is still unpaid, after 3 reminders to the customer."
    ) in text
    assert "The order is NOT cancelled" in text and "will not complete until it is paid" in text
    assert f"orders pay {ORDER_ID} --amount 1920.00 --reference ORD-ACME-2026-042-2" in text
    assert "Chase the customer" in text and "later due date" in text
    assert f"orders pay {ORDER_ID} --amount 1920.00 --reference ORD-ACME-2026-042-2" in html
    # A staff notice: no customer action links.
    assert "/orders/" not in text and "Pay now" not in text


def test_one_reminder_is_said_in_the_singular(settings: Settings) -> None:
    text = _render(MessageKind.INSTALMENT_OVERDUE, settings, reminders_sent=1).text
    assert "after 1 reminder to the customer" in text


# --------------------------------------------------------------------------
# The pay link lives as long as the instalment's email says
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CUSTOMER_KINDS, ids=lambda kind: kind.value)
def test_an_instalment_pay_link_expires_at_pay_link_until(kind: MessageKind) -> None:
    settings = replace(Settings(), link_secret=SECRET, web_base_url="https://orders.example.com")
    context = sample_context(kind)
    # Overdue: the due date has passed, yet the link stays valid until pay_link_until.
    context.update(due_at="2026-11-20T09:00:00Z", overdue=True)
    text = render(kind, context, settings).text
    (url,) = {line for line in text.splitlines() if line.startswith(f"{PAY_PAGE}?token=")}
    claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID)
    assert claims.action == "pay"
    assert claims.expires_at == _at(context["pay_link_until"])


def test_the_confirmation_link_of_a_failed_instalment_charge_expires_at_pay_link_until() -> None:
    # The automatic charge runs on the due date: a link expiring then would be dead on arrival.
    settings = replace(Settings(), link_secret=SECRET, web_base_url="https://orders.example.com")
    kind, context = SAMPLE_VARIANTS["instalment_charge_failed.requires_action"]
    text = render(kind, context, settings).text
    (url,) = {line for line in text.splitlines() if "/authenticate?token=" in line}
    claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID, action=AUTHENTICATE)
    assert claims.expires_at == _at(context["pay_link_until"])
    assert claims.target == STRIPE_3DS


def test_without_pay_link_until_the_pay_link_still_expires_with_cancel_at() -> None:
    settings = replace(Settings(), link_secret=SECRET)
    context = sample_context(MessageKind.PAYMENT_DECLINED)
    (url,) = {
        line for line in render(MessageKind.PAYMENT_DECLINED, context, settings).text.splitlines() if "/pay?" in line
    }
    claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID)
    assert claims.expires_at == _at(context["cancel_at"])


# --------------------------------------------------------------------------
# The deposit's emails, for an order with a schedule
# --------------------------------------------------------------------------


def test_the_payment_request_names_the_deposit_and_shows_the_schedule(settings: Settings) -> None:
    text, html = _both(_variant("payment_requested.schedule", settings))
    assert (
        "Thank you for approving the order confirmation. To get your order started, please pay "
        "the Deposit (instalment 1 of 3): EUR 1,440.00 by 10 Dec 2026, 14:05 UTC."
    ) in text
    assert "the Deposit (instalment 1 of 3): <strong>EUR 1,440.00</strong>" in html
    assert "- Deposit (1 of 3): EUR 1,440.00, due by 10 Dec 2026" in text
    assert "- Design (2 of 3): EUR 1,920.00, due when milestone Design approved is completed" in text
    assert "The other instalments fall due later" in text


def test_two_instalments_due_on_approval_are_both_named(settings: Settings) -> None:
    kind, context = SAMPLE_VARIANTS["payment_requested.schedule"]
    context = {**context, "instalments": [dict(row) for row in context["instalments"]], "amount_due": "3360.00"}
    context["instalments"][1].update(due="approval", status="open", due_at=context["due_at"])
    text = render(kind, context, settings).text
    assert "please pay the Deposit (instalment 1 of 3) and the Design (instalment 2 of 3): EUR 3,360.00 by" in text


def test_the_payment_reminder_names_the_deposit(settings: Settings) -> None:
    text, _ = _both(_variant("payment_reminder.schedule", settings))
    assert (
        "A friendly reminder: your payment of the Deposit (instalment 1 of 3), EUR 1,440.00, is due by "
        "10 Dec 2026, 14:05 UTC."
    ) in text
    assert "- Handover (3 of 3): EUR 1,440.00, due on acceptance" in text
    kind, context = SAMPLE_VARIANTS["payment_reminder.schedule"]
    overdue = render(kind, {**context, "overdue": True}, settings).text
    assert (
        "We have not yet received your payment of the Deposit (instalment 1 of 3), EUR 1,440.00, "
        "which was due on 10 Dec 2026, 14:05 UTC. Please pay by 17 Dec 2026, 14:05 UTC; "
        "otherwise we will have to cancel the order."
    ) in overdue


def test_the_receipt_of_the_deposit_does_not_say_fully_paid(settings: Settings) -> None:
    text, html = _both(_variant("payment_received.schedule", settings))
    assert "fully paid" not in text and "fully paid" not in html
    assert "With this, the Deposit (instalment 1 of 3) is paid in full. We will let you know when work begins." in text
    assert "- Deposit (1 of 3): EUR 1,440.00, paid" in text
    assert "The other instalments fall due later" in text


def test_a_part_paid_deposit_names_what_is_still_due(settings: Settings) -> None:
    kind, context = SAMPLE_VARIANTS["payment_received.schedule"]
    rows = [dict(row) for row in context["instalments"]]
    rows[0].update(paid="1000.00", unpaid="440.00", status="open")
    context = {
        **context,
        "instalments": rows,
        "payment": {**context["payment"], "amount": "1000.00"},
        "amount_paid": "1000.00",
        "balance_due": "440.00",
        "due_at": "2026-12-10T14:05:00Z",
        "cancel_at": "2026-12-17T14:05:00Z",
    }
    text = render(kind, context, settings).text
    assert "Balance still due: EUR 440.00\nStill due now: the Deposit (instalment 1 of 3)." in text
    assert "Please pay the balance by 10 Dec 2026, 14:05 UTC." in text


def test_the_last_instalment_paid_says_fully_paid(settings: Settings) -> None:
    kind, context = SAMPLE_VARIANTS["payment_received.schedule"]
    rows = [{**row, "paid": row["amount"], "unpaid": "0.00", "status": "paid"} for row in context["instalments"]]
    context = {
        **context,
        "instalments": rows,
        "amount_paid": "4800.00",
        "order": {**context["order"], "status": "AWAITING_FINAL_PAYMENT"},
    }
    text = render(kind, context, settings).text
    assert "Your order is now fully paid." in text
    assert "We will let you know when work begins." not in text
