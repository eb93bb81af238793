"""Why an order did not answer, read from Temporal: a worker busy with it, or a worker
without the key its payloads need (``KeyMissingOnWorker``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from orderclient.errors import KeyMissingOnWorker
from ordersecurity.codec import PayloadDecryptionError, missing_key_id
from workflows import names

# How far back from the newest event to look for the workflow task failure that
# says a worker lacks a key (a failing task is retried without new events).
MISSING_KEY_EVENTS: Final = 20


async def worker_at_work(client: Client, order_id: str, task_queue: str, since: datetime, timeout: timedelta) -> bool:
    """Whether a worker was at work on the open order while a query went unanswered.

    A worker polls the order's task queue, and the order either started a new
    run ``since`` then, or has a workflow task that a worker took, or that was
    scheduled only since then. A task left waiting longer means no worker
    takes it: that is ``NoWorkerAvailable``, reported without asking again.
    """
    try:
        described = await client.get_workflow_handle(names.workflow_id(order_id)).describe(rpc_timeout=timeout)
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return False
        raw = described.raw_description
        queue = raw.execution_config.task_queue.name or task_queue
        polled = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timeout,
        )
    except RPCError:
        return False
    if not polled.pollers:
        return False
    if described.start_time is not None and described.start_time >= since:
        return True  # it continued as new meanwhile
    if not raw.HasField("pending_workflow_task"):
        return False
    task = raw.pending_workflow_task
    started = task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
    return started or task.scheduled_time.ToDatetime(tzinfo=UTC) >= since


async def raise_if_key_missing(client: Client, order_id: str, timeout: timedelta) -> None:
    """``KeyMissingOnWorker`` if the order's workflow task is failing because the
    worker lacks a key; called when the order did not answer, to say why.

    The newest workflow-task outcome in the history tells: a failure whose
    message is a ``PayloadDecryptionError`` for a missing key (only the first
    failed attempt is recorded, and nothing has completed since).
    """
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=names.workflow_id(order_id)),
        maximum_page_size=MISSING_KEY_EVENTS,
    )
    try:
        response = await client.workflow_service.get_workflow_execution_history_reverse(request, timeout=timeout)
    except RPCError:
        return  # the caller's own error says enough
    for event in response.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            key_id = (
                missing_key_id(failure.message)
                if failure.application_failure_info.type == PayloadDecryptionError.__name__
                else None
            )
            if key_id is not None:
                raise KeyMissingOnWorker(order_id, key_id)
            return
