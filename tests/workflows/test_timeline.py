"""The timeline is typed entries: a kind, a time and the facts (``fields``), so
readers count and filter by kind and read a field, instead of parsing words.

The words (``event`` and ``detail``) stay exactly what the timeline said
before kinds: web backends and people read them. Entries written before kinds
(carried across continue-as-new, in committed histories) hold only the words;
they load with the kind their words name.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.helpers import kinds, start_order, whole_order
from tests.workflows.test_order_state import OLD_SHAPE, old_start_input
from workflows.models import (
    Audience,
    Continuation,
    MessageKind,
    OrderStatus,
    PaymentMethod,
    TimelineEvent,
    TimelineKind,
    timeline_words,
)

K = TimelineKind
AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
EUR = "EUR"

# Each kind, the values a call site passes, and the words the timeline wrote for them before kinds.
WORDS: list[tuple[TimelineKind, dict[str, Any], str, str]] = [
    (K.CONTACT_RECEIVED, {"channel": "web_form"}, "contact received", "via web_form"),
    (K.RUN_CONTINUED, {"run": 3}, "run continued", "run 3"),
    (K.SUPPORT_OPENED, {"until": date(2027, 2, 24)}, "support opened", "until 2027-02-24"),
    (K.SUPPORT_OPENED, {"until": date(2027, 2, 24), "ticket": "T-9"}, "support opened", "until 2027-02-24, ticket T-9"),
    (K.CONFIRMATION_REMINDER, {"version": 2}, "confirmation reminder", "v2"),
    (K.PAYMENT_REMINDER, {"balance": Decimal("4800.00")}, "payment reminder", "balance 4800.00"),
    (K.MILESTONE_OVERDUE, {"milestone": "Design"}, "milestone overdue", "Design"),
    (K.PROGRESS_DIGEST, {}, "progress digest", ""),
    (K.ACCEPTANCE_REMINDER, {"delivery": 1}, "acceptance reminder", "delivery 1"),
    (K.REVIEW_PERIOD_LAPSED, {"delivery": 2}, "review period lapsed", "delivery 2"),
    (K.SUPPORT_ENDING_SOON, {}, "support ending soon", ""),
    (K.PLAINTEXT_PAYLOADS, {}, "payloads in clear text", "operations told"),
    (K.NOTE, {"author": "staff"}, "note", "from staff"),
    (K.CUSTOMER_UPDATED, {"changed": "email, phone"}, "customer details updated", "email, phone"),
    (K.PAYMENT_METHOD_PROVIDED, {"payment_method": "pm_1"}, "payment method provided", "pm_1"),
    (
        K.PAYMENT_EVENT,
        {"event": "invoice_voided", "reference": "in_1", "currency": EUR, "amount": None, "text": "voided in Stripe"},
        "invoice voided",
        "in_1 voided in Stripe",
    ),
    (
        K.PAYMENT_EVENT,
        {"event": "charge_refunded", "reference": "ch_1", "currency": EUR, "amount": Decimal("10.00"), "text": ""},
        "charge refunded",
        "ch_1 EUR 10.00",
    ),
    (
        K.PAYMENT_EVENT,
        {"event": "refund_failed", "reference": "re_1", "currency": EUR, "amount": Decimal("5.00"), "text": "lost"},
        "refund failed",
        "re_1 EUR 5.00 lost",
    ),
    (
        K.DEADLINE_CHANGED,
        {
            "what": "payment due",
            "old": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
            "new": datetime(2026, 12, 8, 17, 0, tzinfo=UTC),
            "reason": "asked nicely",
        },
        "deadline changed",
        "payment due: 2026-12-01 09:30 -> 2026-12-08 17:00 UTC. asked nicely",
    ),
    (K.PROGRESS_UPDATE, {"milestone": None}, "progress update", ""),
    (K.PROGRESS_UPDATE, {"milestone": "Design"}, "progress update", "milestone Design completed"),
    (K.SUPPORT_REQUEST, {"subject": "Login fails"}, "support request", "Login fails"),
    (K.STATUS, {"status": OrderStatus.IN_PROGRESS, "why": "paid in full"}, "status IN_PROGRESS", "paid in full"),
    (K.STATUS, {"status": OrderStatus.DISCUSSING, "why": ""}, "status DISCUSSING", ""),
    (
        K.HOSTED_INVOICE_DELAYED,
        {},
        "hosted invoice delayed",
        "the payment email goes now; the invoice link follows",
    ),
    (K.HOSTED_INVOICE_FAILED, {"error": "Stripe said no"}, "hosted invoice failed", "Stripe said no"),
    (K.HOSTED_INVOICE_CREATED, {"invoice": "in_1"}, "hosted invoice created", "in_1"),
    (K.PAYMENT_REQUEST_FAILED, {"error": "boom"}, "payment request failed", "boom"),
    (K.DUPLICATE_PAYMENT_IGNORED, {"reference": "TX-1"}, "duplicate payment notice ignored", "TX-1"),
    (
        K.PAYMENT_RECORDED,
        {"currency": EUR, "amount": Decimal("4800.00"), "method": PaymentMethod.BANK_TRANSFER},
        "payment recorded",
        "EUR 4800.00 by bank_transfer",
    ),
    (K.OVERPAYMENT_FLAGGED, {"currency": EUR, "amount": Decimal("1.00")}, "overpayment flagged", "EUR 1.00"),
    (
        K.PAYMENT_HELD,
        {
            "currency": None,
            "amount": Decimal("100.00"),
            "method": PaymentMethod.BANK_TRANSFER,
            "reference": "TX-0",
            "reason": "it arrived before approval",
        },
        "payment held",
        "None 100.00 by bank_transfer (TX-0): it arrived before approval",
    ),
    (
        K.NO_AUTOMATIC_REFUND,
        {"currency": EUR, "amount": Decimal("4800.00")},
        "no automatic refund",
        "the work was delivered; EUR 4800.00 paid",
    ),
    (K.REFUND_FAILED, {"error": "card expired"}, "refund failed", "card expired"),
    (
        K.REFUND,
        {"status": "succeeded", "currency": EUR, "amount": Decimal("4800.00"), "failed": None},
        "refund",
        "succeeded EUR 4800.00",
    ),
    (
        K.REFUND,
        {"status": "partial", "currency": "", "amount": Decimal("10.00"), "failed": Decimal("5.00")},
        "refund",
        "partial  10.00,  5.00 failed",
    ),
    (K.CARD_CHARGE_FAILED, {"error": "declined"}, "card charge failed", "declined"),
    (K.CARD_PAYMENT_PROCESSING, {"payment_intent": "pi_1"}, "card payment processing", "pi_1"),
    (K.CARD_PAYMENT_PROCESSING, {"payment_intent": None}, "card payment processing", ""),
    (K.INVOICE_VOIDED, {"invoice": "in_1"}, "invoice voided", "in_1"),
    (K.INVOICE_VOID_FAILED, {"error": "gone"}, "invoice void failed", "gone"),
    (K.DUPLICATE_FAILURE_IGNORED, {"reference": "pi_1"}, "duplicate payment failure notice ignored", "pi_1"),
    (
        K.PAYMENT_FAILED,
        {"method": PaymentMethod.CARD, "reference": "pi_1", "reason": "insufficient_funds"},
        "payment failed",
        "card pi_1: insufficient_funds",
    ),
    (
        K.EMAIL_SENT,
        {
            "email": MessageKind.CONTACT_ACK,
            "audience": Audience.CUSTOMER,
            "via": "outbox",
            "message_id": "<m@example.com>",
        },
        "email sent",
        "contact_ack to customer via outbox, message id <m@example.com>",
    ),
    (
        K.EMAIL_SENT,
        {"email": MessageKind.CONTACT_ACK, "audience": Audience.CUSTOMER, "via": "sendgrid", "message_id": None},
        "email sent",
        "contact_ack to customer via sendgrid, message id None",
    ),
    (
        K.EMAIL_SENT,
        {"email": MessageKind.SUPPORT_OPENED, "audience": Audience.SUPPORT, "via": "support desk", "ticket": "T-9"},
        "email sent",
        "support_opened to support via the support desk, ticket T-9",
    ),
    (
        K.EMAIL_SENT,
        {"email": MessageKind.SUPPORT_REQUEST_FORWARDED, "audience": Audience.SUPPORT, "via": "support desk"},
        "email sent",
        "support_request_forwarded to support via the support desk",
    ),
    (
        K.EMAIL_FAILED,
        {"email": MessageKind.CONTACT_ACK, "audience": Audience.CUSTOMER, "error": "bad address"},
        "email failed",
        "contact_ack to customer: bad address",
    ),
    (K.SUPPORT_DESK_CLOSE_FAILED, {"error": "desk down"}, "support desk close failed", "desk down"),
    (
        K.INSTALMENT_DUE,
        {"instalment": "Design", "currency": "EUR", "amount": Decimal("1920.00"), "due": AT},
        "instalment due",
        f"Design: EUR 1920.00 by {AT:%Y-%m-%d %H:%M} UTC",
    ),
    (
        K.INSTALMENT_REMINDER,
        {"instalment": "Design", "currency": "EUR", "amount": Decimal("1920.00")},
        "instalment reminder",
        "Design: EUR 1920.00 unpaid",
    ),
    (
        K.INSTALMENT_OVERDUE,
        {"instalment": "Design", "currency": "EUR", "amount": Decimal("1920.00")},
        "instalment overdue",
        "Design: EUR 1920.00 unpaid; operations told",
    ),
    (K.INSTALMENT_PAID, {"instalment": "Design"}, "instalment paid", "Design"),
    (
        K.INSTALMENT_CHARGE,
        {"instalment": "Design", "status": "declined", "reason": "insufficient_funds"},
        "instalment card charge",
        "Design: declined (insufficient_funds)",
    ),
    (
        K.CHANGE_ORDER_ISSUED,
        {"version": 3, "currency": "EUR", "old": Decimal("4800.00"), "new": Decimal("5300.00")},
        "change order issued",
        "v3: EUR 4800.00 -> 5300.00",
    ),
    (
        K.CHANGE_ORDER_APPROVED,
        {"version": 3, "currency": "EUR", "new": Decimal("5300.00")},
        "change order approved",
        "v3: the total is now EUR 5300.00",
    ),
    (K.CHANGE_ORDER_DECLINED, {"version": 3, "kept": 2}, "change order declined", "v3: v2 stays in force"),
    (K.CHANGE_ORDER_EXPIRED, {"version": 3, "kept": 2}, "change order expired", "v3: v2 stays in force"),
    (
        K.INSTALMENT_CHARGE,
        {"instalment": "Handover", "status": "succeeded"},
        "instalment card charge",
        "Handover: succeeded",
    ),
]


@pytest.mark.parametrize(("kind", "values", "event", "detail"), WORDS)
def test_each_kind_writes_the_words_the_timeline_always_said(
    kind: TimelineKind, values: dict[str, Any], event: str, detail: str
) -> None:
    entry = TimelineEvent.of(AT, kind, **values)
    assert (entry.kind, entry.event, entry.detail) == (kind, event, detail)
    # The words come from the kind and the facts alone, in one place.
    assert timeline_words(entry.kind, entry.fields) == (event, detail)


def test_every_kind_the_code_writes_has_its_words_tested() -> None:
    assert {kind for kind, *_ in WORDS} == set(TimelineKind) - {TimelineKind.OTHER}


def test_an_entry_keeps_its_facts_as_text_and_leaves_out_empty_ones() -> None:
    entry = TimelineEvent.of(
        AT,
        K.EMAIL_SENT,
        email=MessageKind.PAYMENT_RECEIVED,
        audience=Audience.CUSTOMER,
        via="outbox",
        message_id="<m@example.com>",
        ticket=None,
    )
    assert entry.fields == {
        "email": "payment_received",
        "audience": "customer",
        "via": "outbox",
        "message_id": "<m@example.com>",
    }
    held = TimelineEvent.of(AT, K.REFUND, status="failed", currency="", amount=Decimal("0.00"), failed=None)
    assert held.fields == {"status": "failed", "amount": "0.00"}
    dated = TimelineEvent.of(AT, K.DEADLINE_CHANGED, what="x", old=AT, new=AT, reason="r")
    assert dated.fields["old"] == "2026-11-26T09:00:00+00:00"


def test_the_json_keeps_event_and_detail_and_leaves_out_empty_fields() -> None:
    quiet = TimelineEvent.of(AT, K.PROGRESS_DIGEST)
    assert quiet.model_dump(mode="json") == {
        "at": "2026-11-26T09:00:00Z",
        "kind": "progress digest",
        "event": "progress digest",
        "detail": "",
    }
    status = TimelineEvent.of(AT, K.STATUS, status=OrderStatus.IN_PROGRESS, why="paid")
    dumped = status.model_dump(mode="json")
    assert dumped["kind"] == "status" and dumped["fields"] == {"status": "IN_PROGRESS", "why": "paid"}
    assert (dumped["event"], dumped["detail"]) == ("status IN_PROGRESS", "paid")
    assert TimelineEvent.model_validate_json(status.model_dump_json()) == status


def old(event: str, detail: str = "") -> TimelineEvent:
    """An entry as it was stored before kinds: words only."""
    return TimelineEvent.model_validate({"at": "2026-11-26T09:00:00Z", "event": event, "detail": detail})


@pytest.mark.parametrize(
    ("event", "detail", "kind", "fields"),
    [
        (
            "email sent",
            "payment_received to customer via outbox, message id <x@example.com>",
            K.EMAIL_SENT,
            {"email": "payment_received", "audience": "customer", "via": "outbox", "message_id": "<x@example.com>"},
        ),
        (
            "email sent",
            "support_opened to support via the support desk, ticket T-1",
            K.EMAIL_SENT,
            {"email": "support_opened", "audience": "support", "via": "support desk", "ticket": "T-1"},
        ),
        (
            "email sent",
            "support_request_forwarded to support via the support desk",
            K.EMAIL_SENT,
            {"email": "support_request_forwarded", "audience": "support", "via": "support desk"},
        ),
        ("email sent", "something else entirely", K.EMAIL_SENT, {}),
        ("status IN_SUPPORT", "delivery 1 accepted", K.STATUS, {"status": "IN_SUPPORT", "why": "delivery 1 accepted"}),
        ("status DISCUSSING", "", K.STATUS, {"status": "DISCUSSING"}),
        ("payment recorded", "EUR 4800.00 by bank_transfer", K.PAYMENT_RECORDED, {}),
        ("charge refunded", "ch_1 EUR 10.00", K.PAYMENT_EVENT, {"event": "charge_refunded"}),
        ("status changed", "IN_SUPPORT", K.OTHER, {"event": "status changed"}),
    ],
)
def test_an_entry_written_before_kinds_loads_with_the_kind_its_words_name(
    event: str, detail: str, kind: TimelineKind, fields: dict[str, str]
) -> None:
    entry = old(event, detail)
    assert (entry.kind, entry.fields) == (kind, fields)
    assert (entry.event, entry.detail) == (event, detail), "the words are kept as they were"
    assert TimelineEvent.model_validate_json(entry.model_dump_json()) == entry


@pytest.mark.parametrize("history", OLD_SHAPE)
def test_a_carried_timeline_from_before_kinds_resumes_with_kinds(history: str) -> None:
    carried = old_start_input(history)["resume"]
    words = [(e["event"], e["detail"]) for e in carried["order"]["timeline"]]
    assert words and all("kind" not in e for e in carried["order"]["timeline"]), "not the older shape"

    timeline = Continuation.model_validate(carried).state.order.timeline
    assert [(e.event, e.detail) for e in timeline] == words
    assert all(e.kind is not TimelineKind.OTHER for e in timeline), [e.event for e in timeline]
    emails = [e for e in timeline if e.kind is TimelineKind.EMAIL_SENT]
    assert emails and all(e.fields["audience"] in set(Audience) for e in emails)
    assert all(timeline_words(e.kind, e.fields) == (e.event, e.detail) for e in emails + statuses(timeline))


def statuses(timeline: list[TimelineEvent]) -> list[TimelineEvent]:
    return [e for e in timeline if e.kind is TimelineKind.STATUS]


async def test_a_whole_order_writes_typed_entries_whose_words_come_from_their_facts(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        order = await whole_order(handle, settings.outbox_dir)

    timeline = order.timeline
    assert all(e.kind is not TimelineKind.OTHER for e in timeline)
    assert all(timeline_words(e.kind, e.fields) == (e.event, e.detail) for e in timeline)
    assert timeline[0].kind is TimelineKind.CONTACT_RECEIVED and timeline[0].fields == {"channel": "web_form"}
    assert [e.fields["status"] for e in statuses(timeline)] == [
        "AWAITING_APPROVAL",
        "AWAITING_PAYMENT",
        "IN_PROGRESS",
        "AWAITING_ACCEPTANCE",
        "IN_SUPPORT",
        "COMPLETED",
    ]
    paid = next(e for e in timeline if e.kind is TimelineKind.PAYMENT_RECORDED)
    assert paid.fields == {"currency": "EUR", "amount": "4800.00", "method": "bank_transfer"}
    update = next(e for e in timeline if e.kind is TimelineKind.PROGRESS_UPDATE)
    assert update.fields == {"milestone": "Design"}
    request = next(e for e in timeline if e.kind is TimelineKind.SUPPORT_REQUEST)
    assert request.fields == {"subject": "Login"}

    sent = Counter(e.fields["email"] for e in timeline if e.kind is TimelineKind.EMAIL_SENT)
    assert sent == Counter(kinds(settings.outbox_dir))
    desk = [e for e in timeline if e.kind is TimelineKind.EMAIL_SENT and e.fields["via"] == "support desk"]
    assert [e.fields["audience"] for e in desk] == ["support", "support"]
