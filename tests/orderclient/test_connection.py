"""The worker's Prometheus metrics: served by the SDK runtime, scraped over HTTP."""

from __future__ import annotations

import asyncio
import urllib.request

from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import OrderClient
from orderclient.connection import connect, metrics_runtime
from tests.helpers import free_port, start_input
from worker import build_worker
from workflows.models import AddNoteInput


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode("utf-8")


def test_metrics_are_off_without_an_address() -> None:
    assert metrics_runtime(None) is None
    assert metrics_runtime("") is None


async def test_the_worker_serves_sdk_metrics(dev_env: WorkflowEnvironment, settings: Settings, task_queue: str) -> None:
    bind = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(bind)
    assert runtime is not None
    client = await connect(dev_env.client.service_client.config.target_host, dev_env.client.namespace, runtime)
    orders = OrderClient(client, task_queue=task_queue)
    async with build_worker(client, settings, task_queue=task_queue):
        order = (await orders.start(start_input())).order_id
        await orders.act(order, AddNoteInput(text="counted"))
        await orders.handle(order).terminate("test over")
        body = await asyncio.to_thread(scrape, f"http://{bind}/metrics")
    for metric in (
        "temporal_request",
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_worker_start",
    ):
        assert metric in body, f"{metric} not in the scrape"
    assert f'task_queue="{task_queue}"' in body
