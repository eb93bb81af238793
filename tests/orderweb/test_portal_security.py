"""The portal's guards, over real HTTP: signed links, CSRF, double submits, privacy.

Each test drives the portal (uvicorn), a worker and the dev server; the
links are the ones the worker put in the outbox's emails.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.config import HttpLimits
from orderclient.client import OrderClient
from ordersecurity.links import sign_link
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import LINK_SECRET, PortalHarness, running_portal
from workflows.models import (
    AcceptInput,
    ApproveInput,
    DeliverInput,
    IssueConfirmationInput,
    OrderStatus,
    RecordPaymentInput,
)


@pytest.fixture
async def portal(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[PortalHarness]:
    async with running_portal(dev_env.client, tmp_path, task_queue, contact_limit=3) as harness:
        yield harness


@pytest.fixture
async def http(portal: PortalHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=portal.url, follow_redirects=False, timeout=30) as client:
        yield client


def hidden(html: str, form_action: str | None = None) -> dict[str, str]:
    """The hidden fields of the first form (or of the form posting to ``form_action``), and its
    boxes ticked, as a customer who answers ticks them (the approval's agreement)."""
    forms = re.findall(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.DOTALL)
    for action, body in forms:
        if form_action is None or action.endswith(form_action):
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body))
            fields.update(re.findall(r'<input type="checkbox" id="[^"]+" name="([^"]+)" value="([^"]*)"', body))
            return fields
    raise AssertionError(f"no form {form_action} in the page")


async def confirmation_link(portal: PortalHarness, orders: OrderClient, version: int = 1) -> tuple[str, str]:
    """A started order with confirmation ``version`` issued, and that version's email link (path and query)."""
    start = start_input()
    await orders.start(start)
    for _ in range(version):
        await orders.act(start.order_id, IssueConfirmationInput(confirmation=draft()))
    await eventually(lambda: len(portal.links(start.order_id, "confirmation_issued")) >= version, "confirmation")
    # Version 1's link by its address: the versions' emails go at once, so the outbox's order is not theirs.
    links = portal.links(start.order_id, "confirmation_issued")
    link = next(link for link in links if f"/orders/{start.order_id}/confirmation/1?" in link)
    return start.order_id, link.removeprefix(portal.url)


def token_of(path: str) -> str:
    return parse_qs(urlsplit(path).query)["token"][0]


async def test_a_tampered_link_changes_nothing(portal: PortalHarness, http: httpx.AsyncClient) -> None:
    order_id, path = await confirmation_link(portal, portal.orders)
    token = token_of(path)
    tampered = path.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    page = await http.get(tampered)
    assert page.status_code == 403
    assert "not one we sent" in page.text and "Nothing was changed" in page.text
    assert "Traceback" not in page.text
    assert (await portal.orders.status(order_id)).status == OrderStatus.AWAITING_APPROVAL


async def test_an_expired_link_is_refused(portal: PortalHarness, http: httpx.AsyncClient) -> None:
    order_id, _ = await confirmation_link(portal, portal.orders)
    expired = sign_link(LINK_SECRET, order_id, "confirmation", 1, datetime.now(UTC) - timedelta(minutes=1))
    page = await http.get(f"/orders/{order_id}/confirmation/1?token={expired}")
    assert page.status_code == 403 and "expired" in page.text


async def test_another_orders_link_is_refused_and_existence_is_not_leaked(
    portal: PortalHarness, http: httpx.AsyncClient
) -> None:
    order_a, path_a = await confirmation_link(portal, portal.orders)
    order_b, _ = await confirmation_link(portal, portal.orders)
    token_a = token_of(path_a)
    other = await http.get(f"/orders/{order_b}/confirmation/1?token={token_a}")
    assert other.status_code == 403 and "belongs to another order" in other.text
    # A made-up order answers exactly like a real one: the link is checked first.
    missing = await http.get(f"/orders/no-such-order-1/confirmation/1?token={token_a}")
    assert (missing.status_code, missing.text) == (other.status_code, other.text)
    bare_real = await http.get(f"/orders/{order_b}")
    bare_missing = await http.get("/orders/no-such-order-2")
    assert bare_real.status_code == bare_missing.status_code == 403
    assert bare_real.text == bare_missing.text
    # And posting the other order's token does not act on it.
    form = await http.get(path_a)
    fields = hidden(form.text, "/approve")
    answer = await http.post(f"/orders/{order_b}/confirmation/1/approve", data=fields)
    assert answer.status_code == 403
    assert (await portal.orders.status(order_b)).status == OrderStatus.AWAITING_APPROVAL
    assert (await portal.orders.status(order_a)).status == OrderStatus.AWAITING_APPROVAL


