"""Record the erasure workflow's history (``orders erase``) for the replay tests.

    python -m tests.histories.record_erasure [NAME]   # default: erasure_completed

A cancelled order, then its erasure on the dev server, down every step: the
order is given a key of its own in a store (encryption is switched off for
committed histories, so the key is one row, never used), which the erasure
destroys. Re-record only knowingly, as ``record.py`` says.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from activities.config import Settings
from orderclient.client import OrderClient
from ordersecurity.codec import SWITCH_ENV
from ordersecurity.key_store import STORE_ENV, SqliteKeyStore, StoredKey
from tests.helpers import start_input
from worker import build_worker
from workflows import names
from workflows.models import CancelInput

HERE = Path(__file__).parent
NAME = "erasure_completed"


async def record(name: str = NAME) -> None:
    from tests.conftest import start_dev_server

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[STORE_ENV] = f"sqlite:///{tmp}/order-keys.sqlite3"
        env = await start_dev_server()
        try:
            settings = replace(Settings(), outbox_dir=Path(tmp) / "outbox", documents_dir=Path(tmp) / "documents")
            task_queue = f"record-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, settings, task_queue=task_queue):
                orders = OrderClient(env.client, task_queue=task_queue)
                order_id = (await orders.start(start_input())).order_id
                await orders.act(order_id, CancelInput(reason="Duplicate enquiry"))
                await orders.handle(order_id).result()
                workflow_id = names.workflow_id(order_id)
                store = SqliteKeyStore(Path(tmp) / "order-keys.sqlite3")
                store.insert(StoredKey.live(workflow_id, "record", b"\0" * 60, datetime.now(UTC)))
                await orders.erase(order_id, reason="DSR-1", operator="Recorder")
                history = await env.client.get_workflow_handle(names.erasure_workflow_id(order_id)).fetch_history()
        finally:
            await env.shutdown()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    os.environ[SWITCH_ENV] = "off"  # committed histories are readable JSON, as record.py's
    os.environ["ORDERS_ENCRYPTION_KEYS"] = ""
    sys.exit(asyncio.run(record(*sys.argv[1:2])))
