"""The evidence certificate in the portal: the customer approves in a real browser, the email
that follows links to the certificate, which the portal asks the order for and serves only while
its bytes have the hash the order recorded; the confirmation page says what was recorded (at a
phone's and a desktop's width, with no serious axe-core violation)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from tests.browser import AXE, DESKTOP, PHONE, axe_problems, width_problems
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import CHROMIUM, PortalHarness, running_portal
from workflows import names
from workflows.models import CancelInput, IssueConfirmationInput

pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue) as harness:
        yield harness


def _evidence_link(portal: PortalHarness, order_id: str, kind: str) -> str:
    """The certificate's link in the order's ``kind`` email."""
    found = [link for link in portal.links(order_id, kind) if re.search(r"/evidence\?token=", link)]
    assert len(found) == 1, f"no evidence link in {kind}: {portal.links(order_id, kind)}"
    return found[0]


async def _certify_updates(portal: PortalHarness, order_id: str) -> int:
    history = await portal.orders.handle(order_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == names.CERTIFY
    )


async def test_the_approval_email_links_to_the_certificate_the_portal_serves_checked(
    dev_env: WorkflowEnvironment, browser: Any, portal: PortalHarness
) -> None:
    start = start_input()
    order_id = start.order_id
    await portal.orders.start(start)
    await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
    await eventually(lambda: bool(portal.links(order_id, "confirmation_issued")), "confirmation email")

    page = await browser.new_page(viewport={"width": DESKTOP, "height": 900}, bypass_csp=True)
    await page.goto(portal.link(order_id, "confirmation_issued"))
    assert await page.locator("#decision").count() == 0  # nobody decided yet
    await page.check("#agree")
    await page.click("#approve")
    await eventually(lambda: bool(portal.links(order_id, "payment_requested")), "payment request email")
    user_agent = await page.evaluate("navigator.userAgent")

    link = _evidence_link(portal, order_id, "payment_requested")
    async with httpx.AsyncClient() as http:
        served = await http.get(link)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "application/pdf"
        assert f"order-{order_id}-evidence-1.pdf" in served.headers["content-disposition"]
        [certificate] = (await portal.orders.status(order_id)).certificates
        assert hashlib.sha256(served.content).hexdigest() == certificate.document.sha256
        assert certificate.requested_by is not None and certificate.requested_by.startswith("link ")
        text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(served.content)).pages).split())
        assert "Version1:approved" in text and user_agent.replace(" ", "") in text and "127.0.0.1" in text

        # Asked again with nothing new: the same certificate, and not even an update to the order.
        updates = await _certify_updates(portal, order_id)
        again = await http.get(link)
        assert again.content == served.content
        assert len((await portal.orders.status(order_id)).certificates) == 1
        assert await _certify_updates(portal, order_id) == updates == 1

        # Without a signed link nothing is served; a changed stored file is refused, in words.
        unsigned = await http.get(link.split("?")[0])
        assert unsigned.status_code in (400, 403, 404) and b"%PDF" not in unsigned.content
        stored = portal.settings.documents_path / certificate.document.id
        stored.write_bytes(served.content + b"%% altered")
        refused = await http.get(link)
        assert refused.status_code == 500 and b"%PDF" not in refused.content
        assert "no longer matches" in refused.text
        stored.write_bytes(served.content)

        # Closed: the certificate it issued last, from its record.
        await portal.orders.act(order_id, CancelInput(reason="Customer withdrew"))
        await portal.orders.handle(order_id).result()
        closed = await http.get(link)
        assert closed.status_code == 200 and closed.content == served.content

    # The confirmation page says what was recorded, and links to the certificate.
    for width in (PHONE, DESKTOP):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.goto(portal.link(order_id, "confirmation_issued"))
        decision = await page.text_content("#decision") or ""
        assert decision.startswith("Approved on ") and "UTC through this page" in decision, decision
        assert "you agreed to the terms of the PDF" in decision
        href = await page.get_attribute("#evidence-certificate", "href")
        assert href is not None and "/evidence?token=" in href
        problems = await width_problems(page, f"confirmation with its decision at {width}px")
        problems += await axe_problems(page, "confirmation with its decision", impacts=("serious", "critical"))
        assert problems == [], "\n".join(problems)
    if not AXE.exists():
        pytest.skip(f"the page fits; axe-core not checked: {AXE} is missing (run npm ci)")
