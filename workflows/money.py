"""What an amount may look like in each currency, following Stripe's lists.

The confirmation is checked against these when it is issued, so an order can
never be approved for an amount its currency cannot carry (JPY 499.50), and
the Stripe gateway converts to minor units with the same tables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

# fmt: off
ISO_4217_CURRENCIES: Final = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
})
# fmt: on
"""Active ISO 4217 codes that are money a customer can pay in.

Left out on purpose: ``XXX`` (no currency) and ``XTS`` (testing); precious
metals (``XAU``, ``XAG``, ``XPT``, ``XPD``); units of account and bond-market
units (``XDR``, ``XSU``, ``XUA``, ``XBA``-``XBD``); fund codes (``BOV``,
``CHE``, ``CHW``, ``CLF``, ``COU``, ``MXV``, ``USN``, ``UYI``, ``UYW``); and
withdrawn codes (``HRK``, ``SLL``, ``ZWL``, ``CUC``). ``ANG`` stays while it is
replaced by ``XCG``. Stripe charges a subset of these; a code Stripe refuses
fails at the charge, with Stripe's own message.
"""

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
