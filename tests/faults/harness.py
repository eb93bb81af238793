"""The fault suite's moving parts: a real dev server, real worker processes,
the Stripe and SendGrid doubles, and the counts each scenario reports.

Nothing here is mocked. The server is the ``temporal server start-dev`` that
``orders dev`` runs, with the same arguments (``starter.dev.server_command``)
on a SQLite file, so it can be stopped and started again on the same data.
Workers are ``python worker.py`` subprocesses, configured through the
environment exactly as in production, and killed by their own pid only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client

from orderclient import connection
from orderclient.client import OrderClient
from ordersecurity.codec import KEYS_ENV, SWITCH_ENV
from starter import dev
from tests.doubles import sendgrid_api, stripe_api
from tests.helpers import ALICE, free_port
from workflows import names
from workflows.models import (
    AcceptInput,
    Action,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    ConfirmationDraft,
    DeliverInput,
    IssueConfirmationInput,
    LineItem,
    MilestoneTerm,
    OrderStatus,
    OrderView,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RecordPaymentInput,
    StartOrderInput,
    Terms,
)
from workflows.names import workflow_id

ROOT: Final = Path(__file__).resolve().parents[2]

Summary = Callable[[str], None]
"""The ``summary`` fixture: records a scenario's last line, its counts."""

# Scale knobs (docs/reliability.md): the defaults keep the CI step short.
ORDERS_ENV: Final = "FAULTS_ORDERS"
RATE_ENV: Final = "FAULTS_RATE"
SEED_ENV: Final = "FAULTS_SEED"

SERVER_READY_TIMEOUT: Final = 30.0
SERVER_STOP_GRACE: Final = 10.0
WORKER_READY_TIMEOUT: Final = 60.0
WORKER_READY_LINE: Final = b"worker polling task queue"


def scale(default: int) -> int:
    """``FAULTS_ORDERS``: how many orders a scenario drives (a larger run: 200)."""
    raw = os.environ.get(ORDERS_ENV, "").strip()
    return max(1, int(raw)) if raw else default


def fault_rate(default: float = 0.2) -> float:
    """``FAULTS_RATE``: the share of provider requests that fail (0.2 is 20%)."""
    raw = os.environ.get(RATE_ENV, "").strip()
    return min(max(float(raw), 0.0), 0.9) if raw else default


def seeded_random() -> random.Random:
    """``FAULTS_SEED`` replays a run's fault choices; by default each run draws its own."""
    raw = os.environ.get(SEED_ENV, "").strip()
    seed = int(raw) if raw else random.SystemRandom().randrange(1_000_000)
    print(f"fault seed {seed} (replay with {SEED_ENV}={seed})")
    return random.Random(seed)


def run_id() -> str:
    """A prefix that makes every order id of a run unique."""
    return f"f{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class DevServer:
    """``temporal server start-dev`` on a SQLite file, as ``orders dev`` runs it,
    in its own process group, so that it can be stopped and started again."""

    def __init__(self, directory: Path) -> None:
        self.db = directory / "temporal.db"
        self.log_path = directory / "temporal.log"
        self.port = free_port()
        self.ui_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "the server is already running"
        options = dev.DevOptions(port=self.port, ui_port=self.ui_port)
        command = dev.server_command(dev.find_temporal(), options, self.db)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def ready(self) -> Client:
        """A client once the server answers (it must come up on the same port)."""
        deadline = time.monotonic() + SERVER_READY_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the dev server exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                return await asyncio.wait_for(connection.connect(self.address, "default"), 5)
            if time.monotonic() > deadline:
                raise AssertionError(f"the dev server never answered on {self.address}; see {self.log_path}")
            await asyncio.sleep(0.2)

    def stop(self, grace: float = SERVER_STOP_GRACE) -> str:
        """SIGTERM the server's group, then SIGKILL after ``grace``; how it ended."""
        process = self.process
        if process is None or process.poll() is not None:
            return "not running"
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
            return "SIGTERM"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            return "SIGKILL"

    def kill(self) -> None:
        """SIGKILL the server's group at once: no graceful shutdown, updates in flight are cut."""
        process = self.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    async def restart(self, outage: float = 0.0, *, kill: bool = False) -> Client:
        """Stop (SIGTERM, then SIGKILL; with ``kill``, SIGKILL at once), stay down ``outage``
        seconds, start on the same file."""
        if kill:
            self.kill()
        else:
            self.stop()
        await asyncio.sleep(outage)
        self.start()
        self.restarts += 1
        return await self.ready()


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------


