"""Erasing a closed order's personal data, and reading what is left of an erased order.

``erase`` starts the order's erasure workflow (workflows/erasure.py) on the
worker, which holds what erasure touches, and waits for its record. The
workflow id is the order's (``erasure-<order id>``): a second request finds the
first one's record instead of erasing again, and a refused one (open order,
legal hold) can be asked again once the reason is gone.

``erased`` answers "was this order erased?" from that workflow's result, which
the master key encrypts (no personal data), and reads the closed order's own
result, the accounting facts the order keeps outside its encrypted personal
fields (``NOT_PERSONAL_TYPES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orderclient.errors import ErasureRefused, OrderErased
from workflows import names
from workflows.models import EraseOrderInput, ErasureRecord, OrderResult


@dataclass(frozen=True)
class ClosedOrder:
    order_id: str
    closed_at: datetime


async def closed_before(client: Client, before: datetime) -> list[ClosedOrder]:
    """Every order that closed before ``before`` (visibility, eventually consistent), oldest first:
    what ``orders erase --closed-before`` erases. Runs that continued as new are not closings."""
    query = (
        f"WorkflowType = '{names.WORKFLOW_TYPE}' AND ExecutionStatus != 'Running' "
        f"AND ExecutionStatus != 'ContinuedAsNew' AND CloseTime < '{before.astimezone(UTC).isoformat()}'"
    )
    found = [
        ClosedOrder(execution.id.removeprefix(names.WORKFLOW_ID_PREFIX), execution.close_time)
        async for execution in client.list_workflows(query)
        if execution.close_time is not None
    ]
    return sorted(found, key=lambda order: order.closed_at)


@dataclass(frozen=True)
class Erasure:
    record: ErasureRecord
    already: bool
    """An earlier ``orders erase`` did it: this one changed nothing."""


async def erase(client: Client, task_queue: str, request: EraseOrderInput) -> Erasure:
    """Runs on the order's own task queue, whose worker holds its outbox and documents
    (``task_queue`` only if the order is gone: the check then refuses it)."""
    workflow_id = names.erasure_workflow_id(request.order_id)
    already = False
    try:
        task_queue = (await client.get_workflow_handle(names.workflow_id(request.order_id)).describe()).task_queue
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    try:
        handle = await client.start_workflow(
            names.ERASURE_WORKFLOW_TYPE,
            request,
            id=workflow_id,
            task_queue=task_queue,
            result_type=ErasureRecord,
            # A refused erasure (a failed run) may be asked again; a completed one stands.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(workflow_id, result_type=ErasureRecord)
        already = (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    try:
        record = await handle.result()
    except WorkflowFailureError as failure:
        cause: BaseException | None = failure.cause  # the activity's failure, whose cause is the refusal
        while cause is not None:
            if isinstance(cause, ApplicationError) and cause.type == names.ERASURE_REFUSED_ERROR:
                raise ErasureRefused(cause.message, order_id=request.order_id) from None
            cause = cause.__cause__
        raise
    return Erasure(record, already)


async def erased(client: Client, order_id: str) -> OrderErased | None:
    """``OrderErased`` (to raise) if the order's personal data was erased, else None."""
    handle = client.get_workflow_handle(names.erasure_workflow_id(order_id), result_type=ErasureRecord)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if described.status != WorkflowExecutionStatus.COMPLETED:
        return None
    record = await handle.result()
    facts: OrderResult | None
    try:
        facts = await client.get_workflow_handle(names.workflow_id(order_id), result_type=OrderResult).result()
    except Exception:  # an order that closed without a result (terminated), or one no longer kept
        facts = None
    return OrderErased(order_id, record, facts)
