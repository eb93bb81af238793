"""How every part of this project connects to Temporal: the worker, the CLI,
the webhook receiver and web backends using ``starter.client.OrderClient``.

Temporal's environment configuration decides (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, the TLS variables, profiles);
explicit arguments win; ``localhost:7233`` is the fallback. This module
imports no workflow or activity code, so clients stay light.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from workflows.converter import data_converter
from workflows.names import TASK_QUEUE

DEFAULT_ADDRESS = "localhost:7233"
TASK_QUEUE_ENV = "ORDERS_TASK_QUEUE"


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
    config = connect_config(address, namespace)
    if runtime is not None:
        config["runtime"] = runtime
    return await Client.connect(**config, data_converter=data_converter)


def metrics_runtime(bind_address: str | None) -> Runtime | None:
    """A runtime that serves the SDK's Prometheus metrics, or None when metrics are off."""
    if not bind_address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))
