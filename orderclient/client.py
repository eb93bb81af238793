"""``OrderClient``: a typed async client for Python web backends (and the CLI).

    orders = await OrderClient.connect()            # envconfig, like the worker
    started = await orders.start(StartOrderInput(...))
    result = await orders.approve("42", ApproveInput(version=1, request_id="click-7f3a"))
    result.status                                   # OrderStatus.AWAITING_PAYMENT

Every action is an update that answers with the new status, or raises a typed
exception (``ActionRejected`` with the order's reason, ``OrderNotFound``,
``OrderClosed``, ``NoWorkerAvailable``...); ``send_signal`` sends the same
action as a durable fire-and-forget signal instead. ``verify_link`` checks the
signed tokens of the links in customer emails. Money never vanishes here: a
payment for an order whose workflow has closed is reported to operations
(``alert_money_not_counted``) before ``OrderClosed`` is raised. Like the CLI,
this module never imports workflow code. See ``docs/integration.md``.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import uuid
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from activities.config import Settings
from orderclient import connection
from orderclient.diagnosis import raise_if_key_missing, worker_at_work
from orderclient.erasure import Erasure, erase, erased
from orderclient.errors import (
    ActionRejected,
    InvalidListQuery,
    InvalidPayload,
    KeyMissingOnWorker,
    NamespaceNotFound,
    NoWorkerAvailable,
    Operation,
    OrderBusy,
    OrderClosed,
    OrderError,
    OrderNotFound,
    OrderUnavailable,
    TemporalError,
    TemporalUnreachable,
    UpdateAborted,
    aborted_update,
    maybe_busy,
    rpc_error,
)
from orderclient.money_alerts import MoneyAlert, alert_money_not_counted, is_money
from orderclient.summaries import _status_or_none, list_query, order_details, order_summary
from ordersecurity import links
from ordersecurity.codec import EncryptionCodec, require_encryption
from ordersecurity.links import (
    AUTHENTICATE,
    ExpiredLink,
    InvalidLink,
    LinkClaims,
    LinkSigningDisabled,
    MalformedLink,
    TamperedLink,
    WrongActionLink,
    WrongOrderLink,
    form_nonce,
    link_request_id,
)
from workflows import names, search
from workflows.action_registry import ACTION_MODELS, ACTION_NAMES, spec_of
from workflows.converter import describe
from workflows.models import (
    HISTORY_KINDS,
    Action,
    ActionResult,
    Certificate,
    CertifyInput,
    ChargeAttempt,
    EraseOrderInput,
    HistoryKind,
    HistoryPage,
    HistoryPageInput,
    OrderStatus,
    OrderView,
    PaymentEventInput,
    RecordPaymentInput,
    StartOrderInput,
)

log = logging.getLogger("orders.client")

__all__ = [
    "AUTHENTICATE",
    "ActionRejected",
    "ExpiredLink",
    "InvalidLink",
    "InvalidListQuery",
    "InvalidPayload",
    "KeyMissingOnWorker",
    "LinkClaims",
    "LinkSigningDisabled",
    "MalformedLink",
    "MoneyAlert",
    "NamespaceNotFound",
    "NoWorkerAvailable",
    "OrderBusy",
    "OrderClient",
    "OrderClosed",
    "OrderError",
    "OrderNotFound",
    "OrderSummary",
    "OrderUnavailable",
    "SignalSent",
    "StartResult",
    "TamperedLink",
    "TemporalError",
    "TemporalUnreachable",
    "UpdateAborted",
    "WrongActionLink",
    "WrongOrderLink",
    "form_nonce",
    "link_request_id",
]

CONNECT_TIMEOUT: Final = 10.0
UPDATE_TIMEOUT: Final = timedelta(seconds=30)
QUERY_TIMEOUT: Final = timedelta(seconds=10)
# A query to an order that is busy can go unanswered for a while: Temporal holds
# one query per workflow while its workflow task runs (history.MaxBufferedQueryCount
# is 1) and answers RESOURCE_EXHAUSTED to the others, which the SDK retries after
# 1 s, 2 s, 4 s...; the moment an order continues as new is two tasks in a row. So
# while a worker is at work on the order, a query is asked again, of the run that
# is current by then, up to this many times in all (docs/integration.md).
QUERY_ATTEMPTS: Final = 3
# An order takes no update for the moment it hands over to its next run (it would
# overtake the signals waiting for that run): the same update is sent again, for
# up to the update timeout, pausing a little longer each time up to a second.
UPDATE_RETRY_PAUSE: Final = 0.1
UPDATE_RETRY_PAUSE_MAX: Final = 1.0
QUERY_RETRY_PAUSE: Final = 0.5
# An update still unanswered after this many seconds has the order's history looked
# at, then again as often: a worker without the key fails its task at once.
KEY_CHECK_EVERY: Final = 2.0
# Allowance for the client's clock against the server's when comparing their times.
CLOCK_SKEW: Final = timedelta(seconds=1)

# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class StartResult:
    order_id: str
    workflow_id: str
    existing: bool
    """True when the order id was already taken: the existing order was kept as it is."""


@dataclass(frozen=True)
class SignalSent:
    order_id: str
    action: str
    request_id: str


@dataclass(frozen=True)
class OrderSummary:
    """One row of ``list``: from search attributes, no query to the worker."""

    order_id: str
    workflow_id: str
    status: OrderStatus | None
    workflow_status: str | None
    started_at: datetime
    next_deadline: datetime | None
    total: float | None
    currency: str | None
    revision: int | None


def _wire(payload: Action) -> dict[str, Any]:
    """What goes to the order: only the fields the caller gave (and the request id).

    A field left out is not sent as ``null``: ``update_customer`` with only a
    new email must not carry ``"name": null``. The order fills in each model's
    defaults itself.
    """
    return payload.model_dump(mode="json", exclude_unset=True)


# --------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Read the outcome of an update call given up on, so that asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


class OrderClient:
    """Start orders, act on them and read them, with typed results and errors."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str | None = None,
        link_secret: str | None = None,
        update_timeout: timedelta = UPDATE_TIMEOUT,
        query_timeout: timedelta = QUERY_TIMEOUT,
        settings: Settings | None = None,
    ) -> None:
        """Wrap a connected client. It must use ``workflows.converter.data_converter``
        (``orderclient.connection.connect`` does). ``link_secret`` defaults to
        ``ORDERS_LINK_SECRET``. ``settings`` (default: ``Settings.from_env()``,
        read when first needed) choose the email backend and ``ORDERS_OPS_EMAIL``
        for the notice about a payment to a closed order.

        Raises ``ordersecurity.codec.EncryptionRequired`` when the client's codec
        reads the environment and there is no key (and ``ORDERS_ENCRYPTION`` is
        not ``off``): an order client never sends personal data in clear text."""
        codec = client.data_converter.payload_codec
        if isinstance(codec, EncryptionCodec) and codec.reads_environment:
            require_encryption()
        self._client = client
        self._task_queue = task_queue or connection.task_queue()
        self._link_secret = link_secret or os.environ.get(links.SECRET_ENV) or None
        self._update_timeout = update_timeout
        self._query_timeout = query_timeout
        self._settings = settings

    @classmethod
    async def connect(
        cls,
        address: str | None = None,
        namespace: str | None = None,
        *,
        task_queue: str | None = None,
        link_secret: str | None = None,
        runtime: Runtime | None = None,
        timeout: float = CONNECT_TIMEOUT,
        update_timeout: timedelta = UPDATE_TIMEOUT,
        settings: Settings | None = None,
    ) -> OrderClient:
        """Connect as the worker does: envconfig (``TEMPORAL_ADDRESS``...), then the arguments."""
        target = str(connection.connect_config(address, namespace)["target_host"])
        try:
            client = await asyncio.wait_for(connection.connect(address, namespace, runtime), timeout)
        except (RuntimeError, RPCError, TimeoutError, OSError) as error:
            raise TemporalUnreachable(
                f"cannot reach Temporal at {target}: {error}", address=target, detail=str(error)
            ) from None
        return cls(
            client, task_queue=task_queue, link_secret=link_secret, update_timeout=update_timeout, settings=settings
        )

    @property
    def client(self) -> Client:
        """The underlying Temporal client."""
        return self._client

    @property
    def task_queue(self) -> str:
        return self._task_queue

    def handle(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(names.workflow_id(order_id))

    # ------------------------------------------------------------------
    # Starting
    # ------------------------------------------------------------------

    async def start(self, request: StartOrderInput | Mapping[str, Any]) -> StartResult:
        """Start an order; idempotent on the order id (an existing order is kept)."""
        start = self._validated_start(request)
        workflow_id = names.workflow_id(start.order_id)
        existing = False
        with self._errors(start.order_id, "start"):
            try:
                handle: WorkflowHandle[Any, Any] = await self._client.start_workflow(
                    names.WORKFLOW_TYPE,
                    start,
                    id=workflow_id,
                    task_queue=self._task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=search.initial(OrderStatus.DISCUSSING.value, start.customer.customer_ref),
                    static_summary=order_summary(start),
                    static_details=order_details(start),
                )
                # With USE_EXISTING the server answers with the running order's
                # run; only the raw response tells whether this call started it.
                response = getattr(handle, "_start_workflow_response", None)
                existing = response is not None and not getattr(response, "started", True)
            except WorkflowAlreadyStartedError:
                existing = True  # a closed order with this id
        return StartResult(order_id=start.order_id, workflow_id=workflow_id, existing=existing)

    @staticmethod
    def _validated_start(request: StartOrderInput | Mapping[str, Any]) -> StartOrderInput:
        if isinstance(request, StartOrderInput):
            return request
        try:
            return StartOrderInput.model_validate(request)
        except ValidationError as error:
            order_id = str(request.get("order_id") or "")
            raise InvalidPayload(order_id, "start", f"invalid start payload: {describe(error)}") from None

    # ------------------------------------------------------------------
    # Acting: an update that answers, or a signal that is queued
    # ------------------------------------------------------------------

    async def update(self, order_id: str, action: str, request: Action | Mapping[str, Any]) -> ActionResult:
        """Send action ``action`` (a name in ``action_registry.REGISTRY``) as an update and return the answer."""
        payload = self._payload(order_id, action, request)
        handle = self.handle(order_id)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._update_timeout.total_seconds()
        pause = UPDATE_RETRY_PAUSE
        # One update id for every send: the order tells a resend of this update (its
        # first delivery applied after all) from another caller's repeat of the request id.
        update_id = uuid.uuid4().hex
        while True:
            try:
                with self._errors(order_id, "update", action):
                    # Without a worker the server answers "admitted" and the SDK asks
                    # again, so the whole wait needs its own limit. The update stays
                    # admitted after that: see NoWorkerAvailable. A resend gets what is
                    # left of the update timeout, not a new one.
                    left = max(give_up - loop.time(), UPDATE_RETRY_PAUSE_MAX)
                    async with asyncio.timeout(left):
                        call = handle.execute_update(
                            action,
                            _wire(payload),
                            id=update_id,
                            result_type=ActionResult,
                            rpc_timeout=timedelta(seconds=left),
                        )
                        result: ActionResult = await self._unless_key_missing(order_id, call)
                return result
            except OrderClosed as closed:
                await self._report_money_to_closed_order(closed, payload)
                raise
            except NoWorkerAvailable:
                await raise_if_key_missing(self._client, order_id, self._query_timeout)
                raise
            except OrderBusy:
                if asyncio.get_running_loop().time() + pause > give_up:
                    raise
            # The same payload, request id and update id: applied once, however many times it is sent.
            await asyncio.sleep(pause)
            pause = min(pause * 2, UPDATE_RETRY_PAUSE_MAX)

    async def send_signal(self, order_id: str, action: str, request: Action | Mapping[str, Any]) -> SignalSent:
        """Send the action as a durable signal: queued even when no worker runs.

        The order applies it later; an invalid one is recorded under ``rejected``
        in ``status`` rather than raised here.
        """
        payload = self._payload(order_id, action, request)
        try:
            with self._errors(order_id, "signal", action):
                await self.handle(order_id).signal(action, _wire(payload))
        except OrderClosed as closed:
            await self._report_money_to_closed_order(closed, payload)
            raise
        # ``_payload`` gave it a request id if the caller did not.
        return SignalSent(order_id=order_id, action=action, request_id=payload.request_id or "")

    async def _report_money_to_closed_order(self, closed: OrderClosed, payload: Action) -> None:
        """Money sent to a closed order is never dropped in silence: operations hear of it."""
        if not isinstance(payload, RecordPaymentInput | PaymentEventInput) or not is_money(payload):
            return
        try:
            if self._settings is None:
                self._settings = Settings.from_env()
            closed.alert = await alert_money_not_counted(self._client, self._settings, closed.order_id, payload)
        except Exception:  # the caller still learns the order is closed; the log says the rest
            log.exception(
                "order %s is closed and operations could NOT be told about %s %s",
                closed.order_id,
                type(payload).__name__,
                payload.reference,
            )

    @staticmethod
    def _payload(order_id: str, action: str, request: Action | Mapping[str, Any]) -> Action:
        model = ACTION_MODELS.get(action)
        if model is None:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTION_NAMES)}")
        if isinstance(request, Action):
            if not isinstance(request, model):
                raise TypeError(f"{action} takes {model.__name__}, not {type(request).__name__}")
            payload: Action = request
        else:
            try:
                payload = model.model_validate(request)
            except ValidationError as error:
                raise InvalidPayload(order_id, action, f"invalid {action} payload: {describe(error)}") from None
        if payload.request_id is None:
            # Pass your own request id to make retries safe; this one only labels the call.
            payload = payload.model_copy(update={"request_id": uuid.uuid4().hex})
        return payload

    async def act(self, order_id: str, request: Action) -> ActionResult:
        """Send ``request`` as an update of the action it is the payload of, and return the answer.

        The model names the action (``ApproveInput`` is ``approve``: the action
        registry), so ``await orders.act(order_id, ApproveInput(version=2))``
        is type-checked end to end.
        """
        return await self.update(order_id, spec_of(request).name, request)

    async def certify(self, order_id: str, request: CertifyInput) -> Certificate:
        """The order's evidence certificate (``certify``), issued anew only when its facts changed.

        Raises ``ActionRejected`` before any confirmation was issued, ``OrderClosed`` once the
        order has closed (its latest certificate is then in ``status(...).certificates``)."""
        with self._errors(order_id, "update", names.CERTIFY):
            async with asyncio.timeout(self._update_timeout.total_seconds()):
                certificate: Certificate = await self.handle(order_id).execute_update(
                    names.CERTIFY, request, result_type=Certificate, rpc_timeout=self._update_timeout
                )
        return certificate

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    async def status(self, order_id: str) -> OrderView:
        """The whole order, from the ``status`` query (needs a worker).

        Asked again, of the run that is current by then, while the order is busy
        (see ``QUERY_ATTEMPTS``); a worker that is missing is reported at once.
        """
        view: OrderView = await self._query(order_id, self.handle(order_id), names.STATUS_QUERY, result_type=OrderView)
        return view

    async def erase(self, order_id: str, reason: str, operator: str, *, wait: float = 120.0) -> Erasure:
        """Erase a closed order's personal data, or find that an earlier request did
        (orderclient/erasure.py). ``ErasureRefused`` while it is open or under a legal hold."""
        try:
            request = EraseOrderInput(order_id=order_id, reason=reason, operator=operator)
        except ValidationError as error:
            raise InvalidPayload(order_id, "erase", describe(error)) from None
        with self._errors(order_id, "start"):
            try:
                async with asyncio.timeout(wait):
                    return await erase(self._client, self._task_queue, request)
            except TimeoutError:
                raise OrderUnavailable(
                    f"the erasure of order {order_id} is started, and no worker finished it within {wait:.0f} s: it "
                    "goes on when a worker runs; ask again (the same erase) to read its record",
                    order_id=order_id,
                ) from None

    async def charge_outcome(
        self, order_id: str, after: int, timeout: timedelta, poll: float = 0.3
    ) -> ChargeAttempt | None:
        """The first card charge attempt numbered above ``after``, once the order has recorded it.

        ``provide_payment_method`` is applied at once and the charge runs after
        it, as an activity; this is how a caller learns what the charge did.
        ``None`` when nothing was recorded within ``timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total_seconds()
        while True:
            view = await self.status(order_id)
            attempt = next((a for a in view.charge_attempts if a.attempt > after), None)
            if attempt is not None or loop.time() >= deadline:
                return attempt
            await asyncio.sleep(poll)

    async def status_in_full(self, order_id: str) -> OrderView:
        """The whole order with every entry of its long lists, however long it lived.

        The ``status`` answer keeps the recent part of each list; the rest is
        read page by page (``history_page``), from earlier runs too when the
        order continued as new: those closed runs are queried by run id.
        """
        view = await self.status(order_id)
        if not view.older:
            return view
        full: dict[str, Any] = {
            kind: await self.history(order_id, kind) for kind in HISTORY_KINDS if kind in view.older
        }
        return OrderView.model_validate({**view.model_dump(mode="json"), **full, "older": {}})

    async def history(self, order_id: str, kind: HistoryKind) -> builtins.list[dict[str, Any]]:
        """Every entry of one long list of the order (as JSON), oldest first."""
        pages: builtins.list[builtins.list[dict[str, Any]]] = []
        run_id: str | None = None
        wanted_below: int | None = None
        while True:
            handle = self._client.get_workflow_handle(names.workflow_id(order_id), run_id=run_id)
            entries, held_from = await self._pages(order_id, handle, kind, wanted_below)
            pages.append(entries)
            if held_from == 0:
                break
            wanted_below = held_from
            run_id = await self._previous_run(order_id, handle)
            if run_id is None:
                break
        return [entry for page in reversed(pages) for entry in page]

    async def _pages(
        self, order_id: str, handle: WorkflowHandle[Any, Any], kind: HistoryKind, below: int | None
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        entries: builtins.list[dict[str, Any]] = []
        start = 0
        while True:
            page: HistoryPage = await self._query(
                order_id,
                handle,
                names.HISTORY_PAGE_QUERY,
                HistoryPageInput(kind=kind, start=start, limit=200),
                result_type=HistoryPage,
            )
            end = below if below is not None else page.total
            entries += page.items[: max(0, end - page.start)]
            start = page.start + len(page.items)
            if not page.items or start >= end:
                return entries, page.held_from

    async def _query(
        self, order_id: str, handle: WorkflowHandle[Any, Any], query: str, *args: Any, result_type: type
    ) -> Any:
        """One query, asked up to ``QUERY_ATTEMPTS`` times while the order is busy.

        A handle without a run id reaches the current run on each attempt, so a
        query that met the order as it continued as new is answered by the new run.
        """
        attempt = 1
        while True:
            asked_at = datetime.now(UTC)
            try:
                with self._errors(order_id, "query"):
                    async with asyncio.timeout(self._query_timeout.total_seconds() + 2):
                        return await handle.query(
                            query, *args, result_type=result_type, rpc_timeout=self._query_timeout
                        )
            except (NoWorkerAvailable, OrderUnavailable, TemporalError) as error:
                if (gone := await erased(self._client, order_id)) is not None:
                    raise gone from None
                await raise_if_key_missing(self._client, order_id, self._query_timeout)
                if not maybe_busy(error) or not await worker_at_work(
                    self._client, order_id, self._task_queue, asked_at - CLOCK_SKEW, self._query_timeout
                ):
                    raise
                if attempt >= QUERY_ATTEMPTS:
                    if isinstance(error, OrderUnavailable):
                        raise  # its workflow task is failing: the worker's log says why
                    raise OrderUnavailable(
                        f"order {order_id} did not answer {attempt} queries in a row ({error.message}) while "
                        "a worker was at work on it: it is busy, with a burst of actions or while it continues "
                        "as new. Try again; if it persists, see the worker's log",
                        order_id=order_id,
                    ) from None
                log.info(
                    "order %s did not answer (%s); asking again (attempt %d)", order_id, error.message, attempt + 1
                )
            await asyncio.sleep(QUERY_RETRY_PAUSE * attempt)
            attempt += 1

    async def _unless_key_missing(self, order_id: str, call: Coroutine[Any, Any, ActionResult]) -> ActionResult:
        """``call``'s answer; while it waits, every ``KEY_CHECK_EVERY`` seconds a look at
        whether the order's workflow task fails for a missing key, so that the caller
        learns it at once (``KeyMissingOnWorker``) rather than at the update timeout."""
        task = asyncio.ensure_future(call)
        task.add_done_callback(_retrieve)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=KEY_CHECK_EVERY)
                if done:
                    return task.result()
                await raise_if_key_missing(self._client, order_id, self._query_timeout)
        finally:
            task.cancel()  # if still waiting: the update stays admitted at the server (see KeyMissingOnWorker)

    async def _previous_run(self, order_id: str, handle: WorkflowHandle[Any, Any]) -> str | None:
        with self._errors(order_id, "query"):
            async for event in handle.fetch_history_events():
                previous = event.workflow_execution_started_event_attributes.continued_execution_run_id
                return previous or None
        return None

    # ------------------------------------------------------------------
    # Signed links
    # ------------------------------------------------------------------

    def verify_link(
        self,
        token: str,
        *,
        order_id: str,
        action: str | None = None,
        version: int | None = None,
        now: datetime | None = None,
    ) -> LinkClaims:
        """The claims of a link token from a customer email, checked against ``order_id``.

        The token's page must be a known one; ``action`` (``names.APPROVE``...,
        or ``AUTHENTICATE``) and ``version`` are checked when given. Leave
        ``action`` out only to open the page; verify again with the action the
        customer chose. Send the action with ``link_request_id(token, nonce)``
        (a nonce per rendered form) and, for a delivery link, with
        ``round=claims.version``.
        Raises an ``InvalidLink`` subclass: ``MalformedLink``, ``TamperedLink``,
        ``ExpiredLink``, ``WrongOrderLink`` (a token replayed for another order),
        ``WrongActionLink``, or ``LinkSigningDisabled`` when no secret is set.
        """
        if not self._link_secret:
            raise LinkSigningDisabled(f"link signing is off: set {links.SECRET_ENV}")
        return links.verify_link(
            self._link_secret,
            token,
            now=now or datetime.now(UTC),
            order_id=order_id,
            action=action,
            version=version,
        )

    # ------------------------------------------------------------------
    # Errors: the one place Temporal's exceptions become typed ones
    # ------------------------------------------------------------------

    @contextmanager
    def _errors(self, order_id: str, operation: Operation, action: str = "") -> Iterator[None]:
        try:
            yield
        except (WorkflowUpdateFailedError, RPCError) as error:
            aborted = aborted_update(error) if operation == "update" else None
            if aborted is not None:
                raise UpdateAborted(
                    f"order {order_id} did not answer {action}: Temporal aborted it ({aborted})", order_id=order_id
                ) from None
            if isinstance(error, RPCError):
                raise rpc_error(order_id, operation, action, error, self._query_timeout) from None
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
            if isinstance(cause, ApplicationError) and cause.type == names.ORDER_BUSY_ERROR:
                raise OrderBusy(f"order {order_id} did not take {action}: {reason}", order_id=order_id) from None
            raise ActionRejected(order_id, action, reason) from None
        except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
            timeout = self._query_timeout if operation == "query" else self._update_timeout
            raise NoWorkerAvailable(order_id, operation, timeout) from None
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
            raise OrderUnavailable(f"order {order_id} could not answer: {error}", order_id=order_id) from None

    # ``list`` last: inside the class body it shadows the builtin.

    async def list(
        self, status: OrderStatus | str | None = None, *, overdue: bool = False, limit: int | None = None
    ) -> builtins.list[OrderSummary]:
        """Orders, newest first, optionally with one status, or only those with an instalment
        overdue; from visibility (eventually consistent)."""
        try:
            query = list_query(status, overdue=overdue)
        except ValueError as error:
            raise InvalidListQuery(str(error)) from None
        rows: builtins.list[OrderSummary] = []
        with self._errors("", "list"):
            async for wf in self._client.list_workflows(query, limit=limit):
                attrs = wf.typed_search_attributes
                raw_status = attrs.get(search.ORDER_STATUS)
                rows.append(
                    OrderSummary(
                        order_id=wf.id.removeprefix(names.WORKFLOW_ID_PREFIX),
                        workflow_id=wf.id,
                        status=_status_or_none(raw_status),
                        workflow_status=wf.status.name if wf.status else None,
                        started_at=wf.start_time,
                        next_deadline=attrs.get(search.ORDER_NEXT_DEADLINE),
                        total=attrs.get(search.ORDER_TOTAL),
                        currency=attrs.get(search.ORDER_CURRENCY),
                        revision=attrs.get(search.ORDER_REVISION),
                    )
                )
        return rows
