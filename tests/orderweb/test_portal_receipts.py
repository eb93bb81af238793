"""The order's overview lists each payment's receipt (date, amount, link), in a real browser at a
phone's and at desktop's width, with no serious axe-core violation; the link serves the PDF whose
SHA-256 the order recorded, and a stored file that changed is refused with a plain message."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.email_format import format_date
from tests.browser import AXE, DESKTOP, PHONE, axe_problems, width_problems
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import CHROMIUM, PortalHarness, running_portal
from workflows.models import ApproveInput, IssueConfirmationInput, OrderView, RecordPaymentInput

pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue) as harness:
        yield harness


async def _paid_twice(portal: PortalHarness) -> OrderView:
    start = start_input()
    order_id = start.order_id
    await portal.orders.start(start)
    await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
    await portal.orders.act(order_id, ApproveInput(version=1))
    await portal.orders.act(order_id, RecordPaymentInput(amount=Decimal("1800.00"), reference="TX-1"))
    await portal.orders.act(order_id, RecordPaymentInput(amount=Decimal("3000.00"), reference="TX-2"))
    latest: list[OrderView] = []

    async def recorded() -> bool:
        latest[:] = [await portal.orders.status(order_id)]
        return len(latest[0].payments) == 2 and all(p.receipt is not None for p in latest[0].payments)

    await eventually(recorded, "both receipts recorded on the order")
    return latest[0]


async def test_the_overview_lists_each_receipt_and_serves_it_checked(
    dev_env: WorkflowEnvironment, browser: Any, portal: PortalHarness
) -> None:
    order = await _paid_twice(portal)
    [overview, *_] = portal.links(order.order_id, "payment_received", overview=True)

    page = await browser.new_page(viewport={"width": DESKTOP, "height": 800}, bypass_csp=True)
    await page.goto(overview)
    receipts = page.locator("#receipts a")
    assert await receipts.count() == 2
    assert [await receipts.nth(n).inner_text() for n in range(2)] == ["Receipt 1 (PDF)", "Receipt 2 (PDF)"]
    rows = page.locator("#receipts li")
    texts = [await rows.nth(n).inner_text() for n in range(2)]
    assert format_date(order.payments[0].at) in texts[0] and "EUR 1,800.00" in texts[0]
    assert format_date(order.payments[1].at) in texts[1] and "EUR 3,000.00" in texts[1]

    # The second link downloads the PDF the order recorded for the second payment.
    async with page.expect_download() as started:
        await receipts.nth(1).evaluate("a => { a.setAttribute('download', ''); a.click(); }")
    download = await started.value
    saved = Path(await download.path())
    second = order.payments[1].receipt
    assert second is not None and hashlib.sha256(saved.read_bytes()).hexdigest() == second.sha256

    problems = await width_problems(page, "overview with receipts")
    problems += await axe_problems(page, "overview with receipts", impacts=("serious", "critical"))
    await page.set_viewport_size({"width": PHONE, "height": 800})
    assert await page.locator("#receipts a").nth(0).is_visible()
    assert problems == [], "\n".join(problems)

    first = order.payments[0].receipt
    assert first is not None
    href = await receipts.nth(0).get_attribute("href")
    assert href is not None and "token=" in href
    async with httpx.AsyncClient(base_url=portal.url) as http:
        served = await http.get(href)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "application/pdf"
        assert f"order-{order.order_id}-receipt-1.pdf" in served.headers["content-disposition"]
        assert hashlib.sha256(served.content).hexdigest() == first.sha256

        # Without a link of the order, or for a receipt the order does not have, nothing is served.
        unsigned = await http.get(href.split("?")[0])
        assert unsigned.status_code == 403 and b"%PDF" not in unsigned.content
        missing = await http.get(href.replace("/receipts/1/", "/receipts/3/"))
        assert missing.status_code == 404 and "no receipt with this number" in missing.text

        # A stored receipt that changed is refused when served, in words.
        stored = portal.settings.documents_path / first.id
        stored.write_bytes(stored.read_bytes() + b"%% altered")
        refused = await http.get(href)
        assert refused.status_code == 500 and b"%PDF" not in refused.content
        assert "no longer matches" in refused.text
    if not AXE.exists():
        pytest.skip(f"the page fits; axe-core not checked: {AXE} is missing (run npm ci)")
