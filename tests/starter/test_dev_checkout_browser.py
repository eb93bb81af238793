"""The card walk a newcomer takes, as the customer, in a browser, under ``orders dev --stripe-test-double``.

``orders dev`` runs as a user runs it (free ports, a temporary directory with
its own key, see test_dev_stripe_double). An order is started, card terms are
issued and approved with the CLI; then Chromium opens the pay link of the
outbox email, clicks **Pay by card**, lands on the double's own checkout page
(marked TEST DOUBLE; it fits a 360 px phone and passes axe-core), chooses a
test card and comes back. The double completes the session and posts the
signed ``checkout.session.completed`` event to the webhook receiver that
``orders dev`` serves: the same webhook code as with real Stripe. The success
card takes the order to IN_PROGRESS, paid by card; the decline card leaves it
awaiting payment: the pay page and an email tell the customer.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import AXE, CHROMIUM, DESKTOP, PHONE, axe_problems, width_problems
from tests.helpers import outbox
from tests.starter import test_dev_stripe_double
from tests.starter.test_dev_stripe_double import Dev, _order

dev = test_dev_stripe_double.dev
"""The same fixture: ``orders dev --stripe-test-double`` on free ports, in a temporary directory."""

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}")


def _emails(dev: Dev, order_id: str, kind: str) -> list[str]:
    found = []
    for message in outbox(dev.cwd / "outbox"):
        if message["X-Order-Id"] == order_id and message["X-Message-Kind"] == kind:
            body = message.get_body(("plain",))
            assert body is not None
            found.append(str(body.get_content()))
    return found


async def _pay_link(dev: Dev, order_id: str) -> str:
    """The pay link of the payment_requested email (the worker sends it: poll for it)."""
    for _ in range(300):
        for body in _emails(dev, order_id, "payment_requested"):
            link = re.search(rf"http://localhost:\d+/orders/{order_id}/pay\?\S+", body)
            if link:
                return link.group(0)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no payment_requested email with a pay link for {order_id}")


async def _fits_and_passes_axe(page: Any, name: str) -> list[str]:
    return await width_problems(page, name) + await axe_problems(page, name)


async def _checkout(browser: Any, dev: Dev, order_id: str, width: int, card: str) -> Any:
    """From the email's pay link through the double's checkout page with ``card``, back to the pay page."""
    # bypass_csp only lets axe be injected; test_portal_card checks the portal's policy on this redirect.
    page = await browser.new_page(viewport={"width": width, "height": 900}, bypass_csp=True)
    await page.goto(await _pay_link(dev, order_id))
    notice = await page.text_content("#test-double")
    assert notice is not None and "test double" in notice and "No real card is charged" in notice, notice
    await page.click("#pay-card")
    await page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/c/pay/cs_test_\w+"))
    banner = await page.text_content("#test-double")
    assert banner is not None and "TEST DOUBLE" in banner and "No real card is charged" in banner, banner
    await page.get_by_label(re.compile(card)).check()
    await page.click("#save-card")
    await page.wait_for_url(re.compile(rf"http://localhost:\d+/orders/{order_id}/pay\?.*card=saved"))
    return page


async def _reload_until(page: Any, selector: str) -> None:
    """The worker charges the saved card after the webhook: reload until the page shows it."""
    for _ in range(100):
        if await page.query_selector(selector):
            return
        await asyncio.sleep(0.2)
        await page.reload()
    raise AssertionError(f"never shown: {selector}\n{await page.content()}")


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_a_customer_pays_by_card_on_the_test_doubles_checkout_page(dev: Dev, browser: Any, width: int) -> None:
    paid_id, declined_id = f"walk-{width}", f"decline-{width}"
    assert _order(dev, paid_id)["status"] == "AWAITING_PAYMENT"

    # The double's checkout page itself: plain, fits a phone, passes axe.
    page = await browser.new_page(viewport={"width": width, "height": 900}, bypass_csp=True)
    await page.goto(await _pay_link(dev, paid_id))
    await page.click("#pay-card")
    await page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/c/pay/cs_test_\w+"))
    if AXE.exists():
        assert await _fits_and_passes_axe(page, "the double's checkout page") == []
    text = await page.text_content("main")
    assert text is not None and "4242 4242 4242 4242" in text and "4000 0000 0000 0002" in text, text
    await page.close()

    # The success card: the order is paid by card and starts.
    page = await _checkout(browser, dev, paid_id, width, "4242 4242 4242 4242")
    await _reload_until(page, "#paid")
    status = json.loads(dev.run("status", paid_id, "--json").stdout)
    assert status["status"] == "IN_PROGRESS", status
    assert [p["method"] for p in status["payments"]] == ["card"], status["payments"]
    await page.close()

    # The decline card: still awaiting payment, and the customer is told on the page and by email.
    assert _order(dev, declined_id)["status"] == "AWAITING_PAYMENT"
    page = await _checkout(browser, dev, declined_id, width, "4000 0000 0000 0002")
    await _reload_until(page, "#card-declined")
    told = await page.text_content("#card-declined")
    assert told is not None and "declined" in told and "another card" in told, told
    assert await page.query_selector("#pay-card"), "the customer can try another card"
    if AXE.exists():
        assert await _fits_and_passes_axe(page, "the pay page after a decline") == []
    for _ in range(300):  # the email activity runs after the attempt is recorded
        if _emails(dev, declined_id, "payment_declined"):
            break
        await asyncio.sleep(0.1)
    declined = _emails(dev, declined_id, "payment_declined")
    assert declined and "declined" in declined[0].lower(), declined
    status = json.loads(dev.run("status", declined_id, "--json").stdout)
    assert status["status"] == "AWAITING_PAYMENT" and status["payments"] == [], status
    await page.close()