class WorkerProcess:
    """``python worker.py`` as a subprocess; stopped or killed by its own pid only."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._offset = log_path.stat().st_size if log_path.exists() else 0
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    async def polling(self) -> WorkerProcess:
        """Wait until the worker logs that it polls its task queue."""
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while True:
            with self.log_path.open("rb") as log:
                log.seek(self._offset)
                if WORKER_READY_LINE in log.read():
                    return self
            if not self.alive:
                raise AssertionError(f"the worker exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker never started polling; see {self.log_path}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, activities in flight are abandoned."""
        if self.alive:
            self.process.kill()
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM, the graceful shutdown; SIGKILL if it hangs."""
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def worker_env(
    server: DevServer,
    task_queue: str,
    directory: Path,
    *,
    stripe: stripe_api.StripeDouble | None = None,
    sendgrid: sendgrid_api.SendGridDouble | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of ``python worker.py``: Temporal, the doubles, short policies."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGRID_", "STRIPE_", "TEMPORAL_", "ORDERS_"))}
    for name in (KEYS_ENV, SWITCH_ENV):  # the worker must read what the test's clients write
        if name in os.environ:
            base[name] = os.environ[name]
    env = {
        **base,
        "PYTHONUNBUFFERED": "1",
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": "default",
        "ORDERS_TASK_QUEUE": task_queue,
        "ORDERS_OUTBOX_DIR": str(directory / "outbox"),
        "ORDERS_EMAIL_BACKEND": "outbox",
        "ORDERS_CONNECT_TIMEOUT": "120",
    }
    if stripe is not None:
        env |= {"STRIPE_API_KEY": stripe_api.TEST_API_KEY, "STRIPE_API_BASE": stripe.url, "STRIPE_TIMEOUT": "5"}
    if sendgrid is not None:
        env |= {
            "ORDERS_EMAIL_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": sendgrid_api.TEST_API_KEY,
            "SENDGRID_API_BASE": sendgrid.url,
            "SENDGRID_TIMEOUT": "3",
        }
    return env | dict(extra or {})


# --------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------

CARD_CUSTOMER: Final = "cus_Faults0001"
CARD: Final = "pm_card_visa"
PRICE: Final = Decimal("1200.00")


def confirmation(method: str = "card", **terms: Any) -> ConfirmationDraft:
    """A small confirmation; durations are seconds so timers fall due within a scenario."""
    base: dict[str, Any] = {
        "payment_methods": [method],
        "payment_due": timedelta(days=14),
        "milestones": [MilestoneTerm(name="Build", due=timedelta(days=10))],
        "review_period": timedelta(days=7),
        "support_period": timedelta(seconds=3),
        "support_scope": "Questions by email",
    }
    base.update(terms)
    return ConfirmationDraft(
        title="Fault drill",
        currency="EUR",
        line_items=[LineItem(description="Set-up", quantity=Decimal(1), unit_price=PRICE)],
        terms=Terms(**base),
    )


def start_request(order_id: str) -> StartOrderInput:
    return StartOrderInput(order_id=order_id, customer=ALICE, channel="web_form", message="Fault drill order.")


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, timeout: float, interval: float = 0.25) -> float:
    """Poll ``check`` until true; the seconds it took. Bounded: fails with ``what``."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if await check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"after {timeout:.0f} s: {what}")
        await asyncio.sleep(interval)


async def status_of(orders: OrderClient, order_id: str) -> OrderView | None:
    try:
        return await asyncio.wait_for(orders.status(order_id), 5)
    except Exception:
        return None


