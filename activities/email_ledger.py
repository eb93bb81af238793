"""A durable record of the messages handed to SendGrid, by message key.

SendGrid's Mail Send API has no idempotency key: a request sent again is a
second email. What the worker can do is know, across retries, restarts and
workers sharing the file, what happened to each earlier attempt:

- ``accepted``: SendGrid answered 2xx. A retry returns the recorded message id
  and sends nothing.
- ``failed``: SendGrid answered with a refusal or an error, or the connection
  failed before the request was sent. It did not accept it; a retry sends.
- ``sending``: an attempt is waiting for SendGrid's answer, or its worker died
  waiting. A retry within ``answer_wait`` of its start waits for that answer
  instead of sending a second copy; after it, the retry sends again.
- ``unknown``: the attempt ended without an answer (a timeout, a connection
  cut after the request left). SendGrid may have accepted it; nobody can tell,
  so the retry sends again: at least once, logged.

Rows are SQLite (``ORDERS_EMAIL_LEDGER``), one short transaction per change,
so several threads and processes can share the file. They are kept for
``KEEP`` (the workflow's email retry window, ``EMAIL_GIVE_UP``, plus a margin)
and pruned after.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal

State = Literal["sending", "accepted", "failed", "unknown"]

KEEP: Final = timedelta(hours=7)
"""The workflow gives up on an email after 6 h (``EMAIL_GIVE_UP``); no retry comes later."""

PRUNE_EVERY: Final = 500
"""Prune after this many new attempts, besides once when the ledger opens."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    message_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    message_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    finished_at REAL
)
"""


@dataclass(frozen=True)
class Entry:
    message_key: str
    state: State
    message_id: str | None
    attempts: int
    started_at: float
    finished_at: float | None


class SentLedger:
    """Message keys and what became of their last attempt (see the module docstring)."""

    def __init__(self, path: Path | str, *, keep: timedelta = KEEP) -> None:
        self.path = Path(path)
        self.keep = keep
        self._closed = threading.Event()
        self._new_attempts = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        self.prune()

    def __repr__(self) -> str:
        return f"SentLedger({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: callers are threads (asyncio.to_thread) and processes.
        with closing(sqlite3.connect(self.path, timeout=10.0, isolation_level=None)) as db:
            yield db

    def close(self) -> None:
        """Record nothing more (a worker that stops; the bench's killed worker)."""
        self._closed.set()

    def get(self, message_key: str) -> Entry | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT message_key, state, message_id, attempts, started_at, finished_at FROM sent "
                "WHERE message_key = ?",
                (message_key,),
            ).fetchone()
        return Entry(*row) if row else None

    def start(self, message_key: str, now: float | None = None) -> None:
        """An attempt is about to send: recorded before the request leaves."""
        if self._closed.is_set():
            return
        moment = time.time() if now is None else now
        with self._connect() as db:
            db.execute(
                "INSERT INTO sent (message_key, state, attempts, started_at) VALUES (?, 'sending', 1, ?) "
                "ON CONFLICT (message_key) DO UPDATE SET state = 'sending', attempts = attempts + 1, "
                "started_at = excluded.started_at, finished_at = NULL",
                (message_key, moment),
            )
        self._new_attempts += 1
        if self._new_attempts % PRUNE_EVERY == 0:
            self.prune()

    def finish(self, message_key: str, state: State, message_id: str | None = None) -> None:
        """What SendGrid answered. An ``accepted`` row is never downgraded."""
        if self._closed.is_set():
            return
        with self._connect() as db:
            db.execute(
                "UPDATE sent SET state = ?, message_id = ?, finished_at = ? "
                "WHERE message_key = ? AND state != 'accepted'",
                (state, message_id, time.time(), message_key),
            )

    def prune(self, now: float | None = None) -> int:
        """Forget attempts started more than ``keep`` ago; how many went."""
        moment = time.time() if now is None else now
        with self._connect() as db:
            cursor = db.execute("DELETE FROM sent WHERE started_at < ?", (moment - self.keep.total_seconds(),))
        return cursor.rowcount

    def erase_order(self, workflow_id: str) -> int:
        """Forget every attempt of one order (``orders erase``); how many went. Message keys start
        with the order's workflow id (``order-ORD-1:email:3:...``)."""
        prefix = f"{workflow_id}:"
        with self._connect() as db:
            cursor = db.execute("DELETE FROM sent WHERE substr(message_key, 1, ?) = ?", (len(prefix), prefix))
        return cursor.rowcount

    def __len__(self) -> int:
        with self._connect() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM sent").fetchone()
        return int(count)
