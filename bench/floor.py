"""The floor: the least a workflow can do for the same business conversation.

``FloorOrder`` receives the same actions as a service order (as signals of the
same names), sends the same customer emails through the same ``send_email``
activity with the same kind of ``EmailRequest``, arms one reminder timer per
stage as the order does, and publishes its status once per status change (one
search-attribute upsert). It keeps no view, no timeline and no bookkeeping, so
whatever the order costs above it is the price of the project's own code.

``ProbeWorkflow`` is smaller still: one signal and one activity. It is the
yardstick for memory per parked workflow.

Both run in the default sandbox, as the order does, so the comparison is fair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from temporalio import activity, workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows import search as sa
    from workflows.models import Audience, EmailRequest, MessageKind, StartOrderInput

FLOOR_WORKFLOW: Final = "FloorOrder"
PROBE_WORKFLOW: Final = "ProbeWorkflow"
PROBE_ACTIVITY: Final = "probe_activity"

EMAIL_TIMEOUT = timedelta(seconds=30)

# The order's default reminder for each stage (workflows/models/activity_io.py OrderPolicy):
# the first alarm it arms there, so the floor starts the same timers.
STAGE_REMINDER: Final[dict[str, timedelta]] = {
    "awaiting_approval": timedelta(days=3),  # confirmation reminder
    "awaiting_payment": timedelta(days=11),  # 3 days before a 14-day due date
    "in_progress": timedelta(days=7),  # progress digest
    "awaiting_acceptance": timedelta(days=5),  # 2 days before a 7-day review ends
}


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorOrder:
    @workflow.init
    def __init__(self, start: StartOrderInput) -> None:
        self._start = start
        self._inbox: list[tuple[str, dict[str, Any]]] = []
        self._status = "discussing"
        self._emails: list[asyncio.Task[None]] = []
        self._alarm: asyncio.Task[None] | None = None
        self._seq = 0
        self._version = 0
        self._deliveries = 0
        self._revisions = 0
        self._support_period = timedelta(days=30)

    @workflow.signal(dynamic=True)
    def action(self, name: str, args: Sequence[RawValue]) -> None:
        payload = workflow.payload_converter().from_payload(args[0].payload, dict) if args else {}
        self._inbox.append((name, payload))

    @workflow.run
    async def run(self, start: StartOrderInput) -> str:
        self._email(MessageKind.CONTACT_ACK, channel=start.channel, message=start.message)
        while self._status != "completed":
            await workflow.wait_condition(lambda: bool(self._inbox) or self._status == "completed")
            while self._inbox:
                self._act(*self._inbox.pop(0))
        await asyncio.gather(*self._emails)
        return self._status

    def _act(self, name: str, payload: dict[str, Any]) -> None:
        if name == names.ISSUE_CONFIRMATION:
            self._version += 1
            confirmation = payload["confirmation"]
            terms = confirmation.get("terms") or {}
            if terms.get("support_period"):
                self._support_period = _duration(terms["support_period"])
            self._set_status("awaiting_approval")
            expires_at = (workflow.now() + timedelta(days=14)).isoformat()
            context = _confirmation_context(confirmation, self._version, expires_at)
            self._email(MessageKind.CONFIRMATION_ISSUED, **context)
        elif name == names.REQUEST_CHANGES:
            self._email(MessageKind.CHANGES_RECEIVED, version=self._version, comments=payload.get("comments", ""))
            self._set_status("discussing")
        elif name == names.APPROVE:
            self._set_status("awaiting_payment")
            self._email(MessageKind.PAYMENT_REQUESTED, **self._payment_context())
        elif name == names.RECORD_PAYMENT:
            amount = str(payload.get("amount", "0"))
            self._email(
                MessageKind.PAYMENT_RECEIVED,
                payment={"at": workflow.now().isoformat(), "method": "bank_transfer", **payload},
                amount_paid=amount,
                balance_due="0.00",
                currency="EUR",
            )
            self._set_status("in_progress")
            self._email(MessageKind.WORK_COMMENCED, milestones=[], estimated_delivery_at=None)
        elif name == names.POST_UPDATE:
            update = {"at": workflow.now().isoformat(), "text": payload.get("text", ""), "milestone": None}
            self._email(MessageKind.PROGRESS_UPDATE, update=update, milestones=[])
        elif name == names.DELIVER:
            self._deliveries += 1
            self._set_status("awaiting_acceptance")
            delivery = {**payload, "at": workflow.now().isoformat(), "round": self._deliveries}
            self._email(
                MessageKind.DELIVERED,
                delivery={"links": [], "access_instructions": None, **delivery},
                review_ends_at=(workflow.now() + timedelta(days=7)).isoformat(),
                deemed_acceptance=True,
            )
        elif name == names.REQUEST_REVISION:
            self._revisions += 1
            self._email(MessageKind.REVISION_RECEIVED, round=self._revisions, comments=payload.get("comments", ""))
            self._set_status("in_progress")
        elif name == names.ACCEPT:
            self._email(MessageKind.ACCEPTED, accepted_at=workflow.now().isoformat())
            self._set_status("in_support")
            self._email(MessageKind.SUPPORT_OPENED, support=self._support_context())
        elif name == names.REQUEST_SUPPORT:
            request = {**payload, "at": workflow.now().isoformat()}
            self._email(MessageKind.SUPPORT_REQUEST_ACK, request=request, support=self._support_context())
        # Anything else (a note) changes nothing the customer hears about.

    def _set_status(self, status: str) -> None:
        """One upsert per status change, and the stage's one reminder timer."""
        self._status = status
        workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(status)])
        if self._alarm is not None and not self._alarm.done():
            self._alarm.cancel()
        self._alarm = None
        if status == "in_support":
            self._alarm = asyncio.create_task(self._support())
        elif status in STAGE_REMINDER:
            self._alarm = asyncio.create_task(self._remind(STAGE_REMINDER[status]))

    async def _remind(self, after: timedelta) -> None:
        await workflow.sleep(after)

    async def _support(self) -> None:
        """The order's support stage: a reminder half-way (for a short period), then the end."""
        half = self._support_period / 2
        await workflow.sleep(half)
        self._email(MessageKind.SUPPORT_ENDING_SOON, support=self._support_context())
        await workflow.sleep(self._support_period - half)
        self._email(MessageKind.SUPPORT_CLOSED, support=self._support_context())
        self._set_status("completed")

    def _email(self, kind: MessageKind, **context: Any) -> None:
        self._seq += 1
        customer = self._start.customer
        order = {
            "order_id": self._start.order_id,
            "customer": {"name": customer.name, "email": customer.email, "company": customer.company},
            "status": self._status,
            "currency": "EUR",
            "total": None,
            "version": self._version or None,
            "payment_reference": f"SO-{self._start.order_id}".upper(),
        }
        request = EmailRequest(
            order_id=self._start.order_id,
            kind=kind,
            audience=Audience.CUSTOMER,
            to_email=customer.email,
            to_name=customer.name,
            message_key=f"floor-{self._start.order_id}:email:{self._seq}:{kind}",
            context={"order": order, **context},
        )
        self._emails.append(asyncio.create_task(self._send(request)))

    async def _send(self, request: EmailRequest) -> None:
        await workflow.execute_activity(names.SEND_EMAIL, request, start_to_close_timeout=EMAIL_TIMEOUT)

    def _payment_context(self) -> dict[str, Any]:
        due = workflow.now() + timedelta(days=14)
        return {
            "amount_due": "4800.00",
            "currency": "EUR",
            "due_at": due.isoformat(),
            "cancel_at": (due + timedelta(days=7)).isoformat(),
            "overdue": False,
            "methods": ["bank_transfer"],
            "instructions": {
                "reference": f"SO-{self._start.order_id}".upper(),
                "bank_transfer": None,
                "invoice_url": None,
                "invoice_pdf": None,
                "invoice_pending": False,
            },
        }

    def _support_context(self) -> dict[str, Any]:
        now = workflow.now()
        return {"opened_at": now.isoformat(), "ends_at": (now + self._support_period).isoformat(), "scope": ""}


