"""A real browser on ``orders dev``: the bundled Temporal UI shows an encrypted order decoded.

``orders dev`` makes its local key, starts the codec server and tells the dev
server's UI about it (``--ui-codec-endpoint``); the UI then decodes payloads
in the browser. Chromium comes from Debian (``.ci/run`` installs it) and is
driven by Playwright with ``executable_path``: Playwright's own browser
download is not reachable here or in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from ordersecurity.codec import KEYS_ENV, LOCAL_KEY_FILE
from tests.helpers import free_port
from workflows import names

ORDERS = str(Path(sys.executable).parent / "orders")
ROOT = Path(__file__).resolve().parents[2]
NAME = "Philippa Vantongeren"
EMAIL = "philippa.vantongeren@example.org"
UI_TIMEOUT_MS = 90_000
"""The UI is a JS app on a shared 2-core machine: give it time."""


def chromium() -> str | None:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class Dev:
    address: str
    ui: str
    codec: str
    cwd: Path
    env: dict[str, str]
    banner: list[str]

    def orders(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ORDERS, *args, "--address", self.address],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.cwd,
            env=self.env,
        )
        assert result.returncode == 0, f"orders {' '.join(args)}: {result.stderr}"
        return result


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    """``orders dev`` in a fresh directory, with no key configured: it makes its own."""
    port, ui_port, codec_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != KEYS_ENV and not k.startswith("TEMPORAL_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, from any directory
    env["ORDERS_WEB_BASE_URL"] = f"http://127.0.0.1:{free_port()}"  # the portal's port: a free one too
    command = [ORDERS, "dev", "--port", str(port), "--ui-port", str(ui_port), "--codec-port", str(codec_port)]
    log_path = tmp_path / "dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    dev = Dev(f"127.0.0.1:{port}", f"http://localhost:{ui_port}", f"http://127.0.0.1:{codec_port}", tmp_path, env, [])
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"orders dev did not come up:\n{log_path.read_text()}"
            time.sleep(0.3)
        dev.banner = log_path.read_text().splitlines()
        yield dev
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_the_bundled_ui_shows_the_decoded_customer(dev: Dev) -> None:
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium on this machine: `apt-get install -y chromium` (.ci/run does it where it can)")
    from playwright.async_api import async_playwright

    key_file = dev.cwd / LOCAL_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert any(dev.codec in line for line in dev.banner), "the banner names the codec endpoint"

    order_id = f"ui{os.urandom(3).hex()}"
    dev.orders("start", "--order-id", order_id, "--name", NAME, "--email", EMAIL, "--message", "A shop, please")
    assert NAME in dev.orders("status", order_id).stdout

    # Without the codec, Temporal holds only ciphertext.
    raw = await Client.connect(dev.address)
    handle = raw.get_workflow_handle(names.workflow_id(order_id))
    history = await handle.fetch_history()
    assert NAME.encode() not in b"".join(e.SerializeToString() for e in history.events)
    run_id = history.run_id

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            url = f"{dev.ui}/namespaces/default/workflows/{names.workflow_id(order_id)}/{run_id}/history"
            await page.goto(url, timeout=UI_TIMEOUT_MS)
            await page.wait_for_function(
                "name => document.body && document.body.innerText.includes(name)", arg=NAME, timeout=UI_TIMEOUT_MS
            )
            text = await page.inner_text("body")
        finally:
            await browser.close()
    assert NAME in text
    assert EMAIL in text
