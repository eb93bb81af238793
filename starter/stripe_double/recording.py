"""Layer 1: every request the double receives, as it arrived, and what it was answered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    received_at: float
    status: int | None = None
    """The answer's status; 0 when the connection was dropped, None while held."""
    replayed: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def idempotency_key(self) -> str | None:
        return self.header("Idempotency-Key")
