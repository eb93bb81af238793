"""A customer walks an order in a real browser, from the contact form to support.

Chromium from Debian (``apt-get install chromium``) driven by Playwright for
Python through ``executable_path``: Playwright's own browser download is not
reachable here or in CI. The portal runs under uvicorn, the worker and the
Temporal dev server are real, and every link is the one found in the
outbox's ``.eml`` files.

Screenshots for the README: ``PORTAL_SCREENSHOTS=docs/img python -m pytest
tests/orderweb/test_portal_browser.py -k walk`` writes
``portal-confirmation.png`` and ``portal-delivery.png`` there.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ordersecurity.links import sign_link
from tests.helpers import draft, eventually, outbox, start_input
from tests.orderweb.portal_harness import CHROMIUM, LINK_SECRET, PortalHarness, running_portal, watch_csp
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    IssueConfirmationInput,
    OrderStatus,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    SupportRequestInput,
)

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')"
)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)

SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS")


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue) as harness:
        yield harness


async def _email(portal: PortalHarness, order_id: str, kind: str, count: int = 1) -> str:
    await eventually(lambda: len(portal.links(order_id, kind)) >= count, f"{kind} email #{count}")
    return portal.link(order_id, kind)


def _date_in(portal: PortalHarness, order_id: str, kind: str, pattern: str) -> str:
    """The date an email of ``kind`` gives, found by ``pattern`` in its text."""
    for message in outbox(portal.outbox_dir):
        if message["X-Order-Id"] == order_id and message["X-Message-Kind"] == kind:
            body = message.get_body(("plain",))
            assert body is not None
            found = re.search(pattern, " ".join(body.get_content().split()))
            assert found, f"no date in the {kind} email"
            return found.group(1)
    raise AssertionError(f"no {kind} email")


async def _shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


async def test_walk_from_the_contact_form_to_support(browser: Any, portal: PortalHarness) -> None:
    page = await browser.new_page(viewport={"width": 820, "height": 900})
    csp_violations = await watch_csp(page)

    # 1. the contact form
    await page.goto(portal.url + "/contact")
    await page.fill("#name", "Ada Lovelace")
    await page.fill("#email", "ada@example.com")
    await page.fill("#company", "Analytical Engines Ltd")
    await page.fill("#message", "We need our booking website redesigned.")
    await page.click("button[type=submit]")
    order_id = (await page.text_content("#order-id") or "").strip()
    assert order_id.startswith("web-")
    view = await portal.orders.status(order_id)
    assert view.channel.value == "web_form" and view.customer.email == "ada@example.com"

    # 2. staff issue a confirmation
    await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))

    # 3. the confirmation link from the email, then Approve
    await page.goto(await _email(portal, order_id, "confirmation_issued"))
    assert "EUR 4,800.00" in (await page.text_content("#total") or "")
    body = await page.text_content("body") or ""
    assert "Bug fixes and questions by email" in body and "14 days after you approve" in body
    await _shot(page, "portal-confirmation.png")
    await page.check("#agree")
    await page.click("#approve")
    assert "you approved the order confirmation" in (await page.text_content(".notice") or "")
    # The approval's evidence: through the portal, by this browser, having ticked the agreement.
    approved = (await portal.orders.status(order_id)).confirmations[0]
    decision = approved.decision
    assert decision is not None and decision.channel == "portal" and decision.agreed_to_terms
    assert approved.document is not None and decision.document_sha256 == approved.document.sha256
    assert decision.user_agent == await page.evaluate("navigator.userAgent")
    assert decision.client_ip == "127.0.0.1" and decision.link_id and len(decision.link_id) == 32
    assert (decision.email, decision.version) == ("ada@example.com", 1) and decision.at is not None

    # 4. AWAITING_PAYMENT, and the payment page shows the bank details. A
    # bank-transfer-only email has no button: the order's page links to it.
    assert (await portal.orders.status(order_id)).status == OrderStatus.AWAITING_PAYMENT
    await page.click("a:text('Pay')")
    bank = await page.text_content("#bank-transfer") or ""
    assert portal.settings.bank_iban in bank
    assert "EUR 4,800.00" in (await page.text_content("#amount-due") or "")
    reference = (await page.text_content("#reference") or "").strip()
    assert reference
    # The page gives the due date the payment email gives, not a reminder's date.
    due_by = _date_in(portal, order_id, "payment_requested", r"please pay EUR 4,800\.00 by (.+? UTC)\.")
    assert due_by in (await page.text_content("main") or "")
    assert "reminder" not in (await page.text_content("main") or "")

    # 5. staff record the payment and deliver
    await portal.orders.act(order_id, RecordPaymentInput(amount=Decimal("4800.00"), reference=reference))
    await portal.orders.act(
        order_id, DeliverInput(summary="The new site is on staging.", links=["https://staging.example.com"])
    )

    # 6. the delivery link, and a revision request
    await page.goto(await _email(portal, order_id, "delivered"))
    assert "The new site is on staging." in (await page.text_content("#summary") or "")
    # The end of the review the email gives, and what silence then means.
    review_by = _date_in(portal, order_id, "delivered", r"by (\d+ \w+ \d{4}, \d\d:\d\d UTC)\.")
    review = await page.text_content("main") or ""
    assert f"Please review by {review_by}." in review and "counts as accepted" in review
    await page.fill("#revision-comments", "Please make the logo larger.")
    await page.click("#request-revision")
    assert "revision request" in (await page.text_content(".notice") or "")
    view = await portal.orders.status(order_id)
    assert view.status == OrderStatus.IN_PROGRESS
    assert [r.comments for r in view.revisions] == ["Please make the logo larger."]

    # 7. staff deliver again
    await portal.orders.act(order_id, DeliverInput(summary="Logo enlarged.", links=["https://staging.example.com"]))

    # 8. accept, from the second delivery's link
    await page.goto(await _email(portal, order_id, "delivered", count=2))
    assert "delivery 2" in (await page.text_content("main") or "")
    await _shot(page, "portal-delivery.png")
    await page.click("#accept")
    assert "accepted the delivery" in (await page.text_content(".notice") or "")

    # 9. a support request from the support link
    await page.goto(await _email(portal, order_id, "support_opened"))
    await page.fill("#subject", "Login")
    await page.fill("#text", "SSO fails in Safari.")
    await page.click("#send-request")
    assert "support request" in (await page.text_content(".notice") or "")

    # 10. IN_SUPPORT, with the request recorded
    view = await portal.orders.status(order_id)
    assert view.status == OrderStatus.IN_SUPPORT
    assert [(r.subject, r.text) for r in view.support_requests] == [("Login", "SSO fails in Safari.")]
    assert csp_violations == []  # the Content-Security-Policy allows everything the pages use


async def test_bad_links_show_a_plain_page_in_the_browser(browser: Any, portal: PortalHarness) -> None:
    page = await browser.new_page()
    csp_violations = await watch_csp(page)
    response = await page.goto(portal.url + "/orders/42/confirmation/1?token=not-a-token")
    assert response is not None and response.status == 403
    text = await page.text_content("main") or ""
    assert "This link cannot be used" in text and "Nothing was changed" in text
    assert "Traceback" not in (await page.content())
    # The page is styled (its inline <style> was applied, not refused by the policy).
    assert await page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"
    assert csp_violations == []


async def test_the_overview_shows_everything_the_customer_sent(browser: Any, portal: PortalHarness) -> None:
    page = await browser.new_page(viewport={"width": 820, "height": 900})
    await page.goto(portal.url + "/contact")
    await page.fill("#name", "Ada Lovelace")
    await page.fill("#email", "ada@example.com")
    await page.fill("#message", "We need our booking website redesigned.")
    await page.click("button[type=submit]")
    order_id = (await page.text_content("#order-id") or "").strip()

    orders = portal.orders
    await orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
    await orders.act(order_id, RequestChangesInput(version=1, comments="Please add a French version."))
    await orders.act(order_id, IssueConfirmationInput(confirmation=draft("5200.00")))
    await orders.act(order_id, ApproveInput(version=2))
    await orders.act(order_id, AddNoteInput(text="Our logo files are attached.", author="customer"))
    await orders.act(order_id, AddNoteInput(text="Internal: customer is price sensitive.", author="staff"))
    await orders.act(order_id, RecordPaymentInput(amount=Decimal("5200.00"), reference="SO-1"))
    await orders.act(order_id, DeliverInput(summary="The new site is on staging."))
    await orders.act(order_id, RequestRevisionInput(comments="Please make the logo larger."))
    await orders.act(order_id, DeliverInput(summary="Logo enlarged."))
    await orders.act(order_id, AcceptInput())
    await orders.act(order_id, SupportRequestInput(subject="Login", text="SSO fails in Safari."))

    await page.goto(await _email(portal, order_id, "support_request_ack"))
    await page.click("a:text('overview')")
    messages = await page.text_content("#messages") or ""
    for sent in (
        "We need our booking website redesigned.",
        "Please add a French version.",
        "Our logo files are attached.",
        "Please make the logo larger.",
        "Login",
        "SSO fails in Safari.",
    ):
        assert sent in messages, sent
    assert "price sensitive" not in (await page.content())
    # Oldest first, as a conversation reads.
    assert messages.index("booking website") < messages.index("French") < messages.index("logo larger")


async def test_a_closed_order_stays_readable_from_its_last_email_then_not(
    browser: Any, dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    later = {"now": datetime.now(UTC)}
    async with running_portal(dev_env.client, tmp_path, task_queue, clock=lambda: later["now"]) as portal:
        order_id = (await portal.orders.start(start_input())).order_id
        await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
        await portal.orders.act(order_id, CancelInput(reason="We found another supplier.", by="customer"))
        await eventually(lambda: "cancelled" in portal.kinds(order_id), "the cancellation email")
        # The last email's overview link: the finished order, read-only.
        (overview,) = portal.links(order_id, "cancelled", overview=True)
        page = await browser.new_page(viewport={"width": 820, "height": 900})
        response = await page.goto(overview)
        assert response is not None and response.status == 200
        assert "This order was cancelled." in (await page.text_content("main") or "")
        assert await page.locator("form, a.button").count() == 0
        # The portal's documented time after closing (90 days), then the order's pages are refused.
        later["now"] = datetime.now(UTC) + timedelta(days=89)
        response = await page.goto(overview)
        assert response is not None and response.status == 200
        token = sign_link(LINK_SECRET, order_id, "confirmation", 1, datetime.now(UTC) + timedelta(days=400))
        later["now"] = datetime.now(UTC) + timedelta(days=91)
        response = await page.goto(f"{portal.url}/orders/{order_id}?token={token}")
        assert response is not None and response.status == 410
        assert "90 days" in (await page.text_content("main") or "")


async def test_the_portal_refuses_to_be_framed(browser: Any, portal: PortalHarness) -> None:
    """frame-ancestors 'none' (and X-Frame-Options): another site cannot frame a page to trick a click."""
    page = await browser.new_page()
    csp_violations = await watch_csp(page)
    await page.set_content(f'<iframe id="framed" src="{portal.url}/contact"></iframe>')
    frame = await (await page.wait_for_selector("#framed")).content_frame()
    await eventually(lambda: any("frame-ancestors" in v for v in csp_violations), "the frame refused")
    assert frame is None or "Contact us" not in (await frame.content())
