"""What a key store holds, for every kind of store: one order's key row, the store's interface,
and the kinds of records kept beside the keys (see ``key_store.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

HOLD_RECORD: Final = "hold"
"""A legal hold (``orders hold``): the latest one of an order decides whether it may be erased."""
ERASURE_RECORD: Final = "erasure"
"""What ``orders erase`` did, kept for as long as the company must show it."""


@dataclass(frozen=True)
class StoredKey:
    """One order's row: its wrapped key, or the time it was destroyed."""

    workflow_id: str
    master_key_id: str | None
    wrapped: bytes | None
    created_at: datetime
    erased_at: datetime | None = None

    @classmethod
    def live(cls, workflow_id: str, master_key_id: str, wrapped: bytes, at: datetime) -> StoredKey:
        return cls(workflow_id, master_key_id, wrapped, at)


class KeyStore(Protocol):
    """What per-order keys need from a store. Blocking calls: ``OrderKeys`` runs them in a thread."""

    def describe(self) -> str:
        """Where it is, without credentials, for messages."""
        ...

    def fetch(self, workflow_id: str) -> StoredKey | None: ...

    def insert(self, key: StoredKey) -> StoredKey:
        """Store ``key`` unless the order has a row already; return the row that stands."""
        ...

    def destroy(self, workflow_id: str, at: datetime) -> StoredKey | None:
        """Remove the key material for good (idempotent); the row that stands, None if there was none."""
        ...

    def add_record(self, kind: str, order_id: str, at: datetime, body: str) -> None:
        """Keep a record beside the keys (``hold``, ``erasure``): JSON without personal data."""
        ...

    def records(self, kind: str, order_id: str) -> list[str]:
        """The records of one kind for one order, oldest first."""
        ...
