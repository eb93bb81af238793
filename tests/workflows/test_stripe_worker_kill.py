"""The worker process is killed (SIGKILL) while Stripe is charging the card; a
new worker finishes the job, and the card is still charged exactly once.

On the dev server, with ``python worker.py`` run as a real subprocess. The
Stripe double creates the PaymentIntent and stores it under the idempotency
key, then holds the answer until the worker is dead: the charge happened, the
worker never heard. Temporal retries the activity once its start-to-close
timeout (``PAYMENT_TIMEOUT``) has passed, the new worker sends the same key,
and Stripe (the double) replays the stored PaymentIntent instead of charging
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ordersecurity.codec import KEYS_ENV, SWITCH_ENV
from tests.doubles.stripe_api import TEST_API_KEY, StripeDouble, serve
from tests.helpers import draft, eventually, start_order, view
from workflows import names
from workflows.models import (
    ActionResult,
    ApproveInput,
    IssueConfirmationInput,
    OrderStatus,
    ProvidePaymentMethodInput,
)

ROOT = Path(__file__).resolve().parents[2]
RECOVERY_LIMIT = 120.0
"""Seconds to wait for the retried charge: PAYMENT_TIMEOUT (60 s) plus slack."""


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


class WorkerProcess:
    """``python worker.py`` in a subprocess, killed by its own pid only."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._log: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL: no graceful shutdown, no cleanup
        self.process.wait(timeout=10)
        self._log.close()


def worker_env(env: WorkflowEnvironment, stripe_api: StripeDouble, task_queue: str, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGRID_", "STRIPE_", "TEMPORAL_", "ORDERS_"))}
    for name in (KEYS_ENV, SWITCH_ENV):  # the worker must read what this process's client encrypts
        if name in os.environ:
            base[name] = os.environ[name]
    return {
        **base,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "ORDERS_TASK_QUEUE": task_queue,
        "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "ORDERS_EMAIL_BACKEND": "outbox",
        "STRIPE_API_KEY": TEST_API_KEY,
        "STRIPE_API_BASE": stripe_api.url,
        # Longer than the test takes to kill the worker, so the held request never times out first.
        "STRIPE_TIMEOUT": "25",
    }


async def act(handle: WorkflowHandle[Any, Any], name: str, request: Any) -> ActionResult:
    result: ActionResult = await handle.execute_update(name, request, result_type=ActionResult)
    return result


async def test_worker_killed_during_the_charge_still_charges_once(
    dev_env: WorkflowEnvironment, stripe_api: StripeDouble, task_queue: str, tmp_path: Path
) -> None:
    env = worker_env(dev_env, stripe_api, task_queue, tmp_path)
    held = stripe_api.hold_next("POST", "/v1/payment_intents")
    first = WorkerProcess(env, tmp_path / "worker-1.log")
    second: WorkerProcess | None = None
    handle = await start_order(dev_env.client, task_queue)
    try:
        await act(
            handle, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft(payment_methods=["card"]))
        )
        card = ProvidePaymentMethodInput(stripe_customer_id="cus_Alice1001", payment_method_id="pm_card_visa")
        await act(handle, names.PROVIDE_PAYMENT_METHOD, card)
        await act(handle, names.APPROVE, ApproveInput(version=1))

        request = await asyncio.to_thread(held.wait_arrived, 60)
        assert len(stripe_api.payment_intents) == 1, "Stripe has charged; the answer is in transit"
        first.kill()
        held.release()  # the answer goes to a dead socket
        killed_at = time.monotonic()
        second = WorkerProcess(env, tmp_path / "worker-2.log")

        async def paid() -> bool:
            return (await view(handle)).status is OrderStatus.IN_PROGRESS

        await eventually(paid, "the retried charge on the new worker", attempts=int(RECOVERY_LIMIT / 0.05))
        recovered_in = time.monotonic() - killed_at

        order = await view(handle)
        [intent] = stripe_api.payment_intents.values()
        key = f"order-{order.order_id}:charge:1"
        calls = stripe_api.requests_to("POST", "/v1/payment_intents")
        assert [c.idempotency_key for c in calls] == [key, key]
        assert calls[0] is request and not calls[0].replayed and calls[1].replayed
        assert calls[0].form == calls[1].form, "the retry sends the same parameters"
        assert intent["status"] == "succeeded" and intent["amount"] == 480000
        [payment] = order.payments
        assert (payment.reference, payment.amount) == (intent["id"], Decimal("4800.00"))
        assert [(a.attempt, a.status) for a in order.charge_attempts] == [(1, "succeeded")]

        history = await handle.fetch_history()
        scheduled = {
            e.event_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == names.CHARGE_CARD
        }
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
        ]
        assert attempts == [2], "one activity, completed on its second attempt"
        print(f"recovered {recovered_in:.1f} s after the kill")
    finally:
        first.kill()
        if second is not None:
            second.kill()
        held.release()
        with contextlib.suppress(RPCError):  # already closed
            await handle.terminate("test over")
