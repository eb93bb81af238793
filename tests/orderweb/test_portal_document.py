"""The portal's confirmation page links to the version's PDF: served through the
page's signed link, checked against the hash the order recorded each time it is
served, refused when the stored file changed; the page still fits a phone and
passes axe-core."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.browser import AXE, PHONE, axe_problems, width_problems
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import CHROMIUM, PortalHarness, running_portal
from workflows.models import IssueConfirmationInput

pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue) as harness:
        yield harness


async def _issued(portal: PortalHarness) -> str:
    start = start_input()
    await portal.orders.start(start)
    await portal.orders.act(start.order_id, IssueConfirmationInput(confirmation=draft()))
    await eventually(lambda: bool(portal.links(start.order_id, "confirmation_issued")), "confirmation email")
    return start.order_id


async def test_the_confirmation_page_links_to_its_checked_pdf(
    dev_env: WorkflowEnvironment, browser: Any, portal: PortalHarness
) -> None:
    order_id = await _issued(portal)
    document = (await portal.orders.status(order_id)).confirmations[0].document
    assert document is not None

    page = await browser.new_page(viewport={"width": PHONE, "height": 800}, bypass_csp=True)
    await page.goto(portal.link(order_id, "confirmation_issued"))
    link = page.locator("a#confirmation-pdf")
    assert await link.count() == 1
    assert "PDF" in await link.inner_text()
    assert document.sha256 in await page.locator("#confirmation-pdf-hash").inner_text()
    href = await link.get_attribute("href")
    assert href is not None and "token=" in href

    async with httpx.AsyncClient(base_url=portal.url) as http:
        served = await http.get(href)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "application/pdf"
        assert hashlib.sha256(served.content).hexdigest() == document.sha256
        assert f"order-{order_id}-confirmation-v1.pdf" in served.headers["content-disposition"]

        # Without the signed link, or with another version's, nothing is served.
        unsigned = await http.get(href.split("?")[0])
        assert unsigned.status_code in (403, 404) and b"%PDF" not in unsigned.content
        other = await http.get(href.replace("/confirmation/1/", "/confirmation/2/"))
        assert other.status_code in (403, 404) and b"%PDF" not in other.content

        # A stored file that changed is refused when served, in words.
        stored = portal.settings.documents_path / document.id
        stored.write_bytes(stored.read_bytes() + b"%% altered")
        refused = await http.get(href)
        assert refused.status_code == 500 and b"%PDF" not in refused.content
        assert "no longer matches" in refused.text

    problems = await width_problems(page, "confirmation with its PDF link")
    problems += await axe_problems(page, "confirmation with its PDF link", impacts=("serious", "critical"))
    assert problems == [], "\n".join(problems)
    if not AXE.exists():
        pytest.skip(f"the page fits; axe-core not checked: {AXE} is missing (run npm ci)")
