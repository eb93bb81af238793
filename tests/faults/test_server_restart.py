"""The dev server is stopped (SIGTERM, then SIGKILL) and started again on the
same SQLite file while orders wait at every stage.

Each waiting order has a timer that falls due during the outage (durations
of seconds in its confirmation's terms), so after the restart every one must
move on by itself: the confirmation expires, the unpaid order is cancelled,
the milestone is reported overdue, silence counts as acceptance, the support
period ends. The order waiting on staff (``DISCUSSING``) takes an action.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from orderclient.client import OrderClient
from tests.doubles.stripe_api import StripeDouble
from tests.faults import harness
from tests.faults.harness import DevServer, S, WorkerProcess
from workflows import names
from workflows.models import IssueConfirmationInput, MilestoneTerm, OrderStatus

pytestmark = pytest.mark.faults

DUE = timedelta(seconds=10)
"""Every parked timer falls due this long after its order is parked: inside the outage."""
OUTAGE = 11.0
"""Seconds from parking to the restart: every parked timer is due by then."""
RECOVERY_LIMIT = 60.0

# stage the order waits at -> (its terms, the steps that park it there, where it must end up)
STAGES: dict[str, tuple[dict[str, object], int, set[OrderStatus]]] = {
    "DISCUSSING": ({}, 0, {S.AWAITING_APPROVAL}),
    "AWAITING_APPROVAL": ({"confirmation_expiry": DUE, "reminder_interval": timedelta(seconds=2)}, 1, {S.EXPIRED}),
    "AWAITING_PAYMENT": ({"payment_due": DUE, "payment_grace": timedelta(seconds=1)}, 2, {S.CANCELLED}),
    "IN_PROGRESS": ({"milestones": [MilestoneTerm(name="Build", due=DUE)]}, 2, {S.IN_PROGRESS}),
    "AWAITING_ACCEPTANCE": ({"review_period": DUE}, 4, {S.IN_SUPPORT, S.COMPLETED}),
    "IN_SUPPORT": ({"support_period": DUE}, 5, {S.COMPLETED}),
}


async def test_orders_at_every_stage_resume_after_a_server_restart(
    server: DevServer, stripe: StripeDouble, tmp_path: Path, summary: harness.Summary
) -> None:
    task_queue = f"faults-{harness.run_id()}"
    env = harness.worker_env(
        server,
        task_queue,
        tmp_path,
        stripe=stripe,
        extra={
            "ORDERS_PAYMENT_REMINDER_BEFORE": "PT2S",
            "ORDERS_ACCEPTANCE_REMINDER_BEFORE": "PT2S",
            "ORDERS_SUPPORT_REMINDER_BEFORE": "PT2S",
        },
    )
    client = await server.ready()
    orders = OrderClient(client, task_queue=task_queue)
    prefix = harness.run_id()
    copies = harness.scale(1)
    parked: dict[str, tuple[str, set[OrderStatus]]] = {}
    worker = await WorkerProcess(env, tmp_path / "worker.log").polling()
    try:
        # Park the orders; a card pays (bank for AWAITING_PAYMENT, so that it waits).
        driven = []
        for stage, (terms, steps, target) in STAGES.items():
            for copy in range(copies):
                order_id = f"{prefix}-{stage.lower()}-{copy}"
                kind = "bank" if stage == "AWAITING_PAYMENT" else "card"
                order = harness.DrivenOrder(order_id, kind, harness.plan(kind, order_id, **terms)[:steps])
                if stage == "AWAITING_PAYMENT":  # approve without paying
                    approve = order.steps[1]
                    order.steps[1] = harness.Step(approve.actions[:1], frozenset({S.AWAITING_PAYMENT}))
                driven.append(order)
                parked[order_id] = (stage, target)
        await asyncio.gather(*(orders.start(harness.start_request(o.order_id)) for o in driven))
        for index in range(max(len(o.steps) for o in driven)):
            live = [o for o in driven if index < len(o.steps)]
            await asyncio.gather(*(harness.send_step(orders, o, index) for o in live))
            await harness.reached(orders, harness.step_targets(live, index), RECOVERY_LIMIT)
        waiting = await harness.reached(orders, {o: {OrderStatus(stage)} for o, (stage, _) in parked.items()}, 30)
        parked_at = time.monotonic()

        how = server.stop()
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - parked_at)))
        server.start()
        client = await server.ready()
        down_for = time.monotonic() - parked_at
        orders = OrderClient(client, task_queue=task_queue)
        restarted = time.monotonic()

        discussing = [o for o, (stage, _) in parked.items() if stage == "DISCUSSING"]
        for order_id in discussing:
            result = await orders.update(
                order_id,
                names.ISSUE_CONFIRMATION,
                IssueConfirmationInput(confirmation=harness.confirmation("card"), request_id=f"{order_id}-after"),
            )
            assert result.status is S.AWAITING_APPROVAL
        views = await harness.reached(orders, {o: target for o, (_, target) in parked.items()}, RECOVERY_LIMIT)
        in_progress = [o for o, (stage, _) in parked.items() if stage == "IN_PROGRESS"]

        async def overdue_reported() -> bool:
            views = [await orders.status(o) for o in in_progress]
            return all(m.overdue_alerted for view in views for m in view.milestones)

        await harness.wait_for(overdue_reported, "the milestone due during the outage was never reported", 30)
        recovered_in = time.monotonic() - restarted
        moved = sum(views[o].status in target for o, (_, target) in parked.items())
        summary(
            f"server restart ({how}, down {down_for:.0f} s): {len(parked)} orders waiting at "
            f"{len(STAGES)} stages, {moved} moved on after the restart (timers due during the outage fired), "
            f"all within {recovered_in:.0f} s; was waiting: "
            + ", ".join(sorted({v.status.value for v in waiting.values()}))
        )
        assert moved == len(parked)
    finally:
        worker.kill()
