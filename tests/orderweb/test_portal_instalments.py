"""The portal's overview and pay page show a payment schedule's instalments (issue 20).

Rendered from ``OrderView`` objects built here, the way the workflow reports an order
that bills by instalment: no server is needed to see what a page says about one.
An order without a schedule looks exactly as before. A real browser checks the pages
fit a phone and pass axe-core.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from activities.config import Settings
from orderclient.client import OrderClient
from orderweb.portal import PortalPages
from orderweb.site import STAGES, steps_for
from tests.browser import AXE, axe_problems, width_problems
from tests.helpers import draft
from workflows.models import Confirmation, ConfirmationState, Customer, OrderStatus, OrderView
from workflows.models.view import InstalmentBill, InstalmentStatus

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = "instalments-test-secret-0123456789abcdef"


async def _no_temporal() -> OrderClient:
    raise AssertionError("rendering a page connects to nothing")


def _pages(tmp_path: Path, **settings: Any) -> PortalPages:
    return PortalPages(_no_temporal, Settings(outbox_dir=tmp_path, link_secret=SECRET, **settings), clock=lambda: NOW)


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""})


def _bill(number: int, name: str, due: str, amount: str, **fields: Any) -> InstalmentBill:
    # As the workflow bills: one due on approval quotes the order's reference, a later one its own.
    reference = "ORD-42" if due == "approval" else f"ORD-42-{number}"
    return InstalmentBill(number=number, name=name, due=due, amount=Decimal(amount), reference=reference, **fields)


def _confirmation(methods: tuple[str, ...] = ("bank_transfer",)) -> Confirmation:
    d = draft(payment_methods=list(methods))
    return Confirmation(
        version=1,
        title=d.title,
        currency=d.currency,
        line_items=d.line_items,
        terms=d.terms,
        amount_total=Decimal("4800.00"),
        issued_at=NOW - timedelta(days=40),
        state=ConfirmationState.APPROVED,
    )


def view(status: OrderStatus = OrderStatus.IN_PROGRESS, *, instalments: bool = True, **fields: Any) -> OrderView:
    """Order 42, 4,800 EUR in a 30/40/30 schedule: the deposit paid, the design instalment fallen due."""
    bills = [
        _bill(1, "Deposit", "approval", "1440.00", paid=Decimal("1440.00"), status=InstalmentStatus.PAID),
        _bill(
            2,
            "Design",
            "milestone:Design",
            "1920.00",
            status=InstalmentStatus.OPEN,
            fell_due_at=NOW - timedelta(days=2),
            due_at=NOW + timedelta(days=12),
        ),
        _bill(3, "Handover", "acceptance", "1440.00"),
    ]
    base: dict[str, Any] = {
        "order_id": "42",
        "status": status,
        "customer": Customer(name="Ada Lovelace", email="ada@example.com", company="Analytical Engines Ltd"),
        "channel": "web_form",
        "created_at": NOW - timedelta(days=45),
        "first_message": "We need our booking website redesigned.",
        "confirmations": [_confirmation()],
        "version": 1,
        "approved_version": 1,
        "currency": "EUR",
        "total": Decimal("4800.00"),
        "payment_reference": "ORD-42",
        "amount_paid": Decimal("1440.00"),
        "balance_due": Decimal("1920.00") if instalments else Decimal("3360.00"),
        "instalments": bills if instalments else [],
    }
    return OrderView.model_validate({**base, **fields})


def overview_html(tmp_path: Path, shown: OrderView) -> str:
    response = _pages(tmp_path).order_page(_request(), "order.html", shown, "tok", title="Order 42")
    return bytes(response.body).decode()


def pay_html(tmp_path: Path, shown: OrderView, **settings: Any) -> str:
    return bytes(_pages(tmp_path, **settings).pay_page(_request(), shown, "tok").body).decode()


def text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


PHONE_ONLY = re.compile(r'<span class="each[^"]*">(?:[^<]|<(span|strong)[^>]*>[^<]*</\1>)*</span>')
"""What a phone shows folded under a cell (``.each``): the desktop's rows leave it out."""


def schedule_rows(html: str) -> list[str]:
    """The schedule table's rows as a desktop shows them, cells joined by `` | ``."""
    table = re.search(r'<table id="instalments".*?</table>', html, re.S)
    assert table is not None, "no schedule table"
    rows = re.findall(r"<tr.*?</tr>", PHONE_ONLY.sub("", table.group(0)), re.S)
    return [" | ".join(text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)) for row in rows]


# --------------------------------------------------------------------------
# The new status
# --------------------------------------------------------------------------


def test_every_status_has_words_for_the_customer() -> None:
    assert set(STAGES) == set(OrderStatus)


def test_an_order_awaiting_its_final_payment_has_a_page(tmp_path: Path) -> None:
    bills = view().instalments
    bills[1] = bills[1].model_copy(update={"status": InstalmentStatus.PAID, "paid": Decimal("1920.00")})
    bills[2] = bills[2].model_copy(
        update={"status": InstalmentStatus.OVERDUE, "fell_due_at": NOW - timedelta(days=40), "due_at": NOW}
    )
    shown = view(OrderStatus.AWAITING_FINAL_PAYMENT, instalments=True, balance_due=Decimal("1440.00"))
    shown.instalments[:] = bills
    html = overview_html(tmp_path, shown)
    words = text(html)
    assert "Awaiting your final payment" in words
    assert 'class="now">Final payment</li>' in html  # the progress names the step the order is at
    assert "Due now: EUR 1,440.00" in words


def test_the_progress_gains_a_final_payment_step_only_with_a_schedule() -> None:
    assert [label for _, label in steps_for(view(instalments=False))][-1] == "Support"
    assert [label for _, label in steps_for(view())][-1] == "Final payment"


