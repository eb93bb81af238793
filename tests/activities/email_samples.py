"""Realistic ``EmailRequest`` contexts for every ``MessageKind``.

The shapes follow what the workflow sends: JSON-ish values only (datetimes as
ISO strings, money as decimal strings, durations as ISO 8601 durations).
Reuse them wherever a test needs a message: ``sample_context(kind)`` returns a
fresh deep copy, ``sample_request(kind)`` a ready ``EmailRequest``.
"""

from __future__ import annotations

import copy
from typing import Any

from workflows.models import Audience, EmailRequest, MessageKind

ORDER_ID = "acme-2026-042"
CUSTOMER_EMAIL = "jane.doe@acme.example"
CUSTOMER_NAME = "Jane Doe"

AUDIENCES: dict[MessageKind, Audience] = {
    MessageKind.OVERPAYMENT_ALERT: Audience.OPERATIONS,
    MessageKind.PAYMENT_NEEDS_REVIEW: Audience.OPERATIONS,
    MessageKind.MILESTONE_OVERDUE: Audience.OPERATIONS,
    MessageKind.REVIEW_LAPSED: Audience.OPERATIONS,
    MessageKind.REFUND_NEEDED: Audience.OPERATIONS,
    MessageKind.SUPPORT_TEAM_NOTICE: Audience.SUPPORT,
    MessageKind.SUPPORT_REQUEST_FORWARDED: Audience.SUPPORT,
    MessageKind.PAYMENT_ERROR: Audience.OPERATIONS,
    MessageKind.EMAIL_FAILED: Audience.OPERATIONS,
    MessageKind.DOCUMENT_FAILED: Audience.OPERATIONS,
    MessageKind.INBOUND_EMAIL_REVIEW: Audience.OPERATIONS,
    MessageKind.PLAINTEXT_RECEIVED: Audience.OPERATIONS,
    MessageKind.INSTALMENT_OVERDUE: Audience.OPERATIONS,
}
"""Kinds not addressed to the customer; every other kind is."""


def audience_for(kind: MessageKind) -> Audience:
    return AUDIENCES.get(kind, Audience.CUSTOMER)


def sample_order(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": ORDER_ID,
        "customer": {
            "name": CUSTOMER_NAME,
            "email": CUSTOMER_EMAIL,
            "company": "Acme GmbH",
            "phone": "+49 30 1234567",
        },
        "status": "AWAITING_PAYMENT",
        "currency": "EUR",
        "total": "4800.00",
        "version": 2,
        "payment_reference": "ORD-ACME-2026-042",
    }
    order.update(overrides)
    return order


_CONFIRMATION: dict[str, Any] = {
    "version": 2,
    "title": "Website relaunch",
    "currency": "EUR",
    "line_items": [
        {"description": "Design and templates", "quantity": "1", "unit_price": "2400.00", "amount": "2400.00"},
        {"description": "Implementation (days)", "quantity": "4.000", "unit_price": "500.00", "amount": "2000.00"},
        {"description": "Content migration", "quantity": "2.5", "unit_price": "160.00", "amount": "400.00"},
    ],
    "amount_total": "4800.00",
    "terms": {
        "payment_methods": ["bank_transfer", "invoice"],
        "payment_due": "P14D",
        "payment_grace": None,
        "milestones": [{"name": "Design approved", "due": "P7D"}, {"name": "Site live", "due": "P21D"}],
        "estimated_delivery": "P28D",
        "review_period": None,
        "deemed_acceptance": True,
        "support_period": "P30D",
        "support_scope": "Questions and defect fixes by email",
        "cancellation_fee": "250.00",
        "other_terms": ["Hosting costs are billed separately."],
    },
}

_EFFECTIVE = {
    "payment_due": "P14D",
    "payment_grace": "P7D",
    "review_period": "P7D",
    "support_period": "P30D",
    "confirmation_expiry": "P14D",
}