async def test_a_superseded_version_says_so_and_is_refused_in_words(
    portal: PortalHarness, http: httpx.AsyncClient
) -> None:
    order_id, path_v1 = await confirmation_link(portal, portal.orders, version=2)
    page = await http.get(path_v1)
    assert page.status_code == 200
    assert "replaced by version 2" in page.text
    current = re.search(r'<a href="(/orders/[^"]+/confirmation/2\?token=[^"]+)">See the current version', page.text)
    assert current is not None
    assert 'id="approve"' not in page.text  # no buttons on an old version
    # A form kept open from before version 2: the order refuses, in words.
    fields = hidden((await http.get(current.group(1).replace("&amp;", "&"))).text, "/approve")
    fields["token"] = token_of(path_v1)
    refused = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=fields)
    assert refused.status_code == 409
    assert "Your answer was not recorded" in refused.text and "version" in refused.text
    assert "Traceback" not in refused.text
    current_page = await http.get(current.group(1).replace("&amp;", "&"))
    assert 'id="approve"' in current_page.text
    assert (await portal.orders.status(order_id)).approved_version is None


async def test_a_double_click_is_applied_once_and_a_second_attempt_is_not_dropped(
    portal: PortalHarness, http: httpx.AsyncClient
) -> None:
    orders = portal.orders
    order_id, path = await confirmation_link(portal, orders)
    fields = hidden((await http.get(path)).text, "/approve")
    first = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=fields)
    second = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=fields)
    assert first.status_code == second.status_code == 303
    assert "done=approve" in first.headers["location"] and "done=approve-again" in second.headers["location"]
    after = await http.get(second.headers["location"])
    assert "recorded once" in after.text

    # Two real support requests from the same link: two requests.
    view = await orders.status(order_id)
    await orders.act(order_id, RecordPaymentInput(amount=Decimal("4800.00"), reference="bank-1"))
    await orders.act(order_id, DeliverInput(summary="Done."))
    await orders.act(order_id, AcceptInput(round=1))
    await eventually(lambda: portal.links(order_id, "support_opened"), "support_opened")
    support = portal.link(order_id, "support_opened").removeprefix(portal.url)
    for subject in ("First", "Second"):
        fields = hidden((await http.get(support)).text)
        for _ in range(2):  # each one double-clicked
            sent = await http.post(f"/orders/{order_id}/support", data={**fields, "subject": subject, "text": "x"})
            assert sent.status_code == 303
    view = await orders.status(order_id)
    assert [r.subject for r in view.support_requests] == ["First", "Second"]


async def test_an_approval_without_the_agreement_ticked_is_refused(
    portal: PortalHarness, http: httpx.AsyncClient
) -> None:
    order_id, path = await confirmation_link(portal, portal.orders)
    page = (await http.get(path)).text
    assert 'name="agree" value="yes" required' in page
    assert "I have read the order confirmation (PDF) and agree to its terms" in page
    fields = {k: v for k, v in hidden(page, "/approve").items() if k != "agree"}
    refused = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=fields)
    assert refused.status_code == 400
    assert "Please tick" in refused.text and "Nothing was sent" in refused.text
    assert (await portal.orders.status(order_id)).status == OrderStatus.AWAITING_APPROVAL
    # The evidence comes from the portal, never from the form: a forged field is ignored.
    forged = {**fields, "agree": "yes", "evidence": '{"channel": "operator"}', "client_ip": "6.6.6.6"}
    approved = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=forged)
    assert approved.status_code == 303
    decision = (await portal.orders.status(order_id)).confirmations[0].decision
    assert decision is not None and decision.channel == "portal" and decision.client_ip == "127.0.0.1"


