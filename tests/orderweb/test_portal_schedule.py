"""The portal's confirmation page lists a payment schedule, fits a phone and passes axe-core.

Until instalment billing lands the workflow refuses to issue a confirmation with
a schedule (``workflows/rules.py``), so the order shown here gets its schedule
the one way an order's state can arrive whole: a run resumed from a carried
state (continue-as-new's path), on the real dev server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.browser import AXE, PHONE, axe_problems, width_problems
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import CHROMIUM, PortalHarness, running_portal
from workflows.models import Continuation, Instalment, IssueConfirmationInput, OrderState, StartOrderInput
from workflows.models.activity_io import OrderPolicy
from workflows.names import workflow_id
from workflows.order import ServiceOrderWorkflow

pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)

SCHEDULE = [
    Instalment.model_validate({"name": "Deposit", "percent": "30", "due": "approval"}),
    Instalment.model_validate({"name": "Design", "percent": "40", "due": "milestone:Design"}),
    Instalment.model_validate({"name": "Handover", "percent": "30", "due": "P30D"}),
]


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue) as harness:
        yield harness


async def _order_with_a_schedule(dev_env: WorkflowEnvironment, portal: PortalHarness, task_queue: str) -> str:
    """An order awaiting approval of a confirmation with ``SCHEDULE``; its confirmation page's link."""
    start = start_input()
    order_id = start.order_id
    await portal.orders.start(start)
    await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
    await eventually(lambda: bool(portal.links(order_id, "confirmation_issued")), "confirmation email")
    link = portal.link(order_id, "confirmation_issued")

    view = await portal.orders.status(order_id)
    issued = view.confirmations[0]
    terms = issued.terms.model_copy(update={"payment_schedule": SCHEDULE})
    view.confirmations[0] = issued.model_copy(update={"terms": terms})
    handle = dev_env.client.get_workflow_handle(workflow_id(order_id))
    await handle.terminate("carried on with a payment schedule")
    resumed = StartOrderInput(
        **start.model_dump(exclude={"resume"}),
        resume=Continuation(state=OrderState(order=view, policy=OrderPolicy())),
    )
    await dev_env.client.start_workflow(
        ServiceOrderWorkflow.run, resumed, id=workflow_id(order_id), task_queue=task_queue
    )
    return link


async def test_the_confirmation_page_lists_the_schedule(
    dev_env: WorkflowEnvironment, browser: Any, portal: PortalHarness, task_queue: str
) -> None:
    link = await _order_with_a_schedule(dev_env, portal, task_queue)
    page = await browser.new_page(viewport={"width": PHONE, "height": 800}, bypass_csp=True)
    await page.goto(link)

    cells = await page.eval_on_selector_all(
        "#payment-schedule tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()).join(' | '))",
    )
    assert cells == [
        "Instalment | Due | Amount",
        "Deposit (30%) | on approval | EUR 1,440.00",
        "Design (40%) | when milestone Design is completed | EUR 1,920.00",
        "Handover (30%) | 30 days after approval | EUR 1,440.00",
    ], cells

    problems = await width_problems(page, "confirmation with a schedule")
    problems += await axe_problems(page, "confirmation with a schedule", impacts=("serious", "critical"))
    assert problems == [], "\n".join(problems)
    if not AXE.exists():
        pytest.skip(f"the page fits; axe-core not checked: {AXE} is missing (run npm ci)")


async def test_without_a_schedule_the_page_shows_none(
    dev_env: WorkflowEnvironment, browser: Any, portal: PortalHarness
) -> None:
    start = start_input()
    await portal.orders.start(start)
    await portal.orders.act(start.order_id, IssueConfirmationInput(confirmation=draft()))
    await eventually(lambda: bool(portal.links(start.order_id, "confirmation_issued")), "confirmation email")
    page = await browser.new_page()
    await page.goto(portal.link(start.order_id, "confirmation_issued"))
    assert await page.locator("#approve").count() == 1
    assert await page.locator("#payment-schedule").count() == 0
