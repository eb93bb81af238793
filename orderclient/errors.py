"""Every error ``OrderClient`` raises, and how it reads the ones Temporal gives it."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any, Final, Literal

from temporalio.api.enums.v1 import ResourceExhaustedCause
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure, WorkflowNotReadyFailure
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from orderclient.money_alerts import MoneyAlert
from ordersecurity.codec import KEYS_ENV

Operation = Literal["start", "update", "signal", "query", "list"]
"""What a caller asked of Temporal when an error came back."""

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class OrderError(Exception):
    """Base of every error OrderClient raises (signed-link errors are ``InvalidLink``)."""

    def __init__(self, message: str, *, order_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.order_id = order_id


class TemporalUnreachable(OrderError):
    """The Temporal frontend cannot be reached (``address`` is set when connecting failed)."""

    def __init__(self, message: str, *, address: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.address = address
        self.detail = detail


class NamespaceNotFound(OrderError):
    """The configured Temporal namespace does not exist."""


class OrderNotFound(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no order {order_id}", order_id=order_id)


class ActionRejected(OrderError):
    """The order refused the action; ``reason`` says why, in the workflow's words."""

    def __init__(self, order_id: str, action: str, reason: str) -> None:
        super().__init__(reason, order_id=order_id)
        self.action = action
        self.reason = reason


class OrderClosed(ActionRejected):
    """The order's workflow has closed (completed, cancelled, expired, terminated): it accepts no more actions.

    For ``record_payment`` operations have already been sent a
    ``payment_needs_review`` notice when this is raised (``alert`` says which
    one; None when it could not be sent, and the failure was logged).
    """

    order_id: str  # always known, unlike an OrderError's

    def __init__(self, order_id: str, action: str) -> None:
        super().__init__(order_id, action, "the order is closed and accepts no more actions")
        self.alert: MoneyAlert | None = None


class InvalidPayload(ActionRejected):
    """The payload did not validate against the action's model; nothing was sent."""


class NoWorkerAvailable(OrderError):
    """No worker answered an update (or a query) in time.

    The update is **not lost**: Temporal keeps it and the order applies it when
    a worker starts. So do not resend it under a new request id. To retry
    safely, resend the same action with the **same** ``request_id``, as an
    update or with ``send_signal``: the order applies an (action, request id)
    at most once, whichever copy arrives first.
    """

    def __init__(self, order_id: str | None, operation: Operation, timeout: timedelta) -> None:
        seconds = int(timeout.total_seconds())
        super().__init__(f"no worker answered within {seconds} s", order_id=order_id)
        self.operation = operation
        self.timeout = timeout


class OrderUnavailable(OrderError):
    """The order exists but cannot answer now (a failing workflow task, a failed query,
    or a busy order that did not answer ``QUERY_ATTEMPTS`` queries in a row)."""


class KeyMissingOnWorker(OrderUnavailable):
    """The worker cannot decrypt a payload of this order: it lacks the key ``key_id``.

    The order is unharmed and waits: Temporal keeps retrying its workflow task,
    and an update sent meanwhile stays admitted and is applied once a worker has
    the key. Add the key to every worker's ``ORDERS_ENCRYPTION_KEYS``; to retry,
    resend with the same ``request_id`` (see ``NoWorkerAvailable``).
    """

    def __init__(self, order_id: str, key_id: str) -> None:
        super().__init__(
            f"the worker cannot decrypt this order: key id {key_id!r} is not in its {KEYS_ENV} (add it to every "
            "worker's keys; the order waits meanwhile, and applies an update sent now once a worker has the key)",
            order_id=order_id,
        )
        self.key_id = key_id


class ErasureRefused(OrderError):
    """``orders erase`` refused: the order is open or under a legal hold. Nothing was erased."""


class OrderErased(OrderError):
    """The order's personal data was erased: what remains is ``record`` (who, when, why, what)
    and ``facts``, the closed order's amounts, dates and statuses (None if unreadable)."""

    def __init__(self, order_id: str, record: Any, facts: Any) -> None:
        super().__init__(
            f"this order's personal data was erased on {record.erased_at:%Y-%m-%d} (by {record.operator}: "
            f"{record.reason})",
            order_id=order_id,
        )
        self.record = record
        self.facts = facts


class OrderBusy(OrderUnavailable):
    """The order did not take an update while it moved on to a new run of its
    history (continue-as-new), asked again for as long as the update timeout."""


class UpdateAborted(OrderBusy):
    """Temporal aborted the update before the order answered it, for as long as
    the update timeout (it was sent again meanwhile, with the same request id).

    The server does this when the run the update reached continues as new, when
    the workflow task that carried it fails, and when the server restarts
    (``aborted_update``). The order applies one request id once, so sending
    the same action again with the same ``request_id`` is safe.
    """


class InvalidListQuery(OrderError, ValueError):
    """A status or list filter Temporal's visibility refused."""


