"""The sandbox orders run in: the SDK's own, minus the sandbox entries it spends
asking each payload's serialization context, which this project's codec never
uses (worker.ContextFreeSandboxRunner). The sandbox still refuses what a
workflow must not do, and a converter that does use contexts gets the SDK's
runner unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.converter import DataConverter, PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

# The sandbox imports this module again for ReadsTheClock: the rest comes through as is.
with workflow.unsafe.imports_passed_through():
    import worker
    from tests.helpers import eventually
    from workflows.converter import data_converter


class ContextAwareCodec(PayloadCodec, WithSerializationContext):
    """A codec that would encrypt each workflow's payloads under its own key."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.context = context

    def with_context(self, context: SerializationContext) -> ContextAwareCodec:
        return ContextAwareCodec(context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_the_project_converter_runs_in_the_context_free_sandbox() -> None:
    assert worker.needs_only_the_workflow(data_converter)
    assert isinstance(worker.workflow_runner(data_converter), worker.ContextFreeSandboxRunner)


def test_a_codec_that_uses_its_context_keeps_the_sdks_sandbox() -> None:
    converter = DataConverter(payload_codec=ContextAwareCodec())
    runner = worker.workflow_runner(converter)
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert not isinstance(runner, worker.ContextFreeSandboxRunner)


@workflow.defn(sandboxed=True)
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # not allowed: workflow.now() is


async def test_the_sandbox_still_refuses_what_a_workflow_must_not_do(ts_env: WorkflowEnvironment) -> None:
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        ts_env.client, task_queue=queue, workflows=[ReadsTheClock], workflow_runner=worker.workflow_runner()
    ):
        handle = await ts_env.client.start_workflow(
            ReadsTheClock.run, id=queue, task_queue=queue, execution_timeout=timedelta(minutes=1)
        )

        async def refused() -> bool:
            history = await handle.fetch_history()
            # The message itself is encoded (workflows/converter.py); the type is not.
            failures = [
                e.workflow_task_failed_event_attributes.failure.application_failure_info.type
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ]
            return "RestrictedWorkflowAccessError" in failures

        await eventually(refused, "the sandbox refused datetime.now()")
    await handle.terminate("test done")