_INSTRUCTIONS = {
    "reference": "ORD-ACME-2026-042",
    "bank_transfer": {
        "account_name": "Example IT Services Ltd",
        "iban": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
        "bank_name": "Example Bank",
    },
    "invoice_url": "https://billing.example.com/invoices/inv_123",
    "invoice_pdf": "https://billing.example.com/invoices/inv_123.pdf",
}

_PAYMENT = {
    "amount": "4800.00",
    "method": "bank_transfer",
    "reference": "ORD-ACME-2026-042",
    "at": "2026-11-20T09:30:00Z",
}

_MILESTONES: list[dict[str, Any]] = [
    {"name": "Design approved", "due_at": "2026-12-03T09:00:00Z", "completed_at": "2026-12-02T16:45:00Z"},
    {"name": "Site live", "due_at": "2026-12-17T09:00:00Z", "completed_at": None},
]

_DELIVERY = {
    "round": 1,
    "summary": "The new website is live on the staging server.\nAll pages have been migrated.",
    "links": ["https://staging.acme.example/", "https://docs.example.com/acme/handbook"],
    "access_instructions": "Log in as 'acme-review' with the password we sent by SMS.",
    "at": "2026-12-18T15:00:00Z",
}

_SUPPORT = {
    "scope": "Questions and defect fixes by email",
    "opened_at": "2026-12-28T10:00:00Z",
    "ends_at": "2027-01-27T10:00:00Z",
}

_REQUEST = {
    "subject": "Contact form not sending",
    "text": "Hi,\nthe contact form shows an error since this morning.\nThanks, Jane",
    "at": "2027-01-05T08:12:00Z",
}

_REFUND = {"amount": "4550.00", "method": "bank_transfer", "status": "manual"}

# A 30/40/30 schedule as ``workflows.instalments.row`` shows it, once the milestone "Design approved"
# was completed (2 Dec, 16:45) and its instalment fell due, to be paid within the terms' 14 days: the
# deposit is paid, the design instalment is open, the handover waits for acceptance.
_INSTALMENTS: list[dict[str, Any]] = [
    {
        "number": 1,
        "name": "Deposit",
        "due": "approval",
        "amount": "1440.00",
        "paid": "1440.00",
        "unpaid": "0.00",
        "status": "paid",
        "due_at": "2026-12-10T14:05:00Z",
        "reference": "ORD-ACME-2026-042",
        "invoice_url": None,
    },
    {
        "number": 2,
        "name": "Design",
        "due": "milestone:Design approved",
        "amount": "1920.00",
        "paid": "0.00",
        "unpaid": "1920.00",
        "status": "open",
        "due_at": "2026-12-16T16:45:00Z",
        "reference": "ORD-ACME-2026-042-2",
        "invoice_url": "https://billing.example.com/invoices/inv_456",
    },
    {
        "number": 3,
        "name": "Handover",
        "due": "acceptance",
        "amount": "1440.00",
        "paid": "0.00",
        "unpaid": "1440.00",
        "status": "scheduled",
        "due_at": None,
        "reference": "ORD-ACME-2026-042-3",
        "invoice_url": None,
    },
]

# As ``email_contexts.instalment_context`` gives it for the design instalment, without a saved card.
_INSTALMENT: dict[str, Any] = {
    "instalment": _INSTALMENTS[1],
    "instalments": _INSTALMENTS,
    "currency": "EUR",
    "amount_due": "1920.00",
    "due_at": "2026-12-16T16:45:00Z",
    "overdue": False,
    "methods": ["card", "bank_transfer", "invoice"],
    "instructions": {
        "reference": "ORD-ACME-2026-042-2",
        "bank_transfer": _INSTRUCTIONS["bank_transfer"],
        "invoice_url": "https://billing.example.com/invoices/inv_456",
    },
    "card_charge_at": None,
    "pay_link_until": "2027-01-15T16:45:00Z",
}

# The same instalment with a saved card, which is charged on the due date.
_INSTALMENT_CARD: dict[str, Any] = {**_INSTALMENT, "card_charge_at": "2026-12-16T16:45:00Z"}

