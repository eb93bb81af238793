"""What ``orders`` prints, without a server (issue 17, item 6).

The text of a customer's change request in ``orders status``, every problem of
a confirmation file at once, and request ids that are never broken across
lines when the output is not a terminal.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from starter import cli, order_panel
from starter.action_commands import build_action
from starter.console import CliError
from tests.starter.test_cli_output import order_view
from workflows.models import ActionResult, OrderStatus

AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CHANGES = "Please split the invoice into two payments, half now and half on delivery"
REVISION = "The logo is too small on phones"


def _confirmation(version: int, state: str, comments: str | None = None) -> dict[str, object]:
    return {
        "version": version,
        "issued_at": AT,
        "amount_total": "4800.00",
        "currency": "EUR",
        "line_items": [{"description": "Website redesign", "unit_price": "4800.00"}],
        "state": state,
        "comments": comments,
    }


def _with_requests() -> object:
    return order_view(
        status="AWAITING_APPROVAL",
        confirmations=[_confirmation(1, "changes_requested", CHANGES), _confirmation(2, "issued")],
        version=2,
        revisions=[{"at": AT, "round": 1, "comments": REVISION}],
    )


def test_status_shows_the_text_of_change_requests_and_revisions(capsys: pytest.CaptureFixture[str]) -> None:
    view = _with_requests()
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(order_panel.render_view(view))  # type: ignore[arg-type]
    shown = console.export_text()
    assert CHANGES in shown and REVISION in shown, shown

    order_panel.show(order_panel.render_view(view))  # type: ignore[arg-type]
    piped = capsys.readouterr().out
    assert CHANGES in piped and REVISION in piped, piped


def test_a_request_id_is_never_broken_across_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The id that the exit-5 advice says to reuse must survive a pipe at 80 columns whole."""
    request_id = "retry-" + "0123456789abcdef" * 6  # longer than the width
    printed = io.StringIO()
    monkeypatch.setattr("starter.console.out", Console(file=printed, width=80))
    result = ActionResult(order_id="42", status=OrderStatus.AWAITING_PAYMENT, applied=True)
    cli.print_result("record_payment", result, request_id)
    cli.print_result("record_payment", result.model_copy(update={"applied": False}), request_id)
    lines = printed.getvalue().splitlines()
    assert sum(request_id in line for line in lines) == 2, lines


def test_a_confirmation_file_with_several_problems_names_them_all(tmp_path: Path) -> None:
    """Cross-field checks (amounts the currency cannot carry, the fee) used to stop at the first."""
    confirmation = json.loads((Path(__file__).resolve().parents[2] / "examples" / "confirmation.json").read_text())
    confirmation["currency"] = "JPY"
    confirmation["line_items"] = [
        {"description": "Design", "quantity": 1, "unit_price": "1000.50"},
        {"description": "Build", "quantity": 1, "unit_price": "2000.25"},
    ]
    confirmation["terms"]["cancellation_fee"] = str(Decimal("5000.00"))
    path = tmp_path / "confirmation.json"
    path.write_text(json.dumps(confirmation))
    with pytest.raises(CliError) as caught:
        build_action(cli.parse_args(["confirm", "42", "--file", str(path)]))
    message = caught.value.message
    for field in ("line_items.0.unit_price", "line_items.1.unit_price", "terms.cancellation_fee"):
        assert field in message, message
