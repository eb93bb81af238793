"""The portal's overview shows the contract's history once an order has change orders (issue 20).

Each version the customer approved, with its total, when it was approved and what it
changed, the one in force marked; and a change order waiting for the customer's answer
is said at the top of the page, with the link to answer it. Rendered from ``OrderView``
objects built here; a real browser checks the page fits a phone and passes axe-core.
"""

from __future__ import annotations

import html as entities
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.browser import AXE, axe_problems, width_problems
from tests.helpers import draft
from tests.orderweb.test_portal_instalments import NOW, overview_html, text, view
from workflows.models import Confirmation, ConfirmationState, OrderStatus, OrderView


def _version(number: int, total: str, state: ConfirmationState, **fields: Any) -> Confirmation:
    d = draft()
    return Confirmation(
        version=number,
        title=d.title,
        currency="EUR",
        line_items=d.line_items,
        terms=d.terms,
        amount_total=Decimal(total),
        issued_at=NOW - timedelta(days=40 - 10 * number),
        state=state,
        **fields,
    )


V1 = _version(1, "4800.00", ConfirmationState.APPROVED)  # approved before approved_at was recorded
V2 = _version(
    2,
    "5300.00",
    ConfirmationState.APPROVED,
    change_of=1,
    changes=["total EUR 4800.00 -> 5300.00", "line added: SSO (EUR 500.00)"],
    approved_at=NOW - timedelta(days=18),
)
V3 = _version(3, "5100.00", ConfirmationState.CHANGES_REQUESTED, change_of=2, changes=["line removed: SSO"])
V4 = _version(4, "5900.00", ConfirmationState.ISSUED, change_of=2, changes=["line added: Audit (EUR 600.00)"])


def with_changes(*confirmations: Confirmation, status: OrderStatus = OrderStatus.IN_PROGRESS) -> OrderView:
    return view(
        status,
        confirmations=list(confirmations),
        version=confirmations[-1].version,
        approved_version=2,
        total=Decimal("5300.00"),
    )


def contract_rows(html: str) -> list[str]:
    """The contract table's rows as a desktop shows them, cells joined by `` | ``."""
    table = re.search(r'<table id="contract".*?</table>', html, re.S)
    assert table is not None, "no contract table"
    desktop = re.sub(r'<span class="each[^"]*">[^<]*</span>', "", table.group(0))
    rows = re.findall(r"<tr.*?</tr>", desktop, re.S)
    return [
        " | ".join(entities.unescape(text(cell)) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S))
        for row in rows
    ]


def test_the_overview_lists_each_approved_version_and_what_it_changed(tmp_path: Path) -> None:
    html = overview_html(tmp_path, with_changes(V1, V2, V3))
    assert contract_rows(html) == [
        "Version | Approved | Total | What it changed",
        "1 | \N{EN DASH} | EUR 4,800.00 | First approved version",
        "2 (in force) | 13 Nov 2026 | EUR 5,300.00 | total EUR 4800.00 -> 5300.00 line added: SSO (EUR 500.00)",
    ]


def test_without_change_orders_there_is_no_contract_card(tmp_path: Path) -> None:
    html = overview_html(tmp_path, view())
    assert 'id="contract"' not in html
    assert 'id="change-waiting"' not in html


def test_a_change_order_waiting_for_an_answer_is_said_at_the_top_with_its_link(tmp_path: Path) -> None:
    html = overview_html(tmp_path, with_changes(V1, V2, V3, V4))
    waiting = re.search(r'<div class="warning" id="change-waiting".*?</div>', html, re.S)
    assert waiting is not None, html
    words = text(waiting.group(0))
    assert "Change order 4 waits for your answer" in words
    assert "EUR 5,900.00" in words and "version 2 stays in force" in words
    assert re.search(
        r'<a class="button primary" href="/orders/42/confirmation/4\?token=[^"]+">Review change order 4</a>',
        waiting.group(0),
    )
    assert html.index('id="change-waiting"') < html.index("<h2>Your order</h2>")
    assert html.count(">Review change order 4</a>") == 1  # the hub's link, shown once


def test_no_line_once_the_change_order_is_answered_or_the_work_delivered_and_accepted(tmp_path: Path) -> None:
    assert 'id="change-waiting"' not in overview_html(tmp_path, with_changes(V1, V2, V3))
    closed = with_changes(V1, V2, V4, status=OrderStatus.IN_SUPPORT)
    assert "Review change order" not in overview_html(tmp_path, closed)


async def test_the_contract_fits_a_phone_and_passes_axe(tmp_path: Path, browser: Any) -> None:
    long = V2.model_copy(
        update={"changes": [*V2.changes, "line added: Integration with the booking partner's availability calendar"]}
    )
    page = await browser.new_page(bypass_csp=True)
    await page.set_content(overview_html(tmp_path, with_changes(V1, long, V3, V4)))
    assert await page.locator("#contract caption").count() == 1
    assert await page.locator("#change-waiting a").is_visible()
    problems = await width_problems(page, "overview")
    problems += await axe_problems(page, "overview", ("serious", "critical"))
    await page.close()
    assert problems == [], "\n".join(problems)
    if not AXE.exists():
        pytest.skip(f"the page fits; axe-core not checked: {AXE} is missing (run npm ci)")
