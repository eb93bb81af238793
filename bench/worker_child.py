"""One side's workflow worker, alone in its own process, so that its memory and
CPU are its own: ``python -m bench.worker_child SIDE ADDRESS QUEUE MAX_CACHED``.

It polls workflow tasks only (the activities run in the bench's process), except
the ``deployed`` side: the worker of ``worker.py`` as ``orders worker`` builds it,
its activities included, configured by the environment the bench gives it
(encryption key, outbox and document directories). It answers one command a line
on stdin: ``rss`` (resident bytes, after a garbage collection), ``cpu`` (process
CPU seconds, every thread) or ``stop``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from dataclasses import replace
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows.converter import data_converter

SIDES = ("order", "deployed", "floor", "probe")


def rss_bytes() -> int:
    """Resident set size, from /proc (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def workflow_options(side: str) -> dict[str, Any]:
    if side == "order":
        import worker
        from activities.config import Settings
        from workflows.order import ServiceOrderWorkflow

        # The order loads its policy with a local activity, which runs beside its workflow.
        settings = Settings.from_env()
        policy = worker.PolicyActivities(settings.policy.model_copy(update={"bank_transfer": settings.bank_details}))
        return {
            "workflows": [ServiceOrderWorkflow],
            "activities": [policy.load_order_policy],
            "workflow_runner": worker.workflow_runner(),
        }
    from bench.floor import FloorOrder, ProbeWorkflow

    # A minimal workflow as anyone would write it: the SDK's default sandbox.
    chosen = FloorOrder if side == "floor" else ProbeWorkflow
    return {"workflows": [chosen], "workflow_runner": SandboxedWorkflowRunner()}


def build(client: Client, side: str, queue: str, max_cached: int) -> Worker:
    if side == "deployed":
        import worker
        from activities.config import Settings

        settings = Settings.from_env()
        return worker.build_worker(client, replace(settings, max_cached_workflows=max_cached), queue)
    return Worker(
        client,
        task_queue=queue,
        max_cached_workflows=max_cached,
        max_concurrent_workflow_tasks=100,
        no_remote_activities=True,  # activities run in the bench process
        **workflow_options(side),
    )


async def serve(side: str, address: str, queue: str, max_cached: int) -> None:
    client = await Client.connect(address, data_converter=data_converter)
    worker = build(client, side, queue, max_cached)
    loop = asyncio.get_running_loop()
    async with worker:
        print("ready", flush=True)
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command == "rss":
                gc.collect()
                print(rss_bytes(), flush=True)
            elif command == "cpu":
                print(time.process_time(), flush=True)
            else:
                break


if __name__ == "__main__":
    side, address, queue, max_cached = sys.argv[1:5]
    if side not in SIDES:
        raise SystemExit(f"side must be one of {', '.join(SIDES)}")
    asyncio.run(serve(side, address, queue, int(max_cached)))
