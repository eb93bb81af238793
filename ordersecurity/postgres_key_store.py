"""The key store in PostgreSQL: the database compose and Kubernetes already run for Temporal.

Use a database of its own (``orders_keys`` in compose), owned by a role only the
order processes have: Temporal's own role never needs it. The table is the same
as SQLite's (``key_store.py``); psycopg is imported only when a
``postgresql://`` store is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ordersecurity.key_records import StoredKey

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS order_keys (
    workflow_id TEXT PRIMARY KEY,
    master_key_id TEXT,
    wrapped BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    erased_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS privacy_records (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS privacy_records_order ON privacy_records (order_id, kind);
"""
_COLUMNS: Final = "workflow_id, master_key_id, wrapped, created_at, erased_at"


class PostgresKeyStore:
    def __init__(self, url: str) -> None:
        self._url = url
        with self._connect() as db:
            db.execute(_SCHEMA)

    def describe(self) -> str:
        parts = urlsplit(self._url)
        host = parts.hostname or "localhost"
        return urlunsplit((parts.scheme, f"{host}:{parts.port}" if parts.port else host, parts.path, "", ""))

    def _connect(self) -> Any:
        import psycopg

        # One short connection per call, like SQLite's: a key is read once per process and cached.
        return psycopg.connect(self._url, autocommit=True, connect_timeout=10)

    def fetch(self, workflow_id: str) -> StoredKey | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM order_keys WHERE workflow_id = %s", (workflow_id,)).fetchone()
        return _row(row) if row else None

    def insert(self, key: StoredKey) -> StoredKey:
        with self._connect() as db:
            db.execute(
                "INSERT INTO order_keys (workflow_id, master_key_id, wrapped, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (workflow_id) DO NOTHING",
                (key.workflow_id, key.master_key_id, key.wrapped, key.created_at),
            )
        stood = self.fetch(key.workflow_id)
        assert stood is not None
        return stood

    def destroy(self, workflow_id: str, at: datetime) -> StoredKey | None:
        with self._connect() as db:
            db.execute(
                "UPDATE order_keys SET wrapped = NULL, master_key_id = NULL, erased_at = %s "
                "WHERE workflow_id = %s AND erased_at IS NULL",
                (at, workflow_id),
            )
        return self.fetch(workflow_id)

    def add_record(self, kind: str, order_id: str, at: datetime, body: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO privacy_records (kind, order_id, at, body) VALUES (%s, %s, %s, %s)",
                (kind, order_id, at, body),
            )

    def records(self, kind: str, order_id: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT body FROM privacy_records WHERE kind = %s AND order_id = %s ORDER BY id", (kind, order_id)
            ).fetchall()
        return [str(body) for (body,) in rows]


def _row(row: tuple[Any, ...]) -> StoredKey:
    workflow_id, master_key_id, wrapped, created_at, erased_at = row
    return StoredKey(workflow_id, master_key_id, bytes(wrapped) if wrapped is not None else None, created_at, erased_at)