# The design instalment once its due date has passed.
_DESIGN_OVERDUE: dict[str, Any] = {**_INSTALMENTS[1], "status": "overdue"}
_INSTALMENTS_OVERDUE: list[dict[str, Any]] = [_INSTALMENTS[0], _DESIGN_OVERDUE, _INSTALMENTS[2]]

# The deposit's emails for an order with a schedule (``payment_context`` adds ``instalments``): nothing
# paid yet, the deposit due on approval, the rest waiting for their events.
_DEPOSIT_DUE: list[dict[str, Any]] = [
    {**_INSTALMENTS[0], "paid": "0.00", "unpaid": "1440.00", "status": "open"},
    {**_INSTALMENTS[1], "status": "scheduled", "due_at": None, "invoice_url": None},
    _INSTALMENTS[2],
]

_KIND_CONTEXT: dict[MessageKind, dict[str, Any]] = {
    MessageKind.CONTACT_ACK: {
        "message": "We would like to relaunch our website before the spring fair.\nCan you help?",
        "channel": "web_form",
    },
    MessageKind.CONFIRMATION_ISSUED: {
        "confirmation": _CONFIRMATION,
        "effective": _EFFECTIVE,
        "expires_at": "2026-12-10T14:05:00Z",
    },
    MessageKind.CONFIRMATION_REMINDER: {
        "confirmation": _CONFIRMATION,
        "effective": _EFFECTIVE,
        "expires_at": "2026-12-10T14:05:00Z",
    },
    MessageKind.CONFIRMATION_EXPIRED: {"version": 2},
    MessageKind.CHANGES_RECEIVED: {"version": 1, "comments": "Please split the design work into two phases."},
    MessageKind.PAYMENT_REQUESTED: {
        "amount_due": "4800.00",
        "currency": "EUR",
        "due_at": "2026-12-10T14:05:00Z",
        "methods": ["bank_transfer", "invoice"],
        "instructions": _INSTRUCTIONS,
    },
    MessageKind.PAYMENT_REMINDER: {
        "amount_due": "4800.00",
        "currency": "EUR",
        "due_at": "2026-12-10T14:05:00Z",
        "cancel_at": "2026-12-17T14:05:00Z",
        "overdue": False,
        "methods": ["bank_transfer", "invoice"],
        "instructions": _INSTRUCTIONS,
    },
    MessageKind.PAYMENT_OVERDUE_CANCELLED: {
        "amount_due": "4800.00",
        "currency": "EUR",
        "due_at": "2026-12-10T14:05:00Z",
    },
    MessageKind.PAYMENT_RECEIVED: {
        "payment": _PAYMENT,
        "amount_paid": "4800.00",
        "balance_due": "0.00",
        "currency": "EUR",
        # The payment's number on the order, and what it paid of a schedule (workflows/receipts.py).
        "receipt_number": 1,
        "paid_towards": [],
    },
    MessageKind.PAYMENT_DUE_CHANGED: {
        "amount_due": "4800.00",
        "currency": "EUR",
        "due_at": "2026-12-20T14:05:00Z",
        "cancel_at": "2026-12-27T14:05:00Z",
        "previous_due_at": "2026-12-10T14:05:00Z",
        "overdue": False,
        "methods": ["bank_transfer", "invoice"],
        "instructions": _INSTRUCTIONS,
    },
    MessageKind.PLAINTEXT_RECEIVED: {},
    MessageKind.OVERPAYMENT_REFUNDED: {
        "payment": {**_PAYMENT, "method": "card", "reference": "pi_3QpaidTwice", "at": "2026-11-21T11:00:00Z"},
        "refund": {"amount": "4800.00", "method": "card", "status": "succeeded", "refund_id": "re_3Q"},
        "amount_paid": "4800.00",
        "currency": "EUR",
    },
    MessageKind.OVERPAYMENT_ALERT: {
        "overpaid": "200.00",
        "amount_paid": "5000.00",
        "currency": "EUR",
        "payment": {**_PAYMENT, "amount": "200.00", "at": "2026-11-21T11:00:00Z"},
    },
    MessageKind.INVOICE_READY: {
        "amount_due": "4800.00",
        "currency": "EUR",
        "due_at": "2026-12-10T14:05:00Z",
        "cancel_at": "2026-12-17T14:05:00Z",
        "overdue": False,
        "methods": ["invoice"],
        "instructions": {**_INSTRUCTIONS, "bank_transfer": None},
    },
    MessageKind.PAYMENT_NEEDS_REVIEW: {
        "payment": {**_PAYMENT, "currency": "JPY", "amount": "100.00", "method": "card", "reference": "pi_3Q"},
        "currency": "EUR",
        "reason": "the payment is in JPY, but the order is in EUR",
        "action": "It was not counted towards the order. Please refund it or agree a credit with the customer.",
    },
    MessageKind.WORK_COMMENCED: {
        "milestones": [{"name": m["name"], "due_at": m["due_at"]} for m in _MILESTONES],
        "estimated_delivery_at": "2026-12-24T09:00:00Z",
    },
    MessageKind.PROGRESS_UPDATE: {
        "update": {
            "text": "The design has been approved; we are building the templates now.",
            "milestone": "Design approved",
            "at": "2026-12-02T16:45:00Z",
        },
        "milestones": _MILESTONES,
    },
    MessageKind.PROGRESS_DIGEST: {
        "since": "2026-12-02T16:45:00Z",
        "milestones": _MILESTONES,
        "recent_updates": [
            {"text": "Navigation and home page are done.", "at": "2026-12-05T10:00:00Z", "milestone": None},
            {"text": "Contact form wired to your CRM.", "at": "2026-12-08T13:20:00Z", "milestone": None},
        ],
    },
    MessageKind.MILESTONE_OVERDUE: {"milestone": {"name": "Site live", "due_at": "2026-12-17T09:00:00Z"}},
    MessageKind.DELIVERED: {
        "delivery": _DELIVERY,
        "review_ends_at": "2026-12-25T15:00:00Z",
        "deemed_acceptance": True,
    },
    MessageKind.ACCEPTANCE_REMINDER: {
        "delivery": _DELIVERY,
        "review_ends_at": "2026-12-25T15:00:00Z",
        "deemed_acceptance": True,
    },
    MessageKind.ACCEPTED: {"accepted_at": "2026-12-20T11:00:00Z"},
    MessageKind.DEEMED_ACCEPTED: {"review_ended_at": "2026-12-25T15:00:00Z"},
    MessageKind.REVIEW_LAPSED: {"round": 1, "review_ended_at": "2026-12-25T15:00:00Z"},
    MessageKind.REVISION_RECEIVED: {"round": 1, "comments": "The logo on the imprint page is blurry."},
    MessageKind.SUPPORT_OPENED: {"support": _SUPPORT},
    MessageKind.SUPPORT_TEAM_NOTICE: {"support": {**_SUPPORT, "ticket": f"SUP-{ORDER_ID}"}},
    MessageKind.SUPPORT_REQUEST_FORWARDED: {"request": _REQUEST, "ticket": f"SUP-{ORDER_ID}"},
    MessageKind.SUPPORT_REQUEST_ACK: {"request": _REQUEST, "support": {"ends_at": _SUPPORT["ends_at"]}},
    MessageKind.SUPPORT_ENDING_SOON: {"support": {"scope": _SUPPORT["scope"], "ends_at": _SUPPORT["ends_at"]}},
    MessageKind.SUPPORT_CLOSED: {"support": {"scope": _SUPPORT["scope"], "ends_at": _SUPPORT["ends_at"]}},
    MessageKind.CANCELLED: {
        "cancellation": {"reason": "Budget was cut for this quarter.", "by": "customer", "at": "2026-11-25T10:00:00Z"},
        "amount_paid": "4800.00",
        "currency": "EUR",
        "refund": _REFUND,
    },
    MessageKind.REFUND_NEEDED: {
        "refund": _REFUND,
        "currency": "EUR",
        "payments": [_PAYMENT],
        "reason": "Order cancelled by the customer; cancellation fee EUR 250.00 retained.",
    },
    MessageKind.PAYMENT_DECLINED: {
        "amount_due": "4800.00",
        "currency": "EUR",
        "due_at": "2026-12-10T14:05:00Z",
        "cancel_at": "2026-12-17T14:05:00Z",
        "overdue": False,
        "methods": ["card", "bank_transfer"],
        "instructions": _INSTRUCTIONS,
        "reason": "Your card has insufficient funds.",
        "requires_action": False,
        "hosted_url": None,
    },
    MessageKind.PAYMENT_ERROR: {
        "step": "card charge, attempt 2",
        "error": "card charge for order acme-2026-042 failed: the payment provider did not answer in time",
    },
    MessageKind.DOCUMENT_FAILED: {
        "version": 2,
        "error": "DocumentTampered: document acme-2026-042/confirmation-v2.pdf has SHA-256 9f2c..., not the 41d0... "
        "recorded for it: refused",
    },
    MessageKind.EMAIL_FAILED: {
        "failure": {
            "at": "2026-11-26T14:05:00Z",
            "kind": "payment_requested",
            "audience": "customer",
            "message_key": f"order-{ORDER_ID}:email:3:payment_requested",
            "error": (
                "SendGrid answered 400 Bad Request: SendGrid refused the message as invalid. SendGrid says: "
                "The from address does not match a verified Sender Identity. (field: from)"
            ),
            "error_type": "SendGridBadRequest",
        },
    },
    MessageKind.INBOUND_EMAIL_REVIEW: {
        "mail": {
            "from": "mallory@elsewhere.example",
            "from_name": "Mallory",
            "subject": "Re: Order acme-2026-042: please review your order confirmation",
            "text": "Please send the invoice to me instead.\nThanks, Mallory",
            "attachments": 2,
        },
        "reason": "it comes from an address other than the customer's",
    },
    MessageKind.INSTALMENT_DUE: _INSTALMENT,
    MessageKind.INSTALMENT_CHARGE_NOTICE: _INSTALMENT_CARD,
    MessageKind.INSTALMENT_REMINDER: _INSTALMENT,
    # Charged on the due date, so already due when it failed.
    MessageKind.INSTALMENT_CHARGE_FAILED: {
        **_INSTALMENT_CARD,
        "instalment": _DESIGN_OVERDUE,
        "instalments": _INSTALMENTS_OVERDUE,
        "overdue": True,
        "reason": "Your card has insufficient funds.",
        "requires_action": False,
        "hosted_url": None,
    },
    MessageKind.INSTALMENT_OVERDUE: {
        **_INSTALMENT,
        "instalment": _DESIGN_OVERDUE,
        "instalments": _INSTALMENTS_OVERDUE,
        "overdue": True,
        "pay_link_until": "2027-01-30T09:00:00Z",
        "reminders_sent": 3,
    },
}

