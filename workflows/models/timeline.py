"""The order's timeline: typed entries, each a kind, a time and its facts.

``kind`` says what happened and ``fields`` hold the facts, as short names
and text values (a value the order did not have is left out), so readers
count and filter by kind and read a field instead of parsing words.
``event`` and ``detail`` are the words people and web backends read, the
same words the timeline has always had; ``timeline_words`` writes them from
the kind and the fields, in this one place (``detail`` when the entry is
written, ``event`` whenever it is read: it is not stored twice).

Entries written before kinds (still carried by running orders across
continue-as-new, and in recorded histories) hold only the words. They load
with the kind their words name, or ``OTHER`` (which keeps its words in the
field ``event``); their fields are recovered where
a reader needs them (a status change, an email sent) and the words can be
written again from them exactly, and are left empty otherwise (a provider's
"charge refunded" report keeps only its ``event``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Any, Final

from pydantic import Field, computed_field, model_validator

from workflows.models.fields import Model, OrderStatus

__all__ = [
    "DETAIL",
    "EVENT",
    "SUPPORT_DESK",
    "TimelineEvent",
    "TimelineFields",
    "TimelineKind",
    "as_field",
    "recovered",
    "timeline_words",
]


class TimelineKind(StrEnum):
    """What an entry records. The value is the entry's ``event`` words, except
    for ``STATUS`` ("status IN_PROGRESS") and ``PAYMENT_EVENT`` (the payment
    provider's report, "charge refunded"), whose words name a field."""

    CONTACT_RECEIVED = "contact received"
    RUN_CONTINUED = "run continued"
    STATUS = "status"
    NOTE = "note"
    CUSTOMER_UPDATED = "customer details updated"
    DEADLINE_CHANGED = "deadline changed"
    PLAINTEXT_PAYLOADS = "payloads in clear text"
    # reminders and alarms
    CONFIRMATION_REMINDER = "confirmation reminder"
    PAYMENT_REMINDER = "payment reminder"
    MILESTONE_OVERDUE = "milestone overdue"
    PROGRESS_DIGEST = "progress digest"
    ACCEPTANCE_REMINDER = "acceptance reminder"
    REVIEW_PERIOD_LAPSED = "review period lapsed"
    SUPPORT_ENDING_SOON = "support ending soon"
    # work and support
    PROGRESS_UPDATE = "progress update"
    SUPPORT_OPENED = "support opened"
    SUPPORT_REQUEST = "support request"
    SUPPORT_DESK_CLOSE_FAILED = "support desk close failed"
    # money
    PAYMENT_METHOD_PROVIDED = "payment method provided"
    PAYMENT_EVENT = "payment event"
    HOSTED_INVOICE_DELAYED = "hosted invoice delayed"
    HOSTED_INVOICE_FAILED = "hosted invoice failed"
    HOSTED_INVOICE_CREATED = "hosted invoice created"
    PAYMENT_REQUEST_FAILED = "payment request failed"
    DUPLICATE_PAYMENT_IGNORED = "duplicate payment notice ignored"
    PAYMENT_RECORDED = "payment recorded"
    OVERPAYMENT_FLAGGED = "overpayment flagged"
    PAYMENT_HELD = "payment held"
    NO_AUTOMATIC_REFUND = "no automatic refund"
    REFUND = "refund"
    REFUND_FAILED = "refund failed"
    CARD_CHARGE_FAILED = "card charge failed"
    CARD_PAYMENT_PROCESSING = "card payment processing"
    INVOICE_VOIDED = "invoice voided"
    INVOICE_VOID_FAILED = "invoice void failed"
    DUPLICATE_FAILURE_IGNORED = "duplicate payment failure notice ignored"
    PAYMENT_FAILED = "payment failed"
    INSTALMENT_DUE = "instalment due"
    INSTALMENT_REMINDER = "instalment reminder"
    INSTALMENT_OVERDUE = "instalment overdue"
    INSTALMENT_PAID = "instalment paid"
    INSTALMENT_CHARGE = "instalment card charge"
    CHANGE_ORDER_ISSUED = "change order issued"
    CHANGE_ORDER_APPROVED = "change order approved"
    CHANGE_ORDER_DECLINED = "change order declined"
    CHANGE_ORDER_EXPIRED = "change order expired"
    # email
    EMAIL_SENT = "email sent"
    EMAIL_FAILED = "email failed"
    OTHER = "other"  # an entry from before kinds whose words name none


K = TimelineKind

SUPPORT_DESK: Final = "support desk"
"""``via`` of an email the support desk's activity sent (its words: "via the support desk")."""


class TimelineFields(dict[str, str]):
    """An entry's fields as its words read them: a value the order did not have
    reads "None", as the words always said (``payment held`` before a currency)."""

    def __missing__(self, key: str) -> str:
        return "None"


def _minute(iso: str) -> str:
    """A time to the minute, as the words give it; a value that is no time stays as it is."""
    try:
        return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M}"
    except ValueError:
        return iso


