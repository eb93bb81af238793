"""On the dev server: a worker that lacks the key a client encrypted with.

The order waits unharmed until a worker with the key picks it up (the codec's
docstring says why it does not fail the order); meanwhile the client is told
which key id is missing, not that no worker answered.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import KeyMissingOnWorker, OrderClient
from ordersecurity.codec import KEYS_ENV, EncryptionCodec, KeyRing, new_key_entry
from tests.conftest import make_worker
from tests.helpers import start_input
from workflows.converter import data_converter
from workflows.models import AddNoteInput

OLD = new_key_entry("k1")
NEW = new_key_entry("k2")


@pytest.fixture
def worker_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The worker (which reads the environment) has only the old key."""
    monkeypatch.setenv(KEYS_ENV, OLD)
    yield OLD


def client_with(env: WorkflowEnvironment, *entries: str) -> Client:
    """A client of the same server whose codec encrypts with its own keys (the first one)."""
    converter = replace(data_converter, payload_codec=EncryptionCodec(KeyRing.parse(",".join(entries))))
    return Client(env.client.service_client, namespace=env.client.namespace, data_converter=converter)


async def test_an_update_the_worker_cannot_decrypt_names_the_missing_key(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, worker_keys: str
) -> None:
    order_id = f"key-{os.urandom(4).hex()}"
    async with make_worker(dev_env.client, settings, task_queue):
        old = OrderClient(dev_env.client, task_queue=task_queue, query_timeout=timedelta(seconds=3))
        await old.start(start_input(order_id))
        await old.act(order_id, AddNoteInput(text="read with k1"))

        # A client rotated to k2 before the worker was given it.
        rotated = OrderClient(
            client_with(dev_env, NEW, OLD), task_queue=task_queue, update_timeout=timedelta(seconds=60)
        )
        with pytest.raises(KeyMissingOnWorker) as caught:
            await rotated.act(order_id, AddNoteInput(text="written with k2"))
        assert caught.value.key_id == "k2"
        assert "key id 'k2' is not in its ORDERS_ENCRYPTION_KEYS" in caught.value.message
        assert "no worker" not in caught.value.message
        # Reading the order meanwhile says the same, in place of "cannot answer".
        with pytest.raises(KeyMissingOnWorker, match="'k2'"):
            await old.status(order_id)
    await dev_env.client.get_workflow_handle(f"order-{order_id}").terminate("test over")
