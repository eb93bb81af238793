"""No key, no personal data sent: every process that writes to orders refuses,
with a message that says how to set one, unless ``ORDERS_ENCRYPTION=off``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import worker
from activities.config import ConfigError
from orderclient import connection
from orderclient.client import OrderClient
from ordersecurity.codec import KEYS_ENV, SWITCH_ENV, EncryptionCodec, EncryptionRequired, KeyRing, require_encryption
from tests.helpers import start_input
from workflows import names
from workflows.converter import data_converter

ORDERS = str(Path(sys.executable).parent / "orders")
ROOT = Path(__file__).resolve().parents[2]
HOW = (KEYS_ENV, "orders keygen", f"{SWITCH_ENV}=off")


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell with no key, no local key file and encryption not switched off."""
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv(SWITCH_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


def says_how(message: str) -> bool:
    return all(part in message for part in HOW)


async def test_orders_start_without_a_key_refuses_and_writes_nothing(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    order_id = f"nokey-{os.urandom(4).hex()}"
    env = {k: v for k, v in os.environ.items() if k not in (KEYS_ENV, SWITCH_ENV)}
    process = await asyncio.create_subprocess_exec(
        ORDERS,
        "start",
        "--order-id",
        order_id,
        "--name",
        "Philippa Quarrender",
        "--email",
        "philippa@example.org",
        "--message",
        "Call me on +44 7700 900123",
        "--address",
        dev_env.client.service_client.config.target_host,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2, stderr.decode()
    assert says_how(stderr.decode()), stderr.decode()
    with pytest.raises(RPCError) as caught:
        await dev_env.client.get_workflow_handle(names.workflow_id(order_id)).describe()
    assert caught.value.status == RPCStatusCode.NOT_FOUND  # nothing reached Temporal


async def test_order_client_and_every_connection_refuse_without_a_key(
    dev_env: WorkflowEnvironment, no_key: None
) -> None:
    with pytest.raises(EncryptionRequired) as caught:
        OrderClient(dev_env.client)
    assert says_how(str(caught.value))
    with pytest.raises(EncryptionRequired):  # the CLI, the webhook receiver, the portal and the worker connect so
        await connection.connect(dev_env.client.service_client.config.target_host)
    with pytest.raises(EncryptionRequired):  # and the shared codec itself sends nothing in clear text
        await data_converter.encode([start_input()])


def test_the_worker_refuses_to_start_without_a_key(no_key: None) -> None:
    with pytest.raises(EncryptionRequired):
        worker.log_encryption()
    with pytest.raises(ConfigError, match=KEYS_ENV):
        asyncio.run(worker.main())


async def test_switched_off_explicitly_it_sends_in_clear(monkeypatch: pytest.MonkeyPatch, no_key: None) -> None:
    monkeypatch.setenv(SWITCH_ENV, "off")
    assert not require_encryption().ring.active
    [payload] = await data_converter.encode([start_input()])
    assert payload.metadata["encoding"] == b"json/plain"
    monkeypatch.setenv(SWITCH_ENV, "maybe")
    with pytest.raises(ValueError, match=f"{SWITCH_ENV} must be 'on' or 'off'"):
        require_encryption()


async def test_an_empty_key_variable_is_no_key(monkeypatch: pytest.MonkeyPatch, no_key: None) -> None:
    """Compose passes ``${ORDERS_ENCRYPTION_KEYS:-}``: a deployment that forgot the key must not send in clear."""
    monkeypatch.setenv(KEYS_ENV, "")
    with pytest.raises(EncryptionRequired):
        require_encryption()


async def test_a_codec_with_fixed_keys_is_left_alone() -> None:
    """Tools and tests that build their own codec choose for themselves."""
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    assert await EncryptionCodec(KeyRing()).encode([payload]) == [payload]
