"""The report: each figure, its floor, the ratio and the target, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final


@dataclass(frozen=True)
class Target:
    name: str
    limit: float


TARGETS: Final = {
    "events": Target("history events per order", 1.15),
    "actions": Target("billable actions per order", 1.10),
    "bytes": Target("history bytes per order", 2.0),
    "cpu": Target("worker CPU per workflow task", 1.2),
    "memory": Target("worker memory per parked order", 1.2),
    "p99": Target("approve -> email done, p99", 1.3),
}


@dataclass
class Row:
    figure: str
    project: float
    floor: float
    unit: str
    target: Target | None = None

    @property
    def ratio(self) -> float:
        return self.project / self.floor if self.floor else float("inf")

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.ratio <= self.target.limit else "MISS"


def fmt(value: float, unit: str) -> str:
    if unit == "KiB":
        return f"{value / 1024:,.0f} KiB"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "KB":
        return f"{value / 1000:.1f} KB"
    if unit == "/s":
        return f"{value:.1f}/s"
    return f"{value:,.0f}"


def print_report(rows: list[Row], notes: list[str]) -> None:
    print()
    print(f"{'figure':42} {'project':>12} {'floor':>12} {'ratio':>7} {'target':>8}  result")
    for row in rows:
        target = f"<= {row.target.limit:g}x" if row.target else ""
        print(
            f"{row.figure:42} {fmt(row.project, row.unit):>12} {fmt(row.floor, row.unit):>12} "
            f"{row.ratio:>6.2f}x {target:>8}  {row.verdict}"
        )
    print()
    for note in notes:
        print(note)


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, {memory:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def percentile(values: Sequence[float], pct: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]