# A change order (workflows/confirmations.py): what it changes from the version in force.
_CHANGE: dict[str, Any] = {
    "version": 3,
    "previous_version": 2,
    "previous_total": "4800.00",
    "total": "5300.00",
    "difference": "500.00",
    "direction": "more",
    "changes": ["total EUR 4800.00 -> 5300.00", "line added: Single sign-on (EUR 500.00)"],
}
_KIND_CONTEXT[MessageKind.CHANGE_ORDER_APPROVED] = {
    "change": {**_CHANGE, "refund": None},
    "currency": "EUR",
    "milestones": [
        {"name": "Design", "due_at": "2026-12-02T14:05:00Z", "completed_at": "2026-12-02T16:45:00Z"},
        {"name": "Build", "due_at": "2026-12-27T14:05:00Z", "completed_at": None},
    ],
    "estimated_delivery_at": "2027-01-01T14:05:00Z",
}

assert set(_KIND_CONTEXT) == set(MessageKind), "every MessageKind needs a sample context"

# The order's status when a kind is sent, where it is not the sample order's AWAITING_PAYMENT.
_KIND_ORDER: dict[MessageKind, dict[str, Any]] = {
    kind: {"status": "IN_PROGRESS"}
    for kind in (
        MessageKind.INSTALMENT_DUE,
        MessageKind.INSTALMENT_CHARGE_NOTICE,
        MessageKind.INSTALMENT_REMINDER,
        MessageKind.INSTALMENT_CHARGE_FAILED,
        MessageKind.INSTALMENT_OVERDUE,
    )
}


