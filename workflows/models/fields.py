"""The shared field types every model is built from, and the enumerations of an order.

Models carry their own validation, so a bad payload is refused with pydantic's
own wording before it reaches a running order.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from workflows.money import ISO_4217_CURRENCIES

# --------------------------------------------------------------------------
# Shared field types
# --------------------------------------------------------------------------

EMAIL_PATTERN = r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}$"
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


JOINERS: Final = frozenset({"\u200c", "\u200d"})
"""Zero-width non-joiner and joiner: part of how Persian and Indic names are
spelled, so they pass between two letters; anywhere else they only hide."""


def _visible(value: str) -> str:
    """Refuse control characters (Cc: newlines, escapes) and invisible format
    characters (Cf: bidi overrides and isolates, zero-width spaces, BOM).

    Short texts end up in email headers (``To: "name" <address>``) and in
    one-line listings, where a U+202E reverses what a reader sees and a newline
    starts a new header.
    """
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if category not in ("Cc", "Cf"):
            continue
        if char in JOINERS and 0 < index < len(value) - 1 and _letter(value[index - 1]) and _letter(value[index + 1]):
            continue
        name = unicodedata.name(char, "control character")
        kind = "a control character" if category == "Cc" else "an invisible formatting character"
        raise ValueError(f"contains {kind} (U+{ord(char):04X} {name}); remove it")
    return value


def _letter(char: str) -> bool:
    return unicodedata.category(char)[0] in ("L", "M")


def _ascii_digits(value: Any) -> Any:
    """Python's ``Decimal`` reads any script's digits (Arabic-Indic ``"\\u0661\\u0660\\u0660"`` is 100); an
    amount a person cannot check at a glance is refused."""
    if isinstance(value, str) and not value.isascii():
        raise ValueError("write amounts with the digits 0-9, a '.' for decimals and no other characters")
    return value


CENTS = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    """``1e2`` is stored as ``100.00``, never ``1E+2``."""
    return value.quantize(CENTS)


def _plain(value: Decimal) -> Decimal:
    """A quantity without an exponent: ``2E+1`` is ``20``."""
    return value.quantize(Decimal(1)) if int(value.as_tuple().exponent) > 0 else value


def _iso_currency(value: str) -> str:
    if value not in ISO_4217_CURRENCIES:
        raise ValueError(f"{value} is not an ISO 4217 currency code")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
"""Free text that must say something: blank or whitespace-only is refused."""

ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_visible)
]
"""One line: names, subjects, references. No control or invisible characters."""
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254), AfterValidator(_visible)]
OrderId = Annotated[str, Field(pattern=ORDER_ID_PATTERN)]
Money = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(max_digits=14, decimal_places=2), AfterValidator(_two_places)
]
PositiveMoney = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(gt=0, max_digits=14, decimal_places=2), AfterValidator(_two_places)
]
NonNegativeMoney = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(ge=0, max_digits=14, decimal_places=2), AfterValidator(_two_places)
]
Percent = Annotated[Decimal, BeforeValidator(_ascii_digits), Field(gt=0, le=100, max_digits=5, decimal_places=2)]
"""A share of a total: more than 0, at most 100, at most two decimals (``33.33``)."""
Quantity = Annotated[
    Decimal, BeforeValidator(_ascii_digits), Field(gt=0, max_digits=10, decimal_places=3), AfterValidator(_plain)
]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", json_schema_extra={"enum": sorted(ISO_4217_CURRENCIES)}),
    AfterValidator(_iso_currency),
]
"""An active ISO 4217 code of real money (``workflows/money.py``)."""
Url = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]
MAX_DURATION = timedelta(days=3660)
Duration = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_DURATION)]
"""ISO 8601 on the wire, for example ``P14D`` or ``PT2H``; at most ten years."""
Offset = Annotated[timedelta, Field(ge=-MAX_DURATION, le=MAX_DURATION)]
"""A signed ISO 8601 duration from a date: ``-P3D`` three days before, ``P0D`` on the day, ``P7D`` a week after."""
MAX_TOTAL = Decimal("999999999999.99")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------


class OrderStatus(StrEnum):
    DISCUSSING = "DISCUSSING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    IN_PROGRESS = "IN_PROGRESS"
    AWAITING_ACCEPTANCE = "AWAITING_ACCEPTANCE"
    IN_SUPPORT = "IN_SUPPORT"
    AWAITING_FINAL_PAYMENT = "AWAITING_FINAL_PAYMENT"
    """Support has ended, but instalments of a payment schedule are unpaid: the order completes once they are."""
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.EXPIRED})


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    WEB_FORM = "web_form"
    OTHER = "other"


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    INVOICE = "invoice"


Author = Literal["staff", "customer"]


class ConfirmationState(StrEnum):
    ISSUED = "issued"
    CHANGES_REQUESTED = "changes_requested"
    SUPERSEDED = "superseded"
    APPROVED = "approved"
    EXPIRED = "expired"
