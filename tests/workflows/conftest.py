"""Fixtures for the workflow tests that pay through Stripe: a real worker, the
real ``stripe.StripeClient`` and the Stripe double, on the time-skipping server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.config import Settings
from tests.conftest import make_worker
from tests.doubles.stripe_api import TEST_API_KEY, StripeDouble, serve
from tests.helpers import start_order


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


@pytest.fixture
def stripe_settings(settings: Settings, stripe_api: StripeDouble) -> Settings:
    return replace(
        settings,
        stripe_api_key=TEST_API_KEY,
        stripe_api_base=stripe_api.url,
        stripe_timeout=5.0,
    )


@pytest.fixture
async def worker(ts_env: WorkflowEnvironment, stripe_settings: Settings, task_queue: str) -> AsyncIterator[Worker]:
    async with make_worker(ts_env.client, stripe_settings, task_queue) as running:
        yield running


@pytest.fixture
async def order(ts_env: WorkflowEnvironment, worker: Worker, task_queue: str) -> WorkflowHandle[Any, Any]:
    return await start_order(ts_env.client, task_queue)
