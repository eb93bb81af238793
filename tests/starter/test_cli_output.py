"""What a person sees from the ``orders`` CLI, without a server (issue 13).

The outbox in send order, times in UTC with the zone printed, validation
messages in words, tables laid out for 80 columns on a terminal and plain rows
in a pipe, the counts in ``orders status``, and the exit code of
``orders webhooks`` without its secret.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from rich.console import Console

from activities.email import (
    build_message,
    list_outbox,
    message_id_for,
    message_sequence,
    outbox_filename,
)
from activities.outgoing import OutgoingEmail
from starter import cli, order_panel
from workflows.converter import describe
from workflows.models import (
    Customer,
    FailedEmail,
    OrderView,
    Payment,
    ProvidePaymentMethodInput,
    StartOrderInput,
    TimelineEvent,
    TimelineKind,
    UpdateCustomerInput,
)

UNREACHABLE = ["--address", "127.0.0.1:1"]
SENT_AT = datetime(2026, 11, 26, 14, 5, 7, tzinfo=UTC)

# The README walk: 13 messages for one order, all written within one second.
WALK = [
    ("contact_ack", "customer"),
    ("confirmation_issued", "customer"),
    ("payment_requested", "customer"),
    ("payment_received", "customer"),
    ("work_commenced", "customer"),
    ("progress_update", "customer"),
    ("progress_update", "customer"),
    ("delivered", "customer"),
    ("accepted", "customer"),
    ("support_opened", "customer"),
    ("support_team_notice", "support"),
    ("support_request_forwarded", "support"),
    ("support_request_ack", "customer"),
]
CUSTOMER = "ada.lovelace@analytical-engines.example"
SUPPORT = "support@example.com"


def write_message(folder: Path, order_id: str, seq: int, kind: str, to: str, date: datetime = SENT_AT) -> None:
    """An outbox file as ``OutboxBackend`` writes it, with a chosen Date header."""
    key = f"order-{order_id}:email:{seq}:{kind}"
    message = OutgoingEmail(
        order_id=order_id,
        kind=kind,
        message_key=key,
        to_email=to,
        to_name="Ada Lovelace" if to == CUSTOMER else None,
        from_email="orders@example.com",
        from_name="Example IT Services",
        reply_to=None,
        subject=f"Order {order_id}: message {seq}, {kind}, with a subject long enough to need cutting",
        text=f"Message {seq}.",
        html=f"<p>Message {seq}.</p>",
    )
    mail = build_message(message, message_id_for(key, message.from_email), date)
    (folder / outbox_filename(key)).write_bytes(mail.as_bytes())


@pytest.fixture
def walk_outbox(tmp_path: Path) -> Path:
    for seq, (kind, audience) in enumerate(WALK, 1):
        write_message(tmp_path, "42", seq, kind, CUSTOMER if audience == "customer" else SUPPORT)
    return tmp_path


# --------------------------------------------------------------------------
# 1. The outbox in send order
# --------------------------------------------------------------------------


def test_message_sequence_is_read_from_keys_and_file_names() -> None:
    assert message_sequence("order-42:email:10:delivered") == 10
    assert message_sequence("order-42_email_8_support_opened") == 8
    assert message_sequence("order-email-7:email:3:contact_ack") == 3
    assert message_sequence("something-else") is None


def test_outbox_lists_more_than_nine_messages_of_one_second_in_send_order(walk_outbox: Path) -> None:
    entries = list_outbox(walk_outbox)
    assert [e.sequence for e in entries] == list(range(1, 14))
    assert [e.kind for e in entries] == [kind for kind, _ in WALK]


def test_a_retried_message_keeps_its_place_among_its_orders_messages(tmp_path: Path) -> None:
    # Order 42's message 2 was retried and written a minute after its message 3;
    # order 43's message in between stays where its date puts it.
    write_message(tmp_path, "42", 1, "contact_ack", CUSTOMER, SENT_AT)
    write_message(tmp_path, "42", 3, "payment_requested", CUSTOMER, SENT_AT + timedelta(seconds=1))
    write_message(tmp_path, "43", 1, "contact_ack", CUSTOMER, SENT_AT + timedelta(seconds=30))
    write_message(tmp_path, "42", 2, "confirmation_issued", CUSTOMER, SENT_AT + timedelta(minutes=1))

    entries = list_outbox(tmp_path)

    assert [(e.order_id, e.sequence) for e in entries] == [("42", 1), ("42", 2), ("43", 1), ("42", 3)]


def test_outbox_numbers_and_show_follow_the_send_order(walk_outbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["outbox", "--dir", str(walk_outbox), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["n"], r["kind"]) for r in rows] == [(n, kind) for n, (kind, _) in enumerate(WALK, 1)]
    assert rows[0]["date"] == "2026-11-26T14:05:07+00:00"

    assert cli.main(["outbox", "show", "8", "--dir", str(walk_outbox)]) == 0
    shown = capsys.readouterr().out
    assert "delivered" in shown and "Message 8." in shown
    assert cli.main(["outbox", "show", "10", "--dir", str(walk_outbox)]) == 0
    assert "Message 10." in capsys.readouterr().out


# --------------------------------------------------------------------------
# 3. Times: UTC, and it says so
# --------------------------------------------------------------------------


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run as a user in New York would: local time is not UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_cli_times_are_utc_and_say_so() -> None:
    assert order_panel.when(datetime(2026, 12, 23, 2, 11, tzinfo=UTC)) == "2026-12-23 02:11 UTC"
    berlin = timezone(timedelta(hours=1))
    assert order_panel.when(datetime(2026, 12, 23, 3, 11, tzinfo=berlin)) == "2026-12-23 02:11 UTC"
    assert order_panel.when("2026-12-23T02:11:00+00:00") == "2026-12-23 02:11 UTC"
    assert order_panel.when(datetime(2026, 12, 23, 2, 11)) == "2026-12-23 02:11 UTC"  # naive: taken as UTC
    assert order_panel.when(None) == "—"


@pytest.mark.usefixtures("far_from_utc")
def test_status_prints_the_next_deadline_in_utc(capsys: pytest.CaptureFixture[str]) -> None:
    from workflows.models import Deadline

    view = order_view(next_deadline=Deadline(at=datetime(2026, 12, 23, 2, 11, tzinfo=UTC), what="payment due"))
    order_panel.show(order_panel.render_view(view))
    out = capsys.readouterr().out
    assert "Next deadline\t2026-12-23 02:11 UTC: payment due" in out


# --------------------------------------------------------------------------
# 4. Validation messages in words, naming the field
# --------------------------------------------------------------------------


def errors_of(model: type, data: Mapping[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)  # type: ignore[attr-defined]
    return describe(caught.value)


def test_pattern_errors_are_described_in_words() -> None:
    assert errors_of(UpdateCustomerInput, {"email": "not-an-email"}) == "email: not a valid email address"
    start = {"order_id": "no spaces!", "customer": {"name": "A", "email": "a@b"}, "message": "hi"}
    text = errors_of(StartOrderInput, start)
    assert "order_id: not a valid order id" in text
    assert "customer.email: not a valid email address" in text
    card = errors_of(ProvidePaymentMethodInput, {"stripe_customer_id": "alice", "payment_method_id": "card"})
    assert "stripe_customer_id: not a Stripe customer id (cus_...)" in card
    assert "payment_method_id: not a Stripe payment method id (pm_...)" in card
    assert "pattern" not in text + card


def test_update_customer_with_a_bad_email_exits_2_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["update-customer", "42", "--email", "not-an-email", *UNREACHABLE]) == 2
    err = capsys.readouterr().err
    assert "email: not a valid email address" in err
    assert "String should match pattern" not in err and "^" not in err


def test_a_bad_link_and_currency_are_described_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["deliver", "42", "Done", "--link", "ftp://example.com/x", *UNREACHABLE]) == 2
    assert "links.0: not a web address (it must start with http:// or https://)" in capsys.readouterr().err
    confirmation = json.loads((Path(__file__).resolve().parents[2] / "examples" / "confirmation.json").read_text())
    confirmation["currency"] = "euro"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(confirmation))
    assert cli.main(["confirm", "42", "--file", str(path), *UNREACHABLE]) == 2
    assert "currency: not a currency code (three capital letters, such as EUR)" in capsys.readouterr().err


# --------------------------------------------------------------------------
# 5. 80 columns on a terminal, plain rows in a pipe
# --------------------------------------------------------------------------


def terminal(width: int = 80) -> Console:
    return Console(width=width, record=True, force_terminal=True, file=io.StringIO())


@pytest.mark.parametrize("only_order_42", [True, False], ids=["--order 42", "every order"])
def test_outbox_at_80_columns_keeps_kind_and_recipient_whole(
    walk_outbox: Path, monkeypatch: pytest.MonkeyPatch, only_order_42: bool
) -> None:
    console = terminal(80)
    monkeypatch.setattr("starter.console.out", console)
    assert cli.main(["outbox", "--dir", str(walk_outbox), *(["--order", "42"] if only_order_42 else [])]) == 0
    lines = console.export_text().splitlines()

    assert all(len(line) <= 80 for line in lines)
    rows = [line for line in lines if line.split() and line.split()[0].isdigit()]
    assert len(rows) == len(WALK)  # one line per message: nothing wraps
    for n, (row, (kind, audience)) in enumerate(zip(rows, WALK, strict=True), 1):
        assert row.split()[0] == str(n)
        assert f" {kind} " in row
        assert (CUSTOMER if audience == "customer" else SUPPORT) in row
        if only_order_42:  # the subject gives way; with the order column, there may be no room for it at all
            assert row.rstrip().endswith("…")


def test_outbox_on_a_wide_terminal_shows_the_date_and_whole_subjects(
    walk_outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = terminal(200)
    monkeypatch.setattr("starter.console.out", console)
    assert cli.main(["outbox", "--dir", str(walk_outbox)]) == 0
    text = console.export_text()
    assert "2026-11-26 14:05 UTC" in text
    assert "with a subject long enough to need cutting" in text


def test_outbox_in_a_pipe_prints_plain_rows(walk_outbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["outbox", "--dir", str(walk_outbox)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines.index("#\tDate\tOrder\tKind\tTo\tSubject")
    rows = [line.split("\t") for line in lines[header + 1 :]]
    assert len(rows) == len(WALK)
    assert rows[11] == [
        "12",
        "2026-11-26 14:05 UTC",
        "42",
        "support_request_forwarded",
        SUPPORT,
        "Order 42: message 12, support_request_forwarded, with a subject long enough to need cutting",
    ]
    assert not any("…" in line or "─" in line for line in lines)


def order_view(**fields: object) -> OrderView:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    base: dict[str, object] = {
        "order_id": "42",
        "status": "IN_SUPPORT",
        "customer": Customer(name="Ada Lovelace", email=CUSTOMER, company="Analytical Engines Ltd"),
        "channel": "web_form",
        "created_at": now,
        "first_message": "We need our booking website redesigned.",
    }
    return OrderView.model_validate({**base, **fields})


def walk_timeline() -> list[TimelineEvent]:
    at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    # Entries as orders from before kinds carried them: only their words.
    events = [TimelineEvent.model_validate({"at": at, "event": "status changed", "detail": "IN_SUPPORT"})]
    for kind, audience in WALK:
        detail = f"{kind} to {audience} via outbox, message id <x@example.com>"
        events.append(TimelineEvent.model_validate({"at": at, "event": "email sent", "detail": detail}))
    return events


def test_status_at_80_columns_keeps_kind_and_recipient_of_failed_emails() -> None:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    failure = FailedEmail(
        at=now,
        kind="support_request_forwarded",
        audience="support",
        message_key="k",
        error="SendGrid answered 400 Bad Request: the from address does not match a verified Sender Identity",
    )
    view = order_view(timeline=walk_timeline(), failed_emails=[failure])
    console = terminal(80)
    console.print(order_panel.render_view(view))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    failed = [line for line in lines if "support_request_forwarded" in line]
    assert failed and " support " in failed[0] and failed[0].rstrip(" │").endswith("…")


def test_status_in_a_pipe_prints_plain_rows(capsys: pytest.CaptureFixture[str]) -> None:
    view = order_view(timeline=walk_timeline())
    order_panel.show(order_panel.render_view(view))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Order 42"
    assert "Status\tIN_SUPPORT" in lines
    assert "Customer\tAda Lovelace, Analytical Engines Ltd, ada.lovelace@analytical-engines.example" in lines
    assert "At\tEvent\tDetail" in lines
    assert "2026-11-26 09:00 UTC\tstatus changed\tIN_SUPPORT" in lines
    assert not any(ch in "\n".join(lines) for ch in "│─╭…")


# --------------------------------------------------------------------------
# 6. Counts in orders status
# --------------------------------------------------------------------------


def test_status_counts_every_email_and_names_the_audiences() -> None:
    view = order_view(timeline=walk_timeline())
    assert order_panel.emails_sent(view) == "13 sent (11 to the customer, 2 to support)"
    console = terminal(120)
    console.print(order_panel.render_view(view))
    assert "Emails: 13 sent (11 to the customer, 2 to support)" in console.export_text()


def test_status_counts_failed_emails_apart() -> None:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    failure = FailedEmail(at=now, kind="contact_ack", audience="customer", message_key="k", error="bad address")
    view = order_view(timeline=walk_timeline()[:3], failed_emails=[failure])
    assert order_panel.emails_sent(view) == "2 sent (2 to the customer), 1 could not be sent"


def test_status_counts_emails_by_the_audience_their_entries_name() -> None:
    # The words are not read: an entry's audience is one of its fields.
    sent = [
        TimelineEvent(at=datetime(2026, 11, 26, tzinfo=UTC), kind=kind, fields=fields, detail=fields["email"])
        for kind, fields in [
            (TimelineKind.EMAIL_SENT, {"email": "overpayment_alert", "audience": "operations"}),
            (TimelineKind.EMAIL_SENT, {"email": "contact_ack", "audience": "customer"}),
            (TimelineKind.EMAIL_SENT, {"email": "contact_ack"}),
        ]
    ]
    view = order_view(timeline=sent)
    assert order_panel.emails_sent(view) == "3 sent (1 to the customer, 1 to operations, 1 to other)"
    console = terminal(120)
    console.print(order_panel.render_view(view))
    assert "contact_ack" not in console.export_text(), "email receipts stay out of the timeline's rows"


def test_an_order_without_payments_says_so_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    view = order_view(status="AWAITING_PAYMENT", total=Decimal("4800.00"), currency="EUR", balance_due="4800.00")
    order_panel.show(order_panel.render_view(view))
    out = capsys.readouterr().out
    assert "Payments: none received yet (balance due 4800.00 EUR)" in out
    assert "Received\tAmount" not in out

    paid = order_view(
        total=Decimal("4800.00"),
        currency="EUR",
        payments=[
            Payment(
                at=datetime(2026, 11, 26, tzinfo=UTC),
                amount=Decimal("4800.00"),
                method="bank_transfer",
                reference="SO-42",
            )
        ],
        amount_paid="4800.00",
    )
    order_panel.show(order_panel.render_view(paid))
    out = capsys.readouterr().out
    assert "Received\tAmount\tMethod\tReference" in out and "none received" not in out


# --------------------------------------------------------------------------
# 8. orders webhooks without its secret is bad usage
# --------------------------------------------------------------------------


def test_webhooks_without_a_secret_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    assert cli.main(["webhooks", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "STRIPE_WEBHOOK_SECRET is not set" in err
    assert "Traceback" not in err
