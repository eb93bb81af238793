"""The worker's health endpoint (``ORDERS_HEALTH_ADDRESS``), which Kubernetes probes.

``/healthz`` answers 200 while the process runs (liveness: also while it waits for
its server); ``/readyz`` answers 200 only while the worker is connected and polling
(readiness). Real processes against a real dev server, as the kubelet sees them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.config import ConfigError, Settings
from orderclient import health
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, str(ROOT / "worker.py")]


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def start_worker(tmp_path: Path, address: str, health_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "TEMPORAL_ADDRESS": address,
        "ORDERS_CONNECT_TIMEOUT": "120",
        "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "ORDERS_TASK_QUEUE": f"health-test-{tmp_path.name}",
        health.HEALTH_ADDRESS_ENV: f"127.0.0.1:{health_port}",
    }
    return subprocess.Popen(WORKER, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_line(process: subprocess.Popen[str], text: str) -> list[str]:
    """The worker's output up to the first line holding ``text``."""
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        if text in line:
            return output
    raise AssertionError(f"the worker exited before saying {text!r}:\n" + "".join(output))


def eventually_ready(port: int) -> bool:
    """Whether /readyz turns 200 within a minute (a deadline on a wait, not a speed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if status(port, health.READY_PATH) == 200:
            return True
        time.sleep(0.1)
    return False


def stop(process: subprocess.Popen[str]) -> int:
    process.terminate()
    return process.wait(60)


def test_health_address_is_read_and_checked() -> None:
    assert Settings.from_env({}).health_address is None
    assert Settings.from_env({"ORDERS_HEALTH_ADDRESS": "0.0.0.0:8088"}).health_address == "0.0.0.0:8088"
    for bad in ("8088", "0.0.0.0:", "host:http", "0.0.0.0:70000"):
        with pytest.raises(ConfigError, match="ORDERS_HEALTH_ADDRESS"):
            Settings.from_env({"ORDERS_HEALTH_ADDRESS": bad})


async def test_the_endpoint_answers_liveness_and_readiness() -> None:
    ready = False
    server = await health.serve("127.0.0.1", free_port(), lambda: ready)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get(health.LIVE_PATH)).status_code == 200
            assert (await client.get(health.READY_PATH)).status_code == 503
            ready = True
            assert (await client.get(health.READY_PATH)).status_code == 200
            assert (await client.get("/other")).status_code == 404
            assert (await client.post(health.LIVE_PATH)).status_code == 405
    finally:
        server.close()
        await server.wait_closed()


def test_a_polling_worker_is_alive_and_ready(tmp_path: Path, dev_env: WorkflowEnvironment) -> None:
    port = free_port()
    worker = start_worker(tmp_path, dev_env.client.service_client.config.target_host, port)
    try:
        wait_for_line(worker, "worker polling task queue")
        # Ready once the SDK has checked the namespace and its pollers run: a moment after that line.
        assert eventually_ready(port), "the worker polls, but /readyz never said so"
        assert status(port, health.LIVE_PATH) == 200
    finally:
        code = stop(worker)
    assert code == 0


def test_a_worker_waiting_for_its_server_is_alive_but_not_ready(tmp_path: Path) -> None:
    """Liveness must not restart a worker that waits for Temporal; readiness must not call it ready."""
    port = free_port()
    worker = start_worker(tmp_path, f"127.0.0.1:{free_port()}", port)
    try:
        wait_for_line(worker, "not reachable yet")
        assert status(port, health.LIVE_PATH) == 200
        assert status(port, health.READY_PATH) == 503
    finally:
        stop(worker)
