"""An erased order in the customer portal: every link of it opens one page that says its
personal data was erased, and shows none of it (Chromium, at a phone's and desktop's width)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.email_format import format_date
from ordersecurity.codec import KEYS_ENV, new_key_entry
from ordersecurity.key_store import STORE_ENV
from tests.browser import axe_problems, width_problems
from tests.helpers import draft, eventually, start_input
from tests.orderweb.portal_harness import CHROMIUM, running_portal
from workflows.models import CancelInput, IssueConfirmationInput

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)


async def test_an_erased_orders_links_open_only_the_notice(
    browser: Any, dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEYS_ENV, new_key_entry("portal1"))
    monkeypatch.setenv(STORE_ENV, f"sqlite:///{tmp_path / 'order-keys.sqlite3'}")
    async with running_portal(dev_env.client, tmp_path, task_queue) as portal:
        started = start_input()
        order_id = (await portal.orders.start(started)).order_id
        await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
        await portal.orders.act(order_id, CancelInput(reason="We found another supplier.", by="customer"))
        await eventually(lambda: "cancelled" in portal.kinds(order_id), "the cancellation email")
        (overview,) = portal.links(order_id, "cancelled", overview=True)
        await portal.orders.handle(order_id).result()  # closed
        erasure = await portal.orders.erase(order_id, reason="DSR-11", operator="Ana Ops")

        page = await browser.new_page(bypass_csp=True)
        response = await page.goto(overview)
        assert response is not None and response.status == 410
        text = await page.text_content("main") or ""
        assert f"personal data was erased on {format_date(erasure.record.erased_at)}" in " ".join(text.split())
        assert started.customer.name not in await page.content()
        problems = await width_problems(page, "erased order")
        problems += await axe_problems(page, "erased order", ("serious", "critical"))
        assert problems == [], "\n".join(problems)