async def reached(
    orders: OrderClient, targets: Mapping[str, Iterable[OrderStatus]], timeout: float
) -> dict[str, OrderView]:
    """Wait until every order is in one of its target statuses; name the laggards if not."""
    views: dict[str, OrderView] = {}
    wanted = {order_id: set(statuses) for order_id, statuses in targets.items()}

    async def all_there() -> bool:
        pending = [o for o in wanted if o not in views or views[o].status not in wanted[o]]
        for order_id, view in zip(pending, await asyncio.gather(*(status_of(orders, o) for o in pending)), strict=True):
            if view is not None:
                views[order_id] = view
        return all(o in views and views[o].status in wanted[o] for o in wanted)

    try:
        await wait_for(all_there, "orders did not get there", timeout, interval=0.5)
    except AssertionError:
        laggards = {
            o: (views[o].status.value if o in views else "no answer")
            for o in wanted
            if o not in views or views[o].status not in wanted[o]
        }
        raise AssertionError(f"{len(laggards)} of {len(wanted)} orders stuck: {laggards}") from None
    return views


async def task_failures(client: Client, order_id: str) -> list[str]:
    """``CAUSE: message`` of each failed workflow task of the order's current run."""
    failures = []
    async for event in client.get_workflow_handle(workflow_id(order_id)).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attributes = event.workflow_task_failed_event_attributes
            cause = WorkflowTaskFailedCause.Name(attributes.cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
            failures.append(f"{cause}: {attributes.failure.message}")
    return failures


# --------------------------------------------------------------------------
# What the providers saw
# --------------------------------------------------------------------------


@dataclass
class ProviderCounts:
    charges: int = 0
    duplicate_charges: int = 0
    refunds: int = 0
    duplicate_refunds: int = 0
    invoices: int = 0
    duplicate_invoices: int = 0
    emails: int = 0
    duplicate_emails: int = 0
    duplicated_keys: list[str] = field(default_factory=list)


def stripe_counts(api: stripe_api.StripeDouble, counts: ProviderCounts | None = None) -> ProviderCounts:
    """Charges, refunds and invoices per order, from the double's own objects."""
    counts = counts or ProviderCounts()
    charged = Counter(
        i["metadata"].get("order_id")
        for i in api.payment_intents.values()
        if i["status"] == "succeeded" and i["metadata"].get("order_id")
    )
    refunded = Counter(
        api.payment_intents[r["payment_intent"]]["metadata"].get("order_id") for r in api.refunds.values()
    )
    invoiced = Counter(i["metadata"].get("order_id") for i in api.invoices.values() if i["status"] != "draft")
    counts.charges, counts.duplicate_charges = sum(charged.values()), sum(n - 1 for n in charged.values())
    counts.refunds, counts.duplicate_refunds = sum(refunded.values()), sum(n - 1 for n in refunded.values())
    counts.invoices, counts.duplicate_invoices = sum(invoiced.values()), sum(n - 1 for n in invoiced.values())
    return counts


def outbox_counts(directory: Path, counts: ProviderCounts | None = None) -> ProviderCounts:
    """The outbox keeps one file per message key: duplicates cannot happen there."""
    counts = counts or ProviderCounts()
    counts.emails = len(list(directory.glob("*.eml"))) if directory.exists() else 0
    return counts


def sendgrid_counts(api: sendgrid_api.SendGridDouble, counts: ProviderCounts | None = None) -> ProviderCounts:
    """Accepted sends per message key: a key SendGrid accepted twice went out twice."""
    counts = counts or ProviderCounts()
    accepted = Counter(r.message_key for r in api.requests if r.accepted and r.message_key)
    counts.emails = len(accepted)
    counts.duplicate_emails = sum(n - 1 for n in accepted.values())
    counts.duplicated_keys = sorted(k for k, n in accepted.items() if n > 1)
    return counts


# --------------------------------------------------------------------------
# Order plans: the actions that take an order across each stage boundary
# --------------------------------------------------------------------------

S = OrderStatus


@dataclass(frozen=True)
class Step:
    """Actions sent together (as signals, durable even with no worker), and
    the statuses the order may be in once they are applied."""

    actions: tuple[tuple[str, Action], ...]
    then: frozenset[OrderStatus]


def _step(*actions: tuple[str, Action], then: Iterable[OrderStatus]) -> Step:
    return Step(actions, frozenset(then))


def plan(kind: str, order_id: str, **terms: Any) -> list[Step]:
    """The steps of an order of ``kind``:

    - ``card``: paid by card, worked, delivered, accepted, support ends (charge);
    - ``refund``: paid by card, then cancelled during the work (charge, refund);
    - ``invoice``: a Stripe invoice, cancelled unpaid (invoice, void);
    - ``bank``: paid by bank transfer, worked, delivered, accepted (no Stripe).
    """
    method = {"card": "card", "refund": "card", "invoice": "invoice", "bank": "bank_transfer"}[kind]
    issue = (names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=confirmation(method, **terms)))
    card = (
        names.PROVIDE_PAYMENT_METHOD,
        ProvidePaymentMethodInput(stripe_customer_id=CARD_CUSTOMER, payment_method_id=CARD),
    )
    approve = (names.APPROVE, ApproveInput(version=1))
    work = (names.POST_UPDATE, PostUpdateInput(text="Build done", milestone="Build"))
    deliver = (names.DELIVER, DeliverInput(summary="Delivered", links=["https://staging.example.com"]))
    accept = (names.ACCEPT, AcceptInput())
    cancel = (names.CANCEL, CancelInput(reason="Fault drill: customer withdrew"))
    support = {S.IN_SUPPORT, S.COMPLETED}
    if kind == "card":
        return [
            _step(issue, then=[S.AWAITING_APPROVAL]),
            _step(card, approve, then=[S.IN_PROGRESS]),
            _step(work, then=[S.IN_PROGRESS]),
            _step(deliver, then=[S.AWAITING_ACCEPTANCE]),
            _step(accept, then=support),
        ]
    if kind == "refund":
        return [
            _step(issue, then=[S.AWAITING_APPROVAL]),
            _step(card, approve, then=[S.IN_PROGRESS]),
            _step(work, then=[S.IN_PROGRESS]),
            _step(cancel, then=[S.CANCELLED]),
        ]
    if kind == "invoice":
        return [
            _step(issue, then=[S.AWAITING_APPROVAL]),
            _step(approve, then=[S.AWAITING_PAYMENT]),
            _step(cancel, then=[S.CANCELLED]),
        ]
    pay = (names.RECORD_PAYMENT, RecordPaymentInput(amount=PRICE, reference=f"SO-{order_id}"))
    return [
        _step(issue, then=[S.AWAITING_APPROVAL]),
        _step(approve, pay, then=[S.IN_PROGRESS]),
        _step(work, then=[S.IN_PROGRESS]),
        _step(deliver, then=[S.AWAITING_ACCEPTANCE]),
        _step(accept, then=support),
    ]