# --------------------------------------------------------------------------
# The schedule on the overview and the pay page
# --------------------------------------------------------------------------


def test_the_overview_shows_the_schedule_and_what_is_due_now(tmp_path: Path) -> None:
    html = overview_html(tmp_path, view())
    assert schedule_rows(html) == [
        "Instalment | Due | Amount | Paid | Status",
        "Deposit | on approval | EUR 1,440.00 | EUR 1,440.00 | Paid",
        "Design | by 13 Dec 2026 | EUR 1,920.00 | EUR 0.00 | Open",
        "Handover | on acceptance | EUR 1,440.00 | EUR 0.00 | Scheduled",
    ]
    assert "<caption>Payment schedule</caption>" in html
    assert 'scope="col"' in html
    assert "Due now: EUR 1,920.00" in text(html)
    assert re.search(r'<a class="button primary" href="/orders/42/pay\?token=[^"]+">Pay</a>', html)


def test_the_pay_page_takes_an_instalment_due_after_work_started(tmp_path: Path) -> None:
    html = pay_html(tmp_path, view())
    words = text(html)
    assert "No payment is due now" not in words
    assert "Due now: EUR 1,920.00" in words
    assert 'id="bank-transfer"' in html
    # The bank transfer quotes the instalment's own reference, not the order's.
    assert re.search(r"<dt>Reference</dt><dd>ORD-42-2</dd>", html), html
    assert schedule_rows(html)[2].startswith("Design | by 13 Dec 2026")


@pytest.mark.parametrize(
    "status",
    [
        OrderStatus.IN_PROGRESS,
        OrderStatus.AWAITING_ACCEPTANCE,
        OrderStatus.IN_SUPPORT,
        OrderStatus.AWAITING_FINAL_PAYMENT,
    ],
)
def test_an_instalment_is_payable_at_every_stage_after_approval(tmp_path: Path, status: OrderStatus) -> None:
    assert 'id="bank-transfer"' in pay_html(tmp_path, view(status))


def test_an_overdue_instalment_is_said_to_be_overdue_and_never_threatens_cancellation(tmp_path: Path) -> None:
    bills = view().instalments
    bills[1] = bills[1].model_copy(update={"status": InstalmentStatus.OVERDUE, "due_at": NOW - timedelta(days=1)})
    shown = view()
    shown.instalments[:] = bills
    words = text(pay_html(tmp_path, shown))
    assert "Design was due by 30 Nov 2026" in words
    assert "cancelled" not in words
    assert "Overdue" in words


def test_two_instalments_due_at_once_each_name_their_reference(tmp_path: Path) -> None:
    shown = view(balance_due=Decimal("3360.00"))
    shown.instalments[2] = shown.instalments[2].model_copy(
        update={"status": InstalmentStatus.OPEN, "fell_due_at": NOW, "due_at": NOW + timedelta(days=14)}
    )
    html = pay_html(tmp_path, shown)
    assert "Due now: EUR 3,360.00" in text(html)
    assert "ORD-42-2" in html and "ORD-42-3" in html


def test_nothing_is_due_while_the_next_instalment_waits_for_its_event(tmp_path: Path) -> None:
    shown = view(balance_due=Decimal("0.00"), amount_paid=Decimal("3360.00"))
    shown.instalments[1] = shown.instalments[1].model_copy(
        update={"status": InstalmentStatus.PAID, "paid": Decimal("1920.00")}
    )
    html = pay_html(tmp_path, shown)
    words = text(html)
    assert "Due now" not in words
    assert 'id="bank-transfer"' not in html
    assert "The next instalment falls due on acceptance" in words
    assert "Paid in full" not in words  # 1,440.00 is still to come
    assert len(schedule_rows(html)) == 4


def test_a_card_is_offered_for_an_instalment(tmp_path: Path) -> None:
    shown = view(confirmations=[_confirmation(("bank_transfer", "card"))])
    pages = _pages(tmp_path)
    pages.stripe = object()  # any client: the page only asks whether there is one
    html = bytes(pages.pay_page(_request(), shown, "tok").body).decode()
    assert 'id="pay-card"' in html


def test_without_a_schedule_the_pages_are_as_before(tmp_path: Path) -> None:
    plain = view(instalments=False)
    for html in (overview_html(tmp_path, plain), pay_html(tmp_path, plain)):
        assert 'id="instalments"' not in html
        assert "Due now" not in text(html)
        assert "Final payment" not in html
        assert ">Pay</a>" not in html  # a plain order in progress owes nothing
    # A plain order in progress owes nothing on the pay page, as before.
    assert "No payment is due now" in text(pay_html(tmp_path, plain))


# --------------------------------------------------------------------------
# In a real browser: fits a phone, passes axe-core
# --------------------------------------------------------------------------


async def test_the_schedule_pages_fit_a_phone_and_pass_axe(tmp_path: Path, browser: Any) -> None:
    shown = view()
    shown.instalments[1] = shown.instalments[1].model_copy(
        update={"name": "Design and information architecture", "due": "milestone:Design and information architecture"}
    )
    problems: list[str] = []
    for name, html in (("overview", overview_html(tmp_path, shown)), ("pay", pay_html(tmp_path, shown))):
        page = await browser.new_page(bypass_csp=True)
        await page.set_content(html)
        assert await page.locator("#instalments caption").count() == 1
        problems += await width_problems(page, name)
        problems += await axe_problems(page, name)
        await page.close()
    assert problems == [], "\n".join(problems)
    if not AXE.exists():
        pytest.skip(f"the pages fit; axe-core not checked: {AXE} is missing (run npm ci)")
