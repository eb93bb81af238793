"""Poison payloads against an order at every stage, on a real worker process.

Every kind from issue 9, point 1 (``tests/workflows/test_poison.py``'s
``POISON``) is sent as a signal and as an update to an order waiting at each
stage. Signals must be recorded under ``rejected``; updates refused by their
validator; and each order must still take its next step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from orderclient.client import OrderClient
from tests.doubles.stripe_api import StripeDouble
from tests.faults import harness
from tests.faults.harness import DevServer, DrivenOrder, WorkerProcess
from tests.workflows.test_poison import POISON
from workflows import names
from workflows.models import ActionResult

pytestmark = pytest.mark.faults

STEP_TIMEOUT = 60.0


async def test_poison_payloads_at_every_stage(
    server: DevServer, stripe: StripeDouble, tmp_path: Path, summary: harness.Summary
) -> None:
    task_queue = f"faults-{harness.run_id()}"
    env = harness.worker_env(server, task_queue, tmp_path, stripe=stripe)
    client = await server.ready()
    orders = OrderClient(client, task_queue=task_queue)
    prefix = harness.run_id()
    # A card order parked before each of its steps: DISCUSSING ... AWAITING_ACCEPTANCE.
    template = harness.plan("card", "x")
    driven = []
    for parked in range(len(template)):
        order_id = f"{prefix}-stage-{parked}"
        driven.append((parked, DrivenOrder(order_id, "card", harness.plan("card", order_id))))
    worker = await WorkerProcess(env, tmp_path / "worker.log").polling()
    try:
        await asyncio.gather(*(orders.start(harness.start_request(o.order_id)) for _, o in driven))
        for index in range(len(template)):
            live = [o for parked, o in driven if index < parked]
            await asyncio.gather(*(harness.send_step(orders, o, index) for o in live))
            if live:
                await harness.reached(orders, harness.step_targets(live, index), STEP_TIMEOUT)
        stages = {o.order_id: (await orders.status(o.order_id)).status for _, o in driven}

        refused = 0
        for _, order in driven:
            handle = orders.handle(order.order_id)
            for payloads, _ in POISON.values():
                await handle.signal(names.ADD_NOTE, args=payloads)
                try:
                    await handle.execute_update(names.ADD_NOTE, args=payloads, result_type=ActionResult)
                except WorkflowUpdateFailedError:
                    refused += 1

        async def all_recorded() -> bool:
            views = [await orders.status(o.order_id) for _, o in driven]
            return all(len(v.rejected) >= len(POISON) for v in views)

        await harness.wait_for(all_recorded, "poison signals were not all recorded under rejected", STEP_TIMEOUT)
        for parked, order in driven:
            await harness.send_step(orders, order, parked)
        views = await harness.reached(
            orders, {o.order_id: set(o.steps[parked].then) for parked, o in driven}, STEP_TIMEOUT
        )
        failures = [f for _, o in driven for f in await harness.task_failures(client, o.order_id)]
        recorded = sum(len(v.rejected) for v in views.values())
        moved = len(views)
        summary(
            f"poison payloads: {len(POISON)} kinds x {len(driven)} stages "
            f"({', '.join(s.value for s in stages.values())}), {recorded} signals recorded as rejected, "
            f"{refused} updates refused, {moved} orders took their next step, {len(failures)} failed workflow tasks"
        )
        assert refused == len(POISON) * len(driven)
        assert recorded == len(POISON) * len(driven)
        assert not failures
    finally:
        worker.kill()
