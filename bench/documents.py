"""What the confirmation PDF costs: the time to render one and its size, and the history bytes it adds.

- **Render time.** The email activity renders a version's PDF (activities/documents.py)
  when it sends that version's email, from the email's own context. The baseline is
  that email (activities/email.py ``render``), rendered from the same context in the
  same run: the PDF's CPU time is reported as a multiple of it.
- **Size.** The bytes the email attaches and the store keeps, per version.
- **History bytes.** The same canonical order with and without a document store
  (``EmailActivities(documents=None)``): the order keeps only each version's
  ``DocumentRef`` (id, size, SHA-256) of each PDF (confirmation versions, receipts, the
  evidence certificate), and the certificate cites each version's PDF by its hash, so its
  history may grow by those and no more (``history_budget``).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from activities.config import Settings
from activities.documents import render_confirmation
from activities.email import render
from bench.canonical import CUSTOMER, draft, start_input
from bench.report import TARGETS, Row
from bench.sides import Side, activity_worker, canonical_orders
from bench.workers import worker_process
from workflows import facts, names
from workflows.email_contexts import EFFECTIVE_TERMS, confirmation_data
from workflows.models import Confirmation, MessageKind

ISSUED: Final = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
EMAIL_BATCH: Final = 20

DOCUMENT_KEY: Final = '"document":'
REF_FIELDS: Final = frozenset({"id", "size", "sha256"})
CITED_KEY: Final = "document_sha256"
CITATION_BYTES: Final = len('"' + "0" * 64 + '"') - len("null") + 1
"""A hash cited where, without PDFs, the value is ``null``, and a byte of length prefix."""
PROTOBUF_PER_COPY: Final = 4
"""A payload that grows by a ref may lengthen the length prefixes of the messages around it
(the payload's data, the payload, the attributes, the event): a byte each at most."""
EVENT_ID_JITTER: Final = 64
"""Events refer to earlier ones by id, in varints: an order whose two emails finished in one
workflow task rather than two numbers its later events one lower, and each reference that
crosses 128 shrinks by a byte. About +-30 bytes on the canonical order from run to run,
with or without PDFs: twice that, once per order."""
WORKFLOW_TASK_EVENTS: Final = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    }
)


def confirmation_context(settings: Settings, version: int = 1) -> dict[str, Any]:
    """The canonical order's confirmation email context, as the workflow builds it
    (workflows/email_contexts.py), with the worker's default terms."""
    first = draft()
    confirmation = Confirmation(**first.model_dump(), version=version, issued_at=ISSUED, amount_total=first.total)
    order = start_input("bench-pdf").model_dump(mode="json")
    customer = CUSTOMER.model_dump(mode="json", exclude={"customer_ref"})
    policy = settings.policy
    return {
        "order": {
            "order_id": order["order_id"],
            "customer": customer,
            "status": "AWAITING_APPROVAL",
            "currency": None,
            "total": None,
            "version": version,
            "payment_reference": None,
        },
        "confirmation": confirmation_data(confirmation),
        "effective": {name: facts.iso_duration(getattr(policy, name)) for name in EFFECTIVE_TERMS},
        "expires_at": (ISSUED + policy.confirmation_expiry).isoformat().replace("+00:00", "Z"),
    }


def _median_seconds(make: Callable[[], object], repeats: int, batch: int = 1) -> float:
    """Median CPU time of this thread per call. Not wall time: on a busy machine a long render
    is preempted many times and a short one seldom, so the ratio moved with the load (wall
    time gave 1,400 at a load average of 11 on 2 CPUs, and 210 at 6; CPU time gives 210)."""
    make()  # warm: templates compiled, fonts read from disk
    times = []
    for _ in range(repeats):
        began = time.thread_time()
        for _ in range(batch):
            make()
        times.append((time.thread_time() - began) / batch)
    return statistics.median(times)


@dataclass(frozen=True)
class PdfCost:
    pdf_seconds: float
    email_seconds: float
    pdf_bytes: int


def pdf_cost(settings: Settings, repeats: int) -> PdfCost:
    """Median CPU time to render the canonical confirmation's PDF and its email, and the PDF's size."""
    context = confirmation_context(settings)
    pdf = render_confirmation(context, settings)
    # An email renders in well under a millisecond: timed in batches, so each sample is long enough to read.
    email = _median_seconds(lambda: render(MessageKind.CONFIRMATION_ISSUED, context, settings), repeats, EMAIL_BATCH)
    rendered = _median_seconds(lambda: render_confirmation(context, settings), repeats)
    return PdfCost(pdf_seconds=rendered, email_seconds=email, pdf_bytes=len(pdf))


# ---------------------------------------------------------------------------
# History bytes
# ---------------------------------------------------------------------------


def _payloads(event: HistoryEvent) -> Iterator[Payload]:
    """Every payload an event carries (inputs, results, details), however deep."""
    stack: list[Any] = [event]
    while stack:
        message = stack.pop()
        if isinstance(message, Payload):
            yield message
            continue
        for _, value in message.ListFields():
            if hasattr(value, "ListFields"):
                stack.append(value)
            elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
                stack.extend(item for item in value if hasattr(item, "ListFields"))
                if isinstance(value, Mapping):
                    stack.extend(item for item in value.values() if hasattr(item, "ListFields"))


