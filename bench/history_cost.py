"""What one order costs in Temporal history, against a minimal workflow.

    python -m bench.history_cost

Temporal Cloud bills per action and every wake-up of a workflow adds events,
so the number that matters is events per order. The baseline is the least a
workflow can do for the same business conversation: receive the same signals
and send one email activity for each, with no timers, no reminders and no
bookkeeping. Both run in the same process on the same time-skipping server,
and the report is the ratio, so a noisy machine does not move it.

The same order runs again with an encryption key (``ORDERS_ENCRYPTION_KEYS``):
the codec's zlib + AES-256-GCM changes the history's bytes, not the work done
(an event more or less comes from workflow-task timing, as between any two runs).
``python -m bench.codec_cost`` breaks that down and adds the CPU per payload.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.config import Settings
from tests.helpers import draft, start_order, start_time_skipping
from worker import build_worker
from workflows import names
from workflows.codec import KEYS_ENV, new_key_entry
from workflows.models import (
    AcceptInput,
    ApproveInput,
    DeliverInput,
    IssueConfirmationInput,
    PostUpdateInput,
    RecordPaymentInput,
    SupportRequestInput,
)

SIGNALS = 7  # issue, approve, pay, update, deliver, accept, support request


@activity.defn(name="baseline_email")
async def baseline_email(step: int) -> None:
    """Stands in for sending one email."""


@workflow.defn(name="BaselineOrder", sandboxed=False)
class BaselineOrder:
    def __init__(self) -> None:
        self._inbox: list[int] = []

    @workflow.signal
    def step(self, n: int) -> None:
        self._inbox.append(n)

    @workflow.run
    async def run(self) -> None:
        for expected in range(SIGNALS):
            await workflow.wait_condition(lambda n=expected: len(self._inbox) > n)  # type: ignore[misc]
            await workflow.execute_activity(baseline_email, expected, start_to_close_timeout=timedelta(seconds=30))


async def baseline_events(client: Client) -> tuple[int, int]:
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[BaselineOrder], activities=[baseline_email]):
        handle = await client.start_workflow(BaselineOrder.run, id=f"baseline-{queue}", task_queue=queue)
        for n in range(SIGNALS):
            await handle.signal(BaselineOrder.step, n)
        await handle.result()
        history = await handle.fetch_history()
    return len(history.events), sum(e.ByteSize() for e in history.events)


async def order_events(env: WorkflowEnvironment) -> tuple[int, int]:
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as outbox:
        settings = replace(Settings(), outbox_dir=Path(outbox))
        async with build_worker(env.client, settings, task_queue=queue):
            h = await start_order(env.client, queue)
            await h.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
            await h.signal(names.APPROVE, ApproveInput(version=1))
            await h.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
            await h.signal(names.POST_UPDATE, PostUpdateInput(text="Designs done", milestone="Design"))
            await h.signal(names.DELIVER, DeliverInput(summary="Live"))
            await h.signal(names.ACCEPT, AcceptInput())
            await h.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="SSO fails"))
            await h.result()  # the time-skipping server runs the support period out
            history = await h.fetch_history()
    return len(history.events), sum(e.ByteSize() for e in history.events)


async def main() -> None:
    env = await start_time_skipping()
    try:
        base_events, base_bytes = await baseline_events(env.client)
        events, size = await order_events(env)
        before = os.environ.get(KEYS_ENV)
        os.environ[KEYS_ENV] = new_key_entry("bench")
        try:
            sealed_events, sealed_size = await order_events(env)
        finally:
            if before is None:
                os.environ.pop(KEYS_ENV, None)
            else:
                os.environ[KEYS_ENV] = before
    finally:
        await env.shutdown()
    print(f"{'':28}{'events':>8}{'bytes':>10}")
    print(f"{'minimal workflow (baseline)':28}{base_events:>8}{base_bytes:>10}")
    print(f"{'service order, happy path':28}{events:>8}{size:>10}")
    print(f"{'ratio':28}{events / base_events:>8.2f}{size / base_bytes:>10.2f}")
    print(f"{'service order, encrypted':28}{sealed_events:>8}{sealed_size:>10}")
    print(f"{'encrypted / plain':28}{sealed_events / events:>8.2f}{sealed_size / size:>10.2f}")


if __name__ == "__main__":
    asyncio.run(main())
