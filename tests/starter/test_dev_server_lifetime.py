"""``orders dev`` never leaves its Temporal server behind, and never takes a live one's.

Real processes: ``orders dev`` is SIGKILLed, and its server must go with it;
a server an earlier ``orders dev`` left on the same database is stopped by
the next one, which then starts on the same ports and database; but while an
``orders dev`` runs on a database, a second one on it refuses and leaves it be.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ordersecurity.codec import KEYS_ENV
from starter import dev
from tests.helpers import free_port, server_binary

ROOT = Path(__file__).resolve().parents[2]
ORDERS = [sys.executable, "-c", "from starter.cli import run; run()"]
UP_TIMEOUT = 60.0
GONE_TIMEOUT = 5.0


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its reaper."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Dev:
    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.port, self.ui_port, self.codec_port, self.portal_port = free_port(), free_port(), free_port(), free_port()
        self.db = tmp_path / "t.db"
        self.processes: list[subprocess.Popen[str]] = []
        # Its own directory, so its own local key: as a user runs it, not the test process's pinned keys.
        self.env = {k: v for k, v in os.environ.items() if k != KEYS_ENV and not k.startswith("TEMPORAL_")}
        self.env |= {"PYTHONPATH": str(ROOT), "ORDERS_TASK_QUEUE": f"dev-test-{self.port}"}
        self.env["ORDERS_WEB_BASE_URL"] = f"http://127.0.0.1:{self.portal_port}"

    def start(self, *, port: int = 0, ui_port: int = 0, codec_port: int = 0) -> subprocess.Popen[str]:
        """``orders dev`` on this runner's free ports, or on the ones given."""
        command = [*ORDERS, "dev", "--port", str(port or self.port), "--ui-port", str(ui_port or self.ui_port)]
        command += ["--codec-port", str(codec_port or self.codec_port)]
        command += ["--db", str(self.db), "--outbox", str(self.cwd / "outbox")]
        process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def wait_up(self, process: subprocess.Popen[str]) -> int:
        """The pid of the server child of ``process``, once it answers."""
        deadline = time.monotonic() + UP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise AssertionError(f"orders dev exited {process.returncode}:\n{self.output(process)}")
            servers = [pid for pid in children(process.pid) if b"start-dev" in cmdline(pid)]
            if servers and answers(self.port):
                return servers[0]
            assert time.monotonic() < deadline, "orders dev did not come up"
            time.sleep(0.2)

    def orders(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An ``orders`` command against this runner's server, from its directory."""
        command = [*ORDERS, *args, "--address", f"127.0.0.1:{self.port}"]
        return subprocess.run(command, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60)

    @staticmethod
    def output(process: subprocess.Popen[str]) -> str:
        return process.stdout.read() if process.stdout else ""

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def orders_dev(tmp_path: Path) -> Iterator[Dev]:
    runner = Dev(tmp_path)
    yield runner
    runner.stop_all()


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_TIMEOUT
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal and /proc are Linux's")


def test_a_sigkilled_orders_dev_takes_its_server_with_it(orders_dev: Dev) -> None:
    first = orders_dev.start()
    server = orders_dev.wait_up(first)
    first.kill()
    first.wait()
    try:
        assert wait_gone(server), f"the Temporal server (pid {server}) outlived orders dev"
    finally:
        if alive(server):
            os.killpg(server, signal.SIGKILL)

    second = orders_dev.start()
    assert orders_dev.wait_up(second) != server
    second.send_signal(signal.SIGINT)
    assert second.wait(30) == 0, orders_dev.output(second)
    assert not dev.pid_file(orders_dev.db).exists()


def test_a_server_left_on_the_same_db_is_stopped_with_a_message(orders_dev: Dev) -> None:
    """As an ``orders dev`` without the parent-death signal (another OS, an
    older version) leaves it: running on the db, named by the pid file."""
    temporal = server_binary("temporal")
    assert temporal is not None
    options = dev.DevOptions(port=orders_dev.port, ui_port=orders_dev.ui_port, codec_port=orders_dev.codec_port)
    left = subprocess.Popen(
        dev.server_command(temporal, options, orders_dev.db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        dev.write_pid_file(orders_dev.db, left.pid)
        deadline = time.monotonic() + UP_TIMEOUT
        while not answers(orders_dev.port):
            assert time.monotonic() < deadline, "the left-behind server did not come up"
            time.sleep(0.2)

        process = orders_dev.start()
        server = orders_dev.wait_up(process)
        assert server != left.pid
        assert left.wait(GONE_TIMEOUT) is not None
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        output = orders_dev.output(process)
        assert f"a Temporal server (pid {left.pid}) that an earlier `orders dev` started" in output, output
        assert "stopping it" in output
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()


def test_a_stale_pid_file_of_a_dead_server_is_ignored(orders_dev: Dev) -> None:
    orders_dev.db.parent.mkdir(parents=True, exist_ok=True)
    dev.pid_file(orders_dev.db).write_text(json.dumps({"pid": 2**22 - 1, "db": str(orders_dev.db)}))
    process = orders_dev.start()
    orders_dev.wait_up(process)
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert "still running" not in orders_dev.output(process)


def test_a_second_orders_dev_on_the_same_db_refuses_and_leaves_the_first_running(orders_dev: Dev) -> None:
    """Terminal A runs ``orders dev``; terminal B runs it again there, on the same
    ports and then on others: B says A is running and exits, and A runs on."""
    first = orders_dev.start()
    server = orders_dev.wait_up(first)
    refusal = (
        f"`orders dev` is already running here (pid {first.pid}, UI http://localhost:{orders_dev.ui_port}); "
        "stop it first or use another directory or `--db`"
    )
    other_ports = {"port": free_port(), "ui_port": free_port(), "codec_port": free_port()}
    for ports in ({}, other_ports):
        second = orders_dev.start(**ports)
        try:
            code = second.wait(UP_TIMEOUT)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
            raise AssertionError(f"a second orders dev on {ports or 'the same ports'} kept running") from None
        output = " ".join(orders_dev.output(second).split())
        assert code != 0 and refusal in output, output
        assert "stopping it" not in output, output
        assert first.poll() is None, orders_dev.output(first)
        assert alive(server) and server in children(first.pid), "the first orders dev's server was touched"

    listed = orders_dev.orders("list")
    assert listed.returncode == 0, listed.stderr  # A still answers
    first.send_signal(signal.SIGINT)
    assert first.wait(30) == 0
    output = orders_dev.output(first)
    assert "the Temporal server exited" not in output, output
