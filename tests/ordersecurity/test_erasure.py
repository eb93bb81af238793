"""``orders erase`` on the dev server: a closed order's personal data becomes unreadable
everywhere it went (its history, the outbox, the ledger, its documents, Stripe), while other
orders, and the amounts and dates accounting keeps, stay readable."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import OrderClient
from orderclient.errors import ErasureRefused, OrderErased
from ordersecurity.codec import (
    ENCODING,
    KEY_ID_METADATA,
    KEYS_ENV,
    EncryptionCodec,
    ErasedPayloadError,
    new_key_entry,
)
from ordersecurity.key_store import ERASURE_RECORD, HOLD_RECORD, STORE_ENV, SqliteKeyStore
from orderweb.codec_server import create_app
from tests.conftest import make_worker, start_dev_server
from tests.doubles.stripe_api import TEST_API_KEY, StripeDouble, serve
from tests.helpers import eventually, issue, kinds
from tests.ordersecurity.test_privacy import every_payload, orders_cli, sdk_bookkeeping
from workflows import names
from workflows.models import (
    AddNoteInput,
    ApproveInput,
    CancelInput,
    Customer,
    LegalHold,
    OrderStatus,
    StartOrderInput,
)

KEY = new_key_entry("erase1")
NAME = "Ottoline Brackwater"
EMAIL = "ottoline.brackwater@example.org"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SqliteKeyStore:
    """The worker and the clients in this process: one master key, and per-order keys in one store."""
    monkeypatch.setenv(KEYS_ENV, KEY)
    path = tmp_path / "order-keys.sqlite3"
    monkeypatch.setenv(STORE_ENV, f"sqlite:///{path}")
    return SqliteKeyStore(path)


@pytest.fixture
def stripe_api() -> Iterator[StripeDouble]:
    yield from serve()


@pytest.fixture
def worker_settings(settings: Settings, stripe_api: StripeDouble, tmp_path: Path) -> Settings:
    return replace(
        settings, stripe_api_key=TEST_API_KEY, stripe_api_base=stripe_api.url, documents_dir=tmp_path / "documents"
    )


@pytest.fixture
async def orders(
    dev_env: WorkflowEnvironment, worker_settings: Settings, task_queue: str, store: SqliteKeyStore
) -> AsyncIterator[OrderClient]:
    async with make_worker(dev_env.client, worker_settings, task_queue):
        yield OrderClient(dev_env.client, task_queue=task_queue)


def customer_order(order_id: str) -> StartOrderInput:
    return StartOrderInput(
        order_id=order_id,
        customer=Customer(name=NAME, email=EMAIL),
        channel="web_form",
        message=f"{NAME} here, about a new booking system.",
    )


async def cancelled_after_an_invoice(orders: OrderClient, order_id: str, outbox_dir: Path) -> None:
    """Confirmed, invoiced through Stripe (a Customer object made), then cancelled: closed."""
    await orders.start(customer_order(order_id))
    handle = orders.handle(order_id)
    await issue(handle, "invoice", "bank_transfer")
    await handle.signal(names.APPROVE, ApproveInput(version=1))
    await eventually(lambda: "payment_requested" in kinds(outbox_dir, order_id), "payment requested", 600)
    await orders.act(order_id, CancelInput(reason="Withdrawn before paying"))
    await handle.result()


def raw_client(env: WorkflowEnvironment) -> Client:
    return Client(env.client.service_client, namespace=env.client.namespace)


async def order_payloads(env: WorkflowEnvironment, order_id: str) -> list[Payload]:
    """The encrypted payloads of the order's key in its raw history, as Temporal keeps them."""
    history = await raw_client(env).get_workflow_handle(names.workflow_id(order_id)).fetch_history()
    found: list[Payload] = []
    for event in history.events:
        attributes = event.workflow_execution_started_event_attributes
        found.extend(attributes.input.payloads)
        found.extend(event.workflow_execution_signaled_event_attributes.input.payloads)
    return [p for p in found if p.metadata.get(KEY_ID_METADATA, b"").startswith(b"order:")]


async def still_readable(env: WorkflowEnvironment, order_id: str) -> list[tuple[str, str]]:
    """Every encrypted payload of the order's raw history that a fresh codec still decodes, with where."""
    history = await raw_client(env).get_workflow_handle(names.workflow_id(order_id)).fetch_history()
    readable = []
    for path, raw in every_payload(json.loads(history.to_json())):
        if sdk_bookkeeping(path) or "type" in raw["metadata"]:
            continue
        payload = Payload(
            metadata={k: base64.b64decode(v) for k, v in raw["metadata"].items()},
            data=base64.b64decode(raw.get("data", "")),
        )
        assert payload.metadata.get("encoding") == ENCODING, f"a payload left unencrypted at {path}"
        try:
            [plain] = await EncryptionCodec().decode([payload])
        except ErasedPayloadError:
            continue
        readable.append(
            (
                path.replace("workflowExecutionCompletedEventAttributes.result.payloads", "completionResult"),
                plain.data.decode(),
            )
        )
    return readable


