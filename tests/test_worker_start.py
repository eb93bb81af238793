"""A worker started before its server waits for it; one that never sees it
ends with one clean line, the same from ``python worker.py`` and ``orders worker``.

Real processes and a real dev server: compose and Kubernetes start the worker
and the server together, and the worker must not exit before the server is up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port, server_binary
from workflows.search import dev_server_args

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, str(ROOT / "worker.py")]
ORDERS_WORKER = [sys.executable, "-c", "from starter.cli import run; run()", "worker"]
EXIT_UNREACHABLE = 4


def worker_env(tmp_path: Path, address: str, connect_timeout: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    return env | {
        "PYTHONPATH": str(ROOT),
        "TEMPORAL_ADDRESS": address,
        "ORDERS_CONNECT_TIMEOUT": connect_timeout,
        "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "ORDERS_TASK_QUEUE": f"start-test-{tmp_path.name}",
    }


@pytest.mark.parametrize("command", [WORKER, ORDERS_WORKER], ids=["python worker.py", "orders worker"])
def test_an_unreachable_server_ends_with_one_clean_line(tmp_path: Path, command: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        command,
        env=worker_env(tmp_path, address, "2"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"cannot reach Temporal at {address}" in errors[0]
    assert "ORDERS_CONNECT_TIMEOUT" in errors[0]
    # It did wait, and said so while waiting.
    assert time.monotonic() - started >= 2
    assert "not reachable yet" in result.stderr and "retrying in" in result.stderr


def test_a_worker_started_before_its_server_connects_once_the_server_is_up(tmp_path: Path) -> None:
    temporal = server_binary("temporal")
    assert temporal is not None
    port = free_port()
    address = f"127.0.0.1:{port}"
    worker = subprocess.Popen(
        WORKER,
        env=worker_env(tmp_path, address, "60"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server: subprocess.Popen[bytes] | None = None
    try:
        # The worker is already waiting before the server exists.
        time.sleep(2)
        assert worker.poll() is None, "the worker exited instead of waiting for the server"
        command = [str(temporal), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--headless"]
        command += ["--db-filename", str(tmp_path / "t.db"), "--log-level", "error", *dev_server_args()]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert worker.stdout is not None
        output = []
        deadline = time.monotonic() + 60
        for line in worker.stdout:
            output.append(line)
            if "worker polling task queue" in line:
                break
            assert time.monotonic() < deadline, "".join(output)
        else:
            raise AssertionError("the worker exited:\n" + "".join(output))
        assert any("not reachable yet" in line for line in output), "".join(output)
    finally:
        worker.terminate()
        worker.wait(30)
        if server is not None:
            server.terminate()
            server.wait(30)
    assert worker.returncode == 0


@pytest.mark.parametrize(
    ("store", "words"),
    [
        ("mysql://db/keys", "'mysql' is not a key store"),
        ("postgresql://orders@127.0.0.1:1/orders_keys", "cannot open the key store 127.0.0.1:1/orders_keys"),
    ],
)
def test_a_key_store_that_cannot_be_opened_ends_with_one_clean_line(tmp_path: Path, store: str, words: str) -> None:
    """Before connecting to Temporal: no order is touched by a worker that could not keep its keys."""
    env = worker_env(tmp_path, f"127.0.0.1:{free_port()}", "2") | {"ORDERS_KEY_STORE": store}
    result = subprocess.run(WORKER, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0] and "ORDERS_KEY_STORE" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
