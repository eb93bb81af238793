"""``orders dev`` serves the portal where the email links point, and signs them by default."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from starter import dev
from tests.helpers import free_port, outbox
from tests.starter.test_cli_e2e import EXAMPLES, ORDERS, Cli, user_env

ROOT = Path(__file__).resolve().parents[2]


def test_local_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret"
    first = dev.local_secret(path)
    assert len(first) >= 32 and dev.local_secret(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_orders_dev_serves_the_portal_behind_signed_email_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This checkout's code for `orders dev` and every `orders` command, whichever checkout the script came from.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    port, ui_port, codec_port, portal_port = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in user_env().items() if k != "ORDERS_LINK_SECRET"}
    env["ORDERS_WEB_BASE_URL"] = f"http://127.0.0.1:{portal_port}"
    command = [ORDERS, "dev", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp_path / "t.db")]
    command += ["--codec-port", str(codec_port), "--outbox", str(tmp_path / "outbox")]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    cli = Cli(f"127.0.0.1:{port}", tmp_path)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([ORDERS, "list", "--address", cli.address], capture_output=True, env=env).returncode:
            assert process.poll() is None and time.monotonic() < deadline, "orders dev did not come up"
            time.sleep(0.3)
        contact = None
        while contact is None and time.monotonic() < deadline:
            try:
                contact = httpx.get(f"http://127.0.0.1:{portal_port}/contact", timeout=10)
            except httpx.ConnectError:
                time.sleep(0.2)
        assert contact is not None
        assert contact.status_code == 200 and "Tell us about your project" in contact.text

        order = cli.json("start", "--file", str(EXAMPLES / "request.json"))["order_id"]
        cli.run("confirm", order, "--file", str(EXAMPLES / "confirmation.json"))
        link = None
        while link is None and time.monotonic() < deadline:
            for message in outbox(tmp_path / "outbox"):
                if message["X-Message-Kind"] == "confirmation_issued":
                    body = message.get_body(("plain",))
                    assert body is not None
                    found = re.search(r"http://127\.0\.0\.1:\d+/orders/\S+", body.get_content())
                    link = found.group(0) if found else None
            time.sleep(0.2)
        assert link is not None and "?token=" in link  # signed by default
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and 'id="approve"' in page.text

        secret_file = tmp_path / ".orders" / "link-secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"Portal     http://localhost:{portal_port}" in output