def _email_sent(f: TimelineFields) -> str:
    words = f"{f['email']} to {f['audience']}"
    if f["via"] != SUPPORT_DESK:
        return f"{words} via {f['via']}, message id {f['message_id']}"
    return f"{words} via the support desk" + (f", ticket {f['ticket']}" if "ticket" in f else "")


def _payment_event(f: TimelineFields) -> str:
    amount = f" {f['currency']} {f['amount']}" if "amount" in f else ""
    return f"{f['reference']}{amount} {f.get('text', '')}".strip()


def _refund(f: TimelineFields) -> str:
    currency = f.get("currency", "")
    failed = f", {currency} {f['failed']} failed" if "failed" in f else ""
    return f"{f['status']} {currency} {f['amount']}{failed}"


DETAIL: Final[dict[TimelineKind, Callable[[TimelineFields], str]]] = {
    K.CONTACT_RECEIVED: lambda f: f"via {f['channel']}",
    K.RUN_CONTINUED: lambda f: f"run {f['run']}",
    K.STATUS: lambda f: f.get("why", ""),
    K.NOTE: lambda f: f"from {f['author']}",
    K.CUSTOMER_UPDATED: lambda f: f.get("changed", ""),
    K.DEADLINE_CHANGED: lambda f: f"{f['what']}: {_minute(f['old'])} -> {_minute(f['new'])} UTC. {f.get('reason', '')}",
    K.PLAINTEXT_PAYLOADS: lambda f: "operations told",
    K.CONFIRMATION_REMINDER: lambda f: f"v{f['version']}",
    K.PAYMENT_REMINDER: lambda f: f"balance {f['balance']}",
    K.MILESTONE_OVERDUE: lambda f: f["milestone"],
    K.ACCEPTANCE_REMINDER: lambda f: f"delivery {f['delivery']}",
    K.REVIEW_PERIOD_LAPSED: lambda f: f"delivery {f['delivery']}",
    K.PROGRESS_UPDATE: lambda f: f"milestone {f['milestone']} completed" if "milestone" in f else "",
    K.SUPPORT_OPENED: lambda f: f"until {f['until']}" + (f", ticket {f['ticket']}" if "ticket" in f else ""),
    K.SUPPORT_REQUEST: lambda f: f["subject"],
    K.SUPPORT_DESK_CLOSE_FAILED: lambda f: f["error"],
    K.PAYMENT_METHOD_PROVIDED: lambda f: f["payment_method"],
    K.PAYMENT_EVENT: _payment_event,
    K.HOSTED_INVOICE_DELAYED: lambda f: "the payment email goes now; the invoice link follows",
    K.HOSTED_INVOICE_FAILED: lambda f: f["error"],
    K.HOSTED_INVOICE_CREATED: lambda f: f["invoice"],
    K.PAYMENT_REQUEST_FAILED: lambda f: f["error"],
    K.DUPLICATE_PAYMENT_IGNORED: lambda f: f["reference"],
    K.PAYMENT_RECORDED: lambda f: f"{f['currency']} {f['amount']} by {f['method']}",
    K.OVERPAYMENT_FLAGGED: lambda f: f"{f['currency']} {f['amount']}",
    K.PAYMENT_HELD: lambda f: f"{f['currency']} {f['amount']} by {f['method']} ({f['reference']}): {f['reason']}",
    K.NO_AUTOMATIC_REFUND: lambda f: f"the work was delivered; {f['currency']} {f['amount']} paid",
    K.REFUND: _refund,
    K.REFUND_FAILED: lambda f: f["error"],
    K.CARD_CHARGE_FAILED: lambda f: f["error"],
    K.CARD_PAYMENT_PROCESSING: lambda f: f.get("payment_intent", ""),
    K.INVOICE_VOIDED: lambda f: f["invoice"],
    K.INVOICE_VOID_FAILED: lambda f: f["error"],
    K.DUPLICATE_FAILURE_IGNORED: lambda f: f["reference"],
    K.PAYMENT_FAILED: lambda f: f"{f['method']} {f['reference']}: {f['reason']}",
    K.INSTALMENT_DUE: lambda f: f"{f['instalment']}: {f['currency']} {f['amount']} by {_minute(f['due'])} UTC",
    K.INSTALMENT_REMINDER: lambda f: f"{f['instalment']}: {f['currency']} {f['amount']} unpaid",
    K.INSTALMENT_OVERDUE: lambda f: f"{f['instalment']}: {f['currency']} {f['amount']} unpaid; operations told",
    K.INSTALMENT_PAID: lambda f: f["instalment"],
    K.INSTALMENT_CHARGE: lambda f: f"{f['instalment']}: {f['status']}" + (f" ({f['reason']})" if "reason" in f else ""),
    K.CHANGE_ORDER_ISSUED: lambda f: f"v{f['version']}: {f['currency']} {f['old']} -> {f['new']}",
    K.CHANGE_ORDER_APPROVED: lambda f: f"v{f['version']}: the total is now {f['currency']} {f['new']}",
    K.CHANGE_ORDER_DECLINED: lambda f: f"v{f['version']}: v{f['kept']} stays in force",
    K.CHANGE_ORDER_EXPIRED: lambda f: f"v{f['version']}: v{f['kept']} stays in force",
    K.EMAIL_SENT: _email_sent,
    K.EMAIL_FAILED: lambda f: f"{f['email']} to {f['audience']}: {f['error']}",
}
"""The detail's words for each kind; a kind not here has none."""

