"""The worker processes: bench/worker_child.py runs one side's workflows in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class WorkerProcess:
    """bench/worker_child.py for one side: only its workflows, in its own process."""

    def __init__(self, side: str, address: str, queue: str, max_cached: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker_child", side, address, queue, str(max_cached)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if self._readline() != "ready":
            raise RuntimeError(f"the {side} worker did not start")

    def _readline(self) -> str:
        stdout: IO[str] | None = self._process.stdout
        assert stdout is not None
        return stdout.readline().strip()

    def ask(self, command: str) -> float:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()
        return float(self._readline())

    def stop(self) -> None:
        if self._process.poll() is None:
            stdin = self._process.stdin
            assert stdin is not None
            stdin.write("stop\n")
            stdin.flush()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@contextmanager
def worker_process(side: str, address: str, queue: str, max_cached: int) -> Iterator[WorkerProcess]:
    child = WorkerProcess(side, address, queue, max_cached)
    try:
        yield child
    finally:
        child.stop()
