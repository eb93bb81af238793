"""Per-order data keys: what makes an order's personal data erasable.

Temporal keeps an order's history, append-only, for as long as the namespace
retains it, and replicates it. To erase the personal data in it, each order's
payloads are encrypted with a data key of that order alone; destroying that key
makes them unreadable everywhere at once, history, replicas and backups alike
("crypto-shredding"). The codec (``ordersecurity/codec.py``) asks ``OrderKeys``
for the key of the workflow a payload belongs to; the workflow id stays the same
across continue-as-new, so every run of an order shares one key.

A data key is 32 random bytes, stored only wrapped: encrypted with the first
master key of ``ORDERS_ENCRYPTION_KEYS`` (AES-256-GCM, bound to the workflow id
and the master key's id). The store (``key_store.py``) therefore never holds a
key that reads anything by itself, and rotating the master keys works as
before: a key wrapped by an older master key unwraps while that key is still
listed. Destroying a key keeps its row, with the time and no key material, so
that everyone can tell "erased" from "never existed", and no key is ever made
again for an erased order.

Keys are cached per process for ``ttl`` seconds, so a workflow task or a page of
history costs no lookup; the same bound is how long a process that had the key
may still read an order after it is erased (the order is closed by then: no
worker runs it again).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Final

from ordersecurity.key_store import KeyStore, StoredKey

DATA_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
WRAP_AAD: Final = b"service-orders/order-key/v1"
DEFAULT_TTL: Final = 60.0
"""Seconds a process keeps an order's key before asking the store again (and so learning it was erased)."""
DEFAULT_CAPACITY: Final = 20_000


class OrderKeyError(Exception):
    """An order's key cannot be had: the message says why and what to do."""

    def __init__(self, workflow_id: str, message: str) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id


class OrderKeyErased(OrderKeyError):
    """The order's personal data was erased: its key is gone for good."""

    def __init__(self, workflow_id: str, erased_at: datetime) -> None:
        super().__init__(
            workflow_id, f"the personal data of {workflow_id} was erased on {erased_at:%Y-%m-%d %H:%M} UTC"
        )
        self.erased_at = erased_at


def _aad(workflow_id: str, master_key_id: str) -> bytes:
    return WRAP_AAD + b"\0" + workflow_id.encode() + b"\0" + master_key_id.encode()


def wrap(data_key: bytes, workflow_id: str, master_key_id: str, master_key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, _aad(workflow_id, master_key_id))


def unwrap(wrapped: bytes, workflow_id: str, master_key_id: str, master_key: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        return AESGCM(master_key).decrypt(nonce, sealed, _aad(workflow_id, master_key_id))
    except InvalidTag:
        raise OrderKeyError(
            workflow_id,
            f"the stored key of {workflow_id} does not unwrap with master key {master_key_id!r}: the key store "
            "or the master key was altered",
        ) from None


MasterKeys = tuple[tuple[str, bytes], ...]
"""``KeyRing.keys``: (id, key) in order, the first wraps new keys."""


class OrderKeys:
    """The data keys of orders, from one store, cached for ``ttl`` seconds."""

    def __init__(self, store: KeyStore, *, ttl: float = DEFAULT_TTL, capacity: int = DEFAULT_CAPACITY) -> None:
        self.store = store
        self._ttl = ttl
        self._capacity = capacity
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def cached(self, workflow_id: str) -> bytes | None:
        entry = self._cache.get(workflow_id)
        if entry is None:
            return None
        expires, key = entry
        if expires < time.monotonic():
            del self._cache[workflow_id]
            return None
        self._cache.move_to_end(workflow_id)
        return key

    def _remember(self, workflow_id: str, key: bytes) -> bytes:
        self._cache[workflow_id] = (time.monotonic() + self._ttl, key)
        self._cache.move_to_end(workflow_id)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return key

    def forget(self, workflow_id: str) -> None:
        self._cache.pop(workflow_id, None)

    async def for_encrypting(self, workflow_id: str, masters: MasterKeys) -> bytes:
        """The order's key, made and stored (wrapped) on its first payload."""
        key = self.cached(workflow_id)
        if key is not None:
            return key
        stored = await asyncio.to_thread(self.store.fetch, workflow_id)
        if stored is None:
            master_id, master = masters[0]
            data_key = secrets.token_bytes(DATA_KEY_BYTES)
            made = StoredKey.live(workflow_id, master_id, wrap(data_key, workflow_id, master_id, master), _now())
            # Two processes may make one at once: the store keeps the first, and both use it.
            stored = await asyncio.to_thread(self.store.insert, made)
        return self._remember(workflow_id, self._open(stored, masters))

    async def for_decrypting(self, workflow_id: str, masters: MasterKeys) -> bytes:
        """The order's key; ``OrderKeyErased`` once erased, ``OrderKeyError`` if it was never made here."""
        key = self.cached(workflow_id)
        if key is not None:
            return key
        stored = await asyncio.to_thread(self.store.fetch, workflow_id)
        if stored is None:
            raise OrderKeyError(
                workflow_id,
                f"no key for {workflow_id} in the key store {self.store.describe()}: this process reads another "
                "store than the one that encrypted the order (ORDERS_KEY_STORE)",
            )
        return self._remember(workflow_id, self._open(stored, masters))

    @staticmethod
    def _open(stored: StoredKey, masters: MasterKeys) -> bytes:
        if stored.erased_at is not None or stored.wrapped is None or stored.master_key_id is None:
            raise OrderKeyErased(stored.workflow_id, stored.erased_at or _now())
        master = dict(masters).get(stored.master_key_id)
        if master is None:
            known = ", ".join(key_id for key_id, _ in masters) or "none"
            raise OrderKeyError(
                stored.workflow_id,
                f"the key of {stored.workflow_id} is wrapped by master key {stored.master_key_id!r}, which this "
                f"process does not have (known key ids: {known}); add it to ORDERS_ENCRYPTION_KEYS",
            )
        return unwrap(stored.wrapped, stored.workflow_id, stored.master_key_id, master)

    async def destroy(self, workflow_id: str) -> StoredKey | None:
        """Destroy the order's key for good; the row that remains says when. None if it never had one."""
        self.forget(workflow_id)
        return await asyncio.to_thread(self.store.destroy, workflow_id, _now())


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
