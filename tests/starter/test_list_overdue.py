"""``orders list --overdue``: the orders with an instalment past its due date (issue 20).

The workflow sets ``OrderPaymentOverdue`` only on an order with a payment schedule,
true while an instalment is overdue. Walking an order to an overdue instalment takes
the billing's timers; what ``list`` adds is the query, so the dev-server test starts
order workflows with the attribute already set (no worker runs them) and lists them
through the CLI and ``OrderClient``: the attribute is registered, the query accepted,
and only the overdue order comes back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from orderclient.client import OrderClient
from orderclient.summaries import list_query
from starter import cli
from tests.helpers import start_input
from tests.starter.test_cli_retry import orders_cli
from workflows import names, search


def test_the_overdue_query_asks_for_the_attribute() -> None:
    assert list_query(overdue=True) == "WorkflowType = 'ServiceOrderWorkflow' AND OrderPaymentOverdue = true"
    assert list_query("in_support", overdue=True) == (
        "WorkflowType = 'ServiceOrderWorkflow' AND OrderStatus = 'IN_SUPPORT' AND OrderPaymentOverdue = true"
    )
    assert list_query() == "WorkflowType = 'ServiceOrderWorkflow'"


def test_the_cli_takes_overdue() -> None:
    assert cli.parse_args(["list", "--overdue"]).overdue is True
    assert cli.parse_args(["list"]).overdue is False
    assert cli.list_query(None, overdue=True).endswith(" AND OrderPaymentOverdue = true")


@pytest.fixture
async def two_orders(dev_env: WorkflowEnvironment) -> AsyncIterator[tuple[str, str]]:
    """An order with an overdue instalment and one whose instalments are on time, never run by a worker."""
    started = []
    for overdue in (True, False):
        start = start_input()
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(search.ORDER_STATUS, "IN_PROGRESS"),
                SearchAttributePair(search.ORDER_PAYMENT_OVERDUE, overdue),
            ]
        )
        started.append(
            await dev_env.client.start_workflow(
                names.WORKFLOW_TYPE,
                start,
                id=names.workflow_id(start.order_id),
                task_queue=f"nobody-polls-{start.order_id}",
                search_attributes=attributes,
            )
        )
    yield started[0].id.removeprefix(names.WORKFLOW_ID_PREFIX), started[1].id.removeprefix(names.WORKFLOW_ID_PREFIX)
    for handle in started:
        await handle.terminate("test over")


async def _listed(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Visibility is eventually consistent: ask again for a few seconds."""
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never listed: {what}")


async def test_list_overdue_finds_only_the_overdue_order(
    dev_env: WorkflowEnvironment, two_orders: tuple[str, str], tmp_path: Path
) -> None:
    overdue, on_time = two_orders
    orders = OrderClient(dev_env.client)

    async def client_lists() -> bool:
        found = [row.order_id for row in await orders.list(overdue=True)]
        assert on_time not in found
        return overdue in found

    await _listed(client_lists, "OrderClient.list(overdue=True)")

    ran = await orders_cli(dev_env, tmp_path, "list", "--overdue", "--json")
    assert ran.code == 0, ran.stderr
    rows = json.loads(ran.stdout)
    assert [row["order_id"] for row in rows] == [overdue]

    ran = await orders_cli(dev_env, tmp_path, "list", "--overdue", "--status", "IN_SUPPORT", "--json")
    assert ran.code == 0, ran.stderr
    assert json.loads(ran.stdout) == []
