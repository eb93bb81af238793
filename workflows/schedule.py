"""A payment schedule's instalments: when each falls due and how much it is.

Pure and deterministic (Decimal arithmetic only), so the workflow, its email
contexts and the portal all work out the same amounts from the same terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final, Protocol

from workflows.money import whole_units_only

DUE_EVENTS: Final = ("approval", "delivery", "acceptance")
"""Events an instalment can fall due on, besides a milestone and a time after approval."""
MILESTONE_PREFIX: Final = "milestone:"
MAX_INSTALMENTS: Final = 24


class Share(Protocol):
    """What an instalment contributes to the amounts: a percent of the total or an amount."""

    @property
    def percent(self) -> Decimal | None: ...

    @property
    def amount(self) -> Decimal | None: ...


def minor_unit(currency: str) -> Decimal:
    """The smallest amount the currency can be charged in: JPY 1, EUR 0.01.

    Three-decimal currencies (KWD) are 0.01 too: Stripe wants their last digit 0,
    and ``money.amount_problem`` refuses a thousandth."""
    return Decimal(1) if whole_units_only(currency) else Decimal("0.01")


def instalment_amounts(total: Decimal, currency: str, schedule: Sequence[Share]) -> list[Decimal]:
    """Each instalment's amount. A percent share is rounded down to the currency's
    smallest unit; an amount stays as it is; the last instalment takes what is left,
    so the amounts always add up to ``total`` and no share is ever more than its percent.

    Raises ``ValueError`` when the instalments before the last come to more than the
    total (only a schedule the confirmation's validation refuses can do that)."""
    if not schedule:
        return []
    step = minor_unit(currency)
    amounts = [_share(total, step, instalment) for instalment in schedule[:-1]]
    rest = total - sum(amounts, Decimal(0))
    if rest < 0:
        raise ValueError(f"the instalments before the last come to {total - rest}, more than the total {total}")
    return [*amounts, rest]


def _share(total: Decimal, step: Decimal, instalment: Share) -> Decimal:
    if instalment.amount is not None:
        return instalment.amount
    percent = instalment.percent if instalment.percent is not None else Decimal(0)
    return (total * percent / 100).quantize(step, rounding=ROUND_DOWN)


# --------------------------------------------------------------------------
# When an instalment falls due
# --------------------------------------------------------------------------


def milestone_of(due: str) -> str | None:
    """The milestone ``milestone:Design`` names (``Design``), or ``None`` for any other due."""
    if not due.startswith(MILESTONE_PREFIX):
        return None
    return due.removeprefix(MILESTONE_PREFIX).strip() or None


# --------------------------------------------------------------------------
# As emails and pages show it
# --------------------------------------------------------------------------


class Row(Share, Protocol):
    """An instalment as it is shown: a name and when it falls due, besides its share."""

    @property
    def name(self) -> str: ...

    @property
    def due(self) -> str: ...


def schedule_rows(total: Decimal, currency: str, schedule: Sequence[Row]) -> list[dict[str, Any]]:
    """The schedule as emails and pages show it: name, percent, due and amount, JSON-ready."""
    amounts = instalment_amounts(total, currency, schedule)
    return [
        {
            "name": instalment.name,
            "percent": None if instalment.percent is None else str(instalment.percent),
            "due": instalment.due,
            "amount": str(amount),
        }
        for instalment, amount in zip(schedule, amounts, strict=True)
    ]
