"""On the dev server: a worker that encrypts tells operations, once per order,
that an order received payloads in clear text (from a client without the key,
or one with ``ORDERS_ENCRYPTION=off``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import OrderClient
from ordersecurity.codec import KEYS_ENV, EncryptionCodec, KeyRing, new_key_entry
from tests.conftest import make_worker
from tests.helpers import eventually, kinds, start_input
from workflows import names
from workflows.converter import data_converter
from workflows.models import AddNoteInput, MessageKind

KEY = new_key_entry("ops1")
ALERT = MessageKind.PLAINTEXT_RECEIVED.value


@pytest.fixture
def worker_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(KEYS_ENV, KEY)
    yield KEY


def plaintext_client(env: WorkflowEnvironment) -> Client:
    """A client whose codec sends in clear text, as one without the key did before it was refused."""
    converter = replace(data_converter, payload_codec=EncryptionCodec(KeyRing()))
    return Client(env.client.service_client, namespace=env.client.namespace, data_converter=converter)


async def test_plaintext_payloads_are_reported_to_operations_once_per_order(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, worker_keys: str
) -> None:
    plain_order, sealed_order = f"plain-{os.urandom(4).hex()}", f"sealed-{os.urandom(4).hex()}"
    async with make_worker(dev_env.client, settings, task_queue):
        plain = OrderClient(plaintext_client(dev_env), task_queue=task_queue)
        sealed = OrderClient(dev_env.client, task_queue=task_queue)
        await plain.start(start_input(plain_order))
        await plain.send_signal(plain_order, names.ADD_NOTE, AddNoteInput(text="in clear again"))
        await sealed.act(plain_order, AddNoteInput(text="sealed"))
        await sealed.start(start_input(sealed_order))
        await sealed.act(sealed_order, AddNoteInput(text="sealed"))

        def alerted() -> bool:
            return ALERT in kinds(settings.outbox_dir, plain_order)

        await eventually(alerted, "operations told about the plaintext order")
        await sealed.status(plain_order)
        await sealed.status(sealed_order)
    assert kinds(settings.outbox_dir, plain_order).count(ALERT) == 1
    assert ALERT not in kinds(settings.outbox_dir, sealed_order)
    for order in (plain_order, sealed_order):
        await dev_env.client.get_workflow_handle(f"order-{order}").terminate("test over")
