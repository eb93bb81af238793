"""How every part of this project connects to Temporal: the worker, the CLI,
the webhook receiver and web backends using ``orderclient.client.OrderClient``.

Temporal's environment configuration decides (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, the TLS variables, profiles);
explicit arguments win; ``localhost:7233`` is the fallback. This module
imports no workflow or activity code, so clients stay light.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Final

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from orderclient import tracing
from ordersecurity.codec import require_encryption
from workflows.converter import data_converter
from workflows.names import TASK_QUEUE

DEFAULT_ADDRESS = "localhost:7233"
TASK_QUEUE_ENV = "ORDERS_TASK_QUEUE"

# A worker may start before its server (compose, Kubernetes): it retries for
# this long, waiting FIRST_RETRY_DELAY, then twice as long each time, at most
# MAX_RETRY_DELAY. ORDERS_CONNECT_TIMEOUT (activities/config.py) overrides it.
DEFAULT_CONNECT_TIMEOUT: Final = 180.0
FIRST_RETRY_DELAY: Final = 0.5
MAX_RETRY_DELAY: Final = 10.0
ATTEMPT_TIMEOUT: Final = 10.0
"""One connection attempt: an address that swallows packets must not eat the whole wait."""

log = logging.getLogger("orders.connection")


class TemporalUnreachableError(Exception):
    """The worker gave up connecting; ``str()`` is the one line to show the user."""

    def __init__(self, address: str, waited: float, detail: str) -> None:
        super().__init__(
            f"cannot reach Temporal at {address} (gave up after {waited:.0f} s; ORDERS_CONNECT_TIMEOUT): "
            f"is the server running? ({detail})"
        )
        self.address = address
        self.detail = detail


def task_queue() -> str:
    """The task queue workers poll and starters start orders on: ``ORDERS_TASK_QUEUE``
    moves both together (side-by-side deployments, tests)."""
    return os.environ.get(TASK_QUEUE_ENV) or TASK_QUEUE


def connect_config(address: str | None = None, namespace: str | None = None) -> dict[str, Any]:
    """``Client.connect`` arguments: envconfig, then the arguments, then the default address."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if namespace:
        config["namespace"] = namespace
    return config


async def connect(address: str | None = None, namespace: str | None = None, runtime: Runtime | None = None) -> Client:
    """A client with the project's data converter; ``EncryptionRequired`` (before connecting)
    when there is no encryption key and ``ORDERS_ENCRYPTION`` is not ``off``.

    With tracing on (``OTEL_*``, orderclient/tracing.py) it carries the tracing
    interceptor, which workers built on it share; a process that has not
    configured tracing yet (a CLI command) does so here."""
    require_encryption()
    config = connect_config(address, namespace)
    if runtime is not None:
        config["runtime"] = runtime
    tracing.configure("orders")
    return await Client.connect(**config, data_converter=data_converter, interceptors=tracing.client_interceptors())


async def connect_with_retry(
    address: str | None = None,
    namespace: str | None = None,
    runtime: Runtime | None = None,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Client:
    """``connect``, retried with backoff for up to ``timeout`` seconds, logging
    each wait; then ``TemporalUnreachableError``. For the worker, which may
    start before its server; clients that answer a person fail at once."""
    target = str(connect_config(address, namespace)["target_host"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = FIRST_RETRY_DELAY
    while True:
        left = deadline - loop.time()
        try:
            return await asyncio.wait_for(connect(address, namespace, runtime), max(min(ATTEMPT_TIMEOUT, left), 0.1))
        except (RuntimeError, TimeoutError, OSError) as error:
            detail = str(error.__cause__ or error) or type(error).__name__
        left = deadline - loop.time()
        if left <= 0:
            raise TemporalUnreachableError(target, timeout, detail)
        wait = min(delay, left)
        log.warning(
            "Temporal at %s is not reachable yet (%s); retrying in %.1f s (%.0f s left)", target, detail, wait, left
        )
        await asyncio.sleep(wait)
        delay = min(delay * 2, MAX_RETRY_DELAY)


def metrics_runtime(bind_address: str | None) -> Runtime | None:
    """A runtime that serves the SDK's Prometheus metrics, or None when metrics are off."""
    if not bind_address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))
