"""Serving the web-facing apps under uvicorn: slow clients cut off, proxies trusted by configuration.

The portal, the webhook receiver and the codec server all run through
``server_config`` (``orders portal``, ``orders webhooks``,
``orders codec-server``, and ``orders dev``'s in-process servers).

**Slow clients.** uvicorn closes an idle kept-alive connection after
``timeout_keep_alive`` seconds, but has no timeout for a client that connects
and then sends its request slowly, or not at all: a slowloris attack holds
connections open for as long as it likes. ``GuardedH11Protocol`` adds two
deadlines to uvicorn's h11 protocol: the request's head must arrive within
``header_timeout`` seconds (of connecting, or of the previous answer on a
kept-alive connection), and its body within ``body_timeout`` seconds of the
head. A client that misses one is disconnected (the app, if it was reading
the body, sees the client leave). The head's size is capped too
(``MAX_HEADER_BYTES``). Behind a reverse proxy, the proxy's own timeouts
(nginx ``client_header_timeout``, ``client_body_timeout``) protect it first;
these protect the process when it faces clients directly, or a proxy lets a
slow client through.

**Proxies.** ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only
from the addresses in ``ORDERS_TRUSTED_PROXIES`` (``HttpLimits.trusted_proxies``;
uvicorn's ``ProxyHeadersMiddleware``, which takes the nearest address the
trusted proxies did not add). With none configured, the headers are ignored
and the connecting address is the client's: anyone could write them, so the
contact form's rate limit would be per forged header otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from activities.config import HttpLimits
from orderclient import tracing

MAX_HEADER_BYTES: Final = 16 * 1024
"""The largest request head read (uvicorn answers 400 above it)."""
KEEP_ALIVE_SECONDS: Final = 5
"""How long an idle kept-alive connection stays open (uvicorn's default)."""


class GuardedConfig(uvicorn.Config):
    """A uvicorn ``Config`` that carries the read timeouts its protocol enforces."""

    def __init__(self, app: Any, *, limits: HttpLimits, **kwargs: Any) -> None:
        self.limits = limits
        super().__init__(app, **kwargs)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head and body."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits = config.limits if isinstance(config, GuardedConfig) else HttpLimits()
        self._header_timeout = limits.header_timeout
        self._body_timeout = limits.body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None  # the h11 state the deadline is for

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline for what the client owes now: a request's head, or its body."""
        if self.transport.is_closing():
            self._cancel()
            return
        state = self.conn.their_state
        if state is self._waiting_for:
            return  # the deadline already running keeps running: sending a byte now and then does not extend it
        self._cancel()
        if state is h11.IDLE:
            self._arm(state, self._header_timeout)
        elif state is h11.SEND_BODY:
            self._arm(state, self._body_timeout)

    def _arm(self, state: object, seconds: float) -> None:
        self._waiting_for = state
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting_for = None, None

    def _too_slow(self) -> None:
        what = "request head" if self._waiting_for is h11.IDLE else "request body"
        self._deadline, self._waiting_for = None, None
        if self.transport.is_closing():
            return
        # A connection between requests that sent nothing is only idle: not worth a line.
        if self.conn.their_state is not h11.IDLE or self.conn.trailing_data[0]:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            self.logger.info("%s was too slow sending its %s: disconnected", client, what)
        self.transport.close()


def server_config(app: Any, host: str, port: int, limits: HttpLimits, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's configuration for one of the web-facing apps (``kwargs``: ``log_level``, ``lifespan``...)."""
    trusted = list(limits.trusted_proxies)
    return GuardedConfig(
        tracing.instrument_asgi(app),  # a span per request when OTEL_* turn tracing on; else app itself
        limits=limits,
        host=host,
        port=port,
        http=GuardedH11Protocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        # Never uvicorn's default (trust 127.0.0.1, or $FORWARDED_ALLOW_IPS): only the configured proxies.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        **kwargs,
    )


def run(app: Any, host: str, port: int, limits: HttpLimits) -> None:
    """Serve ``app`` until Ctrl-C."""
    uvicorn.Server(server_config(app, host, port, limits, log_level="info")).run()
