"""End to end, as a new user does it: ``orders dev`` in one process, the
``orders`` CLI in others, one order walked from first contact to COMPLETED.

The confirmation uses a support period of half a minute, so the last step
waits for one short timer: everything else happens at the user's pace. (Long
enough for ``orders support`` to come in first on a busy machine, where each
``orders`` process takes seconds to start.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.email import message_sequence
from ordersecurity.codec import KEYS_ENV
from tests.helpers import free_port

ORDERS = str(Path(sys.executable).parent / "orders")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: no keys set, so ``orders dev`` makes its local key in its own
    directory and the CLI run there reads it (the test process pins empty keys,
    tests/conftest.py)."""
    return {k: v for k, v in os.environ.items() if k != KEYS_ENV} | extra


class Cli:
    def __init__(self, address: str, cwd: Path) -> None:
        self.address = address
        self.cwd = cwd

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ORDERS, *args, "--address", self.address],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.cwd,
            env=user_env(),
        )
        assert result.returncode == expect, f"orders {' '.join(args)} -> {result.returncode}\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Cli]:
    port, ui_port, codec_port, portal_port = free_port(), free_port(), free_port(), free_port()
    outbox = tmp_path / "outbox"
    command = [ORDERS, "dev", "--port", str(port), "--ui-port", str(ui_port), "--codec-port", str(codec_port)]
    command += ["--db", str(tmp_path / "t.db"), "--outbox", str(outbox)]
    env = user_env(ORDERS_SUPPORT_REMINDER_BEFORE="PT1S", ORDERS_WEB_BASE_URL=f"http://127.0.0.1:{portal_port}")
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    cli = Cli(f"127.0.0.1:{port}", tmp_path)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([ORDERS, "list", "--address", cli.address], capture_output=True, env=env).returncode:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "orders dev did not come up"
            time.sleep(0.3)
        yield cli
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, output


def test_one_order_from_contact_to_completed_with_the_cli(dev: Cli, tmp_path: Path) -> None:
    confirmation = json.loads((EXAMPLES / "confirmation.json").read_text())
    confirmation["terms"]["support_period"] = "PT30S"
    (tmp_path / "confirmation.json").write_text(json.dumps(confirmation))

    started = dev.json("start", "--file", str(EXAMPLES / "request.json"))
    order = started["order_id"]
    again = dev.json("start", "--file", str(EXAMPLES / "request.json"), "--order-id", order)
    assert again["existing"] is True

    dev.run("note", order, "Needs SSO", "--author", "customer")
    dev.run("confirm", order, "--file", str(tmp_path / "confirmation.json"))
    dev.run("request-changes", order, "--version", "1", "Please split the invoice")
    dev.run("confirm", order, "--file", str(tmp_path / "confirmation.json"))
    rejected = dev.run("approve", order, "--version", "1", expect=1)
    assert "the current version is 2" in rejected.stderr
    dev.run("approve", order, "--version", "2")
    dev.run("pay", order, "--amount", "1800.00", "--reference", "TX-1")
    status = dev.json("status", order)
    assert (status["status"], status["version"], status["balance_due"]) == ("AWAITING_PAYMENT", 2, "3000.00")
    dev.run("pay", order, "--amount", "3000.00", "--reference", "TX-2")
    dev.run("update", order, "Designs approved", "--milestone", "Design")
    dev.run("deliver", order, "Site is live", "--link", "https://staging.example.com")
    dev.run("request-revision", order, "Logo too small")
    dev.run("deliver", order, "Logo fixed")
    dev.run("accept", order)
    dev.run("support", order, "Login", "SSO fails in Safari")

    deadline = time.monotonic() + 90
    while (status := dev.json("status", order))["status"] != "COMPLETED":
        assert time.monotonic() < deadline, status["status"]
        time.sleep(0.5)

    listed = dev.json("list", "--status", "COMPLETED")
    assert order in [row["order_id"] for row in listed]
    outbox = list((tmp_path / "outbox").glob("*.eml"))
    kinds = {
        line.split(":", 1)[1].strip()
        for p in outbox
        for line in p.read_text().splitlines()
        if line.startswith("X-Message-Kind:")
    }
    assert {
        "contact_ack",
        "confirmation_issued",
        "payment_received",
        "work_commenced",
        "delivered",
        "support_closed",
    } <= kinds
    # The outbox lists the walk's messages in the order the workflow sent them.
    listing = subprocess.run(
        [ORDERS, "outbox", "--order", order, "--dir", str(tmp_path / "outbox"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    sent = [message_sequence(row["path"]) or 0 for row in json.loads(listing.stdout)]
    assert len(sent) > 9 and sent == sorted(sent) and 0 not in sent, sent
    dev.run("status", order, "--bogus", expect=2)
    dev.run("status", "no-such-order", expect=3)
