"""Layer 4: the answers saved for idempotency keys, scoped to the API key, as Stripe keeps them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from starter.stripe_double.errors import StripeApiError, error_body

Scope = tuple[str, str]
"""``(API key, Idempotency-Key)``."""
Fingerprint = tuple[Any, ...]
"""A request's method, path and parameters: what a replay must match."""


@dataclass
class Saved:
    fingerprint: Fingerprint
    status: int
    body: dict[str, Any]


class SavedAnswers:
    """Each key's stored answer, and the keys whose first request is still running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saved: dict[Scope, Saved] = {}
        self._in_progress: set[Scope] = set()

    def begin(self, scope: Scope, fingerprint: Fingerprint) -> Saved | None:
        """The answer to replay for the key, or None for a new key, which is now in progress.

        Raises ``StripeApiError``: 409 ``idempotency_key_in_use`` while the key's first request
        runs, 400 ``idempotency_error`` when the key was first used with other parameters."""
        key = scope[1]
        with self._lock:
            saved = self._saved.get(scope)
            if saved is None and scope in self._in_progress:
                raise StripeApiError(
                    409,
                    error_body(
                        "idempotency_error",
                        "There is currently another in-progress request using this Idempotent Key (that probably "
                        "means you submitted twice, and the other request is still going through): "
                        f"{key}. Please try again later.",
                        code="idempotency_key_in_use",
                    ),
                )
            if saved is None:
                self._in_progress.add(scope)
                return None
        if saved.fingerprint != fingerprint:
            raise StripeApiError(
                400,
                error_body(
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                ),
            )
        return saved

    def save(self, scope: Scope, saved: Saved) -> None:
        with self._lock:
            self._saved[scope] = saved

    def end(self, scope: Scope) -> None:
        """The key's first request is over, answered or not."""
        with self._lock:
            self._in_progress.discard(scope)
