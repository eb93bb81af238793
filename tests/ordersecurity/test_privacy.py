"""On a real dev server: what Temporal stores holds no personal data, while the CLI still shows it.

The raw history is read without the codec, every payload's bytes (and their
base64 form, as the UI and ``temporal workflow show`` print them) are
searched, and so are the search attributes, the user metadata (static
summary and details, activity and timer summaries) and the current details.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.config import Settings
from orderclient.client import OrderClient
from ordersecurity.codec import ENCODING, KEY_ID_METADATA, KEYS_ENV, new_key_entry
from tests.conftest import make_worker
from tests.helpers import draft
from workflows import names
from workflows.converter import data_converter
from workflows.models import AddNoteInput, Customer, IssueConfirmationInput, StartOrderInput
from workflows.order import ServiceOrderWorkflow

ORDERS = str(Path(sys.executable).parent / "orders")
ROOT = Path(__file__).resolve().parents[2]
NAME = "Zebediah Quillfeather"
EMAIL = "zebediah.quillfeather@example.org"
PHONE = "+44 7700 900461"
COMPANY = "Quillfeather Lanterns"
SECRETS = (NAME, EMAIL, PHONE, COMPANY, "Quillfeather", "zebediah")
KEY = new_key_entry("priv1")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The worker and the clients in this process encrypt with one key."""
    monkeypatch.setenv(KEYS_ENV, KEY)
    yield KEY


@pytest.fixture
async def orders(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, keys: str
) -> AsyncIterator[OrderClient]:
    async with make_worker(dev_env.client, settings, task_queue):
        yield OrderClient(dev_env.client, task_queue=task_queue)


def the_customer(order_id: str) -> StartOrderInput:
    return StartOrderInput(
        order_id=order_id,
        customer=Customer(name=NAME, email=EMAIL, phone=PHONE, company=COMPANY, customer_ref="crm-77"),
        channel="web_form",
        message=f"Hello, {NAME} of {COMPANY} here: call me on {PHONE} about lanterns.",
    )


