"""How emails and the portal's pages show values: money, dates, durations, labels.

Jinja filters (``{{ amount|money(currency) }}``, ``{{ due_at|datetime }}``,
``{{ term|duration }}``, ``{{ instalment.due|instalment_due }}``, ``{{ instalment.due|instalment_event }}``)
and the ``web_url`` test, which ``with_formatting``
installs in a template environment, so the same amount or date reads the same
in an email and on the portal. Each filter refuses a value it cannot show with
a ``FilterArgumentError`` naming the filter and the value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from babel.numbers import format_decimal
from jinja2 import Environment
from jinja2.exceptions import FilterArgumentError
from jinja2.runtime import Undefined
from pydantic import TypeAdapter, ValidationError

from workflows.money import exponent
from workflows.schedule import milestone_of

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATETIME = TypeAdapter(datetime)
_DURATION = TypeAdapter(timedelta)


def _check_defined(value: Any) -> None:
    # A missing context key arrives as an Undefined; make StrictUndefined say
    # which key it was instead of letting the filter complain about the value.
    if isinstance(value, Undefined):
        str(value)


def _decimal(value: Any, filter_name: str) -> Decimal:
    _check_defined(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            pass
    raise FilterArgumentError(f"{filter_name}: {value!r} is not a decimal amount")


def as_utc(value: Any, filter_name: str) -> datetime:
    _check_defined(value)
    if isinstance(value, str):
        try:
            value = _DATETIME.validate_python(value)
        except ValidationError:
            raise FilterArgumentError(f"{filter_name}: {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise FilterArgumentError(f"{filter_name}: {value!r} is not a date-time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_money(amount: Any, currency: str) -> str:
    """``money("4800", "EUR")`` is ``"EUR 4,800.00"``, ``money("1000", "JPY")`` is ``"JPY 1,000"``,
    ``money("5.12", "KWD")`` is ``"KWD 5.120"``."""
    value = _decimal(amount, "money")
    # The minor digits are the ones the order is charged in (Stripe's lists), not CLDR's: CLDR shows
    # HUF, IDR or COP without decimals and would round away money the order holds. A zero-decimal
    # currency still shows a fraction an amount has (JPY 499.5) rather than hide it.
    places = exponent(str(currency))
    pattern = "#,##0." + "0" * places if places else "#,##0.##"
    # Wide precision: an absurd amount (a webhook's 10^30) is shown as it is, not an error.
    with localcontext(prec=80):
        return f"{currency} {format_decimal(value, pattern, locale='en')}"


def format_date(value: Any) -> str:
    """``"2026-11-26T14:05:00Z"`` is ``"26 Nov 2026"`` (in UTC)."""
    moment = as_utc(value, "date")
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def format_datetime_utc(value: Any) -> str:
    """``"2026-11-26T14:05:00Z"`` is ``"26 Nov 2026, 14:05 UTC"``."""
    moment = as_utc(value, "datetime")
    return f"{format_date(moment)}, {moment:%H:%M} UTC"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def format_duration(value: Any) -> str:
    """``"P14D"`` is ``"14 days"``, ``"PT2H"`` is ``"2 hours"``, ``"P1DT12H"`` is ``"1 day and 12 hours"``."""
    _check_defined(value)
    if isinstance(value, str):
        try:
            value = _DURATION.validate_python(value)
        except ValidationError:
            raise FilterArgumentError(f"duration: {value!r} is not an ISO 8601 duration") from None
    if not isinstance(value, timedelta):
        raise FilterArgumentError(f"duration: {value!r} is not a duration")
    seconds = int(abs(value.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        _plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second")) if n
    ]
    if not parts:
        return "0 minutes"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# How emails word what an instalment's ``due`` names, as a time it falls due ("due") and as what
# happened to make it due ("event"), by its form: an event's name, a milestone, a change order's
# approval (``change:v3``, workflows/instalments.py) or a time after approval (``P30D``).
_DUE_WORDS: dict[str, dict[str, str]] = {
    "due": {
        "approval": "on approval",
        "delivery": "on delivery",
        "acceptance": "on acceptance",
        "milestone": "when milestone {} is completed",
        "change": "on approval of change order {}",
        "after": "{} after approval",
    },
    "event": {
        "approval": "The order is approved",
        "delivery": "The work is delivered",
        "acceptance": "The work is accepted",
        "milestone": "The milestone {} is completed",
        "change": "You approved change order {}",
        "after": "The agreed date has come ({} after approval)",
    },
}


def _due_form(value: Any, filter_name: str) -> tuple[str, str]:
    """An instalment's ``due`` as its form and what it names: ``("milestone", "Design")``."""
    _check_defined(value)
    if isinstance(value, str):
        if value in ("approval", "delivery", "acceptance"):
            return value, ""
        milestone = milestone_of(value)
        if milestone is not None:
            return "milestone", milestone
        version = value.removeprefix("change:v")
        if version != value and version.isdigit():
            return "change", version
        if value.startswith("P"):
            try:
                return "after", format_duration(value)
            except FilterArgumentError:
                pass
    raise FilterArgumentError(f"{filter_name}: {value!r} is not a time an instalment falls due")


