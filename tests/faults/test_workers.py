"""Workers die: SIGKILL at every stage boundary, and one of two workers for good.

Card orders (charged, then completed), card orders cancelled during the work
(charged, then refunded) and invoice orders (invoiced, then voided) are
driven through ``OrderClient`` signals, each step with a note. The Stripe
double counts what Stripe would have done: every charge, refund and invoice
must happen exactly once, every note must be recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import pytest

from orderclient.client import OrderClient
from tests.doubles.stripe_api import StripeDouble
from tests.faults import harness
from tests.faults.harness import DevServer, DrivenOrder, WorkerProcess

pytestmark = pytest.mark.faults

KINDS = ("card", "refund", "invoice")
STEP_TIMEOUT = 120.0
"""A killed worker's activities are retried after their timeouts (payments heartbeat
every 10 s, emails time out after 30 s): a step may take that long."""


async def _orders(server: DevServer, task_queue: str, n: int) -> tuple[OrderClient, list[DrivenOrder]]:
    client = await server.ready()
    orders = OrderClient(client, task_queue=task_queue)
    prefix = harness.run_id()
    driven = [
        DrivenOrder(order_id, kind, harness.plan(kind, order_id))
        for i in range(n)
        for kind in [KINDS[i % len(KINDS)]]
        for order_id in [f"{prefix}-{kind}-{i}"]
    ]
    await asyncio.gather(*(orders.start(harness.start_request(o.order_id)) for o in driven))
    return orders, driven


def _money_line(stripe: StripeDouble) -> tuple[str, harness.ProviderCounts]:
    counts = harness.stripe_counts(stripe)
    line = (
        f"{counts.charges} charges ({counts.duplicate_charges} duplicate), "
        f"{counts.refunds} refunds ({counts.duplicate_refunds} duplicate), "
        f"{counts.invoices} invoices ({counts.duplicate_invoices} duplicate)"
    )
    return line, counts


async def test_crash_matrix_worker_killed_at_every_stage_boundary(
    server: DevServer, stripe: StripeDouble, tmp_path: Path, summary: harness.Summary
) -> None:
    task_queue = f"faults-{harness.run_id()}"
    env = harness.worker_env(server, task_queue, tmp_path, stripe=stripe)
    orders, driven = await _orders(server, task_queue, harness.scale(6))
    rng = harness.seeded_random()
    worker = await WorkerProcess(env, tmp_path / "worker.log").polling()
    kills = 0
    started = time.monotonic()
    try:
        steps = max(len(o.steps) for o in driven)
        for index in range(steps):
            await asyncio.gather(*(harness.send_step(orders, o, index) for o in driven))
            # Kill while the step's work is in flight: an update, a charge, an email.
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            worker.kill()
            kills += 1
            worker = await WorkerProcess(env, tmp_path / "worker.log").polling()
            await harness.reached(orders, harness.step_targets(driven, index), STEP_TIMEOUT)
        views = await harness.reached(orders, {o.order_id: o.final for o in driven}, STEP_TIMEOUT)
        lost, duplicated = await harness.lost_actions(orders, driven)
        money, counts = _money_line(stripe)
        completed = sum(views[o.order_id].status in o.final for o in driven)
        summary(
            f"crash matrix: {len(driven)} orders, {kills} SIGKILLs, {completed} reached their end, {money}, "
            f"{lost} lost actions, {duplicated} duplicated actions, {time.monotonic() - started:.0f} s"
        )
        expected_charges = sum(o.kind in ("card", "refund") for o in driven)
        assert (counts.charges, counts.duplicate_charges) == (expected_charges, 0)
        assert (counts.refunds, counts.duplicate_refunds) == (sum(o.kind == "refund" for o in driven), 0)
        assert (counts.invoices, counts.duplicate_invoices) == (sum(o.kind == "invoice" for o in driven), 0)
        assert (lost, duplicated) == (0, 0)
    finally:
        worker.kill()


async def test_two_workers_one_killed_for_good(
    server: DevServer, stripe: StripeDouble, tmp_path: Path, summary: harness.Summary
) -> None:
    task_queue = f"faults-{harness.run_id()}"
    env = harness.worker_env(server, task_queue, tmp_path, stripe=stripe)
    orders, driven = await _orders(server, task_queue, harness.scale(6))
    first, second = await asyncio.gather(
        WorkerProcess(env, tmp_path / "worker-1.log").polling(),
        WorkerProcess(env, tmp_path / "worker-2.log").polling(),
    )
    victim, survivor = random.sample([first, second], 2)
    started = time.monotonic()
    try:
        steps = max(len(o.steps) for o in driven)
        for index in range(steps):
            await asyncio.gather(*(harness.send_step(orders, o, index) for o in driven))
            if index == 1:  # the charges are under way, on both workers
                await asyncio.sleep(0.5)
                victim.kill()
            await harness.reached(orders, harness.step_targets(driven, index), STEP_TIMEOUT)
        views = await harness.reached(orders, {o.order_id: o.final for o in driven}, STEP_TIMEOUT)
        lost, duplicated = await harness.lost_actions(orders, driven)
        money, counts = _money_line(stripe)
        finished = sum(views[o.order_id].status in o.final for o in driven)
        assert survivor.alive
        summary(
            f"two workers, one killed: {len(driven)} orders, {finished} finished by the survivor, {money}, "
            f"{lost} lost actions, {time.monotonic() - started:.0f} s"
        )
        assert counts.duplicate_charges == counts.duplicate_refunds == counts.duplicate_invoices == 0
        assert (lost, duplicated) == (0, 0)
    finally:
        for worker in (first, second):
            with contextlib.suppress(Exception):
                worker.kill()
