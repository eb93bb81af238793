"""Where the orders' wrapped data keys live: a table in a database that outlives workers.

``ORDERS_KEY_STORE`` names it:

- ``sqlite:///ABSOLUTE/PATH`` or a plain file path: SQLite, what ``orders dev``
  uses (``.orders/order-keys.sqlite3``). Every process on the machine (worker,
  CLI, portal, codec server) opens the same file; WAL mode lets them read while
  one writes.
- ``postgresql://USER:PASSWORD@HOST/DB``: PostgreSQL, the database compose and
  Kubernetes already run for Temporal (a database of its own in it).

Unset, the local store is used if ``orders dev`` made one in the working
directory. Without a store, there are no per-order keys: payloads are encrypted with the master key
alone, as before, and orders cannot be erased by destroying a key.

The table holds only wrapped keys (see ``order_keys.py``); a destroyed key keeps
its row, with the time it was destroyed and no key material. A KMS can take the
store's place by implementing ``KeyStore`` (docs/privacy.md).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Final

from ordersecurity.key_records import ERASURE_RECORD as ERASURE_RECORD
from ordersecurity.key_records import HOLD_RECORD as HOLD_RECORD
from ordersecurity.key_records import KeyStore as KeyStore
from ordersecurity.key_records import StoredKey as StoredKey

STORE_ENV: Final = "ORDERS_KEY_STORE"
LOCAL_STORE: Final = Path(".orders") / "order-keys.sqlite3"
"""The store ``orders dev`` sets up next to its Temporal database."""


class KeyStoreError(ValueError):
    """``ORDERS_KEY_STORE`` names something unusable; the message says what."""


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS order_keys (
    workflow_id TEXT PRIMARY KEY,
    master_key_id TEXT,
    wrapped BLOB,
    created_at TEXT NOT NULL,
    erased_at TEXT
);
CREATE TABLE IF NOT EXISTS privacy_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS privacy_records_order ON privacy_records (order_id, kind);
"""


class SqliteKeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=wal")
            db.executescript(_SCHEMA)

    def describe(self) -> str:
        return f"sqlite://{self.path.resolve()}"  # sqlite:///ABSOLUTE/PATH

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short connection per call: calls are rare (a key is cached once read), and
        # a connection is not shared across the threads asyncio.to_thread uses.
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def fetch(self, workflow_id: str) -> StoredKey | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT workflow_id, master_key_id, wrapped, created_at, erased_at FROM order_keys "
                "WHERE workflow_id = ?",
                (workflow_id,),
            ).fetchone()
        return _row(row) if row else None

    def insert(self, key: StoredKey) -> StoredKey:
        with self._connect() as db:
            db.execute(
                "INSERT INTO order_keys (workflow_id, master_key_id, wrapped, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (workflow_id) DO NOTHING",
                (key.workflow_id, key.master_key_id, key.wrapped, key.created_at.isoformat()),
            )
        stood = self.fetch(key.workflow_id)
        assert stood is not None
        return stood

    def destroy(self, workflow_id: str, at: datetime) -> StoredKey | None:
        with self._connect() as db:
            db.execute(
                "UPDATE order_keys SET wrapped = NULL, master_key_id = NULL, erased_at = ? "
                "WHERE workflow_id = ? AND erased_at IS NULL",
                (at.isoformat(), workflow_id),
            )
        return self.fetch(workflow_id)

    def add_record(self, kind: str, order_id: str, at: datetime, body: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO privacy_records (kind, order_id, at, body) VALUES (?, ?, ?, ?)",
                (kind, order_id, at.isoformat(), body),
            )

    def records(self, kind: str, order_id: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT body FROM privacy_records WHERE kind = ? AND order_id = ? ORDER BY id", (kind, order_id)
            ).fetchall()
        return [body for (body,) in rows]


def _row(row: tuple[str, str | None, bytes | None, str, str | None]) -> StoredKey:
    workflow_id, master_key_id, wrapped, created_at, erased_at = row
    return StoredKey(
        workflow_id,
        master_key_id,
        bytes(wrapped) if wrapped is not None else None,
        datetime.fromisoformat(created_at),
        datetime.fromisoformat(erased_at) if erased_at else None,
    )


def open_store(url: str) -> KeyStore:
    """The store ``url`` names (see the module's docstring), its table made; ``KeyStoreError`` says
    why it cannot be opened."""
    if "://" in url and not url.startswith(("postgresql://", "postgres://", "sqlite:///")):
        scheme = url.partition("://")[0]
        raise KeyStoreError(f"{STORE_ENV}: {scheme!r} is not a key store (sqlite:/// or postgresql://)")
    try:
        if url.startswith(("postgresql://", "postgres://")):
            from ordersecurity.postgres_key_store import PostgresKeyStore

            return PostgresKeyStore(url)
        path = url.removeprefix("sqlite://")
        # sqlite:///ABS and sqlite:////ABS (SQLAlchemy's spelling) both name /ABS.
        return SqliteKeyStore(Path("/" + path.lstrip("/") if path.startswith("/") else path))
    except Exception as error:  # the driver's own errors: sqlite3.Error, OSError, psycopg.Error
        where = url.split("@")[-1] if "@" in url else url  # never a password written in the address
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise KeyStoreError(f"{STORE_ENV}: cannot open the key store {where}: {detail}") from None


def store_url_from_environment() -> str | None:
    """``ORDERS_KEY_STORE``; unset, the local store ``orders dev`` made, if it exists (so the CLI in the
    same directory reads what ``orders dev`` wrote); set but empty, none."""
    value = os.environ.get(STORE_ENV)
    if value is None:
        return f"sqlite://{LOCAL_STORE.resolve()}" if LOCAL_STORE.exists() else None
    return value.strip() or None


def ensure_local_store() -> str | None:
    """``orders dev``: the store in force, made in the working directory when ``ORDERS_KEY_STORE`` is unset."""
    if os.environ.get(STORE_ENV) is None:
        SqliteKeyStore(LOCAL_STORE)
    return store_url_from_environment()
