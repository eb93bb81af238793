"""The payload codec: customers' personal data never reaches Temporal in clear text.

Every payload (workflow inputs and results, signals, updates, queries, activity
arguments and results, memos, user metadata such as summaries, and failure
messages, see ``workflows/converter.py``) is compressed with zlib, then
encrypted with AES-256-GCM. The key id travels in the payload's metadata, so
that rotation is adding a new key in front: the first key encrypts, all of
them decrypt.

What a codec cannot hide: the workflow id, search attributes, the task queue
and the workflow and activity type names. Those must never carry personal
data (docs/design.md, "Personal data").

Keys come from ``ORDERS_ENCRYPTION_KEYS``: ``id:base64key[,id:base64key...]``,
each key 32 random bytes (``orders keygen`` prints one). When the variable is
not set at all, the local key file ``orders dev`` keeps (``.orders/
encryption-keys``) is used if it exists, so the CLI in the same directory
reads what ``orders dev`` wrote.

Without a key, nothing is sent: encoding raises ``EncryptionRequired``, whose
message says how to set one, and every process that talks to Temporal checks
it when it connects (``require_encryption``). A shell, a portal or a webhook
receiver deployed without the key would otherwise write customers' names,
emails and phones in clear text. Only ``ORDERS_ENCRYPTION=off`` lets payloads
pass through unchanged, as they did before this codec existed: for local
experiments and the test suite, never for real orders.

Each order's payloads are encrypted with a data key of that order alone when a
key store is configured (``ORDERS_KEY_STORE``, see ``order_keys.py``): destroying
that key erases the order's personal data (``orders erase``). The codec learns
the order from the SDK's serialization context (``with_context``: the workflow
id, the same across continue-as-new); its key id reads ``order:<workflow id>``,
so that any process with the store and the master keys, the codec server
included, decodes without a context. Payloads with no workflow (a client call
outside an order), and those the converter marks as holding no personal data
(``NOT_PERSONAL``: the accounting facts of a closed order), keep the master key,
so they stay readable after erasure.

Decoding never guesses: a payload without the encryption encoding passes
through (histories recorded before encryption still replay), and one encrypted
with an unknown key id, or altered in any way, raises ``PayloadDecryptionError``
naming the key id. In a workflow task that error fails the task, which Temporal
retries (it shows as a workflow task failure in the UI and the worker log): the
order waits, unharmed, until a worker that has the key picks it up. It is not a
non-retryable error on purpose: failing the order itself would end a customer's
order because one worker missed a key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import temporalio.api.common.v1
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from ordersecurity.key_store import open_store, store_url_from_environment
from ordersecurity.order_keys import OrderKeyErased, OrderKeyError, OrderKeys
from workflows.names import WORKFLOW_ID_PREFIX

KEYS_ENV: Final = "ORDERS_ENCRYPTION_KEYS"
SWITCH_ENV: Final = "ORDERS_ENCRYPTION"
"""``off`` lets payloads pass in clear text when there is no key (local experiments only); ``on`` is the default."""
LOCAL_KEY_FILE: Final = Path(".orders") / "encryption-keys"
"""Where ``orders dev`` keeps its local key; read only when ``ORDERS_ENCRYPTION_KEYS`` is unset."""

ENCODING: Final = b"binary/encrypted"
KEY_ID_METADATA: Final = "encryption-key-id"
COMPRESSION_METADATA: Final = "encryption-compression"
ZLIB: Final = b"zlib"
NO_COMPRESSION: Final = b"none"
ARRIVED_PLAIN: Final = "orders-arrived-plain"
"""Metadata ``decode`` adds to a JSON payload that was not encrypted, so that the order can tell operations."""
JSON_PLAIN: Final = b"json/plain"
KEY_BYTES: Final = 32
"""AES-256."""
NONCE_BYTES: Final = 12
"""GCM's standard nonce; random per payload (2**32 payloads per key stay far below the collision bound)."""
ZLIB_LEVEL: Final = 6
AAD_PREFIX: Final = b"service-orders/codec/v1"
"""Bound into the tag with the key id and compression, so that changing either metadata entry fails decryption."""

ORDER_KEY_PREFIX: Final = "order:"
"""Key ids ``order:<workflow id>`` name an order's own data key (``order_keys.py``)."""
NOT_PERSONAL: Final = "orders-personal"
"""Metadata the converter sets (to ``no``) on payloads that hold no personal data: they keep the master key."""

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class KeyConfigError(ValueError):
    """``ORDERS_ENCRYPTION_KEYS`` (or the local key file) holds something unusable; the message says what."""


