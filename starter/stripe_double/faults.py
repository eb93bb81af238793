"""Scripted faults: in front of the API (layer 2), inside an endpoint, and behind it (layer 6).

Tests script them on the double (``fail_next``, ``drop_next``, ``hold_next``,
``decline_next``, ``require_action_next``, ``chaos``); each request takes the
first matching fault of the kinds its layer looks for.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from starter.stripe_double.errors import error_body
from starter.stripe_double.recording import RecordedRequest


@dataclass
class Hold:
    """A response held back until ``release()``: the work is done, the answer is in transit."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    request: RecordedRequest | None = None

    def release(self) -> None:
        self.released.set()

    def wait_arrived(self, timeout: float = 30.0) -> RecordedRequest:
        if not self.arrived.wait(timeout):
            raise AssertionError("the held request never arrived at the Stripe double")
        assert self.request is not None
        return self.request


@dataclass
class Fault:
    method: str
    path: str
    kind: str  # "status", "saved", "after", "drop", "drop_after", "hold", "slow", "decline", "action"
    times: int
    status: int = 500
    body: dict[str, Any] | None = None
    hold: Hold | None = None
    decline: tuple[str, str, str] | None = None
    redirect_url: str | None = None
    skip: int = 0
    """Matching requests to let through before the fault applies."""
    delay: float = 0.0
    """``slow``: seconds the answer waits after the work is done."""

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and (path == self.path or path.startswith(self.path.rstrip("/") + "/"))


CHAOS_FAULTS: tuple[str, ...] = (
    "500",
    "503",
    "429",
    "500 after the work",
    "reset",
    "reset after the work",
    "slow",
)
"""The faults ``StripeDouble.chaos`` draws from, equally likely."""

_CHAOS_KINDS: dict[str, tuple[str, int]] = {
    "500": ("status", 500),
    "503": ("status", 503),
    "429": ("status", 429),
    "500 after the work": ("after", 500),
    "reset": ("drop", 0),
    "reset after the work": ("drop_after", 0),
    "slow": ("slow", 200),
}
"""Each of ``CHAOS_FAULTS`` as a fault's kind and status."""

EDGE_ERRORS: dict[int, dict[str, Any]] = {
    429: error_body(
        "invalid_request_error",
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
    ),
    500: error_body("api_error", "An unknown error occurred"),
    503: error_body("api_error", "The Stripe API is temporarily unavailable"),
    409: error_body(
        "invalid_request_error",
        "This object cannot be accessed right now because another API request or Stripe process is currently "
        "accessing it. If you see this error intermittently, retry the request.",
        code="lock_timeout",
    ),
}
"""What Stripe's edge answers with each status, before any endpoint runs."""


class Faults:
    """The faults scripted and not yet fired, the held answers, and the chaos setting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        self._chaos: tuple[float, random.Random, float] | None = None
        self.chaos_faults: list[tuple[str, str, str]] = []
        """``(method, path, fault)`` of every fault ``chaos`` injected."""

    def script(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def hold(self, method: str, path: str) -> Hold:
        hold = Hold()
        with self._lock:
            self._holds.append(hold)
        self.script(Fault(method, path, "hold", 1, hold=hold))
        return hold

    def release_holds(self) -> None:
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.release()

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def chaos(self, rate: float, rng: random.Random, slow: float) -> None:
        with self._lock:
            self._chaos = (rate, rng, slow) if rate > 0 else None

    def draw_chaos(self, method: str, path: str) -> None:
        """With the chaos rate's chance, put one of ``CHAOS_FAULTS`` first in line for this request."""
        with self._lock:
            if self._chaos is None:
                return
            rate, rng, slow = self._chaos
            if rng.random() >= rate:
                return
            name = rng.choice(CHAOS_FAULTS)
            self.chaos_faults.append((method, path, name))
            kind, status = _CHAOS_KINDS[name]
            self._faults.insert(
                0, Fault(method, path, kind, 1, status=status, body=EDGE_ERRORS.get(status), delay=slow)
            )

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first scripted fault of one of ``kinds`` for this request, used up once it fires."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.times > 0 and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None
