"""Per-order data keys in the codec: each order's payloads under a key of its own,
which destroying erases, while other orders, and what holds no personal data, stay readable."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from ordersecurity.codec import (
    KEY_ID_METADATA,
    NOT_PERSONAL,
    EncryptionCodec,
    ErasedPayloadError,
    KeyRing,
    PayloadDecryptionError,
    new_key_entry,
)
from ordersecurity.key_store import KeyStore, KeyStoreError, SqliteKeyStore, open_store
from ordersecurity.order_keys import OrderKeyErased, OrderKeys
from ordersecurity.postgres_key_store import PostgresKeyStore

K1 = new_key_entry("k1")
K2 = new_key_entry("k2")
SECRET = b'{"email": "zelda.quince@example.org"}'


def payload(data: bytes = SECRET, **metadata: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain", **metadata}, data=data)


def codec_for(store: KeyStore, *entries: str, workflow_id: str | None = None) -> EncryptionCodec:
    codec = EncryptionCodec(KeyRing.parse(",".join(entries or (K1,))), order_keys=OrderKeys(store))
    if workflow_id is None:
        return codec
    return codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id))


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """One PostgreSQL server (pgserver's, on a Unix socket in a temporary directory) for this module."""
    from pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory() as directory:
        server = get_server(directory, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    """Each test on both stores; a database of its own on the PostgreSQL server."""
    if request.param == "sqlite":
        return SqliteKeyStore(tmp_path / "keys.sqlite3")
    import psycopg

    server: str = request.getfixturevalue("postgres")
    name = f"keys_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return PostgresKeyStore(server.replace("/postgres?", f"/{name}?"))


async def test_each_order_has_a_key_of_its_own_and_erasing_one_leaves_the_others(store: KeyStore) -> None:
    [a] = await codec_for(store, workflow_id="order-A").encode([payload()])
    [b] = await codec_for(store, workflow_id="order-B").encode([payload()])
    assert a.metadata[KEY_ID_METADATA] == b"order:order-A"
    assert b.metadata[KEY_ID_METADATA] == b"order:order-B"
    # Another process, with the same store and master keys and no context, reads both.
    reader = codec_for(store)
    assert await reader.decode([a, b]) == [payload(), payload()]

    erased = await OrderKeys(store).destroy("order-A")
    assert erased is not None and erased.erased_at is not None and erased.wrapped is None

    fresh = codec_for(store)  # a process that never had the key cached
    with pytest.raises(ErasedPayloadError, match="order-A was erased on"):
        await fresh.decode([a])
    assert await fresh.decode([b]) == [payload()]


async def test_an_activity_of_the_order_encodes_with_the_orders_key(store: KeyStore) -> None:
    context = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="send_email",
        activity_task_queue="orders",
        workflow_id="order-A",
        workflow_type="ServiceOrderWorkflow",
        is_local=False,
    )
    codec = codec_for(store).with_context(context)
    [encoded] = await codec.encode([payload()])
    assert encoded.metadata[KEY_ID_METADATA] == b"order:order-A"


async def test_outside_an_order_and_for_facts_without_personal_data_the_master_key_encrypts(
    store: KeyStore,
) -> None:
    [outside] = await codec_for(store).encode([payload()])
    [other] = await codec_for(store, workflow_id="erasure-A").encode([payload()])  # not an order
    assert other.metadata[KEY_ID_METADATA] == b"k1"
    [facts] = await codec_for(store, workflow_id="order-A").encode([payload(**{NOT_PERSONAL: b"no"})])
    assert outside.metadata[KEY_ID_METADATA] == b"k1"
    assert facts.metadata[KEY_ID_METADATA] == b"k1"
    await OrderKeys(store).destroy("order-A")
    assert await codec_for(store).decode([facts]) == [payload(**{NOT_PERSONAL: b"no"})]


async def test_an_erased_order_never_gets_a_new_key(store: KeyStore) -> None:
    await codec_for(store, workflow_id="order-A").encode([payload()])
    await OrderKeys(store).destroy("order-A")
    with pytest.raises(OrderKeyErased, match="order-A was erased on"):
        await codec_for(store, workflow_id="order-A").encode([payload()])
    with pytest.raises(OrderKeyErased):
        await OrderKeys(store).for_encrypting("order-A", KeyRing.parse(K1).keys)


async def test_master_key_rotation_still_reads_keys_wrapped_by_the_old_master(store: KeyStore) -> None:
    [old] = await codec_for(store, K1, workflow_id="order-A").encode([payload()])
    # Rotated: k2 in front wraps new orders' keys; k1 still listed unwraps the old ones.
    [new] = await codec_for(store, K2, K1, workflow_id="order-B").encode([payload()])
    assert await codec_for(store, K2, K1).decode([old, new]) == [payload(), payload()]
    assert store.fetch("order-B") is not None and store.fetch("order-B").master_key_id == "k2"  # type: ignore[union-attr]
    with pytest.raises(PayloadDecryptionError, match="wrapped by master key 'k1'"):
        await codec_for(store, K2).decode([old])


async def test_processes_that_make_the_first_key_at_once_agree_on_one(store: KeyStore) -> None:
    masters = KeyRing.parse(K1).keys
    keys = await asyncio.gather(*(OrderKeys(store).for_encrypting("order-A", masters) for _ in range(8)))
    assert len(set(keys)) == 1


async def test_the_store_holds_only_wrapped_keys(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "keys.sqlite3")
    key = await OrderKeys(store).for_encrypting("order-A", KeyRing.parse(K1).keys)
    raw = store.path.read_bytes() + b"".join(p.read_bytes() for p in store.path.parent.glob("*-wal"))
    assert key not in raw
    with sqlite3.connect(store.path) as db:
        [(wrapped,)] = db.execute("SELECT wrapped FROM order_keys").fetchall()
    assert len(wrapped) > len(key) and key not in wrapped


async def test_a_process_without_the_store_names_what_to_set(store: KeyStore) -> None:
    [a] = await codec_for(store, workflow_id="order-A").encode([payload()])
    with pytest.raises(PayloadDecryptionError, match="ORDERS_KEY_STORE"):
        await EncryptionCodec(KeyRing.parse(K1)).decode([a])


def test_the_store_url_names_sqlite_or_postgresql(tmp_path: Path) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/a.sqlite3"), SqliteKeyStore)
    assert open_store(f"sqlite://{tmp_path}/a.sqlite3").describe() == f"sqlite://{tmp_path}/a.sqlite3"
    assert isinstance(open_store(str(tmp_path / "b.sqlite3")), SqliteKeyStore)
    with pytest.raises(KeyStoreError, match="'mysql' is not a key store"):
        open_store("mysql://db/keys")


def test_records_beside_the_keys_are_kept_per_order_and_kind(store: KeyStore) -> None:
    at = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    store.add_record("hold", "A", at, '{"n": 1}')
    store.add_record("hold", "A", at, '{"n": 2}')
    store.add_record("erasure", "A", at, '{"n": 3}')
    store.add_record("hold", "B", at, '{"n": 4}')
    assert store.records("hold", "A") == ['{"n": 1}', '{"n": 2}']
    assert store.records("erasure", "A") == ['{"n": 3}']
    assert store.records("erasure", "B") == []