async def codec_server_decodes(payloads: list[Payload]) -> list[dict[str, Any]]:
    app = create_app(EncryptionCodec(), token=None, allow_loopback=True)
    body = {
        "payloads": [{"metadata": {k: _b64(v) for k, v in p.metadata.items()}, "data": _b64(p.data)} for p in payloads]
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        response = await http.post("/decode", json=body, headers={"X-Namespace": "default"})
    assert response.status_code == 200, response.text
    decoded: list[dict[str, Any]] = response.json()["payloads"]
    return decoded


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_a_closed_order_is_erased_everywhere_and_only_it(
    dev_env: WorkflowEnvironment,
    orders: OrderClient,
    worker_settings: Settings,
    stripe_api: StripeDouble,
    store: SqliteKeyStore,
) -> None:
    gone, kept = f"erase-{os.urandom(3).hex()}", f"keep-{os.urandom(3).hex()}"
    outbox_dir = worker_settings.outbox_dir
    await cancelled_after_an_invoice(orders, gone, outbox_dir)
    await orders.start(customer_order(kept))
    await orders.act(kept, AddNoteInput(text=f"Called {NAME}"))
    [customer_id] = [c["id"] for c in stripe_api.customers.values() if c["metadata"].get("order_id") == gone]
    assert (worker_settings.documents_path / gone).is_dir(), "the confirmation PDF was stored"
    before = await order_payloads(dev_env, gone)
    assert before and all(p.metadata[KEY_ID_METADATA] == f"order:order-{gone}".encode() for p in before)

    with pytest.raises(ErasureRefused, match=f"order {kept} is open"):
        await orders.erase(kept, reason="DSR-1", operator="Ana Ops")

    erasure = await orders.erase(gone, reason="DSR-2 (customer's request of 5 Dec)", operator="Ana Ops")
    record = erasure.record
    assert not erasure.already and record.crypto_shredded
    counts = {part.place: part.count for part in record.parts}
    [attributes] = [part.detail for part in record.parts if part.place == "search attributes"]
    assert attributes.startswith("no personal data to erase (") and "OrderStatus" in attributes
    assert counts["outbox"] >= 3 and counts["documents"] >= 1 and counts["Stripe"] == 1 and counts["order key"] == 1
    assert NAME not in record.model_dump_json() and EMAIL not in record.model_dump_json()

    # Its history can no longer be read, by the codec or by the codec server; the other order's can.
    with pytest.raises(ErasedPayloadError, match=f"order-{gone} was erased on"):
        await EncryptionCodec().decode(before)
    marked = await codec_server_decodes(before)
    assert all("erased" in _b64_text(p["data"]) for p in marked), marked
    assert await EncryptionCodec().decode(await order_payloads(dev_env, kept))

    # Nothing in its history decodes any more but the result, the facts accounting keeps.
    readable = await still_readable(dev_env, gone)
    assert [path for path, _ in readable] == [".events.completionResult"], readable
    assert NAME not in readable[0][1] and EMAIL not in readable[0][1]

    # Everything else it wrote is gone; the other order's emails stay.
    assert kinds(outbox_dir, gone) == [] and kinds(outbox_dir, kept)
    assert not (worker_settings.documents_path / gone).exists()
    assert stripe_api.customers[customer_id] == {"id": customer_id, "object": "customer", "deleted": True}
    assert len(store.records(ERASURE_RECORD, gone)) == 1

    # What is left: the notice, and the facts accounting keeps.
    with pytest.raises(OrderErased) as erased:
        await orders.status(gone)
    assert erased.value.facts is not None and erased.value.facts.status is OrderStatus.CANCELLED
    assert erased.value.record.erased_at == record.erased_at

    again = await orders.erase(gone, reason="DSR-2", operator="Ana Ops")
    assert again.already and again.record == record
    assert len(store.records(ERASURE_RECORD, gone)) == 1


def _b64_text(data: str) -> str:
    return base64.b64decode(data).decode("utf-8", "replace")


async def test_an_order_under_a_legal_hold_is_not_erased_until_it_is_released(
    orders: OrderClient, worker_settings: Settings, store: SqliteKeyStore
) -> None:
    order_id = f"held-{os.urandom(3).hex()}"
    await orders.start(customer_order(order_id))
    await orders.act(order_id, CancelInput(reason="Duplicate enquiry"))
    await orders.handle(order_id).result()
    hold = LegalHold(order_id=order_id, until=date(2099, 1, 1), reason="tax audit 2026", set_by="Ana Ops")
    store.add_record(HOLD_RECORD, order_id, datetime.now(UTC), hold.model_dump_json())
    with pytest.raises(ErasureRefused, match="under a legal hold until 2099-01-01 \\(tax audit 2026"):
        await orders.erase(order_id, reason="DSR-3", operator="Ana Ops")
    released = hold.model_copy(update={"until": date(2000, 1, 1)})
    store.add_record(HOLD_RECORD, order_id, datetime.now(UTC), released.model_dump_json())
    erasure = await orders.erase(order_id, reason="DSR-3", operator="Ana Ops")
    assert erasure.record.crypto_shredded and not erasure.already


async def test_the_cli_holds_erases_and_shows_what_is_left(
    dev_env: WorkflowEnvironment, orders: OrderClient, tmp_path: Path
) -> None:
    order_id = f"cli-{os.urandom(3).hex()}"
    address = ["--address", dev_env.client.service_client.config.target_host]
    await orders.start(customer_order(order_id))
    await orders.act(order_id, CancelInput(reason="Duplicate enquiry"))
    await orders.handle(order_id).result()

    code, out, err = await orders_cli(["hold", order_id, "--until", "2099-01-01", "--reason", "audit"], tmp_path, KEY)
    assert code == 0, err
    assert "no erasure before 2099-01-01 (audit)" in out
    code, out, err = await orders_cli(["erase", order_id, "--reason", "DSR-9", *address], tmp_path, KEY)
    assert code == 1 and "under a legal hold until 2099-01-01" in err
    code, out, err = await orders_cli(["hold", order_id, "--release", "--by", "Ana"], tmp_path, KEY)
    assert code == 0 and "legal hold released" in out, err

    code, out, err = await orders_cli(["erase", order_id, "--reason", "DSR-9", "--by", "Ana", *address], tmp_path, KEY)
    assert code == 0, err
    assert f"Order {order_id}: personal data erased." in out and "order key" in out and "outbox" in out
    code, out, err = await orders_cli(["erase", order_id, "--reason", "DSR-9", *address], tmp_path, KEY)
    assert code == 0 and "was already erased on" in out and "nothing changed" in out, err

    code, out, err = await orders_cli(["status", order_id, *address], tmp_path, KEY)
    assert code == 0, err
    assert "this order's personal data was erased on" in out and "CANCELLED" in out
    assert NAME not in out and EMAIL not in out


async def test_orders_closed_before_a_date_are_erased_in_bulk_after_a_dry_run(
    worker_settings: Settings, task_queue: str, store: SqliteKeyStore, tmp_path: Path
) -> None:
    """On a server of its own: ``--closed-before`` lists every order of the namespace."""
    env = await start_dev_server()
    try:
        address = ["--address", env.client.service_client.config.target_host]
        async with make_worker(env.client, worker_settings, task_queue):
            orders = OrderClient(env.client, task_queue=task_queue)
            closed = [f"old-{n}-{os.urandom(2).hex()}" for n in range(2)]
            for order_id in closed:
                await orders.start(customer_order(order_id))
                await orders.act(order_id, CancelInput(reason="Duplicate enquiry"))
                await orders.handle(order_id).result()
            await orders.start(customer_order("still-open"))
            tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
            bulk = ["erase", "--closed-before", tomorrow, "--reason", "retention: 6 years", *address]

            async def listed() -> bool:
                code, out, err = await orders_cli([*bulk, "--dry-run", "--json"], tmp_path, KEY)
                assert code == 0, err
                return sorted(row["order_id"] for row in json.loads(out)) == sorted(closed)

            await eventually(listed, "both closed orders in visibility", 100)
            assert store.records(ERASURE_RECORD, closed[0]) == [], "a dry run erases nothing"

            code, out, err = await orders_cli(bulk, tmp_path, KEY)
            assert code == 0, err
            assert all(f"{order_id}: erased" in out for order_id in closed) and "still-open" not in out
            assert all(len(store.records(ERASURE_RECORD, order_id)) == 1 for order_id in closed)
            code, out, err = await orders_cli(bulk, tmp_path, KEY)
            assert code == 0 and all(f"{order_id}: already erased" in out for order_id in closed), err
    finally:
        await env.shutdown()
