"""The sandbox orders run in: the SDK's own, minus the sandbox entries it spends
asking each payload's serialization context, which this project's codec never
uses (worker.ContextFreeSandboxRunner). The sandbox still refuses what a
workflow must not do, and a converter that does use contexts gets the SDK's
runner unchanged."""

from __future__ import annotations

import gc
import types
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    SerializationContext,
    StorageDriverStoreContext,
    WithSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# The sandbox imports this module again for ReadsTheClock: the rest comes through as is.
with workflow.unsafe.imports_passed_through():
    import worker
    from tests.helpers import eventually
    from workflows.converter import LenientPayloadConverter, data_converter
    from workflows.models import OrderPolicy


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


# A cached run keeps what its instance references between workflow tasks. A
# protobuf sub-message (even an empty map or list of one) keeps the whole
# message it came from alive, so an instance that held on to a piece of an
# activation or a completion kept that message's memory for as long as the run
# stayed cached (docs/deployment.md, "Where a cached order's memory goes").


@workflow.defn(sandboxed=True)
class WaitsForTwoPokes:
    def __init__(self) -> None:
        self.pokes = 0

    @workflow.run
    async def run(self, note: str) -> int:
        await workflow.wait_condition(lambda: self.pokes >= 2, timeout=timedelta(days=30))
        return self.pokes

    @workflow.signal
    def poke(self) -> None:
        self.pokes += 1

    @workflow.query
    def poked(self) -> int:
        return self.pokes


class RecordingInstance(WorkflowInstance):
    """The worker's instance, with every activation and completion it saw kept aside."""

    def __init__(self, inner: WorkflowInstance, seen: list[Message]) -> None:
        self.inner = inner
        self.seen = seen

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = self.inner.activate(act)
        self.seen += [act, completion]
        return completion

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        return self.inner.get_external_store_context(command_info)

    def get_info(self) -> workflow.Info:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()


class RecordingRunner(worker.ContextFreeSandboxRunner):
    instances: list[WorkflowInstance]
    seen: list[Message]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        object.__setattr__(self, "instances", [])
        object.__setattr__(self, "seen", [])

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        inner = super().create_instance(det)
        self.instances.append(inner)
        return RecordingInstance(inner, self.seen)


def parts_of(message: Message) -> list[object]:
    """``message`` and every sub-message, list and map Python can reach inside it."""
    parts: list[object] = [message]
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            parts.append(value)
            items = value.values() if field.message_type and field.message_type.GetOptions().map_entry else value
            parts += [p for item in items if isinstance(item, Message) for p in parts_of(item)]
        elif field.message_type is not None:
            parts += parts_of(value) if message.HasField(field.name) else [value]
    return parts


# The worker, which the run's extern functions lead to, holds the task it is handling now, not the run's.
WORKER_MODULES = ("temporalio.worker._worker", "temporalio.worker._workflow")


def reachable_from(root: object) -> dict[int, object]:
    """Objects ``root`` keeps alive, short of modules, classes, module globals and the worker."""
    found: dict[int, object] = {}
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in found or isinstance(obj, (types.ModuleType, type)) or type(obj).__module__ in WORKER_MODULES:
            continue
        found[id(obj)] = obj
        if isinstance(obj, types.FunctionType):
            todo += [*(obj.__closure__ or ()), *(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
        else:
            todo += gc.get_referents(obj)
    return found


async def test_a_cached_run_keeps_no_activation_or_completion(ts_env: WorkflowEnvironment) -> None:
    queue = f"retention-{uuid.uuid4().hex[:8]}"
    runner = RecordingRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*worker.PASSTHROUGH_MODULES)
    )
    async with Worker(ts_env.client, task_queue=queue, workflows=[WaitsForTwoPokes], workflow_runner=runner):
        handle = await ts_env.client.start_workflow(
            WaitsForTwoPokes.run, "a note", id=queue, task_queue=queue, memo={"kind": "test"}
        )
        await handle.signal(WaitsForTwoPokes.poke)

        async def signalled() -> bool:
            return await handle.query(WaitsForTwoPokes.poked) == 1

        await eventually(signalled, "the worker took the signal")
        instance = runner.instances[-1]  # the first one only validated the workflow class
        assert len(runner.seen) >= 4  # the start and the signal (one task or two), the query: each with its completion
        held = reachable_from(instance)
        kept = [part for message in runner.seen for part in parts_of(message) if id(part) in held]
        assert [type(part).__name__ for part in kept] == []
        await handle.terminate("test done")


def test_orders_share_the_converters_type_adapters() -> None:
    # The SDK builds a payload converter for each run; pydantic's type adapters
    # (about 8 KiB an order) are built once per worker, not once per cached order.
    first, second = (LenientPayloadConverter() for _ in range(2))
    for converter in (first, second):
        [policy] = converter.from_payloads(converter.to_payloads([OrderPolicy()]), [OrderPolicy])
        assert policy == OrderPolicy()
    assert first.converters[b"json/plain"] is second.converters[b"json/plain"]
