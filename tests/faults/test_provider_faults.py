"""Stripe and SendGrid misbehave: ``FAULTS_RATE`` (20%) of their requests fail.

The faults, drawn at random (``FAULTS_SEED`` replays a run): 500 and 503,
429 (SendGrid's with ``X-RateLimit-Reset`` a second away), answers slower
than the client's timeout (the work is done, the answer is lost), and
connection resets, before or after Stripe did the work; SendGrid also accepts
a message and then answers 500 or resets the connection. Over 30 mixed orders
(card, card then cancelled, bank transfer) every order must reach its end with
no duplicate charge or refund. SendGrid has no idempotency key, so a lost
acceptance is sent again: duplicate emails are counted in the last line and
must stay at or below ``EMAIL_DUPLICATES_LIMIT`` of the emails sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from orderclient.client import OrderClient
from tests.doubles.sendgrid_api import SendGridDouble
from tests.doubles.stripe_api import StripeDouble
from tests.faults import harness
from tests.faults.harness import DevServer, DrivenOrder, WorkerProcess

pytestmark = pytest.mark.faults

KINDS = ("card", "refund", "bank")
STEP_TIMEOUT = 150.0
SLOW = 3.0
"""Seconds a slow answer takes: past the clients' timeouts below."""
EMAIL_DUPLICATES_LIMIT = 0.067
"""Duplicate emails per email sent at 20% faults: the red-team campaign's 6.7% (issue 18) is the ceiling."""


async def test_orders_complete_despite_provider_faults(
    server: DevServer, stripe: StripeDouble, sendgrid: SendGridDouble, tmp_path: Path, summary: harness.Summary
) -> None:
    rate = harness.fault_rate()
    rng = harness.seeded_random()
    stripe.chaos(rate, rng, slow=SLOW)
    sendgrid.chaos(rate, rng, slow=SLOW)
    task_queue = f"faults-{harness.run_id()}"
    env = harness.worker_env(
        server,
        task_queue,
        tmp_path,
        stripe=stripe,
        sendgrid=sendgrid,
        extra={"STRIPE_TIMEOUT": "2", "SENDGRID_TIMEOUT": "2"},
    )
    client = await server.ready()
    orders = OrderClient(client, task_queue=task_queue)
    prefix = harness.run_id()
    n = harness.scale(30)
    driven = [
        DrivenOrder(order_id, kind, harness.plan(kind, order_id))
        for i in range(n)
        for kind in [KINDS[i % len(KINDS)]]
        for order_id in [f"{prefix}-{kind}-{i}"]
    ]
    worker = await WorkerProcess(env, tmp_path / "worker.log").polling()
    started = time.monotonic()
    try:
        await asyncio.gather(*(orders.start(harness.start_request(o.order_id)) for o in driven))
        for index in range(max(len(o.steps) for o in driven)):
            await asyncio.gather(*(harness.send_step(orders, o, index) for o in driven))
            await harness.reached(orders, harness.step_targets(driven, index), STEP_TIMEOUT)
        views = await harness.reached(orders, {o.order_id: o.final for o in driven}, STEP_TIMEOUT)
        stripe.chaos(0, rng)
        sendgrid.chaos(0, rng)
        lost, duplicated = await harness.lost_actions(orders, driven)
        counts = harness.sendgrid_counts(sendgrid, harness.stripe_counts(stripe))
        failed_emails = sum(len(v.failed_emails) for v in views.values())
        faults = Counter(name for _, _, name in stripe.chaos_faults) + Counter(sendgrid.chaos_faults)
        done = sum(views[o.order_id].status in o.final for o in driven)
        summary(
            f"provider faults at {rate:.0%}: {len(driven)} orders, {done} reached their end, "
            f"{counts.charges} charges ({counts.duplicate_charges} duplicate), "
            f"{counts.refunds} refunds ({counts.duplicate_refunds} duplicate), "
            f"{counts.emails} emails ({counts.duplicate_emails} sent twice or more, "
            f"{counts.duplicate_emails / max(counts.emails, 1):.1%}), {failed_emails} given up, "
            f"{lost} lost actions; faults injected: {len(stripe.chaos_faults)} Stripe, "
            f"{len(sendgrid.chaos_faults)} SendGrid ({', '.join(f'{k} x{v}' for k, v in sorted(faults.items()))}); "
            f"{time.monotonic() - started:.0f} s"
        )
        assert done == len(driven)
        assert counts.charges == sum(o.kind in ("card", "refund") for o in driven)
        assert counts.duplicate_charges == counts.duplicate_refunds == 0
        assert counts.refunds == sum(o.kind == "refund" for o in driven)
        assert (lost, duplicated) == (0, 0)
        assert counts.duplicate_emails <= EMAIL_DUPLICATES_LIMIT * counts.emails, counts.duplicated_keys
    finally:
        worker.kill()
