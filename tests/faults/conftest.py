"""The fault suite: real dev server, real worker processes, faulty providers.

Deselected by default (``addopts = -m "not faults"`` in pyproject); run it
with ``pytest -m faults``. Each scenario records one summary line with its
counts, printed at the end of the run in a "fault scenarios" section, so a
CI log tells what failed without the worker logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.doubles import sendgrid_api, stripe_api
from tests.faults.harness import DevServer

_SUMMARIES: list[str] = []


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record the scenario's last line: its counts, shown in the terminal summary."""

    def record(line: str) -> None:
        print(line)
        _SUMMARIES.append(f"{request.node.name}: {line}")
        request.node.user_properties.append(("summary", line))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SUMMARIES:
        terminalreporter.section("fault scenarios")
        for line in _SUMMARIES:
            terminalreporter.write_line(line)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    """A dev server of its own on a SQLite file in ``tmp_path``."""
    dev_server = DevServer(tmp_path)
    dev_server.start()
    try:
        yield dev_server
    finally:
        dev_server.stop()


@pytest.fixture
def stripe() -> Iterator[stripe_api.StripeDouble]:
    yield from stripe_api.serve()


@pytest.fixture
def sendgrid() -> Iterator[sendgrid_api.SendGridDouble]:
    yield from sendgrid_api.serve()