async def test_a_post_without_its_csrf_token_changes_nothing(portal: PortalHarness, http: httpx.AsyncClient) -> None:
    order_id, path = await confirmation_link(portal, portal.orders)
    fields = hidden((await http.get(path)).text, "/approve")
    without_field = {k: v for k, v in fields.items() if k != "csrf"}
    refused = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=without_field)
    assert refused.status_code == 403 and "security token" in refused.text
    # The right field, but from another browser (no cookie): a cross-site post.
    async with httpx.AsyncClient(base_url=portal.url) as stranger:
        cross_site = await stranger.post(f"/orders/{order_id}/confirmation/1/approve", data=fields)
    assert cross_site.status_code == 403
    assert (await portal.orders.status(order_id)).status == OrderStatus.AWAITING_APPROVAL


async def test_the_contact_form_starts_one_order_per_form_and_keeps_bots_out(
    portal: PortalHarness, http: httpx.AsyncClient
) -> None:
    form = await http.get("/contact")
    fields = hidden(form.text)
    data = {**fields, "name": "Ada", "email": "ada@example.com", "message": "A new website, please."}
    first = await http.post("/contact", data=data)
    again = await http.post("/contact", data=data)  # a reload of the answer page posts the same form
    ids = [re.search(r'id="order-id">([^<]+)<', r.text) for r in (first, again)]
    assert ids[0] is not None and ids[1] is not None and ids[0].group(1) == ids[1].group(1)
    assert (await portal.orders.status(ids[0].group(1))).first_message == "A new website, please."
    rows = await portal.orders.list()
    assert [r.order_id for r in rows].count(ids[0].group(1)) == 1

    # A bad email is named, and nothing starts.
    bad = await http.post("/contact", data={**hidden((await http.get("/contact")).text), **data, "email": "nope"})
    assert bad.status_code == 400 and "email: not a valid email address" in bad.text

    # The honeypot: thanked, and no order.
    bot = await http.post("/contact", data={**hidden((await http.get("/contact")).text), **data, "website": "x"})
    assert bot.status_code == 200 and 'id="order-id"' not in bot.text

    # The rate limit (3 per window in this test's portal, counting the posts above).
    limited = await http.post("/contact", data={**hidden((await http.get("/contact")).text), **data})
    assert limited.status_code == 429 and "Too many messages" in limited.text


async def test_without_a_link_secret_order_pages_refuse_and_say_why(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    async with running_portal(dev_env.client, tmp_path, task_queue, link_secret=None) as portal:
        start = start_input()
        await portal.orders.start(start)
        await portal.orders.act(start.order_id, IssueConfirmationInput(confirmation=draft()))
        async with httpx.AsyncClient(base_url=portal.url) as http:
            page = await http.get(f"/orders/{start.order_id}/confirmation/1")
            assert page.status_code == 403 and "ORDERS_LINK_SECRET is not set" in page.text
            assert (await http.get("/contact")).status_code == 200
        await portal.orders.act(start.order_id, ApproveInput(version=1))


SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers.get(name))
    policy = {
        directive.split(" ", 1)[0]: directive
        for directive in (d.strip() for d in response.headers.get("content-security-policy", "").split(";"))
        if directive
    }
    assert policy.get("default-src") == "default-src 'none'", (response.url, policy)
    assert policy.get("frame-ancestors") == "frame-ancestors 'none'"
    assert policy.get("base-uri") == "base-uri 'none'"
    assert "script-src" not in policy  # no script at all: default-src 'none' covers it


