"""``orders dev --stripe-test-double``: a newcomer walks the card path without a Stripe account.

``orders dev`` serves the Stripe double (``starter/stripe_double/``) on a
free 127.0.0.1 port and points the worker and the portal at it. Here the whole
of it runs as a user runs it: ``orders dev`` in one process on free ports, in a
temporary directory with its own encryption key (never a developer's
``.orders/``), and the ``orders`` CLI in others. An order is paid by card to
IN_PROGRESS; a declined card is reported as declined, with a nonzero exit.
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

from ordersecurity.codec import new_key_entry
from tests.helpers import free_port

ORDERS = str(Path(sys.executable).parent / "orders")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Dev:
    def __init__(self, address: str, cwd: Path, keys: str) -> None:
        self.address = address
        self.cwd = cwd
        self.keys = keys
        self.banner: list[str] = []

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ORDERS, *args, "--address", self.address],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=self.cwd,
            env={**os.environ, "ORDERS_ENCRYPTION_KEYS": self.keys},
        )
        said = f"{result.stdout}\n{result.stderr}"
        assert result.returncode == expect, f"orders {' '.join(args)} -> {result.returncode}\n{said}"
        return result


@pytest.fixture
def dev(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Dev]:
    """``orders dev`` with the flags a test parametrizes it with (default ``--stripe-test-double``)."""
    flags: list[str] = getattr(request, "param", ["--stripe-test-double"])
    port, ui_port, codec_port, portal_port = free_port(), free_port(), free_port(), free_port()
    keys = new_key_entry("e2e-cards")
    command = [ORDERS, "dev", *flags, "--port", str(port), "--ui-port", str(ui_port)]
    command += ["--codec-port", str(codec_port), "--db", str(tmp_path / "t.db"), "--outbox", str(tmp_path / "outbox")]
    env = {
        **os.environ,
        "ORDERS_ENCRYPTION_KEYS": keys,
        "ORDERS_WEB_BASE_URL": f"http://localhost:{portal_port}",
        "PYTHONUNBUFFERED": "1",
    }
    for var in ("STRIPE_API_KEY", "STRIPE_API_BASE"):
        env.pop(var, None)
    log = (tmp_path / "dev.log").open("w+")
    process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    dev = Dev(f"127.0.0.1:{port}", tmp_path, keys)
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops the worker" not in (tmp_path / "dev.log").read_text():  # the banner's last line
            assert process.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "orders dev did not come up"
            time.sleep(0.3)
        dev.banner = (tmp_path / "dev.log").read_text().splitlines()
        yield dev
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        log.close()
        assert process.returncode == 0, (tmp_path / "dev.log").read_text()


def _confirmation(dev: Dev, *methods: str) -> str:
    confirmation = json.loads((EXAMPLES / "confirmation.json").read_text())
    confirmation["terms"]["payment_methods"] = list(methods)
    path = dev.cwd / f"confirmation-{'-'.join(methods)}.json"
    path.write_text(json.dumps(confirmation))
    return str(path)


def _order(dev: Dev, order_id: str) -> dict[str, Any]:
    dev.run("start", "--file", str(EXAMPLES / "request.json"), "--order-id", order_id)
    dev.run("confirm", order_id, "--file", _confirmation(dev, "bank_transfer", "card"))
    dev.run("approve", order_id, "--version", "1")
    status: dict[str, Any] = json.loads(dev.run("status", order_id, "--json").stdout)
    return status


def test_a_card_payment_walks_to_in_progress_against_the_test_double(dev: Dev) -> None:
    banner = "\n".join(dev.banner)
    assert "test double" in banner.lower() and "pm_card_visa" in banner, banner

    assert _order(dev, "card-1")["status"] == "AWAITING_PAYMENT"
    paid = dev.run("card", "card-1", "--customer", "cus_test", "--payment-method", "pm_card_visa")
    assert "charged" in paid.stdout and "IN_PROGRESS" in paid.stdout, paid.stdout
    status = json.loads(dev.run("status", "card-1", "--json").stdout)
    assert status["status"] == "IN_PROGRESS" and status["payments"][0]["method"] == "card"

    # A declined card is not a success: the CLI says what happened and exits 1.
    _order(dev, "card-2")
    declined = dev.run(
        "card", "card-2", "--customer", "cus_test", "--payment-method", "pm_card_visa_chargeDeclined", expect=1
    )
    assert "declined" in declined.stderr and "✓" not in declined.stdout, declined
    assert json.loads(dev.run("status", "card-2", "--json").stdout)["status"] == "AWAITING_PAYMENT"


@pytest.mark.parametrize("dev", [[]], indirect=True, ids=["no-stripe"])
def test_without_stripe_card_terms_and_cards_are_refused_in_words(dev: Dev) -> None:
    """No STRIPE_API_KEY: `orders confirm` refuses card terms, `orders card` a card: exit 1, naming the variable."""
    assert "Stripe     off" in "\n".join(dev.banner), dev.banner
    dev.run("start", "--file", str(EXAMPLES / "request.json"), "--order-id", "bank-1")
    refused = dev.run("confirm", "bank-1", "--file", _confirmation(dev, "bank_transfer", "card"), expect=1)
    assert "STRIPE_API_KEY" in refused.stderr and "'card'" in refused.stderr, refused.stderr
    dev.run("confirm", "bank-1", "--file", _confirmation(dev, "bank_transfer"))
    dev.run("approve", "bank-1", "--version", "1")
    card = dev.run("card", "bank-1", "--customer", "cus_test", "--payment-method", "pm_card_visa", expect=1)
    assert "STRIPE_API_KEY" in card.stderr and "✓" not in card.stdout, card
