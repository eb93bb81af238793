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
    absolute: bool = False
    """The limit is on the project's figure itself (in its unit), not on the ratio."""


TARGETS: Final = {
    "events": Target("history events per order", 1.15),
    "actions": Target("billable actions per order", 1.10),
    "bytes": Target("history bytes per order", 2.0),
    "cpu": Target("worker CPU per workflow task", 1.2),
    "memory": Target("worker memory per parked order", 1.2),
    "p99": Target("approve -> email done, p99", 1.3),
    # A confirmation PDF costs the CPU of about 210 renders of its own email (fpdf2 reads the
    # DejaVu fonts and subsets them for every document). About twice that passes a shared
    # machine's noise and a longer page, and fails when every PDF pays for the Chinese,
    # Japanese and Korean fallback font (about 840, four times slower), which
    # activities/pdf_page.py loads only for a text that needs it.
    "pdf_render": Target("confirmation PDF render", 450),
    # One page with its fonts subset is about 25 KiB. It goes out with the email (a third
    # more in base64) and is kept for every version: 64 KiB fails when a whole font is
    # embedded (DejaVu Sans alone is 740 KiB) or the page grows images.
    "pdf_size": Target("confirmation PDF size", 64 * 1024, absolute=True),
    # The order keeps each version's DocumentRef (id, size, SHA-256) and nothing more: the
    # history with PDFs may outgrow the one without by that budget (bench/documents.py).
    "pdf_history": Target("history bytes added by PDFs", 1.0),
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
        measured = self.project if self.target.absolute else self.ratio
        return "PASS" if measured <= self.target.limit else "MISS"


def fmt(value: float, unit: str) -> str:
    if unit == "KiB":
        return f"{value / 1024:,.0f} KiB"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "KB":
        return f"{value / 1000:.1f} KB"
    if unit == "/s":
        return f"{value:.1f}/s"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:,.0f}"


def print_report(rows: list[Row], notes: list[str]) -> None:
    print()
    width = max(42, *(len(row.figure) for row in rows))
    print(f"{'figure':{width}} {'project':>12} {'floor':>12} {'ratio':>7} {'target':>8}  result")
    for row in rows:
        target = ""
        if row.target:
            target = f"<= {fmt(row.target.limit, row.unit)}" if row.target.absolute else f"<= {row.target.limit:g}x"
        # A figure with no floor of its own (a size) has no ratio.
        floor, ratio = (fmt(row.floor, row.unit), f"{row.ratio:>6.2f}x") if row.floor else ("", "")
        print(
            f"{row.figure:{width}} {fmt(row.project, row.unit):>12} {floor:>12} {ratio:>7} {target:>8}  {row.verdict}"
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
