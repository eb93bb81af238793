"""How many new orders one client may start: the contact form's and inbound mail's limit.

Both ``orderweb/portal.py`` and ``orderweb/inbound.py`` use it, so it sits in
neither (inbound is served by the portal, and must not import it back).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Final

CONTACT_LIMIT: Final = 5
CONTACT_WINDOW: Final = timedelta(minutes=10)
"""At most ``CONTACT_LIMIT`` contact forms per client address per window."""


class RateLimiter:
    """At most ``limit`` hits per key in a sliding ``window`` (in memory, per process)."""

    def __init__(self, limit: int, window: timedelta, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window.total_seconds()
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle clients
            for idle in [k for k, v in self._hits.items() if not v]:
                del self._hits[idle]
        return True
