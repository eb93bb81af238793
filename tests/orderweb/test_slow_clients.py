"""Slow clients (slowloris) are cut off by the portal, the webhook receiver and the codec server.

Each server runs as its real command (``orders portal``, ``orders webhooks``,
``orders codec-server``) in a subprocess, with small read timeouts from the
environment. Raw sockets then hold connections open the way a slowloris
attack does: connected and silent, half a request head, a head and part of
its body, and half of a second request on a kept-alive connection. Each must
be closed by the server: the test waits for end-of-file on the socket, with a
generous upper bound, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.config import ConfigError, HttpLimits, Settings
from ordersecurity.codec import new_key_entry
from tests.helpers import free_port

ORDERS = str(Path(sys.executable).parent / "orders")
READ_TIMEOUT = "0.5"
"""Seconds: the header and body timeouts the servers are started with."""
UPPER_BOUND = 30.0
"""Seconds: longer than any test machine needs to notice a 0.5 s timeout, far shorter than forever."""

SERVERS = {
    "portal": ("/contact", ["portal"]),
    "webhooks": ("/stripe/webhook", ["webhooks"]),
    "codec-server": ("/decode", ["codec-server"]),
}


async def _eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := await reader.read(65536):
        received += chunk
    return received


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(_eof(reader), UPPER_BOUND)
    except TimeoutError:
        raise AssertionError(f"the server kept a slow connection open for {UPPER_BOUND:.0f} s") from None
    except ConnectionResetError:
        return b""


@contextlib.asynccontextmanager
async def running(name: str, tmp_path: Path) -> AsyncIterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "ORDERS_HTTP_HEADER_TIMEOUT": READ_TIMEOUT,
        "ORDERS_HTTP_BODY_TIMEOUT": READ_TIMEOUT,
        "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "ORDERS_ENCRYPTION_KEYS": new_key_entry("k1"),
        "STRIPE_WEBHOOK_SECRET": "whsec_slow_clients_0123456789",
        "ORDERS_CODEC_TOKEN": "codec-token-slow-clients-0123456789",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # never reached: no request here needs Temporal
    }
    log = tmp_path / f"{name}.log"
    with log.open("wb") as errors:  # the child keeps its own copy of the file
        process = subprocess.Popen(
            [ORDERS, *SERVERS[name][1], "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        for _ in range(600):  # until it listens (or exits)
            if process.poll() is not None:
                raise AssertionError(f"orders {name} exited: {log.read_text()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("name", sorted(SERVERS))
async def test_slow_clients_are_disconnected(name: str, tmp_path: Path) -> None:
    path = SERVERS[name][0]
    async with running(name, tmp_path) as port:

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection("127.0.0.1", port)

        silent = await connect()
        half_head = await connect()
        half_head[1].write(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".encode())
        half_body = await connect()
        half_body[1].write(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f'Content-Length: 1000\r\n\r\n{{"payloads": ['.encode()
        )
        # A complete request is answered; then half of the next one on the same connection.
        kept_alive = await connect()
        kept_alive[1].write(b"GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status = await asyncio.wait_for(kept_alive[0].readline(), UPPER_BOUND)
        assert status.startswith(b"HTTP/1.1 "), status
        await asyncio.wait_for(kept_alive[0].readuntil(b"\r\n\r\n"), UPPER_BOUND)
        kept_alive[1].write(b"GET /nothing-here HTTP/1.1\r\nHost: localh")

        connections = {"silent": silent, "half head": half_head, "half body": half_body, "kept alive": kept_alive}
        for what, (reader, writer) in connections.items():
            await writer.drain()
            try:
                await _closed_by_server(reader)
            except AssertionError as error:
                raise AssertionError(f"{name}, {what}: {error}") from None
            finally:
                writer.close()

        # The server still answers a client that sends its request at once.
        reader, writer = await connect()
        writer.write(b"GET /nothing-here HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(_eof(reader), UPPER_BOUND)
        assert answer.startswith(b"HTTP/1.1 4"), answer[:100]
        writer.close()


def test_read_timeouts_and_trusted_proxies_come_from_the_environment() -> None:
    assert HttpLimits.from_env({}) == HttpLimits(header_timeout=10.0, body_timeout=30.0, trusted_proxies=())
    limits = HttpLimits.from_env(
        {
            "ORDERS_HTTP_HEADER_TIMEOUT": "5",
            "ORDERS_HTTP_BODY_TIMEOUT": "60.5",
            "ORDERS_TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12 ::1",
        }
    )
    assert limits == HttpLimits(5.0, 60.5, ("10.0.0.5", "172.16.0.0/12", "::1"))
    assert Settings.from_env({"ORDERS_TRUSTED_PROXIES": "10.0.0.5"}).http.trusted_proxies == ("10.0.0.5",)
    for env, named in (
        ({"ORDERS_HTTP_HEADER_TIMEOUT": "0"}, "ORDERS_HTTP_HEADER_TIMEOUT='0' must be a number of seconds"),
        ({"ORDERS_HTTP_BODY_TIMEOUT": "forever"}, "ORDERS_HTTP_BODY_TIMEOUT='forever'"),
        ({"ORDERS_TRUSTED_PROXIES": "proxy.internal"}, "ORDERS_TRUSTED_PROXIES: 'proxy.internal' is not an IP"),
    ):
        with pytest.raises(ConfigError, match=re.escape(named)):
            HttpLimits.from_env(env)
