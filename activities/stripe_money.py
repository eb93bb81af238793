"""Decimal amounts to Stripe's minor units and back.

The currency tables live in workflows/money.py, which also checks a
confirmation's amounts when it is issued.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio.exceptions import ApplicationError

from workflows.money import exponent, whole_units_only


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``to_minor_units(Decimal("48.00"), "EUR")`` is ``4800``; JPY 500 is ``500``.

    Raises a non-retryable ``ApplicationError`` (type ``StripeInvalidAmount``)
    for an amount the currency cannot carry, such as JPY 10.50.
    """
    code = currency.upper()
    scaled = amount * (Decimal(10) ** exponent(code))
    whole = whole_units_only(code)
    if scaled != scaled.to_integral_value() or (whole and amount != amount.to_integral_value()):
        raise ApplicationError(
            f"{code} {amount} cannot be charged: {code} amounts must be whole units"
            if whole
            else f"{code} {amount} has more decimals than {code} allows",
            type="StripeInvalidAmount",
            non_retryable=True,
        )
    return int(scaled)


def from_minor_units(amount: int, currency: str) -> Decimal:
    """``from_minor_units(4800, "eur")`` is ``Decimal("48.00")``; JPY 500 is ``Decimal("500.00")``."""
    return (Decimal(amount) / (Decimal(10) ** exponent(currency))).quantize(Decimal("0.01"))
