"""What the payload codec costs: CPU per payload, and history bytes with and without compression.

    python -m bench.codec_cost [tests/histories/completed_with_revision.json]

It takes every payload of a committed history (a whole order, from first
contact to the end of support), then encodes them the way the worker would:
not at all, AES-256-GCM alone, and zlib then AES-256-GCM (what the project
does). It reports the history's size for each, and the CPU time to encode and
decode one payload, measured with ``time.process_time`` over many rounds.
Compression must shrink the history: the encrypted, compressed history is
compared with the plain one, and ``main`` fails if it is larger.

It also runs the codec as the worker calls it (``encode``/``decode``), with the
master key and with the order's own key (``ORDERS_KEY_STORE``, the key cached
after its first use), alternating the two in the same run: per-order keys may
cost at most ``ORDER_KEY_TARGET`` times the master key's CPU per payload.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.converter import WorkflowSerializationContext

from ordersecurity.codec import EncryptionCodec, KeyRing, new_key_entry
from ordersecurity.key_store import SqliteKeyStore
from ordersecurity.order_keys import OrderKeys

ORDER_KEY_TARGET = 1.2
DEFAULT_HISTORY = Path(__file__).resolve().parent.parent / "tests" / "histories" / "completed_with_revision.json"
ROUNDS = 200


def payloads_of(message: Message) -> Iterator[Payload]:
    """Every Payload in a protobuf message, depth first (search attributes included)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = value.values()
        elif getattr(field, "is_repeated", False) or getattr(field, "label", None) == field.LABEL_REPEATED:
            items = value
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_of(item)


def load(path: Path) -> History:
    history = WorkflowHistory.from_json("bench", path.read_text())
    return History(events=history.events)


async def encoded_history(history: History, codec: EncryptionCodec | None) -> int:
    """The history's size once every (non search attribute) payload went through ``codec``."""
    copy = History()
    copy.CopyFrom(history)
    if codec is not None:
        for payload in payloads_of(copy):
            if "type" in payload.metadata:  # a search attribute: codecs never see them
                continue
            [encoded] = await codec.encode([payload])
            payload.CopyFrom(encoded)
    return copy.ByteSize()


def cpu_per_payload(payloads: list[Payload], work: Callable[[list[Payload]], object]) -> float:
    start = time.process_time()
    for _ in range(ROUNDS):
        work(payloads)
    return (time.process_time() - start) / (ROUNDS * len(payloads))


async def async_cpu_per_payload(
    payloads: list[Payload], work: Callable[[list[Payload]], Awaitable[object]], rounds: int
) -> float:
    start = time.process_time()
    for _ in range(rounds):
        await work(payloads)
    return (time.process_time() - start) / (rounds * len(payloads))


async def order_key_cost(payloads: list[Payload], ring: KeyRing, rounds: int = ROUNDS) -> dict[str, float]:
    """CPU per payload through ``encode`` and ``decode``, with the master key and with the order's
    own key (cached), in alternating rounds so that both see the same machine."""
    with tempfile.TemporaryDirectory() as directory:
        keys = OrderKeys(SqliteKeyStore(Path(directory) / "order-keys.sqlite3"))
        context = WorkflowSerializationContext(namespace="default", workflow_id="order-BENCH-1")
        codecs = {"master key": EncryptionCodec(ring), "order key": EncryptionCodec(ring, order_keys=keys)}
        codecs["order key"] = codecs["order key"].with_context(context)
        sealed = {name: await codec.encode(payloads) for name, codec in codecs.items()}  # makes the order's key
        spent = dict.fromkeys([f"{n} {op}" for n in codecs for op in ("encode", "decode")], 0.0)
        for _ in range(rounds // 10):
            for name, codec in codecs.items():
                spent[f"{name} encode"] += await async_cpu_per_payload(payloads, codec.encode, 10)
                spent[f"{name} decode"] += await async_cpu_per_payload(sealed[name], codec.decode, 10)
    return {name: total / (rounds // 10) for name, total in spent.items()}


async def main(path: Path = DEFAULT_HISTORY) -> int:
    history = load(path)
    ring = KeyRing.parse(new_key_entry("bench"))
    compressed, plain_aes = EncryptionCodec(ring), EncryptionCodec(ring, compress=False)
    payloads = [p for p in payloads_of(history) if "type" not in p.metadata]
    sizes = {
        "plain (no codec)": await encoded_history(history, None),
        "AES-256-GCM only": await encoded_history(history, plain_aes),
        "zlib + AES-256-GCM": await encoded_history(history, compressed),
    }
    sealed = [EncryptionCodec.encrypt(p, ring) for p in payloads]
    encode_s = cpu_per_payload(payloads, lambda ps: [EncryptionCodec.encrypt(p, ring) for p in ps])
    decode_s = cpu_per_payload(sealed, lambda ps: [EncryptionCodec.decrypt(p, ring) for p in ps])
    plain_bytes = sum(p.ByteSize() for p in payloads)
    sealed_bytes = sum(p.ByteSize() for p in sealed)

    print(f"history {path.name}: {len(history.events)} events, {len(payloads)} payloads")
    print(f"{'':24}{'history bytes':>14}{'vs plain':>10}")
    base = sizes["plain (no codec)"]
    for name, size in sizes.items():
        print(f"{name:24}{size:>14}{size / base:>10.2f}")
    print(f"payload bytes: {plain_bytes} plain, {sealed_bytes} compressed and encrypted")
    print(f"CPU per payload: encode {encode_s * 1e6:.1f} µs, decode {decode_s * 1e6:.1f} µs")
    costs = await order_key_cost(payloads, ring)
    print(f"{'through the codec':24}{'encode µs':>10}{'decode µs':>10}")
    for name in ("master key", "order key"):
        print(f"{name:24}{costs[name + ' encode'] * 1e6:>10.1f}{costs[name + ' decode'] * 1e6:>10.1f}")
    ratio = max(costs[f"order key {op}"] / costs[f"master key {op}"] for op in ("encode", "decode"))
    print(f"per-order keys cost {ratio:.2f}x the master key's (target: at most {ORDER_KEY_TARGET}x)")
    failed = 0
    if sizes["zlib + AES-256-GCM"] >= sizes["AES-256-GCM only"]:
        print("compression does not cut bytes here", file=sys.stderr)
        failed = 1
    if ratio > ORDER_KEY_TARGET:
        print(f"per-order keys cost {ratio:.2f}x, above {ORDER_KEY_TARGET}x", file=sys.stderr)
        failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_HISTORY)))