class TemporalError(OrderError):
    """Anything else Temporal refused; ``status`` is the gRPC status."""

    def __init__(self, message: str, *, order_id: str | None = None, status: RPCStatusCode | None = None) -> None:
        super().__init__(message, order_id=order_id)
        self.status = status


# What Temporal answers for an update it aborted before the order answered it
# (server 1.32, service/history/workflow/update: abort_reason.go and
# errors_failures.go). Each is safe to send again with the same request id.
UNPROCESSED_UPDATE: Final = "UnprocessedUpdate"
"""A workflow task completed without the update (a speculative task lost in a server restart): never applied."""
ACCEPTED_THEN_CLOSED: Final = "AcceptedUpdateCompletedWorkflow"
"""The run closed (continued as new) between accepting and completing it; its request id decides on a resend."""
_ABORTED_BY_SERVER: Final = ("workflow update was aborted", "update registry was cleared")
"""UNAVAILABLE (AbortedByServerErr, registryClearedErr): the server lost its in-memory updates, as in a restart."""


def aborted_update(error: BaseException) -> str | None:
    """Why Temporal aborted an update before the order answered it, or None for any other error.

    Precisely these, nothing else:

    - ``RESOURCE_EXHAUSTED`` with cause ``BUSY_WORKFLOW`` ("workflow is closing"): the
      run continued as new while the update waited (the SDK's own retries ran out);
    - ``WorkflowNotReady``: the workflow task that carried it failed (a continue-as-new
      the server refused with ``UNHANDLED_COMMAND``), so the server aborted it;
    - ``UNAVAILABLE`` "workflow update was aborted" / "update registry was cleared",
      and ``NOT_FOUND`` "aborted by closing workflow": aborted as the run closed or the
      server restarted (a resend reaches the next run, or learns that the order closed);
    - the update failed with ``UnprocessedUpdate`` ("wasn't processed by worker") or
      ``AcceptedUpdateCompletedWorkflow``: the order never saw it, or its run closed
      before answering.
    """
    if isinstance(error, WorkflowUpdateFailedError):
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in (UNPROCESSED_UPDATE, ACCEPTED_THEN_CLOSED):
            return cause.message
        return None
    if not isinstance(error, RPCError):
        return None
    text = error.message.lower()
    if error.status == RPCStatusCode.UNAVAILABLE:
        return error.message if any(part in text for part in _ABORTED_BY_SERVER) else None
    if error.status == RPCStatusCode.NOT_FOUND:
        return error.message if "aborted by closing workflow" in text else None
    for detail in _details(error):
        if detail.Is(WorkflowNotReadyFailure.DESCRIPTOR):
            return error.message
        if detail.Is(ResourceExhaustedFailure.DESCRIPTOR):
            exhausted = ResourceExhaustedFailure()
            detail.Unpack(exhausted)
            if exhausted.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW:
                return error.message
    return None


def _details(error: RPCError) -> builtins.list[Any]:
    try:
        return builtins.list(error.grpc_status.details)
    except Exception:  # an answer without a parsable status: no details to go on
        return []


def maybe_busy(error: OrderError) -> bool:
    """A query error a busy order can cause: no answer in time, Temporal's query
    buffer full (RESOURCE_EXHAUSTED), or a workflow task refused a moment ago
    (the continue-as-new a signal overtook counts as a failed attempt)."""
    if isinstance(error, NoWorkerAvailable):
        return True
    if isinstance(error, TemporalError):
        return error.status is RPCStatusCode.RESOURCE_EXHAUSTED
    return "workflow task is failing" in error.message


def rpc_error(
    order_id: str, operation: Operation, action: str, error: RPCError, query_timeout: timedelta
) -> OrderError:
    """The typed error for an RPC failure of ``operation`` on order ``order_id``."""
    text = error.message.lower()
    if error.status == RPCStatusCode.NOT_FOUND:
        if "namespace" in text:
            return NamespaceNotFound(error.message)
        if "completed" in text or "closed" in text:
            return OrderClosed(order_id, action)
        return OrderNotFound(order_id)
    if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        # A query's rpc_timeout expiring: nobody is polling the task queue.
        return NoWorkerAvailable(order_id, operation, query_timeout)
    if "workflow task in failed state" in text:
        return OrderUnavailable(
            f"order {order_id} cannot answer: its workflow task is failing (see the worker's log)",
            order_id=order_id,
        )
    if error.status == RPCStatusCode.UNAVAILABLE:
        return TemporalUnreachable(f"Temporal became unreachable: {error.message}", detail=error.message)
    if operation == "list" and error.status == RPCStatusCode.INVALID_ARGUMENT:
        return InvalidListQuery(f"bad list query: {error.message}")
    return TemporalError(f"Temporal refused: {error.message}", order_id=order_id or None, status=error.status)