EVENT: Final[dict[TimelineKind, Callable[[TimelineFields], str]]] = {
    K.STATUS: lambda f: f"status {f['status']}",
    K.PAYMENT_EVENT: lambda f: f["event"].replace("_", " "),
    K.OTHER: lambda f: f.get("event", ""),
}
"""The event's words of the kinds whose words name a field; the others' are their value."""


def timeline_words(kind: TimelineKind, fields: dict[str, str]) -> tuple[str, str]:
    """The ``event`` and ``detail`` words of an entry of ``kind`` with ``fields``."""
    facts = TimelineFields(fields)
    event = EVENT[kind](facts) if kind in EVENT else kind.value
    detail = DETAIL[kind](facts) if kind in DETAIL else ""
    return event, detail


def as_field(value: object) -> str:
    """A fact as text: dates in ISO 8601, the rest as the words wrote them (an enum's value)."""
    if isinstance(value, date):  # a datetime is a date too
        return value.isoformat()
    if isinstance(value, Enum):  # its own value: one string for every entry that names it
        return str(value.value)
    return f"{value}"


class TimelineEvent(Model):
    """One entry of the order's timeline; write one with ``TimelineEvent.of`` (``details.log`` in the workflow).

    ``event`` follows from the kind and fields, so it is not stored twice: a
    parked order keeps every entry in the worker's memory. The JSON has it.
    """

    at: datetime
    kind: TimelineKind = Field(
        default=TimelineKind.OTHER,
        description="What the entry records; an entry given only its words gets the kind they name.",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        exclude_if=lambda fields: not fields,
        description="The entry's facts, by short name (left out when it has none).",
    )
    detail: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def event(self) -> str:
        """What happened, in words: the kind's value, or the words its fields give (``status IN_PROGRESS``)."""
        return EVENT[self.kind](TimelineFields(self.fields)) if self.kind in EVENT else self.kind.value

    @classmethod
    def of(cls, at: datetime, kind: TimelineKind, /, **values: object) -> TimelineEvent:
        """An entry of ``kind`` with these facts; a value that is ``None`` or empty is left out."""
        fields = {name: as_field(value) for name, value in values.items() if value is not None and value != ""}
        detail = timeline_words(kind, fields)[1]
        return cls(at=at, kind=kind, fields=fields, detail=detail) if fields else cls(at=at, kind=kind, detail=detail)

    @model_validator(mode="before")
    @classmethod
    def _from_words(cls, data: Any) -> Any:
        """An entry stored before kinds: the kind its words name, and the fields they give back.
        An entry with a kind: its ``event`` (in its JSON) follows from the kind and fields."""
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            return data
        words = {name: value for name, value in data.items() if name != "event"}
        if "kind" not in data:
            words["kind"], words["fields"] = recovered(data["event"], str(data.get("detail", "")))
        return words


_STATUSES: Final = frozenset(OrderStatus)
_BY_WORDS: Final = {kind.value: kind for kind in TimelineKind if kind not in EVENT}

# The provider's reports whose words no kind of the workflow's own has; "invoice
# voided" and "refund failed" read as the workflow's own kinds of the same words.
_PROVIDER_WORDS: Final = {"charge refunded": "charge_refunded"}

_EMAIL_SENT: Final = re.compile(
    r"(?P<email>\w+) to (?P<audience>\w+) via (?P<via>.+?)(?:, message id (?P<message_id>.+)|, ticket (?P<ticket>.+))?",
    re.DOTALL,
)


def recovered(event: str, detail: str) -> tuple[TimelineKind, dict[str, str]]:
    """The kind an older entry's words name, and the fields they give back exactly (or none)."""
    status = event.removeprefix("status ")
    if status != event and status in _STATUSES:
        return K.STATUS, _exact(K.STATUS, event, detail, status=status, why=detail)
    if event in _PROVIDER_WORDS:
        return K.PAYMENT_EVENT, {"event": _PROVIDER_WORDS[event]}
    kind = _BY_WORDS.get(event, K.OTHER)
    if kind is K.OTHER:
        return kind, {"event": event}  # its words, which no kind gives
    found = _EMAIL_SENT.fullmatch(detail) if kind is K.EMAIL_SENT else None
    if found is None:
        return kind, {}
    via = SUPPORT_DESK if found["via"] == f"the {SUPPORT_DESK}" else found["via"]
    return kind, _exact(kind, event, detail, **{**found.groupdict(), "via": via})


def _exact(kind: TimelineKind, event: str, detail: str, **values: str | None) -> dict[str, str]:
    """``values`` without the empty ones (and a missing value's "None"), if they
    give back the words exactly; otherwise none."""
    fields = {name: value for name, value in values.items() if value and value != "None"}
    return fields if timeline_words(kind, fields) == (event, detail) else {}
