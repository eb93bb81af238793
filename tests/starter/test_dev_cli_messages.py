"""What ``orders dev`` and ``orders outbox`` tell a user: busy ports name the
flag or variable that moves them, ``--help`` names every option with its
default, and an empty filtered outbox says what was filtered out."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from activities.config import Settings
from starter import cli, dev
from tests.helpers import free_port
from tests.starter.test_cli_e2e import user_env
from tests.starter.test_cli_output import CUSTOMER, write_message

ROOT = Path(__file__).resolve().parents[2]
ORDERS = [sys.executable, "-c", "from starter.cli import run; run()"]


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("flag", ["--port", "--ui-port", "--codec-port"])
def test_a_busy_port_names_the_flag_that_moves_it(flag: str, busy_port: int, tmp_path: Path) -> None:
    ports = {"--port": free_port(), "--ui-port": free_port(), "--codec-port": free_port(), flag: busy_port}
    command = [*ORDERS, "dev", *(str(part) for pair in ports.items() for part in pair), "--db", str(tmp_path / "t.db")]
    env = user_env(PYTHONPATH=str(ROOT), ORDERS_WEB_BASE_URL=f"http://127.0.0.1:{free_port()}")
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    message = one_line(ran.stderr)
    assert ran.returncode == 2, message
    assert f"port {busy_port} (" in message and f"choose another with {flag}" in message, message
    others = [other for other in ports if other != flag]
    assert not any(other in message for other in others), message  # only the flag for this port


def test_a_busy_portal_port_names_orders_web_base_url(
    busy_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    settings = Settings(web_base_url=f"http://localhost:{busy_port}")
    portal, url = dev.start_portal(cast(Any, None), settings)  # refused before it needs a client
    assert (portal, url) == (None, None)
    message = one_line(capsys.readouterr().out)
    assert f"portal not started: port {busy_port} (" in message, message
    assert "ORDERS_WEB_BASE_URL" in message and "--port" not in message, message


def test_orders_dev_help_names_every_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dev", "--help"]) == 0
    text = one_line(capsys.readouterr().out)
    for option, default in [
        ("--port", "7233"),
        ("--ui-port", "8233"),
        ("--codec-port", "8888"),
        ("--db", ".orders/temporal.db"),
        ("--outbox", "ORDERS_OUTBOX_DIR if set, else .orders/outbox"),
    ]:
        assert option in text and f"default {default}" in text, (option, text)
    assert "portal" in text and "ORDERS_WEB_BASE_URL" in text and "default http://localhost:8000" in text, text
    assert "already running" in text  # one per database


def test_orders_outbox_help_says_what_show_n_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["outbox", "--help"]) == 0
    text = one_line(capsys.readouterr().out)
    assert "orders outbox show N" in text and "message N of that list" in text, text


def test_an_order_without_messages_is_told_apart_from_an_empty_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for seq, kind in enumerate(["contact_ack", "confirmation_issued"], 1):
        write_message(tmp_path, "42", seq, kind, CUSTOMER)
    assert cli.main(["outbox", "--order", "nosuch", "--dir", str(tmp_path)]) == 0
    assert one_line(capsys.readouterr().out) == f"no messages for order nosuch in {tmp_path} (2 for other orders)"
    assert cli.main(["outbox", "--order", "42", "--kind", "delivered", "--dir", str(tmp_path)]) == 0
    assert one_line(capsys.readouterr().out) == (f"no messages of kind delivered for order 42 in {tmp_path} (2 others)")
    empty = tmp_path / "empty"
    assert cli.main(["outbox", "--order", "nosuch", "--dir", str(empty)]) == 0
    assert one_line(capsys.readouterr().out) == f"no messages in {empty}"
