"""``orders status`` shows each customer decision with its evidence (issue 21): for each
confirmation version, approved or changes requested, and for each delivery, accepted or a
revision requested, with when, through which channel, by whom, and the PDF's hash. The
client's IP address and user agent are personal data: the operator sees them with
``--json`` only, never in the default view."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from starter import order_panel
from tests.starter.test_cli_output import CUSTOMER, order_view
from workflows.models import OrderView

SHA_V1 = "ab" * 32
SHA_V2 = "cd" * 32
IP = "203.0.113.7"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) Chromium/140"


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def _portal(day: int, version: int, sha: str | None, agreed: bool) -> dict[str, object]:
    return {
        "channel": "portal",
        "link_id": "f00dfeed",
        "client_ip": IP,
        "user_agent": AGENT,
        "agreed_to_terms": agreed,
        "document_sha256": sha,
        "at": _at(day),
        "email": CUSTOMER,
        "version": version,
    }


def _confirmation(version: int, **fields: object) -> dict[str, object]:
    return {
        "version": version,
        "issued_at": _at(version),
        "amount_total": "4800.00",
        "currency": "EUR",
        "line_items": [{"description": "Website redesign", "unit_price": "4800.00"}],
        **fields,
    }


def _view() -> OrderView:
    return order_view(
        status="IN_SUPPORT",
        confirmations=[
            _confirmation(
                1,
                state="changes_requested",
                comments="Add a blog",
                comments_at=_at(3),
                decision=_portal(3, 1, SHA_V1, agreed=False),
            ),
            _confirmation(
                2,
                state="approved",
                approved_at=_at(5),
                decision={"channel": "cli", "by": "Grace Hopper", "at": _at(5), "email": CUSTOMER, "version": 2},
            ),
            _confirmation(3, state="issued"),  # not decided yet: no row
        ],
        approved_version=2,
        deliveries=[
            {"at": _at(20), "round": 1, "summary": "Staging", "decision": _portal(21, 1, None, agreed=False)},
            {"at": _at(24), "round": 2, "summary": "Fixed", "decision": {"channel": "client", "at": _at(25)}},
            {"at": _at(26), "round": 3, "summary": "Old order"},  # accepted before evidence: no row
        ],
        revisions=[{"at": _at(21), "round": 1, "comments": "Footer"}],
    )


def _terminal(view: OrderView) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(order_panel.render_view(view))
    return console.export_text()


def _piped(view: OrderView, capsys: pytest.CaptureFixture[str]) -> list[str]:
    order_panel.show(order_panel.render_view(view))
    return capsys.readouterr().out.splitlines()


def test_status_lists_each_decision_with_when_channel_and_by(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _piped(_view(), capsys)
    start = lines.index("Customer decisions")
    assert lines[start + 1].split("\t") == ["At", "On", "Decision", "Channel", "PDF", "By"]
    rows = [line.split("\t") for line in lines[start + 2 : start + 6]]
    assert rows == [
        ["2026-11-03 10:00 UTC", "v1", "changes requested", "portal", SHA_V1[:8], CUSTOMER],
        ["2026-11-05 10:00 UTC", "v2", "approved", "cli", "—", "Grace Hopper (staff)"],
        ["2026-11-21 10:00 UTC", "delivery 1", "revision requested", "portal", "—", CUSTOMER],
        ["2026-11-25 10:00 UTC", "delivery 2", "accepted", "client", "—", "—"],
    ]
    assert lines[start + 6 : start + 7] in ([], [""]), "only decided versions and deliveries have a row"


def test_the_evidence_says_the_customer_agreed_to_the_terms(capsys: pytest.CaptureFixture[str]) -> None:
    view = _view()
    view.confirmations[0].decision = view.confirmations[0].decision.model_copy(update={"agreed_to_terms": True})  # type: ignore[union-attr]
    lines = _piped(view, capsys)
    assert any(line.endswith(f"{SHA_V1[:8]}\t{CUSTOMER} · agreed to the terms") for line in lines), lines


def test_ip_address_and_user_agent_are_shown_with_json_only(capsys: pytest.CaptureFixture[str]) -> None:
    view = _view()
    for shown in (_terminal(view), "\n".join(_piped(view, capsys))):
        assert "Customer decisions" in shown
        assert IP not in shown and AGENT not in shown and "Chromium" not in shown
    as_json = view.model_dump_json()
    assert IP in as_json and AGENT in as_json


def test_an_order_without_decisions_has_no_decisions_table(capsys: pytest.CaptureFixture[str]) -> None:
    view = order_view(status="AWAITING_APPROVAL", confirmations=[_confirmation(1, state="issued")], version=1)
    assert "Customer decisions" not in _piped(view, capsys)