FINAL: Final = {"card": {S.COMPLETED}, "refund": {S.CANCELLED}, "invoice": {S.CANCELLED}, "bank": {S.COMPLETED}}


@dataclass
class DrivenOrder:
    order_id: str
    kind: str
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    """Request ids of the notes sent with each step: each must be recorded once."""

    @property
    def final(self) -> set[OrderStatus]:
        return FINAL[self.kind]


async def send_step(orders: OrderClient, order: DrivenOrder, index: int) -> bool:
    """Send step ``index`` of the order, with a note; False once it has no more steps."""
    if index >= len(order.steps):
        return False
    note_id = f"{order.order_id}-note-{index}"
    order.notes.append(note_id)
    await orders.send_signal(order.order_id, names.ADD_NOTE, AddNoteInput(text=note_id, request_id=note_id))
    for n, (action, request) in enumerate(order.steps[index].actions):
        request = request.model_copy(update={"request_id": f"{order.order_id}-{index}-{n}"})
        await orders.send_signal(order.order_id, action, request)
    return True


def step_targets(driven: Iterable[DrivenOrder], index: int) -> dict[str, set[OrderStatus]]:
    return {o.order_id: set(o.steps[min(index, len(o.steps) - 1)].then) for o in driven}


async def lost_actions(orders: OrderClient, driven: Iterable[DrivenOrder]) -> tuple[int, int]:
    """(lost, duplicated) notes over every order: each was sent once as a signal."""
    lost = duplicated = 0
    for order in driven:
        view = await orders.status(order.order_id)
        texts = [note.text for note in view.notes]
        lost += len(set(order.notes) - set(texts))
        duplicated += len(texts) - len(set(texts))
    return lost, duplicated