def _objects(events: Sequence[HistoryEvent]) -> Iterator[dict[str, Any]]:
    """Every JSON object in the history's payloads, however deep, each time it is held."""
    for event in events:
        for payload in _payloads(event):
            try:
                stack: list[Any] = [json.loads(payload.data)]
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # not JSON (binary/null, or encrypted): holds nothing the bench can read
            while stack:
                value = stack.pop()
                if isinstance(value, dict):
                    yield value
                    stack.extend(reversed(value.values()))
                elif isinstance(value, list):
                    stack.extend(reversed(value))


def recorded_refs(events: Sequence[HistoryEvent]) -> list[dict[str, Any]]:
    """Every ``DocumentRef`` the history's JSON payloads hold, each time it is held."""
    return [o for o in _objects(events) if set(o) == REF_FIELDS and isinstance(o.get("sha256"), str)]


def cited_hashes(events: Sequence[HistoryEvent]) -> list[str]:
    """Every PDF hash the history's JSON payloads cite by itself (``document_sha256``): the
    evidence certificate states each version with its PDF's hash, and the closing email that
    carries the certificate carries those facts."""
    return [o[CITED_KEY] for o in _objects(events) if isinstance(o.get(CITED_KEY), str)]


def ref_bytes(ref: Mapping[str, Any]) -> int:
    """A ref as pydantic writes it into a payload: ``,"document":{"id":...,"size":...,"sha256":...}``."""
    return len("," + DOCUMENT_KEY) + len(json.dumps(dict(ref), separators=(",", ":")).encode())


def data_bytes(events: Sequence[HistoryEvent]) -> int:
    """An order's history bytes, less its workflow-task events: how activity results batch
    into tasks varies from run to run (a task more or less is about 300 bytes, as much as
    both refs), and those events carry no order data."""
    return sum(event.ByteSize() for event in events if event.event_type not in WORKFLOW_TASK_EVENTS)


def carried_copies(events: Sequence[HistoryEvent]) -> int:
    """Where the order's state, and so each version's ref, is written once more: a run that
    continues as new writes it into its last event and the new run's first."""
    closed = sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
    return 2 * closed


@dataclass(frozen=True)
class Budget:
    bytes: int
    refs: int
    """Distinct refs: one per version that went out with its PDF."""
    found: int
    """Copies found in the history's payloads."""
    copies: int
    """Copies each ref may have: the receipt's, and the state's at each continue-as-new."""
    cited: int = 0
    """Citations of a ref's hash alone (the evidence certificate's facts)."""


def history_budget(events: Sequence[HistoryEvent]) -> Budget:
    """The bytes the PDFs may add to an order's history: each version's ref, once in its
    confirmation email's receipt and once per copy of the state continue-as-new writes,
    each with its protobuf prefixes, and the run-to-run jitter of event ids. A ref found
    anywhere else (another email's context, a search attribute, the details) is not in
    the budget, so its bytes make a miss."""
    found = recorded_refs(events)
    distinct = {ref["id"]: ref for ref in found}
    copies = 1 + carried_copies(events)
    size = sum(copies * (ref_bytes(ref) + PROTOBUF_PER_COPY) for ref in distinct.values())
    # The certificate's citations of a version's PDF, by its hash only: budgeted when the hash is one
    # of the refs' (a hash of anything else is not the PDFs' doing).
    hashes = {ref["sha256"] for ref in distinct.values()}
    cited = [h for h in cited_hashes(events) if h in hashes]
    size += len(cited) * CITATION_BYTES
    return Budget(bytes=size + EVENT_ID_JITTER, refs=len(distinct), found=len(found), copies=copies, cited=len(cited))


async def pdf_figures(
    client: Client, settings: Settings, with_pdfs: Sequence[HistoryEvent], orders: int, renders: int, cache: int
) -> tuple[list[Row], list[str]]:
    """The PDF's rows: its render time against its email's, its size, and the bytes it adds to
    the canonical order's history (``with_pdfs``, from the order's side), measured against the
    same order without a document store, driven here."""
    plain = Side("order", names.WORKFLOW_TYPE, f"bench-plain-{uuid.uuid4().hex[:6]}")  # documents=False
    address = client.service_client.config.target_host
    with worker_process(plain.name, address, plain.queue, cache):
        async with activity_worker(client, plain, settings):
            _, _, without = await canonical_orders(plain, client, orders)
    budget = history_budget(with_pdfs)
    added = data_bytes(with_pdfs) - data_bytes(without)
    pdf = pdf_cost(settings, renders)
    rows = [
        Row(
            "confirmation PDF render CPU (vs its email)",
            pdf.pdf_seconds,
            pdf.email_seconds,
            "ms",
            TARGETS["pdf_render"],
        ),
        Row("confirmation PDF size", pdf.pdf_bytes, 0, "KiB", TARGETS["pdf_size"]),
        Row("history bytes added by PDFs (vs budget)", added, budget.bytes, "B", TARGETS["pdf_history"]),
    ]
    notes = [
        f"PDFs: the canonical order's history holds {budget.found} copies of {budget.refs} document refs "
        f"(one per PDF: confirmation versions, receipts, the certificate; {budget.copies} each allowed) and "
        f"{budget.cited} citations of a PDF's hash (the certificate's facts); with PDFs it is {added:,} bytes longer, "
        f"not counting workflow-task events; the budget is the refs' JSON, {PROTOBUF_PER_COPY} bytes of "
        f"protobuf per copy and {EVENT_ID_JITTER} bytes of event-id jitter (bench/documents.py).",
    ]
    return rows, notes
