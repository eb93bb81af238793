"""``orders status`` shows a payment schedule's instalments (issue 20), without a server.

Each instalment's name, the event it falls due on (or the date to pay it by once
it has fallen due), its amount, what was paid and its status, and what is due now;
an order without a schedule shows no such table. ``status --json`` carries the
instalments through the model.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rich.console import Console

from starter import order_panel
from workflows.models import Customer, OrderView
from workflows.models.view import InstalmentBill, InstalmentStatus

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _bill(number: int, name: str, due: str, amount: str, **fields: Any) -> InstalmentBill:
    return InstalmentBill(
        number=number, name=name, due=due, amount=Decimal(amount), reference=f"ORD-42-{number}", **fields
    )


BILLS = [
    _bill(1, "Deposit", "approval", "1440.00", paid=Decimal("1440.00"), status=InstalmentStatus.PAID),
    _bill(
        2,
        "Design",
        "milestone:Design",
        "1920.00",
        paid=Decimal("500.00"),
        status=InstalmentStatus.OVERDUE,
        fell_due_at=NOW - timedelta(days=20),
        due_at=NOW - timedelta(days=6),
    ),
    _bill(3, "Handover", "acceptance", "1440.00"),
]


def order_view(**fields: Any) -> OrderView:
    base: dict[str, Any] = {
        "order_id": "42",
        "status": "IN_PROGRESS",
        "customer": Customer(name="Ada Lovelace", email="ada@example.com", company="Analytical Engines Ltd"),
        "channel": "web_form",
        "created_at": NOW - timedelta(days=45),
        "first_message": "We need our booking website redesigned.",
        "currency": "EUR",
        "total": Decimal("4800.00"),
        "amount_paid": Decimal("1940.00"),
        "balance_due": Decimal("1420.00"),
        "instalments": BILLS,
    }
    return OrderView.model_validate({**base, **fields})


def plain(view: OrderView, capsys: pytest.CaptureFixture[str]) -> list[str]:
    order_panel.show(order_panel.render_view(view))
    return capsys.readouterr().out.splitlines()


def test_status_lists_each_instalment_and_what_is_due_now(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plain(order_view(), capsys)
    start = lines.index("Payment schedule")
    assert lines[start + 1 : start + 6] == [
        "#\tDue\tAmount\tPaid\tStatus\tInstalment",
        "1\tapproval\t1440.00\t1440.00\tpaid\tDeposit",
        "2\tby 2026-11-25 09:00 UTC\t1920.00\t500.00\toverdue\tDesign",
        "3\tacceptance\t1440.00\t0.00\tscheduled\tHandover",
        "due now 1420.00 EUR (overdue) · to fall due later 1440.00 EUR",
    ]


def test_a_time_after_approval_shows_its_date_before_it_falls_due(capsys: pytest.CaptureFixture[str]) -> None:
    later = _bill(3, "Handover", "P30D", "1440.00", falls_due_at=NOW + timedelta(days=10))
    lines = plain(order_view(instalments=[*BILLS[:2], later]), capsys)
    assert "3\tP30D (2026-12-11 09:00 UTC)\t1440.00\t0.00\tscheduled\tHandover" in lines


def test_nothing_due_now_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    paid = BILLS[1].model_copy(update={"paid": Decimal("1920.00"), "status": InstalmentStatus.PAID})
    lines = plain(order_view(instalments=[BILLS[0], paid, BILLS[2]], balance_due=Decimal("0.00")), capsys)
    assert "nothing due now · to fall due later 1440.00 EUR" in lines


def test_without_a_schedule_status_shows_no_instalments(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plain(order_view(instalments=[]), capsys)
    assert "Payment schedule" not in lines


def test_the_schedule_fits_80_columns() -> None:
    long = BILLS[1].model_copy(update={"name": "Design and information architecture, second phase"})
    console = Console(file=io.StringIO(), width=80, record=True, force_terminal=True)
    console.print(order_panel.render_view(order_view(instalments=[BILLS[0], long, BILLS[2]])))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any("Design and inform" in line and "overdue" in line for line in lines)  # the name gives way


def test_status_json_carries_the_instalments() -> None:
    data = order_view().model_dump(mode="json")
    assert [(i["name"], i["due"], i["amount"], i["paid"], i["status"]) for i in data["instalments"]] == [
        ("Deposit", "approval", "1440.00", "1440.00", "paid"),
        ("Design", "milestone:Design", "1920.00", "500.00", "overdue"),
        ("Handover", "acceptance", "1440.00", "0.00", "scheduled"),
    ]
    assert "instalments" not in order_view(instalments=[]).model_dump(mode="json")