def _duration(value: Any) -> timedelta:
    """An ISO 8601 duration, or a number of seconds, as pydantic reads both."""
    # Imported here, so a floor run whose terms have no support period pays nothing for it.
    from pydantic import TypeAdapter

    return TypeAdapter(timedelta).validate_python(value)


def _confirmation_context(confirmation: dict[str, Any], version: int, expires_at: str) -> dict[str, Any]:
    items = [
        {**item, "amount": str(float(item["quantity"]) * float(item["unit_price"]))}
        for item in confirmation["line_items"]
    ]
    return {
        "confirmation": {
            **confirmation,
            "version": version,
            "line_items": items,
            "amount_total": str(sum(float(item["amount"]) for item in items)),
        },
        # The durations in force; the floor's terms are the canonical order's.
        "effective": {
            "payment_due": "P14D",
            "payment_grace": "P7D",
            "review_period": "P7D",
            "support_period": "PT5S",
            "confirmation_expiry": "P14D",
        },
        "expires_at": expires_at,
    }


# ---------------------------------------------------------------------------
# The probe: one signal, one activity
# ---------------------------------------------------------------------------


@activity.defn(name=PROBE_ACTIVITY)
async def probe_activity(n: int) -> int:
    return n


@workflow.defn(name=PROBE_WORKFLOW)
class ProbeWorkflow:
    def __init__(self) -> None:
        self._signals = 0

    @workflow.signal
    def poke(self) -> None:
        self._signals += 1

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._signals > 0)
        await workflow.execute_activity(PROBE_ACTIVITY, 1, start_to_close_timeout=EMAIL_TIMEOUT)
        await workflow.wait_condition(lambda: self._signals > 1)