def sample_context(kind: MessageKind, **order_overrides: Any) -> dict[str, Any]:
    """A fresh context for ``kind``: the shared ``order`` plus the kind's keys."""
    context = copy.deepcopy(_KIND_CONTEXT[MessageKind(kind)])
    context["order"] = sample_order(**{**_KIND_ORDER.get(MessageKind(kind), {}), **order_overrides})
    return context


def sample_request(kind: MessageKind, *, message_key: str | None = None, **order_overrides: Any) -> EmailRequest:
    audience = audience_for(kind)
    customer = audience == Audience.CUSTOMER
    return EmailRequest(
        order_id=ORDER_ID,
        kind=kind,
        audience=audience,
        to_email=CUSTOMER_EMAIL if customer else None,
        to_name=CUSTOMER_NAME if customer else None,
        message_key=message_key or f"{ORDER_ID}:email:1:{kind.value}",
        context=sample_context(kind, **order_overrides),
    )


SAMPLE_CONTEXTS: dict[MessageKind, dict[str, Any]] = {kind: sample_context(kind) for kind in MessageKind}
"""One context per kind. Treat as read-only; use ``sample_context`` to modify."""


def _variant(kind: MessageKind, order: dict[str, Any], **context: Any) -> tuple[MessageKind, dict[str, Any]]:
    return kind, {**sample_context(kind, **order), **context}


