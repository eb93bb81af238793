"""``orders status`` shows the contract's history once the order has change orders (issue 20), without a server.

Each approved version, oldest first, with when it was approved, its total and what it
changed, the one in force marked; a change order's state in the confirmations says what
it changes. An order without change orders shows exactly what it showed before.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rich.console import Console

from starter import order_panel
from tests.helpers import draft
from workflows.models import Confirmation, ConfirmationState, Customer, OrderView

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


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
V3 = _version(
    3,
    "5100.00",
    ConfirmationState.CHANGES_REQUESTED,
    change_of=2,
    changes=["total EUR 5300.00 -> 5100.00"],
    comments="No, keep the SSO.",
)
V4 = _version(4, "5900.00", ConfirmationState.ISSUED, change_of=2, changes=["line added: Audit (EUR 600.00)"])


def order_view(*confirmations: Confirmation, approved: int = 2) -> OrderView:
    return OrderView.model_validate(
        {
            "order_id": "42",
            "status": "IN_PROGRESS",
            "customer": Customer(name="Ada Lovelace", email="ada@example.com"),
            "channel": "web_form",
            "created_at": NOW - timedelta(days=45),
            "first_message": "We need our booking website redesigned.",
            "confirmations": list(confirmations),
            "version": confirmations[-1].version,
            "approved_version": approved,
            "currency": "EUR",
            "total": Decimal("5300.00"),
        }
    )


def plain(view: OrderView, capsys: pytest.CaptureFixture[str]) -> list[str]:
    order_panel.show(order_panel.render_view(view))
    return capsys.readouterr().out.splitlines()


def test_status_lists_each_approved_version_and_what_it_changed(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plain(order_view(V1, V2, V3, V4), capsys)
    start = lines.index("Contract")
    assert lines[start + 1 : start + 4] == [
        "Version\tApproved\tTotal\tIn force\tWhat it changed",
        "1\t-\t4800.00 EUR\t\tfirst approved version",
        "2\t2026-11-13 09:00 UTC\t5300.00 EUR\tin force\ttotal EUR 4800.00 -> 5300.00; line added: SSO (EUR 500.00)",
    ]
    assert lines[start + 4] == ""  # only approved versions: the declined and the open change order are not


def test_the_version_in_force_is_the_one_the_order_names(capsys: pytest.CaptureFixture[str]) -> None:
    # A change order approved is in force; were the order to name an older one, that is the one marked.
    lines = plain(order_view(V1, V2, approved=1), capsys)
    start = lines.index("Contract")
    assert lines[start + 2].split("\t")[3] == "in force"
    assert lines[start + 3].split("\t")[3] == ""


def test_a_change_orders_state_says_what_it_changes(capsys: pytest.CaptureFixture[str]) -> None:
    expired = V4.model_copy(update={"state": ConfirmationState.EXPIRED})
    lines = plain(order_view(V1, V2, V3, V4), capsys)
    start = lines.index("Confirmations")
    states = [line.split("\t")[3] for line in lines[start + 2 : start + 6]]
    assert states == [
        "approved",
        "change order of v1: approved",
        "change order of v2: declined",
        "change order of v2: issued",
    ]
    lines = plain(order_view(V1, V2, V3, expired), capsys)
    assert "change order of v2: expired" in lines[lines.index("Confirmations") + 5]


def test_without_change_orders_there_is_no_contract_table(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plain(order_view(V1, approved=1), capsys)
    assert "Contract" not in lines
    assert lines[lines.index("Confirmations") + 2].split("\t")[3] == "approved"


def test_what_a_version_changed_wraps_and_is_never_cut() -> None:
    many = [f"line added: Integration with booking partner number {n} (EUR 100.00)" for n in range(1, 4)]
    view = order_view(V1, V2.model_copy(update={"changes": many}))
    console = Console(file=io.StringIO(), width=80, record=True, force_terminal=True)
    console.print(order_panel.render_view(view))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    start = next(n for n, line in enumerate(lines) if "Contract" in line)
    end = next(n for n, line in enumerate(lines) if "Confirmations" in line)  # the table after it
    words = " ".join(" ".join(line.strip(" │").split()) for line in lines[start:end])
    assert "; ".join(many) in words
