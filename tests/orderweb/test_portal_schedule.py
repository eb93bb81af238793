"""A payment schedule and a change order in the portal, in a real browser: the confirmation page
lists the schedule; once work has started the pay page shows the schedule and what is due now;
the customer approves a change order from its emailed link. Each page fits a phone and passes
axe-core (WCAG 2.1 AA). The worker, the dev server and the emails' links are real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.browser import AXE, PHONE, axe_problems, width_problems
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import CHROMIUM, PortalHarness, running_portal
from workflows.models import (
    ApproveInput,
    ConfirmationDraft,
    Instalment,
    IssueConfirmationInput,
    LineItem,
    OrderStatus,
    PostUpdateInput,
    RecordPaymentInput,
)

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


async def _email(portal: PortalHarness, order_id: str, kind: str, count: int = 1) -> str:
    """The link of the newest email of ``kind``, once there are ``count`` of them."""
    await eventually(lambda: len(portal.links(order_id, kind)) >= count, f"{kind} email #{count}")
    return portal.links(order_id, kind)[-1]


async def _fits_and_passes_axe(page: Any, name: str) -> None:
    problems = await width_problems(page, name)
    problems += await axe_problems(page, name, impacts=("serious", "critical"))
    assert problems == [], "\n".join(problems)


async def _rows(page: Any, table: str) -> list[str]:
    rows: list[str] = await page.eval_on_selector_all(
        f"{table} tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()).join(' | '))"
    )
    return rows


async def test_the_confirmation_page_lists_the_schedule(browser: Any, portal: PortalHarness) -> None:
    start = start_input()
    await portal.orders.start(start)
    confirmation = draft(payment_schedule=SCHEDULE)
    await portal.orders.act(start.order_id, IssueConfirmationInput(confirmation=confirmation))
    page = await browser.new_page(viewport={"width": PHONE, "height": 800}, bypass_csp=True)
    await page.goto(await _email(portal, start.order_id, "confirmation_issued"))

    assert await _rows(page, "#payment-schedule") == [
        "Instalment | Due | Amount",
        "Deposit (30%) | on approval | EUR 1,440.00",
        "Design (40%) | when milestone Design is completed | EUR 1,920.00",
        "Handover (30%) | 30 days after approval | EUR 1,440.00",
    ]
    await _fits_and_passes_axe(page, "confirmation with a schedule")


async def test_without_a_schedule_the_page_shows_none(browser: Any, portal: PortalHarness) -> None:
    start = start_input()
    await portal.orders.start(start)
    await portal.orders.act(start.order_id, IssueConfirmationInput(confirmation=draft()))
    page = await browser.new_page()
    await page.goto(await _email(portal, start.order_id, "confirmation_issued"))
    assert await page.locator("#approve").count() == 1
    assert await page.locator("#payment-schedule").count() == 0


async def test_the_pay_page_shows_what_is_due_now_and_a_change_order_is_approved_from_its_link(
    browser: Any, portal: PortalHarness
) -> None:
    start = start_input()
    order_id = start.order_id
    await portal.orders.start(start)
    terms: dict[str, Any] = {"payment_schedule": SCHEDULE}  # bank transfer: the portal here has no Stripe
    await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft(**terms)))
    await portal.orders.act(order_id, ApproveInput(version=1))
    await portal.orders.act(order_id, RecordPaymentInput(amount=Decimal("1440.00"), reference="TX-1"))
    await portal.orders.act(order_id, PostUpdateInput(text="Designs signed off", milestone="Design"))

    # The Design instalment's email (bank transfer: nothing to click but the order's page) leads to
    # the pay page: the schedule, and what is due now.
    await eventually(lambda: "instalment_due" in portal.kinds(order_id), "the Design instalment's email")
    page = await browser.new_page(viewport={"width": PHONE, "height": 800}, bypass_csp=True)
    await page.goto(portal.links(order_id, "instalment_due", overview=True)[-1])
    await page.click("a:text('Pay')")
    body = " ".join((await page.text_content("body") or "").split())
    assert "Due now: EUR 1,920.00" in body, body
    view = await portal.orders.status(order_id)
    assert view.status is OrderStatus.IN_PROGRESS
    assert view.instalments[1].reference in body, "the Design instalment's own bank reference"
    await _fits_and_passes_axe(page, "pay page of an instalment")

    # Staff issue a change order; the customer opens its email's link and approves it.
    data = draft(**terms).model_dump()
    data["line_items"].append(LineItem(description="Single sign-on", unit_price=Decimal("500.00")).model_dump())
    data["terms"]["payment_schedule"] = None
    await portal.orders.act(order_id, IssueConfirmationInput(confirmation=ConfirmationDraft.model_validate(data)))
    await page.goto(await _email(portal, order_id, "confirmation_issued", count=2))
    change = " ".join((await page.text_content("#change-order") or "").split())
    assert "Change order 2" in change and "the total becomes EUR 5,300.00" in change
    assert "line added: Single sign-on (EUR 500.00)" in change
    await _fits_and_passes_axe(page, "change order")
    await page.check("#agree")
    await page.click("#approve")
    await page.wait_for_selector(".notice")

    approved = await portal.orders.status(order_id)
    assert approved.approved_version == 2 and approved.total == Decimal("5300.00")
    assert approved.status is OrderStatus.IN_PROGRESS
    assert [b.name for b in approved.instalments][-1] == "Change order v2"
    if not AXE.exists():
        pytest.skip(f"the pages fit; axe-core not checked: {AXE} is missing (run npm ci)")
