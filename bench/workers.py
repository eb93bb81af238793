"""The worker processes: bench/worker_child.py runs one side's workflows in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class WorkerProcess:
    """bench/worker_child.py for one side: only its workflows, in its own process."""

    def __init__(
        self, side: str, address: str, queue: str, max_cached: int, environment: Mapping[str, str] | None = None
    ) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker_child", side, address, queue, str(max_cached)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, **(environment or {})},
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
        # The SDK's core logs to the same stdout (a slow workflow task, for one): the answer
        # is the first line that is a number.
        while True:
            stdout: IO[str] | None = self._process.stdout
            assert stdout is not None
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"the worker process ended before answering {command!r}")
            try:
                return float(line)
            except ValueError:
                print(line.rstrip(), file=sys.stderr, flush=True)

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
def worker_process(
    side: str, address: str, queue: str, max_cached: int, environment: Mapping[str, str] | None = None
) -> Iterator[WorkerProcess]:
    """The side's worker process; ``environment`` adds to this process's own."""
    child = WorkerProcess(side, address, queue, max_cached, environment)
    try:
        yield child
    finally:
        child.stop()
