"""A new card through the portal: a Stripe Checkout Session in setup mode, then the webhook.

The portal creates the session with the official ``stripe.StripeClient``
against the Stripe double; the double plays the customer finishing it; the
``checkout.session.completed`` event goes through the real webhook receiver,
which retrieves the SetupIntent and sends ``provide_payment_method``; the
worker charges the card.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import ActionRejected, OrderClient
from orderweb.portal import build_stripe_client
from orderweb.webhooks import WEBHOOK_PATH, create_app
from tests.doubles.stripe_api import TEST_API_KEY, StripeDouble, serve, sign
from tests.helpers import draft, eventually, kinds, start_input
from tests.orderweb.portal_harness import CHROMIUM, PortalHarness, running_portal, watch_csp
from tests.orderweb.test_portal_security import hidden
from workflows.models import ApproveInput, IssueConfirmationInput, OrderStatus

WEBHOOK_SECRET = "whsec_portal_0123456789"


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


async def _awaiting_card_payment(portal: PortalHarness, orders: OrderClient) -> tuple[str, str]:
    start = start_input()
    await orders.start(start)
    terms = draft(payment_methods=["card", "bank_transfer"])
    await orders.act(start.order_id, IssueConfirmationInput(confirmation=terms))
    await orders.act(start.order_id, ApproveInput(version=1))
    await eventually(lambda: portal.links(start.order_id, "payment_requested"), "payment_requested")
    return start.order_id, portal.link(start.order_id, "payment_requested").removeprefix(portal.url)


async def test_a_new_card_is_saved_through_checkout_and_charged(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, stripe_api: StripeDouble
) -> None:
    stripe_settings: dict[str, Any] = {"stripe_api_key": TEST_API_KEY, "stripe_api_base": stripe_api.url}
    stripe_client = build_stripe_client(dataclasses.replace(Settings(), **stripe_settings))
    async with running_portal(
        dev_env.client, tmp_path, task_queue, stripe_client=stripe_client, stripe_settings=stripe_settings
    ) as portal:
        order_id, pay_path = await _awaiting_card_payment(portal, portal.orders)
        async with httpx.AsyncClient(base_url=portal.url) as http:
            page = await http.get(pay_path)
            assert page.status_code == 200 and 'id="card"' in page.text and 'id="bank-transfer"' in page.text
            fields = hidden(page.text, "/pay/card")
            first = await http.post(f"/orders/{order_id}/pay/card", data=fields)
            double_click = await http.post(f"/orders/{order_id}/pay/card", data=fields)
        assert first.status_code == 303
        assert first.headers["location"] == double_click.headers["location"]  # one session
        session_id = first.headers["location"].rsplit("/", 1)[-1]
        session = stripe_api.checkout_sessions[session_id]
        assert session["mode"] == "setup" and session["metadata"] == {"order_id": order_id}
        assert session["success_url"].startswith(portal.url + f"/orders/{order_id}/pay?token=")
        assert len(stripe_api.checkout_sessions) == 1

        completed = stripe_api.complete_checkout(session_id, payment_method="pm_card_visa")
        event = json.dumps(stripe_api.event("checkout.session.completed", completed)).encode()

        async def temporal() -> object:
            return dev_env.client

        webhooks = create_app(temporal, WEBHOOK_SECRET, settings=portal.settings, stripe_client=stripe_client)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=webhooks), base_url="http://hooks") as http:
            answer = await http.post(
                WEBHOOK_PATH,
                content=event,
                headers={"Stripe-Signature": sign(event, WEBHOOK_SECRET), "Content-Type": "application/json"},
            )
        assert answer.status_code == 200 and answer.json()["signal"] == "provide_payment_method"

        async def paid() -> bool:
            view = await portal.orders.status(order_id)
            return view.payment_method_on_file == "pm_card_visa" and view.status == OrderStatus.IN_PROGRESS

        await eventually(paid, "the saved card charged")
        intents = list(stripe_api.payment_intents.values())
        assert [i["payment_method"] for i in intents] == ["pm_card_visa"]
        assert intents[0]["customer"] == completed["customer"]


async def test_without_stripe_card_terms_are_refused_so_no_page_offers_card(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    """A worker without Stripe refuses card terms when staff issue them: no email or page ever offers card."""
    async with running_portal(dev_env.client, tmp_path, task_queue) as portal:
        start = start_input()
        await portal.orders.start(start)
        # The order has read the worker's settings once it acknowledges the contact.
        await eventually(lambda: "contact_ack" in kinds(portal.outbox_dir), "contact_ack")
        terms = IssueConfirmationInput(confirmation=draft(payment_methods=["card", "bank_transfer"]))
        with pytest.raises(ActionRejected, match="STRIPE_API_KEY"):
            await portal.orders.act(start.order_id, terms)


async def test_the_pay_page_says_when_card_is_offered_but_cannot_be_taken_here(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, stripe_api: StripeDouble
) -> None:
    """The worker takes cards, the portal has no Stripe: the page says so, instead of leaving card out silently."""
    stripe_settings: dict[str, Any] = {"stripe_api_key": TEST_API_KEY, "stripe_api_base": stripe_api.url}
    async with running_portal(dev_env.client, tmp_path, task_queue, stripe_settings=stripe_settings) as portal:
        _, pay_path = await _awaiting_card_payment(portal, portal.orders)
        async with httpx.AsyncClient(base_url=portal.url) as http:
            page = await http.get(pay_path)
    assert page.status_code == 200 and 'id="bank-transfer"' in page.text and 'id="pay-card"' not in page.text
    assert "Card payment is not available" in page.text, page.text


async def test_the_pay_page_says_plainly_that_cards_go_to_the_test_double(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, stripe_api: StripeDouble
) -> None:
    stripe_settings: dict[str, Any] = {
        "stripe_api_key": TEST_API_KEY,
        "stripe_api_base": stripe_api.url,
        "stripe_test_double": True,
    }
    stripe_client = build_stripe_client(dataclasses.replace(Settings(), **stripe_settings))
    async with running_portal(
        dev_env.client, tmp_path, task_queue, stripe_client=stripe_client, stripe_settings=stripe_settings
    ) as portal:
        order_id, pay_path = await _awaiting_card_payment(portal, portal.orders)
        async with httpx.AsyncClient(base_url=portal.url) as http:
            page = await http.get(pay_path)
    assert page.status_code == 200 and 'id="test-double"' in page.text, page.text
    assert "test double" in page.text and "No real card is charged" in page.text
    assert f"orders card {order_id} --customer cus_test --payment-method pm_card_visa" in page.text


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium")
async def test_the_card_button_reaches_checkout_under_the_portals_security_policy(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, stripe_api: StripeDouble
) -> None:
    """In a real browser: the pay page, then the form's redirect to Stripe Checkout, with no CSP violation."""
    from playwright.async_api import Route, ViewportSize, async_playwright

    stripe_settings: dict[str, Any] = {"stripe_api_key": TEST_API_KEY, "stripe_api_base": stripe_api.url}
    stripe_client = build_stripe_client(dataclasses.replace(Settings(), **stripe_settings))
    async with (
        running_portal(
            dev_env.client, tmp_path, task_queue, stripe_client=stripe_client, stripe_settings=stripe_settings
        ) as portal,
        async_playwright() as p,
    ):
        _order_id, pay_path = await _awaiting_card_payment(portal, portal.orders)
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            desktop, phone = ViewportSize(width=1280, height=900), ViewportSize(width=390, height=844)
            for viewport in (desktop, phone):
                page = await browser.new_page(viewport=viewport)
                csp_violations = await watch_csp(page)

                async def checkout(route: Route) -> None:  # Stripe's page is not reachable offline
                    await route.fulfill(status=200, content_type="text/html", body="<title>Stripe Checkout</title>")

                await page.route("https://checkout.stripe.com/**", checkout)
                await page.goto(portal.url + pay_path)
                await page.click("#pay-card")
                await page.wait_for_url("https://checkout.stripe.com/c/pay/cs_test_*")
                assert csp_violations == [], viewport
                await page.close()
        finally:
            await browser.close()