def format_instalment_due(value: Any) -> str:
    """When an instalment of a payment schedule falls due, in words: ``"approval"`` is
    ``"on approval"``, ``"milestone:Design"`` is ``"when milestone Design is completed"``,
    ``"P30D"`` is ``"30 days after approval"``, ``"change:v3"`` is ``"on approval of change order 3"``."""
    form, named = _due_form(value, "instalment_due")
    return _DUE_WORDS["due"][form].format(named)


def format_instalment_event(value: Any) -> str:
    """What made an instalment fall due, as the start of a sentence: ``"milestone:Design"`` is
    ``"The milestone Design is completed"``, ``"P30D"`` is ``"The agreed date has come (30 days
    after approval)"``. Its request says so, so the customer sees why it is asked for now."""
    form, named = _due_form(value, "instalment_event")
    return _DUE_WORDS["event"][form].format(named)


_FALLEN_DUE = frozenset({"open", "overdue"})


def due_now(rows: Any) -> list[Any]:
    """The instalments (rows of ``workflows.instalments.row``) still to pay now: those due on
    approval, and any other that has fallen due, that are not paid in full. A payment email names
    them, so the customer sees what its amount is for."""
    _check_defined(rows)
    if not isinstance(rows, list | tuple):
        raise FilterArgumentError(f"due_now: {rows!r} is not a list of instalments")
    try:
        return [
            row
            for row in rows
            if row["status"] != "paid" and (row["due"] == "approval" or row["status"] in _FALLEN_DUE)
        ]
    except (KeyError, TypeError):
        raise FilterArgumentError(f"due_now: {rows!r} is not a list of instalments") from None


def format_label(value: Any) -> str:
    """``"bank_transfer"`` is ``"Bank transfer"``."""
    _check_defined(value)
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def format_number(value: Any) -> str:
    """``"2.500"`` is ``"2.5"``, ``"1.000"`` is ``"1"``."""
    number = _decimal(value, "number")
    text = f"{number.normalize():f}"
    return text


def quote_text(value: Any) -> str:
    """Customer or staff text quoted e-mail style, each line starting with ``> ``."""
    _check_defined(value)
    return "\n".join(f"> {line}".rstrip() for line in str(value).strip().splitlines())


def is_web_url(value: Any) -> bool:
    """Only http(s) addresses become links; anything else is shown as text."""
    return isinstance(value, str) and re.match(r"^https?://\S+$", value, re.IGNORECASE) is not None


def with_formatting(env: Environment) -> Environment:
    """The filters and tests that show money, dates and links the same way in
    emails and on the portal's pages."""
    env.filters.update(
        money=format_money,
        date=format_date,
        datetime=format_datetime_utc,
        duration=format_duration,
        label=format_label,
        number=format_number,
        instalment_due=format_instalment_due,
        instalment_event=format_instalment_event,
        due_now=due_now,
    )
    env.tests["web_url"] = is_web_url
    return env
