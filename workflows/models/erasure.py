"""Erasing an order's personal data (``orders erase``): the request, the legal hold that
stops it, and the record it leaves, which names what was erased and holds no personal data."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from workflows.models.fields import Model, OrderId, ShortText

__all__ = ["EraseOrderInput", "ErasedPart", "ErasureRecord", "LegalHold"]


class EraseOrderInput(Model):
    order_id: OrderId
    reason: ShortText
    """Why, for the record: the request's reference, not the customer's name."""
    operator: ShortText
    """Who asked for it: the staff member or system."""


class ErasedPart(Model):
    """One place the order's personal data was: what erasure did there."""

    place: str
    """``order key``, ``outbox``, ``email ledger``, ``documents``, ``Stripe``."""
    count: int = Field(ge=0)
    """How many items were removed (0: there were none)."""
    detail: str = ""


class ErasureRecord(Model):
    """What ``orders erase`` leaves: kept for as long as the company must show it erased."""

    order_id: str
    erased_at: datetime
    operator: str
    reason: str
    crypto_shredded: bool
    """The order's own key was destroyed. False for an order that predates per-order keys:
    its history stays readable with the master key until the namespace's retention deletes it."""
    parts: list[ErasedPart] = Field(default_factory=list)


class LegalHold(Model):
    """An operator's hold: no erasure before ``until`` (a dispute, an audit, a tax period)."""

    order_id: OrderId
    until: date
    reason: ShortText
    set_by: ShortText
