"""The filters that show money, dates and durations in emails and on the portal's pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from jinja2.exceptions import FilterArgumentError

from activities.email_format import (
    format_date,
    format_datetime_utc,
    format_duration,
    format_instalment_due,
    format_money,
)


def test_money() -> None:
    assert format_money("4800", "EUR") == "EUR 4,800.00"
    assert format_money(Decimal("1234567.5"), "USD") == "USD 1,234,567.50"
    assert format_money("0.00", "EUR") == "EUR 0.00"
    assert format_money("-5", "EUR") == "EUR -5.00"
    assert format_money(Decimal("1E+30"), "EUR") == "EUR 1,000,000,000,000,000,000,000,000,000,000.00"


def test_money_shows_each_currency_with_its_own_minor_digits() -> None:
    # The digits the order is charged in (workflows/money.py, Stripe's lists).
    assert format_money(Decimal("1000.00"), "JPY") == "JPY 1,000"
    assert format_money("1234.5", "EUR") == "EUR 1,234.50"
    assert format_money("5.12", "KWD") == "KWD 5.120"
    assert format_money("1.5", "BHD") == "BHD 1.500"
    # CLDR shows HUF without decimals, but Stripe charges fillér: nothing is rounded away.
    assert format_money("499.50", "HUF") == "HUF 499.50"
    # A fraction a zero-decimal currency cannot carry is still shown, not rounded away.
    assert format_money("499.5", "JPY") == "JPY 499.5"


def test_dates() -> None:
    moment = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    assert format_date(moment) == "26 Nov 2026"
    assert format_date("2026-11-06T10:00:00+00:00") == "6 Nov 2026"
    assert format_datetime_utc("2026-11-26T14:05:00Z") == "26 Nov 2026, 14:05 UTC"
    assert format_datetime_utc("2026-11-26T15:05:00+01:00") == "26 Nov 2026, 14:05 UTC"


def test_durations() -> None:
    assert format_duration("P14D") == "14 days"
    assert format_duration("PT2H") == "2 hours"
    assert format_duration("P1D") == "1 day"
    assert format_duration(timedelta(days=1, hours=12)) == "1 day and 12 hours"


@pytest.mark.parametrize(
    ("due", "words"),
    [
        ("approval", "on approval"),
        ("milestone:Design", "when milestone Design is completed"),
        ("delivery", "on delivery"),
        ("acceptance", "on acceptance"),
        ("P30D", "30 days after approval"),
        ("P1DT12H", "1 day and 12 hours after approval"),
        ("change:v3", "on approval of change order 3"),
    ],
)
def test_when_an_instalment_falls_due_in_words(due: str, words: str) -> None:
    assert format_instalment_due(due) == words


@pytest.mark.parametrize("due", ["monthly", "P", None, "change:v", "change:vX"])
def test_an_instalment_due_it_cannot_show_is_refused(due: object) -> None:
    with pytest.raises(FilterArgumentError, match="instalment_due"):
        format_instalment_due(due)