_BANK_ONLY = {**_INSTRUCTIONS, "invoice_url": None, "invoice_pdf": None}

# As ``email_contexts.confirmation_data`` shows a schedule: each instalment with its amount.
_CONFIRMATION_WITH_SCHEDULE = {
    **_CONFIRMATION,
    "terms": {
        **_CONFIRMATION["terms"],
        "payment_schedule": [
            {"name": "Deposit", "percent": "30", "due": "approval", "amount": "1440.00"},
            {"name": "Design", "percent": "40", "due": "milestone:Design approved", "amount": "1920.00"},
            {"name": "Handover", "percent": "30", "due": "P30D", "amount": "1440.00"},
        ],
    },
}

SAMPLE_VARIANTS: dict[str, tuple[MessageKind, dict[str, Any]]] = {
    # The customer paid the whole total a second time, after work had started.
    "payment_received.overpaid": _variant(
        MessageKind.PAYMENT_RECEIVED,
        {"status": "IN_PROGRESS"},
        payment={**_PAYMENT, "at": "2026-11-24T10:00:00Z", "reference": "ORD-ACME-2026-042 (again)"},
        amount_paid="9600.00",
        balance_due="0.00",
    ),
    # The last instalment arrived; the workflow had already moved on to the work.
    "payment_received.settled_during_work": _variant(
        MessageKind.PAYMENT_RECEIVED,
        {"status": "IN_PROGRESS"},
        payment={**_PAYMENT, "amount": "1800.00"},
        amount_paid="4800.00",
        balance_due="0.00",
    ),
    "payment_received.partial": _variant(
        MessageKind.PAYMENT_RECEIVED,
        {},
        payment={**_PAYMENT, "amount": "3000.00"},
        amount_paid="3000.00",
        balance_due="1800.00",
        due_at="2026-12-10T14:05:00Z",
        cancel_at="2026-12-17T14:05:00Z",
    ),
    # Bank transfer only: nothing to click, so no button.
    "payment_requested.bank_transfer_only": _variant(
        MessageKind.PAYMENT_REQUESTED, {}, methods=["bank_transfer"], instructions=_BANK_ONLY
    ),
    # Terms with a payment schedule: each instalment's amount and when it falls due.
    "confirmation_issued.payment_schedule": _variant(
        MessageKind.CONFIRMATION_ISSUED, {}, confirmation=_CONFIRMATION_WITH_SCHEDULE
    ),
    "payment_reminder.card": _variant(
        MessageKind.PAYMENT_REMINDER, {}, methods=["card", "bank_transfer"], instructions=_BANK_ONLY
    ),
    # An order with a payment schedule: the deposit's emails name it and show the schedule.
    "payment_requested.schedule": _variant(
        MessageKind.PAYMENT_REQUESTED, {}, amount_due="1440.00", instalments=_DEPOSIT_DUE
    ),
    "payment_reminder.schedule": _variant(
        MessageKind.PAYMENT_REMINDER, {}, amount_due="1440.00", instalments=_DEPOSIT_DUE
    ),
    "payment_received.schedule": _variant(
        MessageKind.PAYMENT_RECEIVED,
        {},
        payment={**_PAYMENT, "amount": "1440.00"},
        amount_paid="1440.00",
        balance_due="0.00",
        instalments=[_INSTALMENTS[0], *_DEPOSIT_DUE[1:]],
        paid_towards=[{"number": 1, "name": "Deposit", "amount": "1440.00"}],
    ),
    # A change order issued while the work goes on, and its reminder and expiry.
    "confirmation_issued.change_order": _variant(
        MessageKind.CONFIRMATION_ISSUED,
        {"status": "IN_PROGRESS", "version": 3},
        confirmation={**_CONFIRMATION, "version": 3, "amount_total": "5300.00", "change_of": 2},
        change=_CHANGE,
    ),
    "confirmation_reminder.change_order": _variant(
        MessageKind.CONFIRMATION_REMINDER,
        {"status": "IN_PROGRESS", "version": 3},
        confirmation={**_CONFIRMATION, "version": 3, "amount_total": "5300.00", "change_of": 2},
        change=_CHANGE,
    ),
    "confirmation_expired.change_order": _variant(
        MessageKind.CONFIRMATION_EXPIRED, {"status": "IN_PROGRESS", "version": 3}, version=3, change=_CHANGE
    ),
    # A change order down, approved after more was paid than its total: the rest goes back.
    "change_order_approved.refund": _variant(
        MessageKind.CHANGE_ORDER_APPROVED,
        {"status": "IN_PROGRESS"},
        change={
            **_CHANGE,
            "total": "4300.00",
            "difference": "500.00",
            "direction": "less",
            "changes": ["total EUR 4800.00 -> 4300.00"],
            "refund": "500.00",
        },
        instalments=_INSTALMENTS,
    ),
    # Operations moved the instalment's due date (extend_deadline, target instalment).
    "instalment_due.moved": _variant(
        MessageKind.INSTALMENT_DUE, {}, **{**_INSTALMENT, "previous_due_at": "2026-12-09T16:45:00Z"}
    ),
    # A saved card: charged automatically on the due date.
    "instalment_due.saved_card": _variant(MessageKind.INSTALMENT_DUE, {}, **_INSTALMENT_CARD),
    # The design instalment past its due date: the firmer reminder.
    "instalment_reminder.overdue": _variant(
        MessageKind.INSTALMENT_REMINDER,
        {},
        overdue=True,
        instalment=_DESIGN_OVERDUE,
        instalments=_INSTALMENTS_OVERDUE,
        pay_link_until="2027-01-22T08:00:00Z",
    ),
    # The bank asks the customer to confirm the automatic charge (3D Secure).
    "instalment_charge_failed.requires_action": _variant(
        MessageKind.INSTALMENT_CHARGE_FAILED,
        {},
        reason="This payment requires authentication by your bank (3D Secure).",
        requires_action=True,
        hosted_url=(
            "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3Q&publishable_key=pk"
        ),
    ),
}
"""Named variants of a kind's context (``<kind>.<case>``), snapshotted next to the kinds."""