class EncryptionRequired(KeyConfigError):
    """No key, and encryption not switched off: this process refuses to send personal data in clear text."""

    def __init__(self) -> None:
        super().__init__(
            f"no encryption key: this process would send customers' personal data to Temporal in clear text. Set "
            f"{KEYS_ENV} to the keys the worker uses (`orders keygen ID` prints a new one; in the directory where "
            f"`orders dev` runs, its key file {LOCAL_KEY_FILE} is read), or set {SWITCH_ENV}=off to send "
            "unencrypted payloads (local experiments only, never real orders)"
        )


class PayloadDecryptionError(Exception):
    """A payload that cannot be decrypted: unknown key id, or tampered with. ``key_id`` names the key."""

    def __init__(self, key_id: str, message: str) -> None:
        super().__init__(message)
        self.key_id = key_id


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys by id, in order: the first encrypts, all decrypt."""

    keys: tuple[tuple[str, bytes], ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.keys)

    @property
    def encrypting_key_id(self) -> str | None:
        return self.keys[0][0] if self.keys else None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)

    def key(self, key_id: str) -> bytes | None:
        for known, key in self.keys:
            if known == key_id:
                return key
        return None

    @classmethod
    def parse(cls, text: str, source: str = KEYS_ENV) -> KeyRing:
        """``id:base64key[,id:base64key...]``; commas or newlines separate entries, ``#`` starts a comment line."""
        entries = [
            entry.strip()
            for line in text.splitlines()
            if not line.strip().startswith("#")
            for entry in line.split(",")
            if entry.strip()
        ]
        keys: list[tuple[str, bytes]] = []
        for entry in entries:
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep:
                raise KeyConfigError(f"{source}: an entry without ':' (expected id:base64key, ...)")
            if not _KEY_ID.fullmatch(key_id):
                raise KeyConfigError(
                    f"{source}: key id {key_id!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyConfigError(f"{source}: key {key_id!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise KeyConfigError(
                    f"{source}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES} (orders keygen)"
                )
            if any(known == key_id for known, _ in keys):
                raise KeyConfigError(f"{source}: key id {key_id!r} appears twice")
            keys.append((key_id, key))
        return cls(tuple(keys))


def new_key_entry(key_id: str) -> str:
    """``id:base64key`` with a fresh random key, for ``ORDERS_ENCRYPTION_KEYS``."""
    if not _KEY_ID.fullmatch(key_id):
        raise KeyConfigError(f"key id {key_id!r} must be letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"


def write_local_key(path: Path = LOCAL_KEY_FILE) -> bool:
    """Create ``path`` with one fresh key, readable by its owner only; False if it already exists (kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write("# orders dev's local encryption key (ORDERS_ENCRYPTION_KEYS format). Keep it: without it\n")
        file.write("# the orders in this directory's Temporal database cannot be read.\n")
        file.write(new_key_entry(f"dev-{secrets.token_hex(3)}") + "\n")
    return True


@dataclass(frozen=True)
class KeySource:
    """Where the keys came from, for the worker's start-up line."""

    ring: KeyRing
    origin: str


_cache: dict[tuple[str | None, int | None], KeySource] = {}


def keys_from_environment() -> KeySource:
    """The keys in force now: ``ORDERS_ENCRYPTION_KEYS`` if set, else the local key file if it exists.

    Read on every use (cached by value), so a process that sets the variable
    after importing this module (``orders dev``) is honoured.
    """
    env = os.environ.get(KEYS_ENV)
    mtime: int | None = None
    if env is None:
        try:
            mtime = LOCAL_KEY_FILE.stat().st_mtime_ns
        except OSError:
            mtime = None
    cache_key = (env, mtime)
    found = _cache.get(cache_key)
    if found is not None:
        return found
    if env is not None:
        source = KeySource(KeyRing.parse(env), KEYS_ENV)
    elif mtime is not None:
        try:
            text = LOCAL_KEY_FILE.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise KeyConfigError(f"cannot read the local key file {LOCAL_KEY_FILE}: {error}") from None
        source = KeySource(KeyRing.parse(text, str(LOCAL_KEY_FILE)), str(LOCAL_KEY_FILE))
    else:
        source = KeySource(KeyRing(), "nowhere")
    _cache.clear()
    _cache[cache_key] = source
    return source


_stores: dict[str, OrderKeys] = {}


def order_keys_from_environment() -> OrderKeys | None:
    """The per-order keys of ``ORDERS_KEY_STORE``, one cache per store and process; None when unset."""
    url = store_url_from_environment()
    if url is None:
        return None
    found = _stores.get(url)
    if found is None:
        found = _stores[url] = OrderKeys(open_store(url))
    return found


_MISSING: Final = ", which this process does not have"
_MISSING_KEY = re.compile(r"payload encrypted with key id '([A-Za-z0-9._-]{1,64})'" + re.escape(_MISSING))


def missing_key_id(message: str) -> str | None:
    """The key id a ``PayloadDecryptionError`` message says its process lacked, if it says so.

    A worker's failed workflow task carries only that message (in plain text,
    see ``PrivateFailureConverter``): this is how a client names the key.
    """
    found = _MISSING_KEY.search(message)
    return found.group(1) if found else None


def encryption_switched_off() -> bool:
    """``ORDERS_ENCRYPTION=off``; any value but ``on``, ``off`` or unset is a ``KeyConfigError``."""
    value = os.environ.get(SWITCH_ENV, "").strip().lower()
    if value not in ("", "on", "off"):
        raise KeyConfigError(f"{SWITCH_ENV} must be 'on' or 'off', not {value!r}")
    return value == "off"


def require_encryption() -> KeySource:
    """The keys in force, or ``EncryptionRequired`` when there are none and encryption is not switched off.

    Called by every process that writes to orders before it connects (``orderclient.connection``,
    ``OrderClient``, the worker, the portal and the webhook receiver), so that a missing key
    stops it at start with a message, before any request.
    """
    source = keys_from_environment()
    if not source.ring.active and not encryption_switched_off():
        raise EncryptionRequired()
    return source


def _marked_plain(payload: temporalio.api.common.v1.Payload) -> temporalio.api.common.v1.Payload:
    marked = temporalio.api.common.v1.Payload()
    marked.CopyFrom(payload)
    marked.metadata[ARRIVED_PLAIN] = b"1"
    return marked


def arrived_plain(payload: temporalio.api.common.v1.Payload) -> bool:
    """Whether ``decode`` found this payload in clear text."""
    return ARRIVED_PLAIN in payload.metadata


class ErasedPayloadError(PayloadDecryptionError):
    """The payload's order was erased: it will never be readable again. ``erased_at`` says when."""

    def __init__(self, key_id: str, erased: OrderKeyErased) -> None:
        super().__init__(key_id, str(erased))
        self.erased_at = erased.erased_at


def _aad(key_id: bytes, compression: bytes) -> bytes:
    return AAD_PREFIX + b"\0" + key_id + b"\0" + compression


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """zlib, then AES-256-GCM. ``keys`` fixed for tests and tools (an empty ring passes payloads through);
    None reads the environment on each call, and refuses to encode without a key (``require_encryption``).
    ``order_keys`` likewise: fixed, or None for ``ORDERS_KEY_STORE`` (with keys from the environment only).
    ``compress=False`` only for measuring what compression saves (bench/codec_cost.py)."""

    def __init__(
        self,
        keys: KeyRing | None = None,
        *,
        compress: bool = True,
        order_keys: OrderKeys | None = None,
        workflow_id: str | None = None,
    ) -> None:
        self._fixed = keys
        self._compress = compress
        self._order_keys = order_keys
        self.workflow_id = workflow_id
        """The order whose payloads this codec encodes, from the serialization context; None outside one."""

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """This codec for the order ``context`` names (activities name their workflow too); other
        workflows (an erasure, the bench's probes) keep the master key."""
        workflow_id = getattr(context, "workflow_id", None)
        if not (isinstance(workflow_id, str) and workflow_id.startswith(WORKFLOW_ID_PREFIX)):
            workflow_id = None
        if workflow_id == self.workflow_id:
            return self
        return EncryptionCodec(
            self._fixed, compress=self._compress, order_keys=self._order_keys, workflow_id=workflow_id
        )

    @property
    def reads_environment(self) -> bool:
        """Keys from the environment (the shared converter's codec), not fixed ones."""
        return self._fixed is None

    @property
    def keyring(self) -> KeyRing:
        return self._fixed if self._fixed is not None else keys_from_environment().ring

    @property
    def order_keys(self) -> OrderKeys | None:
        if self._order_keys is not None or self._fixed is not None:
            return self._order_keys
        return order_keys_from_environment()

    async def encode(
        self, payloads: Sequence[temporalio.api.common.v1.Payload]
    ) -> list[temporalio.api.common.v1.Payload]:
        ring = self.keyring
        if not ring.active:
            if payloads and self._fixed is None:
                require_encryption()  # the last line of defence: nothing leaves in clear text by accident
            return list(payloads)
        order_keys = self.order_keys if self.workflow_id else None
        own: KeyRing | None = None  # the order's key, looked up once per call
        encoded = []
        for payload in payloads:
            if order_keys is None or payload.metadata.get(NOT_PERSONAL) == b"no":
                encoded.append(self.encrypt(payload, ring, compress=self._compress))
                continue
            if own is None:
                assert self.workflow_id is not None
                # The cached key without a coroutine: this runs for every workflow task.
                data_key = order_keys.cached(self.workflow_id) or await order_keys.for_encrypting(
                    self.workflow_id, ring.keys
                )
                own = KeyRing(((ORDER_KEY_PREFIX + self.workflow_id, data_key),))
            encoded.append(self.encrypt(payload, own, compress=self._compress))
        return encoded

    async def decode(
        self, payloads: Sequence[temporalio.api.common.v1.Payload]
    ) -> list[temporalio.api.common.v1.Payload]:
        ring: KeyRing | None = None
        decoded: list[temporalio.api.common.v1.Payload] = []
        for payload in payloads:
            encoding = payload.metadata.get("encoding")
            if encoding != ENCODING:
                # Written before encryption, or by a process without keys: passed on, marked
                # (the same whichever process decodes it, so a replay sees the same).
                decoded.append(_marked_plain(payload) if encoding == JSON_PLAIN else payload)
                continue
            ring = ring or self.keyring
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
            if key_id.startswith(ORDER_KEY_PREFIX):
                decoded.append(self.decrypt(payload, await self._order_ring(key_id, ring)))
            else:
                decoded.append(self.decrypt(payload, ring))
        return decoded

    async def _order_ring(self, key_id: str, masters: KeyRing) -> KeyRing:
        """A ring of the one order key ``key_id`` names; ``PayloadDecryptionError`` (``OrderKeyErased``'s
        message included) when this process cannot have it."""
        workflow_id = key_id.removeprefix(ORDER_KEY_PREFIX)
        order_keys = self.order_keys
        if order_keys is None:
            raise PayloadDecryptionError(
                key_id,
                f"payload encrypted with the order key of {workflow_id}, and this process has no key store: "
                "set ORDERS_KEY_STORE to the store the worker uses",
            )
        try:
            key = order_keys.cached(workflow_id) or await order_keys.for_decrypting(workflow_id, masters.keys)
            return KeyRing(((key_id, key),))
        except OrderKeyErased as erased:
            raise ErasedPayloadError(key_id, erased) from None
        except OrderKeyError as error:
            raise PayloadDecryptionError(key_id, str(error)) from None

    @staticmethod
    def encrypt(
        payload: temporalio.api.common.v1.Payload, ring: KeyRing, *, compress: bool = True
    ) -> temporalio.api.common.v1.Payload:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key_id, key = ring.keys[0]
        plain = payload.SerializeToString()
        packed = zlib.compress(plain, ZLIB_LEVEL) if compress else plain
        compression = ZLIB
        if not compress or len(packed) >= len(plain):  # tiny payloads: zlib's header would only add bytes
            packed, compression = plain, NO_COMPRESSION
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, packed, _aad(key_id.encode(), compression))
        return temporalio.api.common.v1.Payload(
            metadata={
                "encoding": ENCODING,
                KEY_ID_METADATA: key_id.encode(),
                COMPRESSION_METADATA: compression,
            },
            data=nonce + sealed,
        )

    @staticmethod
    def decrypt(payload: temporalio.api.common.v1.Payload, ring: KeyRing) -> temporalio.api.common.v1.Payload:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        raw_id = payload.metadata.get(KEY_ID_METADATA, b"")
        key_id = raw_id.decode("utf-8", "replace")
        compression = payload.metadata.get(COMPRESSION_METADATA, ZLIB)
        key = ring.key(key_id)
        if key is None:
            known = ", ".join(ring.ids) or "none: ORDERS_ENCRYPTION_KEYS is not set"
            raise PayloadDecryptionError(
                key_id,
                f"payload encrypted with key id {key_id!r}{_MISSING} "
                f"(known key ids: {known}); add that key to {KEYS_ENV}",
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            packed = AESGCM(key).decrypt(nonce, sealed, _aad(raw_id, compression))
            if compression == ZLIB:
                plain = zlib.decompress(packed)
            elif compression == NO_COMPRESSION:
                plain = packed
            else:
                raise ValueError(f"unknown compression {compression!r}")
            return temporalio.api.common.v1.Payload.FromString(plain)
        except (InvalidTag, ValueError, zlib.error) as error:
            raise PayloadDecryptionError(
                key_id,
                f"payload encrypted with key id {key_id!r} failed to decrypt: it was altered, or the key named "
                f"{key_id!r} here is not the one that encrypted it ({type(error).__name__})",
            ) from None