async def test_every_response_carries_the_security_headers(portal: PortalHarness, http: httpx.AsyncClient) -> None:
    """Pages, refusals, redirects, 404s, form errors and the inbound endpoint's JSON."""
    order_id, path = await confirmation_link(portal, portal.orders)
    form = await http.get("/contact")
    responses = [
        form,
        await http.get("/"),
        await http.get(path),
        await http.get(f"/orders/{order_id}/confirmation/1?token=tampered"),
        await http.get("/no-such-page"),
        await http.post("/contact", data={"name": "no csrf"}),
        await http.post("/contact", data={**hidden(form.text), "name": "Ada", "email": "nope", "message": "Hi"}),
        await http.post("/inbound/sendgrid", data={"from": "a@b.example"}),
    ]
    assert [r.status_code for r in responses] == [200, 303, 200, 403, 404, 403, 400, 401]
    for response in responses:
        assert_security_headers(response)


async def test_the_contact_limit_believes_x_forwarded_for_only_from_trusted_proxies(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    async def contact(http: httpx.AsyncClient, forwarded_for: str) -> int:
        fields = hidden((await http.get("/contact")).text)
        data = {**fields, "name": "Ada", "email": "ada@example.com", "message": "A new website, please."}
        answer = await http.post("/contact", data=data, headers={"X-Forwarded-For": forwarded_for})
        return answer.status_code

    # No trusted proxy (the default): the header is anyone's to write, and ignored.
    async with (
        running_portal(dev_env.client, tmp_path / "direct", task_queue, contact_limit=2) as portal,
        httpx.AsyncClient(base_url=portal.url, timeout=30) as http,
    ):
        forged = [await contact(http, f"203.0.113.{n}") for n in range(1, 4)]
        assert forged == [200, 200, 429]

    # Behind a trusted proxy (this test's client plays it): each forwarded client has its own allowance.
    proxy = HttpLimits(trusted_proxies=("127.0.0.0/8",))
    async with (
        running_portal(dev_env.client, tmp_path / "proxied", task_queue, contact_limit=2, http=proxy) as portal,
        httpx.AsyncClient(base_url=portal.url, timeout=30) as http,
    ):
        first = [await contact(http, "203.0.113.1") for _ in range(3)]
        assert first == [200, 200, 429]
        assert await contact(http, "203.0.113.2") == 200
        # A client that writes its own X-Forwarded-For in front: the proxy appends the real address.
        assert await contact(http, "198.51.100.7, 203.0.113.1") == 429


async def test_a_decisions_address_comes_through_trusted_proxies_only_and_stays_out_of_logs_and_search(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    browser = "Mozilla/5.0 (Evidence privacy test) Firefox/150"
    caplog.set_level("DEBUG")

    async def approve(portal: PortalHarness, http: httpx.AsyncClient, forwarded_for: str) -> Any:
        order_id, path = await confirmation_link(portal, portal.orders)
        fields = hidden((await http.get(path)).text, "/approve")
        headers = {"X-Forwarded-For": forwarded_for, "User-Agent": browser}
        approved = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=fields, headers=headers)
        assert approved.status_code == 303
        handle = portal.orders.client.get_workflow_handle(f"order-{order_id}")
        return (await portal.orders.status(order_id)).confirmations[0].decision, await handle.describe()

    # No trusted proxy: the forwarded address is anyone's to write, and the peer's is recorded.
    async with (
        running_portal(dev_env.client, tmp_path / "direct", task_queue) as portal,
        httpx.AsyncClient(base_url=portal.url, timeout=30) as http,
    ):
        direct, _ = await approve(portal, http, "203.0.113.9")
    assert direct.client_ip == "127.0.0.1" and direct.user_agent == browser

    # Behind a trusted proxy (this test's client plays it): the customer's address it forwarded.
    proxy = HttpLimits(trusted_proxies=("127.0.0.0/8",))
    async with (
        running_portal(dev_env.client, tmp_path / "proxied", task_queue, http=proxy) as portal,
        httpx.AsyncClient(base_url=portal.url, timeout=30) as http,
    ):
        proxied, described = await approve(portal, http, "198.51.100.7, 203.0.113.9")
    assert proxied.client_ip == "203.0.113.9" and proxied.user_agent == browser

    # Personal data: neither the address nor the browser in any log line or search attribute.
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert caplog.records  # the worker and the portal did log
    for secret in ("203.0.113.9", "198.51.100.7", "Evidence privacy test"):
        assert secret not in logged
        assert secret not in repr(described.typed_search_attributes)