async def orders_cli(args: list[str], cwd: Path, keys: str) -> tuple[int, str, str]:
    """The ``orders`` command in another process; this loop keeps running the worker meanwhile."""
    process = await asyncio.create_subprocess_exec(
        ORDERS,
        *args,
        cwd=cwd,
        env={**os.environ, KEYS_ENV: keys, "PYTHONPATH": str(ROOT)},  # this checkout's code, wherever it runs
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def raw_client(env: WorkflowEnvironment) -> Client:
    """The same server without the codec: what anyone with read access to Temporal sees."""
    return Client(env.client.service_client, namespace=env.client.namespace)


def leaks(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [s for s in SECRETS if s.lower().encode() in lowered]


def every_payload(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``{"data": ..., "metadata": ...}`` in a history's protobuf JSON, with where it is."""
    if isinstance(node, dict):
        if "metadata" in node and ("data" in node or "encoding" in node.get("metadata", {})):
            yield path, node
        for key, value in node.items():
            yield from every_payload(value, f"{path}.{key}")
    elif isinstance(node, list):
        for value in node:
            yield from every_payload(value, path)


def sdk_bookkeeping(path: str) -> bool:
    """A marker's own details that the SDK's core writes (patch ids, a local activity's
    timing), not through the codec; the local activity's ``result`` is encoded."""
    return ".markerRecordedEventAttributes.details." in path and not path.endswith(".details.result.payloads")


async def test_history_search_attributes_and_metadata_hold_no_personal_data(
    dev_env: WorkflowEnvironment, orders: OrderClient, tmp_path: Path
) -> None:
    order_id = f"priv-{os.urandom(4).hex()}"
    await orders.start(the_customer(order_id))
    await orders.act(order_id, AddNoteInput(text=f"Spoke to {NAME} ({EMAIL})", author_name=NAME))
    await orders.act(order_id, IssueConfirmationInput(confirmation=draft(), issued_by=NAME))
    await orders.status(order_id)  # the worker has sent its emails (to EMAIL) by now

    handle = raw_client(dev_env).get_workflow_handle(names.workflow_id(order_id))
    history = await handle.fetch_history()
    as_json = json.loads(history.to_json())
    payloads = list(every_payload(as_json))
    assert len(payloads) > 10, "expected inputs, results, summaries and activity arguments"
    for path, payload in payloads:
        data = base64.b64decode(payload.get("data", ""))
        metadata = {k: base64.b64decode(v) for k, v in payload["metadata"].items()}
        assert not leaks(data), f"personal data in a payload: {leaks(data)}"
        if "type" in metadata:  # a search attribute: never encoded by a codec, checked for leaks above
            continue
        if sdk_bookkeeping(path):
            continue
        assert metadata.get("encoding") == ENCODING, f"a payload left unencrypted at {path}: {data[:200]!r}"
        assert metadata.get(KEY_ID_METADATA) == b"priv1"
    # And nowhere else in the history: ids, names, failures, user metadata.
    for event in history.events:
        assert not leaks(event.SerializeToString()), (
            f"event {event.event_type} holds {leaks(event.SerializeToString())}"
        )

    description = await handle.describe()
    assert not leaks(description.raw_description.SerializeToString())
    attributes = {key.name: value for key, value in description.typed_search_attributes}
    assert attributes.get("OrderCustomerRef") == "crm-77"
    assert not leaks(json.dumps(attributes, default=str).encode())
    user_metadata = description.raw_description.execution_config.user_metadata
    assert user_metadata.summary.metadata["encoding"] == ENCODING  # the static summary is encrypted too

    current = await handle.query("__temporal_workflow_metadata", result_type=RawValue)
    assert isinstance(current, RawValue)
    assert current.payload.metadata["encoding"] == ENCODING
    assert not leaks(current.payload.SerializeToString())

    # With the key, the operator's CLI shows the customer.
    address = dev_env.client.service_client.config.target_host
    code, stdout, stderr = await orders_cli(["status", order_id, "--address", address], tmp_path, KEY)
    assert code == 0, stderr
    assert NAME in stdout and EMAIL in stdout and PHONE in stdout

    # Without it, the CLI says which key it lacks instead of printing garbage.
    code, stdout, stderr = await orders_cli(["status", order_id, "--address", address], tmp_path, new_key_entry("x"))
    assert code == 2
    assert "'priv1'" in stderr
    assert NAME not in stdout + stderr

    await handle.terminate("test over")


async def test_a_history_that_mixes_plain_and_encrypted_payloads_replays(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order started before encryption was turned on, and acted on after: it goes on, and replays."""
    order_id = f"mixed-{os.urandom(4).hex()}"
    monkeypatch.setenv(KEYS_ENV, "")  # before: no keys
    async with make_worker(dev_env.client, settings, task_queue):
        orders = OrderClient(dev_env.client, task_queue=task_queue)
        await orders.start(the_customer(order_id))
        await orders.act(order_id, AddNoteInput(text="before encryption"))
    monkeypatch.setenv(KEYS_ENV, KEY)  # after: a new worker with the key
    async with make_worker(dev_env.client, settings, task_queue):
        await orders.act(order_id, AddNoteInput(text="after encryption"))
        view = await orders.status(order_id)
    assert [n.text for n in view.notes][-2:] == ["before encryption", "after encryption"]

    history = await dev_env.client.get_workflow_handle(names.workflow_id(order_id)).fetch_history()
    encodings = {
        base64.b64decode(p["metadata"].get("encoding", "")) for _, p in every_payload(json.loads(history.to_json()))
    }
    assert b"json/plain" in encodings and ENCODING in encodings

    replayer = Replayer(workflows=[ServiceOrderWorkflow], data_converter=data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None

    # A worker without that key cannot run the order's next task, and says which key it needs.
    monkeypatch.setenv(KEYS_ENV, new_key_entry("stranger"))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "'priv1'" in str(result.replay_failure) + str(result.replay_failure.__cause__)

    monkeypatch.setenv(KEYS_ENV, KEY)
    await dev_env.client.get_workflow_handle(names.workflow_id(order_id)).terminate("test over")


def test_payload_helpers_see_a_plain_payload() -> None:
    """The walker above finds payloads in protobuf JSON; a guard that it is not vacuous."""
    plain = {"events": [{"input": {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}}]}
    assert len(list(every_payload(plain))) == 1
