"""The portal, a worker and the dev server, in-process, for the portal's tests.

``PortalHarness`` runs the portal app under uvicorn on a free port (a real
HTTP server, for a real browser), a worker on its own task queue, and an
``OrderClient`` for the staff's side. Links in the outbox's emails point at
the portal because ``ORDERS_WEB_BASE_URL`` is its address.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from temporalio.client import Client

from activities.config import HttpLimits, Settings
from activities.email import read_outbox_message
from orderclient.client import OrderClient
from orderweb.portal import create_app
from orderweb.serving import server_config
from tests.browser import CHROMIUM as CHROMIUM
from tests.helpers import free_port, outbox
from worker import build_worker

LINK_SECRET = "portal-test-secret-0123456789abcdef"
INBOUND_SECRET = "inbound-test-secret"


CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
"""


async def watch_csp(page: Any) -> list[str]:
    """Every Content-Security-Policy violation on ``page`` from now on (the list fills as it goes).

    Chromium logs a refused style, script or frame as a console error; the
    ``securitypolicyviolation`` listener names the directive as well."""
    violations: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("CSP violation"):
            violations.append(message.text)

    page.on("console", on_console)
    await page.add_init_script(CSP_REPORTER)
    return violations


class QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield

    def install_signal_handlers(self) -> None:
        return None


@dataclass
class PortalHarness:
    url: str
    orders: OrderClient
    settings: Settings
    outbox_dir: Path

    def links(self, order_id: str, kind: str, *, overview: bool = False) -> list[str]:
        """Every call-to-action link to the portal in the order's ``kind`` emails, newest
        message last; with ``overview``, the footer's links to the order's overview instead."""
        found: list[str] = []
        for message in outbox(self.outbox_dir):
            if message["X-Order-Id"] == order_id and message["X-Message-Kind"] == kind:
                body = message.get_body(("plain",))
                assert body is not None
                for url in re.findall(re.escape(self.url) + r"/orders/\S+", body.get_content()):
                    path = url.removeprefix(self.url + "/orders/").split("?")[0]
                    if ("/" not in path) == overview:
                        found.append(url)
        return found

    def link(self, order_id: str, kind: str) -> str:
        found = self.links(order_id, kind)
        assert found, f"no {kind} link for order {order_id}"
        return found[-1]

    def kinds(self, order_id: str) -> list[str]:
        return [str(m["X-Message-Kind"]) for m in outbox(self.outbox_dir) if m["X-Order-Id"] == order_id]

    def read(self, path: Path) -> Any:
        return read_outbox_message(path)


@contextlib.asynccontextmanager
async def running_portal(
    client: Client,
    tmp_path: Path,
    task_queue: str,
    *,
    link_secret: str | None = LINK_SECRET,
    stripe_client: Any | None = None,
    stripe_settings: dict[str, Any] | None = None,
    contact_limit: int = 50,
    clock: Callable[[], datetime] | None = None,
    http: HttpLimits | None = None,
) -> AsyncIterator[PortalHarness]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(
        Settings(),
        outbox_dir=tmp_path / "outbox",
        web_base_url=url,
        link_secret=link_secret,
        inbound_address="orders@in.example.com",
        http=http or HttpLimits(),
        **(stripe_settings or {}),
    )
    orders = OrderClient(client, task_queue=task_queue, link_secret=link_secret, settings=settings)

    async def factory() -> OrderClient:
        return orders

    app = create_app(
        factory,
        settings,
        stripe_client=stripe_client,
        inbound_secret=INBOUND_SECRET,
        contact_limit=contact_limit,
        clock=clock,
    )
    config = server_config(app, "127.0.0.1", port, settings.http, log_level="warning", lifespan="off")
    server = QuietServer(config)
    worker = build_worker(client, settings, task_queue=task_queue)
    async with worker:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield PortalHarness(url=url, orders=orders, settings=settings, outbox_dir=settings.outbox_dir)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
