"""What an amount may look like in each currency, following Stripe's lists.

The confirmation is checked against these when it is issued, so an order can
never be approved for an amount its currency cannot carry (JPY 499.50), and
the Stripe gateway converts to minor units with the same tables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

ZERO_DECIMAL_CURRENCIES: Final = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
"""Amounts are whole units: JPY 500 is ``500``."""

THREE_DECIMAL_CURRENCIES: Final = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
"""Amounts are thousandths, and Stripe wants the last digit 0: KWD 5.12 is ``5120``."""

WHOLE_UNIT_TWO_DECIMAL_CURRENCIES: Final = frozenset({"ISK"})
"""Two decimals on the wire, but only whole units are accepted: ISK 5 is ``500``."""


def exponent(currency: str) -> int:
    """Digits after the decimal point on Stripe's wire: 0 for JPY, 3 for KWD, else 2."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def whole_units_only(currency: str) -> bool:
    code = currency.upper()
    return code in ZERO_DECIMAL_CURRENCIES or code in WHOLE_UNIT_TWO_DECIMAL_CURRENCIES


def amount_problem(amount: Decimal, currency: str) -> str | None:
    """Why ``amount`` cannot be charged in ``currency``, or ``None`` when it can."""
    code = currency.upper()
    if whole_units_only(code):
        if amount != amount.to_integral_value():
            return f"{code} {amount} cannot be charged: {code} amounts must be whole units"
        return None
    # Three-decimal currencies take at most two significant decimals at Stripe (the last digit is 0).
    places = 2
    scaled = amount * (Decimal(10) ** places)
    if scaled != scaled.to_integral_value():
        return f"{code} {amount} has more decimals than {code} allows"
    return None
